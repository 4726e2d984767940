/**
 * Every decryption a key holder releases is counted, and its flooding noise comes from its own stream,
 * bound to the job, the plan, the epoch, the batch and the recipient (plan.ts `maskSource.forFlooding`;
 * docs/protocols/hetero-lr.md). A stream reused for two releases would let a recipient subtract the two
 * and cancel the noise that hides the key's decryption error (Li and Micciancio, "On the security of
 * homomorphic encryption on approximate numbers", EUROCRYPT 2021). Method: the scheme `none` key of
 * each party is wrapped to record, for every release, the first 16 bytes of the generator it is given
 * (the plaintext scheme ignores it, so the run is unchanged); the CKKS key draws its noise from that same
 * generator (hetero-lr-release.test.ts checks the noise itself).
 */
import type { CryptoRng } from '@fedscore/core';
import {
  cipherProvider,
  epochBatches,
  type HeteroLrCheckpoint,
  type LrCipherProvider,
  type LrCipherSecret,
  trainHeteroLr,
  trainingRows,
} from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { syntheticSplit } from './synthetic.ts';

const testKey = (k: number) => Uint8Array.from({ length: 32 }, (_, i) => (i * 29 + k * 101 + 7) & 0xff);
const keys = { guest: testKey(1), 'host-1': testKey(2), 'host-2': testKey(3), arbiter: testKey(4) };
const data = syntheticSplit(300, 2, [3, 2], 17);
const hyper = {
  batchSize: 64,
  maxEpochs: 2,
  learningRate: 0.5,
  l2: 0.01,
  seed: 3,
  classWeight: 'none' as const,
  maskBits: 16,
};
/** Batches per epoch (a short last batch joins the one before it). */
const BATCHES = epochBatches(trainingRows(300, []), hyper.batchSize, hyper.seed, 0).length;

interface Release {
  /** The key that released (in order of creation). */
  readonly key: number;
  readonly values: number;
  /** The first bytes of its flooding generator ('' when none was passed). */
  readonly noise: string;
}

function recording(log: Release[]): (scheme: 'none') => LrCipherProvider {
  const inner = cipherProvider('none');
  let created = 0;
  return () => ({
    scheme: 'none',
    load: (bytes, runtime) => inner.load(bytes, runtime),
    create: async (shape, runtime) => {
      const sk = await inner.create(shape, runtime);
      const key = created++;
      const decryptForRelease = (
        a: Parameters<LrCipherSecret['decryptForRelease']>[0],
        noise?: CryptoRng,
      ) => {
        const out = sk.decryptForRelease(a, noise);
        const head =
          noise === undefined ? '' : Buffer.from(noise.fillBytes(new Uint8Array(16))).toString('hex');
        log.push({ key, values: out.length, noise: head });
        return out;
      };
      return new Proxy(sk, {
        get: (t, p) => {
          if (p === 'decryptForRelease') return decryptForRelease;
          const v = Reflect.get(t, p);
          return typeof v === 'function' ? v.bind(t) : v;
        },
      });
    },
  });
}

interface Over {
  readonly modelId?: string;
  readonly learningRate?: number;
  readonly onCheckpoint?: (party: string, cp: HeteroLrCheckpoint) => void;
  readonly resumeFrom?: Readonly<Record<string, readonly HeteroLrCheckpoint[]>>;
}

async function run(mode: 'arbiter' | 'two-party', over: Over = {}) {
  const log: Release[] = [];
  const res = await trainHeteroLr({
    guest: { features: data.guest, labels: data.labels },
    hosts: data.hosts.map((features) => ({ features })),
    mode,
    scheme: 'none',
    ciphers: recording(log) as (scheme: string) => LrCipherProvider,
    hyperparams: { ...hyper, learningRate: over.learningRate ?? hyper.learningRate },
    minMaskBits: 16,
    session: 'release-streams',
    modelId: over.modelId ?? 'job-a',
    maskKeys: keys,
    ...(over.onCheckpoint !== undefined && { onCheckpoint: over.onCheckpoint }),
    ...(over.resumeFrom !== undefined && { resumeFrom: over.resumeFrom }),
  });
  return { res, log };
}

const streams = (log: readonly Release[]) => log.map((r) => r.noise);

describe('hetero-LR releases: counted, each flooded from its own bound stream', () => {
  it('arbiter: one release per party per batch, counted; every release its own stream', async () => {
    const a = await run('arbiter');
    // Guest and two hosts, every batch of every epoch (no validation split here).
    expect(a.log).toHaveLength(3 * BATCHES * hyper.maxEpochs);
    expect(a.res.arbiter!.releases).toBe(a.log.length);
    expect(new Set(a.log.map((r) => r.key)).size).toBe(1); // the arbiter's key only
    // Each party's release has its own gradient width (guest 2 + intercept, hosts 3 and 2).
    expect(a.log.slice(0, 3).map((r) => r.values)).toEqual([3, 3, 2]);
    const s = streams(a.log);
    expect(s.every((x) => x.length === 32)).toBe(true);
    expect(new Set(s).size).toBe(s.length); // no two releases share a stream
    // Same key, same binding: the same streams (what makes a resumed run release the same bytes).
    expect(streams((await run('arbiter')).log)).toEqual(s);
    // Another job or another plan: no stream of the first run comes back.
    for (const other of [
      await run('arbiter', { modelId: 'job-b' }),
      await run('arbiter', { learningRate: 0.25 }),
    ]) {
      expect(other.log).toHaveLength(s.length);
      for (const x of streams(other.log)) expect(s).not.toContain(x);
    }
  }, 120_000);

  it("two-party: guest and host release each other's masked gradient from their own bound streams", async () => {
    const a = await run('two-party');
    // Keys in order of creation: the two hosts' keys and the guest's; each host releases the guest's
    // part once per batch, the guest each host's part once per batch.
    expect(a.log).toHaveLength(4 * BATCHES * hyper.maxEpochs);
    const s = streams(a.log);
    expect(s.every((x) => x.length === 32)).toBe(true);
    expect(new Set(s).size).toBe(s.length);
    expect(streams((await run('two-party')).log)).toEqual(s);
    for (const x of streams((await run('two-party', { modelId: 'job-b' })).log)) expect(s).not.toContain(x);
  }, 120_000);

  it('arbiter: the release count is checkpointed and carried across a resume, never restarted at 0', async () => {
    const held: Record<string, HeteroLrCheckpoint[]> = {};
    const full = await run('arbiter', {
      onCheckpoint: (party, cp) => {
        const list = held[party] ?? [];
        held[party] = list;
        list.push(cp);
      },
    });
    const perEpoch = 3 * BATCHES;
    expect(held.arbiter!.map((cp) => [cp.epoch, cp.releases])).toEqual([
      [1, perEpoch],
      [2, 2 * perEpoch],
    ]);
    // Every party resumes from epoch 1: the arbiter releases one more epoch and counts both.
    const resumeFrom = Object.fromEntries(
      Object.entries(held).map(([p, l]) => [p, l.filter((cp) => cp.epoch === 1)]),
    );
    const resumed = await run('arbiter', { resumeFrom });
    expect(resumed.res.resumedFrom).toBe(1);
    expect(resumed.log).toHaveLength(perEpoch);
    expect(resumed.res.arbiter!.releases).toBe(full.res.arbiter!.releases);
    // The repeated epoch draws the uninterrupted run's streams (epoch 2's), not epoch 1's again.
    expect(streams(resumed.log)).toEqual(streams(full.log).slice(perEpoch));
  }, 120_000);
});
