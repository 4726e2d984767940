/**
 * `runHeteroLrInProcess` and `alignInProcess`: the CLI's runs (`fedscore train hetero-lr`, `demo`,
 * `binning`) by the job's own stages, with the plan's in-process block. Checked against independent
 * references: the hold-out against core's `stratifiedHoldout` seeded by the seed as given (what the
 * CLI's split always was), the id-list split against the lists, the PSI counts against a plain set
 * intersection, the train-rows pass of evaluate against AUC computed here from the returned models
 * (the hosts' partial scores summed on the guest must equal the sum computed in one place), and the
 * PSI error locations against the line map given as the party's id source.
 */
import {
  auc,
  createTable,
  FedscoreError,
  featureColumns,
  numericColumn,
  seededRng,
  stratifiedHoldout,
} from '@fedscore/core';
import { alignInProcess, runHeteroLrInProcess } from '@fedscore/pipeline';
import { partyPartialScores } from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { population } from './population.ts';

const pop = population(1500, 23);
const common = {
  guest: { id: 'bank', table: pop.guest },
  hosts: [{ id: 'government', table: pop.host }],
  he: { scheme: 'none' as const },
  hyperparams: { maxEpochs: 4, batchSize: 128, learningRate: 0.3, seed: 9 },
  testFraction: 0.25,
};

describe('runHeteroLrInProcess: the CLI run by the job stages', () => {
  it('splits by the seed as given, reports PSI and the epoch history, and scores the train rows', async () => {
    const r = await runHeteroLrInProcess({ ...common, mode: 'arbiter' });
    // PSI: the ids both hold.
    const hostIds = new Set(pop.host.ids);
    const shared = pop.guest.ids.flatMap((id, row) => (hostIds.has(id) ? [row] : []));
    expect(r.rows.get('bank')).toEqual(shared);
    expect(r.aligned).toBe(shared.length);
    expect(r.psi).toHaveLength(1);
    expect(r.psi[0]).toMatchObject({
      host: 'government',
      idKind: 'uscc',
      guestIds: pop.guest.nRows,
      hostIds: pop.host.nRows,
      intersection: shared.length,
    });
    expect(r.psi[0]!.bytes.guestToHost).toBeGreaterThan(32 * pop.guest.nRows);
    expect(r.psi[0]!.bytes.hostToGuest).toBeGreaterThan(32 * pop.host.nRows);
    // The hold-out: core's stratified hold-out seeded by 9 itself (a node job derives its seed).
    const labels = pop.guest.label!;
    const held = stratifiedHoldout(
      shared.map((row) => labels[row]!),
      0.25,
      seededRng(9),
    );
    expect(r.testPositions).toEqual(Array.from(held));
    expect(r.trainPositions.length + r.testPositions.length).toBe(shared.length);
    // Training: one history record per epoch; every party sent bytes.
    expect(r.epochs).toBe(4);
    expect(r.history.map((h) => h.epoch)).toEqual([1, 2, 3, 4]);
    expect(Object.keys(r.bytesSent).sort()).toEqual(['arbiter', 'bank', 'government']);
    expect(r.insecure).toBe(true);
    // Evaluate's train pass equals the AUC of the models' summed partial scores computed here.
    const score = (positions: readonly number[]) => {
      const z = new Float64Array(positions.length);
      for (const [k, id] of ['bank', 'government'].entries()) {
        const table = k === 0 ? pop.guest : pop.host;
        const rows = positions.map((p) => r.rows.get(id)![p]!);
        const part = partyPartialScores(r.models[k]!, featureColumns(table, rows).columns);
        for (let i = 0; i < z.length; i++) z[i]! += part[i]!;
      }
      return auc(
        Float64Array.from(positions, (p) => labels[shared[p]!]!),
        z,
      );
    };
    expect(r.train.auc).toBeCloseTo(score(r.trainPositions), 12);
    expect(r.test.auc).toBeCloseTo(score(r.testPositions), 12);
    expect(r.test.auc).toBeGreaterThan(0.75);
  }, 60_000);

  it('splits by id lists: only the listed aligned rows; an unaligned id is not_found naming its list', async () => {
    const hostIds = new Set(pop.host.ids);
    const shared = pop.guest.ids.filter((id) => hostIds.has(id));
    const train = shared.slice(0, 400);
    const test = shared.slice(600, 750);
    const r = await runHeteroLrInProcess({
      ...common,
      mode: 'two-party',
      splitIds: { train, test, source: { train: 'train.txt', test: 'test.txt' } },
    });
    const ids = r.rows.get('bank')!.map((row) => pop.guest.ids[row]!);
    expect(new Set(r.trainPositions.map((p) => ids[p]))).toEqual(new Set(train));
    expect(new Set(r.testPositions.map((p) => ids[p]))).toEqual(new Set(test));
    expect(r.aligned).toBe(shared.length);
    expect(Object.keys(r.bytesSent).sort()).toEqual(['bank', 'government']);

    const guestOnly = pop.guest.ids.find((id) => !hostIds.has(id))!;
    const bad = runHeteroLrInProcess({
      ...common,
      mode: 'two-party',
      splitIds: { train: [...train, guestOnly], test, source: { train: 'train.txt', test: 'test.txt' } },
    });
    await expect(bad).rejects.toMatchObject({ code: 'not_found', file: 'train.txt', field: 'id' });
  }, 60_000);
});

describe('alignInProcess', () => {
  it('aligns by the psi stage; an invalid id is located by the party id source', async () => {
    const a = await alignInProcess({ guest: common.guest, hosts: common.hosts });
    const hostIds = new Set(pop.host.ids);
    expect(a.rows.get('bank')).toEqual(pop.guest.ids.flatMap((id, row) => (hostIds.has(id) ? [row] : [])));
    expect(a.rows.get('government')!.map((row) => pop.host.ids[row])).toEqual(
      a.rows.get('bank')!.map((row) => pop.guest.ids[row]),
    );
    // A USCC with a bad check character on table row 4, which the party's CSV has on line 17.
    const ids = [...pop.host.ids];
    ids[4] = `${ids[4]!.slice(0, 17)}${ids[4]!.at(-1) === '0' ? '1' : '0'}`;
    const host = createTable({
      ids,
      columns: [
        numericColumn(
          'h0',
          Float64Array.from(ids, (_, k) => k),
        ),
      ],
    });
    const bad = alignInProcess({
      guest: common.guest,
      hosts: [
        {
          id: 'government',
          table: host,
          idSource: { file: 'gov.csv', field: 'uscc', lineOf: (row) => row + 13 },
        },
      ],
      idKind: 'uscc',
    });
    const e = await bad.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(FedscoreError);
    expect(e).toMatchObject({ code: 'invalid_uscc', file: 'gov.csv', line: 17, field: 'uscc' });
  }, 60_000);
});
