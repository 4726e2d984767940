/**
 * Per-epoch checkpoints and resume of hetero-LR (issue 8: "kill any party mid-training and restart it:
 * the job resumes from its last checkpoint and ends with the same model as an uninterrupted run with
 * the same seed").
 *
 * The reference is an uninterrupted run with the same plan and the same key-derived mask streams.
 * - Scheme 'none': the resumed run's weights (every party's, kept and last), the kept epoch and the
 *   validation history are bit-identical (compared as float64 bytes; tolerance 0).
 * - CKKS (default ckks-16384-release): every party, the arbiter included, has a 256-bit key from which
 *   both its masks and the flooding noise of each release it makes are derived (one ChaCha20 stream per
 *   release, bound to job, party, plan, data, epoch, batch and recipient: plan.ts `maskSource`). A
 *   resumed epoch therefore floods every release exactly as the uninterrupted run did, and the weights,
 *   kept epoch and validation history are bit-identical too. What still differs between the runs is the
 *   CKKS decryption error of the fresh keys (<= 2^-32.7 measured, hetero-lr-release.test.ts); the
 *   release grid (2^-15 for this plan's t ~ 63 decryptions) absorbs it unless a flooded value lies
 *   within that error of a grid boundary: at the measured maximum error, <= 2 x 2^-32.7 / 2^-15 =
 *   2^-16.7 per released coordinate, ~60 gradient coordinates re-released after the resume, so below
 *   6e-4 per run at worst (typical errors are far below the maximum).
 * Checkpoints go through `serializeCheckpoint` / `parseCheckpoint` as a node would store them.
 */
import { isFedscoreError } from '@fedscore/core';
import {
  type HeteroLrCheckpoint,
  type HeteroLrMode,
  type HeteroLrScheme,
  parseCheckpoint,
  serializeCheckpoint,
  type TrainHeteroLrResult,
  trainHeteroLr,
} from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { type SplitData, syntheticSplit } from './synthetic.ts';

const hyper = {
  batchSize: 64,
  maxEpochs: 4,
  learningRate: 0.5,
  lrSchedule: 'inverse-time' as const,
  lrDecay: 0.3,
  l2: 0.01,
  seed: 17,
  validationFraction: 0.2,
  patience: 10,
  classWeight: 'balanced' as const,
};

type Store = Record<string, HeteroLrCheckpoint[]>;

function parties(mode: HeteroLrMode, hosts: number): string[] {
  const ids = ['guest', ...Array.from({ length: hosts }, (_, i) => `host-${i + 1}`)];
  return mode === 'arbiter' ? [...ids, 'arbiter'] : ids;
}

interface RunOptions {
  readonly mode: HeteroLrMode;
  readonly scheme?: HeteroLrScheme;
  readonly data: SplitData;
  readonly store?: Store;
  readonly resumeFrom?: Store;
  readonly killAt?: { readonly party: string; readonly epoch: number };
  readonly seed?: number;
  readonly maxEpochs?: number;
}

/** One run; every checkpoint is written to `store` as bytes and read back (the last 3 kept per party). */
function run(o: RunOptions): Promise<TrainHeteroLrResult> {
  const ids = parties(o.mode, o.data.hosts.length);
  return trainHeteroLr({
    guest: { features: o.data.guest, labels: o.data.labels },
    hosts: o.data.hosts.map((features) => ({ features })),
    mode: o.mode,
    scheme: o.scheme ?? 'none',
    hyperparams: {
      ...hyper,
      ...(o.seed !== undefined && { seed: o.seed }),
      ...(o.maxEpochs !== undefined && { maxEpochs: o.maxEpochs }),
    },
    session: 'resume-test',
    maskKeys: Object.fromEntries(
      ids.map((p, k) => [p, Uint8Array.from({ length: 32 }, (_, i) => (i * 13 + k * 71 + 1) & 0xff)]),
    ),
    ...(o.resumeFrom !== undefined && { resumeFrom: o.resumeFrom }),
    onCheckpoint: (party, cp) => {
      if (o.store !== undefined) {
        const list = o.store[party] ?? [];
        o.store[party] = list;
        list.push(parseCheckpoint(serializeCheckpoint(cp)));
        if (list.length > 3) list.shift();
      }
      if (o.killAt !== undefined && party === o.killAt.party && cp.epoch === o.killAt.epoch) {
        throw new Error(`${party} killed after writing epoch ${cp.epoch}`);
      }
    },
  });
}

