/**
 * Hetero-LR in plaintext debug mode ('none'): the protocol must compute exactly the pooled first-order
 * Taylor mini-batch gradient descent (independent reference in synthetic.ts), in both modes and with
 * several hosts. Tolerance 1e-9 on weights: masks are added and subtracted in float64 (|mask| <= 2^16,
 * so each unmasking loses at most ~2^-36).
 */
import { auc, createInMemoryNetwork, ProtocolSession, seededRng } from '@fedscore/core';
import {
  cipherProvider,
  epochBatches,
  HETERO_LR_PROTOCOL,
  HETERO_LR_VERSION,
  HeteroLrGuest,
  HeteroLrHost,
  learningRateAt,
  parseJointModel,
  parsePartyModel,
  partyPartialScores,
  serializeJointModel,
  serializePartyModel,
  trainHeteroLr,
  trainingRows,
} from '@fedscore/vfl';
import { envelopeCodec } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';
import { pooledTaylorSgd, standardizeOn, syntheticSplit } from './synthetic.ts';

const hyper = {
  batchSize: 64,
  maxEpochs: 4,
  learningRate: 0.5,
  lrSchedule: 'inverse-time' as const,
  lrDecay: 0.3,
  l2: 0.01,
  seed: 11,
  classWeight: 'none' as const,
};

function reference(data: ReturnType<typeof syntheticSplit>) {
  const n = data.labels.length;
  const train = trainingRows(n, []);
  const cols = [...data.guest.columns, ...data.hosts.flatMap((h) => h.columns)].map((c) =>
    standardizeOn(c, train),
  );
  return pooledTaylorSgd(
    cols,
    data.labels,
    (e) => epochBatches(train, hyper.batchSize, hyper.seed, e),
    hyper.maxEpochs,
    (e) => learningRateAt(hyper.learningRate, hyper.lrSchedule, hyper.lrDecay, e),
    hyper.l2,
  );
}

