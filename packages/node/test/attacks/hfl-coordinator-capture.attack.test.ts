/**
 * Attack: a curious coordinator (the platform node of an 'hfl' job) reads every byte it receives, looking
 * for one bank's model update -- the input of gradient-inversion and membership-inference attacks
 * (e.g. L. Zhu, Z. Liu, S. Han, "Deep Leakage from Gradients", NeurIPS 2019). Defence: secure
 * aggregation (Bonawitz et al., CCS 2017): the coordinator gets only masked inputs and the sum.
 *
 * Capture is on the real transport: four in-process party nodes (platform + three banks) over gRPC with
 * mutual TLS on loopback, the platform's `onInbound` hook seeing the raw bytes of every inbound call as
 * they come off the TLS connection (Deliver chunks and Control requests), before any check. The needle is
 * bank-1's round-1 update, recomputed here independently from bank-1's own CSV rows, the job's seed and
 * the pipeline's published seed derivation (initial weights: seed; bank i's batch order: seed + 1000 + i):
 * [n·w, n] as float64 (what the plain mode sends), the local weights as float32, and the 64-bit
 * fixed-point words secure aggregation encodes before masking (fixed-point.ts).
 *
 * Weakened (job `hfl.secureAgg: false`, which every node must opt into with `accept.plaintextScheme`):
 * the search finds the update in the platform's captured bytes -- the attack recovers it. Default
 * (secure aggregation on): none of the encodings occurs anywhere in the captured bytes. (The fixed-point
 * encoding's own positive control is packages/hfl/test/attacks/secagg.attack.test.ts, masking 'none'.)
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { seededRng, type Table } from '@fedscore/core';
import { readCsvFile, writeCsvFile } from '@fedscore/core/node';
import { DEFAULT_LABEL_COLUMN, generatePopulation, ID_COLUMN, splitHorizontal } from '@fedscore/datasets';
import {
  DEFAULT_SCALE_BITS,
  encodeFixedPoint,
  fitTfjs,
  initialModelWeights,
  initTfjsBackend,
  type ModelSpec,
  secAggVector,
} from '@fedscore/hfl';
import type { InboundBytes } from '@fedscore/node';
import { NodeCluster } from '@fedscore/node/testing';
import { hflRows } from '@fedscore/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BANKS = ['bank-1', 'bank-2', 'bank-3'] as const;
const PARTIES = ['platform', ...BANKS] as const;
type Party = (typeof PARTIES)[number];
const SEED = 13;
const HFL = { model: 'lr', rounds: 2, learningRate: 0.3, batchSize: 32 } as const;

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

function f64(values: ArrayLike<number>): Uint8Array {
  const b = new Uint8Array(8 * values.length);
  const v = new DataView(b.buffer);
  for (let i = 0; i < values.length; i++) v.setFloat64(8 * i, values[i]!, true);
  return b;
}

function f32(values: ArrayLike<number>): Uint8Array {
  const b = new Uint8Array(4 * values.length);
  const v = new DataView(b.buffer);
  for (let i = 0; i < values.length; i++) v.setFloat32(4 * i, values[i]!, true);
  return b;
}

function u64(words: BigUint64Array): Uint8Array {
  const b = new Uint8Array(8 * words.length);
  const v = new DataView(b.buffer);
  for (let i = 0; i < words.length; i++) v.setBigUint64(8 * i, words[i]!, true);
  return b;
}

describe("attack: the hfl coordinator searches its captured gRPC bytes for one bank's update", () => {
  let cluster: NodeCluster<Party>;
  const files = {} as Record<Party, string>;
  let needles: Record<string, Uint8Array>;

  const read = (f: string): Promise<Table> =>
    readCsvFile(f, { file: f, idColumn: ID_COLUMN, labelColumn: DEFAULT_LABEL_COLUMN, impute: 'keep' });

  beforeAll(async () => {
    cluster = await NodeCluster.create({
      parties: PARTIES,
      config: (p, run) => ({
        data: {
          [p === 'platform' ? 'test' : 'loans']: {
            path: files[p],
            id: ID_COLUMN,
            label: DEFAULT_LABEL_COLUMN,
          },
        },
        // The weakened run needs every node's opt-in to a job without secure aggregation.
        accept: { plaintextScheme: run === 'plain' },
        governance: { requireConsent: false },
        limits: { peerDownSeconds: 30, retries: 2, retryBaseMs: 50, maxAttempts: 1 },
      }),
    });
    const split = splitHorizontal(
      generatePopulation({ enterprises: 3000, overlap: 1, defaultRate: 0.15, seed: 31 }),
      { banks: 3, bankRows: 250, seed: 32 },
    );
    const dir = join(cluster.dir, 'data');
    mkdirSync(dir, { recursive: true });
    for (const [i, b] of split.banks.entries()) {
      files[BANKS[i]!] = join(dir, `${b.name}.csv`);
      await writeCsvFile(files[BANKS[i]!], b.table);
    }
    files.platform = join(dir, 'test.csv');
    await writeCsvFile(files.platform, split.test);

    // bank-1's round-1 update, recomputed from its own rows (index 0 in the job's hosts).
    await initTfjsBackend();
    const columns = (await read(files.platform)).columns.map((c) => c.name);
    const rows = hflRows(await read(files['bank-1']), columns, 'label');
    const spec: ModelSpec = { kind: 'lr', features: rows.features };
    const reply = await fitTfjs(
      spec,
      {
        client: 'bank-1',
        round: 1,
        weights: initialModelWeights(spec, seededRng(SEED)),
        localEpochs: 1,
        learningRate: HFL.learningRate,
        batchSize: HFL.batchSize,
        proximalMu: 0,
      },
      rows,
      seededRng(SEED + 1000),
    );
    const vector = secAggVector(reply);
    needles = {
      'float64 [n·w]': f64(vector.subarray(0, 4)),
      'float32 w': f32(reply.weights.subarray(0, 4)),
      'fixed-point words': u64(encodeFixedPoint(vector, DEFAULT_SCALE_BITS, 3).subarray(0, 3)),
    };
  });
  afterAll(async () => {
    await cluster.close();
  });

  /** Run one 'hfl' job; every raw inbound byte of the platform node, by sending peer. */
  const run = async (secureAgg: boolean): Promise<InboundBytes[]> => {
    const name = secureAgg ? 'secure' : 'plain';
    const captured: InboundBytes[] = [];
    const started = await cluster.startAll(
      { run: name },
      { platform: { onInbound: (e) => captured.push({ ...e, bytes: Uint8Array.from(e.bytes) }) } },
    );
    try {
      const platform = started.platform;
      platform.submit({
        id: `hfl-${name}`,
        kind: 'hfl',
        guest: 'platform',
        hosts: [...BANKS],
        data: { platform: 'test', 'bank-1': 'loans', 'bank-2': 'loans', 'bank-3': 'loans' },
        seed: SEED,
        hfl: { ...HFL, secureAgg },
      });
      const done = await platform.runner.waitFor(`hfl-${name}`, 240_000);
      expect(done.error).toBeUndefined();
      expect(done.status).toBe('done');
    } finally {
      await cluster.stopAll(started);
    }
    // Bytes from every bank came through the hook (Deliver chunks carry the protocol messages).
    const deliveredBy = new Set(captured.filter((c) => c.rpc === 'Deliver').map((c) => c.peer));
    expect([...deliveredBy].sort()).toEqual([...BANKS]);
    return captured;
  };

  it('weakened (secure aggregation off): the search finds bank-1 update in the captured bytes', async () => {
    const got = await run(false);
    const found = Object.entries(needles)
      .filter(([, n]) => got.some((c) => contains(c.bytes, n)))
      .map(([k]) => k);
    // The plain mode sends [n·w, n] as float64: the attack recovers it.
    expect(found).toContain('float64 [n·w]');
  }, 300_000);

  it('default (secure aggregation on): no encoding of bank-1 update occurs in any captured byte', async () => {
    const got = await run(true);
    // The capture holds the banks' masked inputs (the step is named in each envelope): 3 banks, 2 rounds.
    const step = new TextEncoder().encode('masked-input');
    expect(got.filter((c) => c.rpc === 'Deliver' && contains(c.bytes, step)).length).toBe(6);
    for (const [what, needle] of Object.entries(needles)) {
      expect(
        got.some((c) => contains(c.bytes, needle)),
        what,
      ).toBe(false);
    }
  }, 300_000);
});