/** All weights of a run (guest features, intercept, hosts) as float64 bytes, for bit-identity. */
function weightBytes(r: TrainHeteroLrResult): string {
  const w = Float64Array.from([...r.guest.weights, r.guest.intercept, ...r.hosts.flatMap((h) => h.weights)]);
  return Buffer.from(w.buffer).toString('hex');
}

function pick(store: Store, epochs: Record<string, readonly number[]>): Store {
  return Object.fromEntries(
    Object.entries(epochs).map(([p, es]) => [p, store[p]!.filter((cp) => es.includes(cp.epoch))]),
  );
}

/**
 * The code of the party that failed: the run rethrows the first error, which may be the failing party's
 * own or a peer's `protocol_abort` carrying it (code and field only).
 */
function rootCode(e: unknown): string {
  if (!isFedscoreError(e)) return 'untyped';
  return e.code === 'protocol_abort' ? String(e.details?.peerCode) : e.code;
}

const data = syntheticSplit(400, 3, [3, 2], 23, 0.02);

describe('hetero-LR checkpoints and resume, scheme none (bit-identical)', () => {
  for (const mode of ['arbiter', 'two-party'] as const) {
    it(`${mode}: a run killed after epoch 2 and resumed ends with the uninterrupted run's model`, async () => {
      const full: Store = {};
      const ref = await run({ mode, data, store: full });
      expect(ref.resumedFrom).toBe(0);
      // Each party checkpointed every epoch and kept its last 3.
      for (const p of parties(mode, 2)) expect(full[p]!.map((c) => c.epoch)).toEqual([2, 3, 4]);
      const g = full.guest!.at(-1)!;
      expect(g.history).toHaveLength(4);
      expect(g.weights).toHaveLength(4);
      expect(full['host-1']!.at(-1)!.weights).toHaveLength(3);

      const partial: Store = {};
      const killed = run({ mode, data, store: partial, killAt: { party: 'host-1', epoch: 2 } });
      await expect(killed).rejects.toThrow(/killed after writing epoch 2/);
      expect(partial['host-1']!.at(-1)!.epoch).toBe(2);

      const resumed = await run({ mode, data, resumeFrom: partial });
      // The others may or may not have written epoch 2 before the kill reached them.
      expect([1, 2]).toContain(resumed.resumedFrom);
      expect(weightBytes(resumed)).toBe(weightBytes(ref));
      expect(resumed.keptEpoch).toBe(ref.keptEpoch);
      expect(resumed.epochs).toBe(ref.epochs);
      expect(resumed.history.map((h) => h.validationAuc)).toEqual(ref.history.map((h) => h.validationAuc));
    });
  }

  it('handshake: parties holding different epochs resume from the latest one all hold', async () => {
    const full: Store = {};
    const ref = await run({ mode: 'arbiter', data, store: full });
    const cases: [Record<string, readonly number[]>, number][] = [
      [{ guest: [3, 4], 'host-1': [2, 3, 4], 'host-2': [3], arbiter: [2, 3] }, 3],
      [{ guest: [4], 'host-1': [4], 'host-2': [2, 3, 4], arbiter: [4] }, 4], // nothing left to train
      [{ guest: [4], 'host-1': [3], 'host-2': [3, 4], arbiter: [3, 4] }, 0], // nothing common: afresh
      [{ guest: [2, 3], 'host-1': [2, 3], 'host-2': [2, 3] }, 0], // the arbiter holds none
    ];
    for (const [held, expected] of cases) {
      const r = await run({ mode: 'arbiter', data, resumeFrom: pick(full, held) });
      expect(r.resumedFrom, JSON.stringify(held)).toBe(expected);
      expect(r.arbiter!.resumedFrom).toBe(expected);
      expect(weightBytes(r)).toBe(weightBytes(ref));
      expect(r.keptEpoch).toBe(ref.keptEpoch);
    }
  });
});