describe('hetero-LR, scheme none', () => {
  for (const mode of ['arbiter', 'two-party'] as const) {
    it(`${mode}: two hosts reproduce the pooled Taylor SGD exactly`, async () => {
      const data = syntheticSplit(500, 3, [4, 2], 3, 0.05);
      const res = await trainHeteroLr({
        guest: { features: data.guest, labels: data.labels },
        hosts: data.hosts.map((features) => ({ features })),
        mode,
        scheme: 'none',
        hyperparams: hyper,
      });
      const ref = reference(data);
      const got = [...res.guest.weights, ...res.hosts.flatMap((h) => h.weights)];
      got.forEach((v, j) => {
        expect(v).toBeCloseTo(ref[j]!, 9);
      });
      expect(res.guest.intercept).toBeCloseTo(ref[ref.length - 1]!, 9);
      expect(res.insecure).toBe(true);
      expect(res.descriptor.training.insecure).toBe(true);
      expect(res.epochs).toBe(hyper.maxEpochs);
      // The model scores well above chance on its own training rows.
      const z = partyPartialScores(res.guest, data.guest.columns);
      res.hosts.forEach((h, i) => {
        const zh = partyPartialScores(h, data.hosts[i]!.columns);
        for (let k = 0; k < z.length; k++) z[k]! += zh[k]!;
      });
      expect(auc(data.labels, z)).toBeGreaterThan(0.75);
    });
  }

  it('is reproducible: same seed and masks, same weights', async () => {
    const data = syntheticSplit(300, 2, [3], 5);
    const run = () =>
      trainHeteroLr({
        guest: { features: data.guest, labels: data.labels },
        hosts: data.hosts.map((features) => ({ features })),
        scheme: 'none',
        hyperparams: { ...hyper, maxEpochs: 2 },
        maskRngs: { guest: seededRng(1), 'host-1': seededRng(2) },
      });
    const a = await run();
    const b = await run();
    expect(b.guest.weights).toEqual(a.guest.weights);
    expect(b.hosts[0]!.weights).toEqual(a.hosts[0]!.weights);
  });

  it('early stopping on the guest validation split keeps the best epoch', async () => {
    const data = syntheticSplit(600, 3, [3], 9);
    // Every party's weights at the end of each epoch, from its own checkpoint (independent of the kept copy).
    const perEpoch = new Map<string, number[][]>();
    const res = await trainHeteroLr({
      guest: { features: data.guest, labels: data.labels },
      hosts: data.hosts.map((features) => ({ features })),
      mode: 'two-party',
      scheme: 'none',
      hyperparams: { ...hyper, maxEpochs: 30, validationFraction: 0.2, patience: 2, classWeight: 'balanced' },
      onCheckpoint: (party, cp) => {
        const list = perEpoch.get(party) ?? [];
        list[cp.epoch - 1] = [...cp.weights];
        perEpoch.set(party, list);
      },
    });
    expect(res.epochs).toBeLessThan(30);
    const aucs = res.history.map((h) => h.validationAuc!);
    expect(aucs.every((a) => a > 0.7)).toBe(true);
    expect(res.keptEpoch).toBe(1 + aucs.indexOf(Math.max(...aucs)));
    // Stopped by patience, so the best epoch is not the last: returning the last weights must fail here.
    expect(res.keptEpoch).toBeLessThan(res.epochs);
    const guestAt = (epoch: number) => perEpoch.get(res.guest.party)![epoch - 1]!;
    expect([...res.guest.weights, res.guest.intercept]).toEqual(guestAt(res.keptEpoch));
    expect([...res.guest.weights, res.guest.intercept]).not.toEqual(guestAt(res.epochs));
    const host = res.hosts[0]!;
    expect([...host.weights]).toEqual(perEpoch.get(host.party)![res.keptEpoch - 1]);
    expect([...host.weights]).not.toEqual(perEpoch.get(host.party)![res.epochs - 1]);
    expect(res.descriptor.training.validationRows).toBe(120);
  });

  it('saves and loads both model formats', async () => {
    const data = syntheticSplit(200, 2, [2], 1);
    const res = await trainHeteroLr({
      guest: { features: data.guest, labels: data.labels },
      hosts: data.hosts.map((features) => ({ features })),
      scheme: 'none',
      hyperparams: { ...hyper, maxEpochs: 1 },
    });
    expect(parsePartyModel(serializePartyModel(res.guest))).toEqual(res.guest);
    expect(parsePartyModel(serializePartyModel(res.hosts[0]!))).toEqual(res.hosts[0]);
    expect(parseJointModel(serializeJointModel(res.descriptor))).toEqual(res.descriptor);
    const bad = JSON.parse(serializePartyModel(res.guest)) as Record<string, unknown>;
    bad.version = 99;
    expect(() => parsePartyModel(JSON.stringify(bad))).toThrow(/version/);
    bad.version = 1;
    bad.weights = [1];
    expect(() => parsePartyModel(JSON.stringify(bad))).toThrow(/weights/);
  });

  it('a failing party sends its peers an abort naming the error', async () => {
    const data = syntheticSplit(100, 2, [2], 4);
    const short = syntheticSplit(90, 2, [2], 4);
    const network = createInMemoryNetwork(['guest', 'host-1'], envelopeCodec);
    const spec = { protocol: HETERO_LR_PROTOCOL, version: HETERO_LR_VERSION, session: 's1' };
    const guest = new HeteroLrGuest({
      session: new ProtocolSession(network.channel('guest'), spec),
      hosts: ['host-1'],
      mode: 'two-party',
      scheme: 'none',
      features: data.guest,
      labels: data.labels,
      ciphers: cipherProvider,
    }).run();
    // The host holds 90 rows, the guest 100: the host refuses the plan and tells the guest why.
    const host = new HeteroLrHost({
      session: new ProtocolSession(network.channel('host-1'), spec),
      guest: 'guest',
      features: short.hosts[0]!,
      ciphers: cipherProvider,
      allowInsecure: true,
    }).run();
    await expect(host).rejects.toMatchObject({ code: 'invalid_argument', field: 'rows' });
    // A plain session reports the abort as a step mismatch; trainHeteroLr's sessions decode it.
    await expect(guest).rejects.toMatchObject({ code: 'protocol_step' });
  });

  it('trainHeteroLr reports a peer abort with its code and field', async () => {
    const data = syntheticSplit(100, 2, [2], 4);
    const short = syntheticSplit(90, 2, [2], 4);
    await expect(
      trainHeteroLr({
        guest: { features: data.guest, labels: data.labels },
        hosts: [{ features: short.hosts[0]! }],
        scheme: 'none',
        hyperparams: hyper,
      }),
    ).rejects.toMatchObject({ field: 'rows' });
  });
});
