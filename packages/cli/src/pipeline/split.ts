/**
 * Train/test id lists shared by the commands that train: `train hetero-lr` reads them before alignment
 * (`readSplitLists`; the align stage checks that each id is aligned), `baseline` and `bench hetero-lr`
 * against rows they joined (`splitFromLists`).
 */
import { resolve } from 'node:path';
import { FedscoreError } from '@fedscore/core';
import { readIdList } from '@fedscore/core/node';
import type { SplitIds } from '@fedscore/pipeline';

/**
 * Read `--train-ids` / `--test-ids` lists (`readSplitLists`) where the rows are already joined: every id
 * must also be in `joined`.
 */
export async function splitFromLists(
  cwd: string,
  joined: readonly string[],
  trainFile: string,
  testFile: string,
): Promise<SplitIds> {
  const { train, test } = await readSplitLists(cwd, trainFile, testFile);
  const inJoin = new Set(joined);
  for (const [file, ids] of [
    [trainFile, train],
    [testFile, test],
  ] as const) {
    const i = ids.findIndex((id) => !inJoin.has(id));
    if (i >= 0) {
      throw new FedscoreError('not_found', `id number ${i + 1} of the list is not in both data files`, {
        file,
        field: 'id',
        details: { entry: i + 1 },
      });
    }
  }
  return { train, test, how: `id lists ${trainFile}, ${testFile}` };
}

/**
 * Read `--train-ids` / `--test-ids` lists before alignment: each non-empty, no id twice, none in both.
 * Whether every id is an aligned row is the align stage's check (`inProcess.splitIds`).
 */
export async function readSplitLists(
  cwd: string,
  trainFile: string,
  testFile: string,
): Promise<{ train: string[]; test: string[]; source: { train: string; test: string } }> {
  const read = async (file: string): Promise<string[]> => {
    const ids = await readIdList(resolve(cwd, file));
    if (ids.length === 0) throw new FedscoreError('invalid_argument', 'the id list is empty', { file });
    const seen = new Set<string>();
    ids.forEach((id, i) => {
      if (seen.has(id)) {
        throw new FedscoreError('duplicate_id', `id number ${i + 1} of the list repeats an earlier one`, {
          file,
          field: 'id',
          details: { entry: i + 1 },
        });
      }
      seen.add(id);
    });
    return ids;
  };
  const train = await read(trainFile);
  const test = await read(testFile);
  const inTrain = new Set(train);
  const both = test.findIndex((id) => inTrain.has(id));
  if (both >= 0) {
    throw new FedscoreError('invalid_argument', `id number ${both + 1} of the test list is also a train id`, {
      file: testFile,
      field: '--test-ids',
      details: { entry: both + 1 },
    });
  }
  return { train, test, source: { train: trainFile, test: testFile } };
}

/** Check a `--test-fraction` flag value. */
export function checkTestFraction(fraction: number): number {
  if (!(fraction > 0 && fraction < 1)) {
    throw new FedscoreError('out_of_range', `--test-fraction must be in (0, 1), got ${fraction}`, {
      field: '--test-fraction',
    });
  }
  return fraction;
}

/** `--train-ids` and `--test-ids` go together. */
export function checkListPair(trainIds: string | undefined, testIds: string | undefined): void {
  if ((trainIds === undefined) !== (testIds === undefined)) {
    throw new FedscoreError('invalid_argument', '--train-ids and --test-ids go together', {
      field: trainIds === undefined ? '--train-ids' : '--test-ids',
    });
  }
}