describe('hetero-LR checkpoints: corrupt or mismatched checkpoints are refused', () => {
  it('parseCheckpoint refuses corrupt, truncated, edited and other-version bytes', async () => {
    const full: Store = {};
    await run({ mode: 'two-party', data, store: full, maxEpochs: 1 });
    const bytes = serializeCheckpoint(full['host-1']![0]!);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isFedscoreError(e) ? `${e.code}:${e.field}` : 'untyped';
      }
      return 'accepted';
    };
    expect(code(() => parseCheckpoint(bytes))).toBe('accepted');
    expect(code(() => parseCheckpoint(bytes.subarray(0, bytes.length - 9)))).toBe('checkpoint:sha256');
    expect(code(() => parseCheckpoint(bytes.subarray(0, 20)))).toBe('checkpoint:bytes');
    const text = new TextDecoder().decode(bytes);
    // Edit one weight digit: still valid JSON, wrong checksum.
    const w0 = String(full['host-1']![0]!.weights[0]);
    const edited = text.replace(
      w0,
      w0.replace(/\d$/, (d) => String((Number(d) + 1) % 10)),
    );
    expect(edited).not.toBe(text);
    expect(code(() => parseCheckpoint(new TextEncoder().encode(edited)))).toBe('checkpoint:sha256');
    const other = text.replace('"version":2', '"version":1');
    expect(code(() => parseCheckpoint(new TextEncoder().encode(other)))).toBe('checkpoint:version');
    const flipped = Uint8Array.from(bytes);
    flipped[bytes.length - 5]! ^= 0x01; // one bit of the body
    expect(code(() => parseCheckpoint(flipped))).toBe('checkpoint:sha256');
    const header = Uint8Array.from(bytes);
    header[2] = 0xff; // not UTF-8
    expect(code(() => parseCheckpoint(header))).toBe('checkpoint:bytes');
  });

  it('a checkpoint of another plan, party, role or data set stops the run with a typed error', async () => {
    const full: Store = {};
    await run({ mode: 'arbiter', data, store: full, maxEpochs: 2 });
    const otherSeed: Store = {};
    await run({ mode: 'arbiter', data, store: otherSeed, maxEpochs: 2, seed: 99 });
    const otherData: Store = {};
    // The same plan (labels, hence the validation split, unchanged) on features with one value changed.
    const perturb = (f: SplitData['guest']): SplitData['guest'] => ({
      names: f.names,
      columns: f.columns.map((c, j) => (j === 0 ? c.map((v, i) => (i === 7 ? v + 1 : v)) : c)),
    });
    const changed: SplitData = {
      labels: data.labels,
      guest: perturb(data.guest),
      hosts: [data.hosts[0]!, perturb(data.hosts[1]!)],
    };
    await run({ mode: 'arbiter', data: changed, store: otherData, maxEpochs: 2 });
    const cases: [Store, string][] = [
      [{ ...full, 'host-1': otherSeed['host-1']! }, 'resumeFrom[0].planDigest'],
      [{ ...full, 'host-2': full['host-1']! }, 'resumeFrom[0].party'],
      [{ ...full, 'host-1': full.guest! }, 'resumeFrom[0].role'],
      [{ ...full, 'host-2': otherData['host-2']! }, 'resumeFrom[0].dataDigest'],
      [{ ...full, guest: otherData.guest! }, 'resumeFrom[0].dataDigest'],
    ];
    for (const [resumeFrom, field] of cases) {
      const err = await run({ mode: 'arbiter', data, resumeFrom, maxEpochs: 2 }).catch((e: unknown) => e);
      expect(rootCode(err), String(err)).toBe('checkpoint');
      expect((err as { field?: string }).field).toBe(field);
    }
    // Masks drawn from another stream cannot reproduce the remaining epochs.
    const err = await trainHeteroLr({
      guest: { features: data.guest, labels: data.labels },
      hosts: data.hosts.map((features) => ({ features })),
      scheme: 'none',
      hyperparams: { ...hyper, maxEpochs: 2 },
      session: 'resume-test',
      resumeFrom: full,
    }).catch((e: unknown) => e);
    expect(rootCode(err), String(err)).toBe('checkpoint');
    expect((err as { field?: string }).field).toBe('resumeFrom[0].masks');
  });
});

describe('hetero-LR checkpoints and resume under CKKS (key-derived masks and flooding)', () => {
  it('arbiter: killed after epoch 1 of 3 and resumed, bit-identical weights to the uninterrupted run', async () => {
    const small = syntheticSplit(360, 2, [3], 29, 0.02);
    const opts = { mode: 'arbiter' as const, scheme: 'ckks' as const, data: small, maxEpochs: 3 };
    const full: Store = {};
    const ref = await run({ ...opts, store: full });
    const partial: Store = {};
    await expect(run({ ...opts, store: partial, killAt: { party: 'arbiter', epoch: 1 } })).rejects.toThrow(
      /killed/,
    );
    const resumed = await run({ ...opts, resumeFrom: partial });
    expect(resumed.resumedFrom).toBe(1);
    expect(weightBytes(resumed)).toBe(weightBytes(ref));
    expect(resumed.keptEpoch).toBe(ref.keptEpoch);
    expect(resumed.history.map((h) => h.validationAuc)).toEqual(ref.history.map((h) => h.validationAuc));
  });
});
