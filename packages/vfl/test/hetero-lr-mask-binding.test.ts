/**
 * The masks each party adds to a gradient before it is released are bound, on the wire, to the job, the
 * plan, the party's own data and the party (plan.ts `maskSource`; hetero-lr-masks.test.ts checks the
 * stream function itself, this file checks that the host and the guest actually pass the binding). A
 * mask reused across jobs, plans, data sets or parties would let the key holder subtract two releases
 * and read the difference of two gradients. Method: with scheme `none` the masked gradient crosses the
 * wire as plain values, and the first batch of epoch 0 is computed at w = 0, so its gradient does not
 * depend on the learning rate, the job id or the feature names: two runs with the same mask keys send
 * the same first masked gradient exactly when the masks are the same.
 */
import type { CapturedMessage } from '@fedscore/core';
import { type PartyFeatures, trainHeteroLr } from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { syntheticSplit } from './synthetic.ts';

const testKey = (k: number) => Uint8Array.from({ length: 32 }, (_, i) => (i * 29 + k * 101 + 7) & 0xff);
const data = syntheticSplit(300, 2, [3], 13);
const hyper = {
  batchSize: 64,
  maxEpochs: 1,
  learningRate: 0.5,
  l2: 0.01,
  seed: 3,
  classWeight: 'none' as const,
  maskBits: 16,
};

interface RunInput {
  readonly modelId?: string;
  readonly mode?: 'two-party' | 'arbiter';
  readonly learningRate?: number;
  readonly guest?: PartyFeatures;
  readonly hosts?: readonly PartyFeatures[];
  readonly keys?: Readonly<Record<string, Uint8Array>>;
}

async function run(i: RunInput = {}): Promise<readonly CapturedMessage[]> {
  const hosts = i.hosts ?? data.hosts;
  const res = await trainHeteroLr({
    guest: { features: i.guest ?? data.guest, labels: data.labels },
    hosts: hosts.map((features) => ({ features })),
    mode: i.mode ?? 'two-party',
    scheme: 'none',
    hyperparams: { ...hyper, learningRate: i.learningRate ?? hyper.learningRate },
    minMaskBits: 16,
    session: 'mask-binding',
    modelId: i.modelId ?? 'job-a',
    maskKeys: i.keys ?? {
      guest: testKey(1),
      'host-1': testKey(2),
      'host-2': testKey(3),
      arbiter: testKey(4),
    },
    capture: true,
  });
  return res.captured;
}

/** The payload of the first masked gradient `from` sent to `to`, as hex. */
function firstMasked(captured: readonly CapturedMessage[], from: string, to: string): string {
  const m = captured.find((c) => c.step === 'masked-gradient' && c.from === from && c.to === to);
  expect(m, `${from} -> ${to}`).toBeDefined();
  return Buffer.from(m!.payload).toString('hex');
}

const renamed = (f: PartyFeatures): PartyFeatures => ({ ...f, names: f.names.map((n) => `${n}_renamed`) });

describe('hetero-LR: released gradients are masked under a binding of job, plan, data and party', () => {
  it('two-party: same binding, same masks; another job, plan or data set of the masking party, other masks', async () => {
    const a = await run();
    const again = await run();
    const hostOf = (c: readonly CapturedMessage[]) => firstMasked(c, 'host-1', 'guest');
    const guestOf = (c: readonly CapturedMessage[]) => firstMasked(c, 'guest', 'host-1');
    // Positive control: the same binding reproduces the same bytes (so "differs" below is the mask).
    expect(hostOf(again)).toBe(hostOf(a));
    expect(guestOf(again)).toBe(guestOf(a));

    const otherJob = await run({ modelId: 'job-b' });
    expect(hostOf(otherJob)).not.toBe(hostOf(a));
    expect(guestOf(otherJob)).not.toBe(guestOf(a));

    // Another learning rate: another plan digest, the same first gradient (w = 0).
    const otherPlan = await run({ learningRate: 0.25 });
    expect(hostOf(otherPlan)).not.toBe(hostOf(a));
    expect(guestOf(otherPlan)).not.toBe(guestOf(a));

    // The host's data digest (its feature names) changes only the host's masks.
    const hostData = await run({ hosts: [renamed(data.hosts[0]!)] });
    expect(hostOf(hostData)).not.toBe(hostOf(a));
    expect(guestOf(hostData)).toBe(guestOf(a));
    // The guest's data digest changes only the guest's masks.
    const guestData = await run({ guest: renamed(data.guest) });
    expect(guestOf(guestData)).not.toBe(guestOf(a));
    expect(hostOf(guestData)).toBe(hostOf(a));
  }, 120_000);

  it('two hosts with the same data and the same key draw different masks; the guest masks each host apart', async () => {
    const key = testKey(9);
    const captured = await run({
      hosts: [data.hosts[0]!, data.hosts[0]!],
      keys: { guest: testKey(1), 'host-1': key, 'host-2': key },
    });
    // Same plan, data digest, epoch, batch and purpose: only the party tells the two hosts apart.
    expect(firstMasked(captured, 'host-1', 'guest')).not.toBe(firstMasked(captured, 'host-2', 'guest'));
    // The guest's masked products for the two hosts are equal before masking (same host columns).
    expect(firstMasked(captured, 'guest', 'host-1')).not.toBe(firstMasked(captured, 'guest', 'host-2'));
  }, 120_000);

  it('arbiter mode: the host and the guest mask their gradient for the arbiter under the same binding', async () => {
    const a = await run({ mode: 'arbiter' });
    const again = await run({ mode: 'arbiter' });
    const b = await run({ mode: 'arbiter', modelId: 'job-b' });
    for (const from of ['host-1', 'guest']) {
      expect(firstMasked(again, from, 'arbiter')).toBe(firstMasked(a, from, 'arbiter'));
      expect(firstMasked(b, from, 'arbiter')).not.toBe(firstMasked(a, from, 'arbiter'));
    }
  }, 120_000);
});
