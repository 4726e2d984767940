/**
 * Each party checks the plan on its own, before it sends anything that depends on it (issue 11,
 * finding 2; docs/protocols/hetero-lr.md): the guest refuses a batch below the floor for its own
 * gradient width before it sends the plan, the host refuses a plan whose batch is below the floor for
 * the wider of its own and the guest's gradients (a guest that skipped its check), and the host's mask
 * floor names its field and the two widths. The floor is max(64, 2 x gradient coordinates) rows
 * (options.ts), so with 40 columns it is 80 or 82 rows, above the 64-row minimum: these tests sit
 * between the floors of the right width and of a wrong one.
 */
import { createInMemoryNetwork, ProtocolSession } from '@fedscore/core';
import {
  batchSizes,
  type CipherShape,
  cipherProvider,
  HETERO_LR_PROTOCOL,
  HETERO_LR_VERSION,
  HeteroLrGuest,
  type LrCipherProvider,
  trainHeteroLr,
} from '@fedscore/vfl';
import { envelopeCodec } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';
import { syntheticSplit } from './synthetic.ts';

describe('hetero-LR: every party checks the plan itself', () => {
  it('the guest refuses a batch below the floor of its own width (40 features + intercept: 82 rows) before sending anything', async () => {
    const data = syntheticSplit(160, 40, [2], 31);
    const network = createInMemoryNetwork(['guest', 'host-1'], envelopeCodec, {
      capture: true,
      receiveTimeoutMs: 5_000,
    });
    const guest = new HeteroLrGuest({
      session: new ProtocolSession(network.channel('guest'), {
        protocol: HETERO_LR_PROTOCOL,
        version: HETERO_LR_VERSION,
        session: 'guest-floor',
      }),
      hosts: ['host-1'],
      mode: 'two-party',
      scheme: 'none',
      features: data.guest,
      labels: data.labels,
      // Two batches of 80: enough for 39 columns (78 rows), not for the guest's 41.
      hyperparams: { batchSize: 80, maxEpochs: 1, maskBits: 16 },
      ciphers: (s) => cipherProvider(s),
    });
    await expect(guest.run()).rejects.toMatchObject({
      code: 'out_of_range',
      field: 'batchSize',
      details: { rows: 160, batchSize: 80, smallest: 80, minimum: 82 },
    });
    // Refused before the plan left: the host received nothing.
    expect(network.captured).toEqual([]);
  });

  it('a host refuses a batch below the floor of its own width when the guest skipped its check', async () => {
    // Host: 40 features (floor 80); guest: 2 features + intercept (floor 64); batches of 70.
    const data = syntheticSplit(140, 2, [40], 37);
    const err = await trainHeteroLr({
      guest: { features: data.guest, labels: data.labels },
      hosts: data.hosts.map((features) => ({ features })),
      mode: 'two-party',
      scheme: 'none',
      hyperparams: { batchSize: 70, maxEpochs: 1, maskBits: 16 },
      minMaskBits: 16,
      unsafeAllowSmallBatches: ['guest'],
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ field: 'batchSize' });
    const e = err as { code: string; details?: Record<string, unknown> };
    // The host's own refusal, or the guest's report of the host's abort (code and field only).
    if (e.code === 'out_of_range') expect(e.details).toMatchObject({ smallest: 70, minimum: 80 });
    else expect(e).toMatchObject({ code: 'protocol_abort', details: { peerCode: 'out_of_range' } });
  });

  it("the host's mask floor: refused with its field and both widths; its own setting range-checked by name", async () => {
    const data = syntheticSplit(200, 2, [2], 4);
    const run = (minMaskBits?: number) =>
      trainHeteroLr({
        guest: { features: data.guest, labels: data.labels },
        hosts: data.hosts.map((features) => ({ features })),
        scheme: 'none',
        hyperparams: { batchSize: 100, maxEpochs: 1, maskBits: 16 },
        ...(minMaskBits !== undefined && { minMaskBits }),
      }).catch((e: unknown) => e);
    expect(await run()).toMatchObject({
      code: 'privacy_floor',
      field: 'mask_bits',
      details: { planned: 16, floor: 40 },
    });
    expect(await run(41)).toMatchObject({ code: 'out_of_range', field: 'minMaskBits' });
  });

  it('two-party: each key is sized for the batches, widths and releases it will serve', async () => {
    // Guest: 2 features + intercept; hosts of 4 and 2 features; 300 rows, 20% held out for validation.
    const data = syntheticSplit(300, 2, [4, 2], 41);
    const shapes: CipherShape[] = [];
    const inner = cipherProvider('none');
    const recording: LrCipherProvider = {
      scheme: 'none',
      load: (bytes, runtime) => inner.load(bytes, runtime),
      create: (shape, runtime) => {
        shapes.push(shape);
        return inner.create(shape, runtime);
      },
    };
    const hyper = { batchSize: 64, maxEpochs: 3, maskBits: 16, validationFraction: 0.2, validationEvery: 1 };
    const res = await trainHeteroLr({
      guest: { features: data.guest, labels: data.labels },
      hosts: data.hosts.map((features) => ({ features })),
      mode: 'two-party',
      scheme: 'none',
      ciphers: () => recording,
      hyperparams: hyper,
      minMaskBits: 16,
    });
    expect(res.epochs).toBe(3);
    const train = 300 - Math.round(0.2 * 300);
    const largest = Math.max(...batchSizes(train, 64));
    // Releases per key: every batch (at most ceil(train / B)) of every epoch, per party it releases for;
    // no validation vectors (in two-party mode the validation sums are not released by these keys).
    const products = (releasers: number) => 3 * Math.ceil(train / 64) * releasers;
    const guestKey = shapes.filter((s) => s.columns === 4);
    const hostKeys = shapes.filter((s) => s.columns === 3);
    expect(guestKey).toEqual([
      {
        batchSize: largest,
        columns: 4,
        releases: { products: products(2), vectors: 0, vectorLength: 300 - train },
      },
    ]);
    expect(hostKeys).toEqual([
      {
        batchSize: largest,
        columns: 3,
        releases: { products: products(1), vectors: 0, vectorLength: 300 - train },
      },
      {
        batchSize: largest,
        columns: 3,
        releases: { products: products(1), vectors: 0, vectorLength: 300 - train },
      },
    ]);
  });

  it("arbiter: its one key is sized for every party's release of every batch and each validated epoch", async () => {
    const data = syntheticSplit(300, 2, [4, 2], 41);
    const shapes: CipherShape[] = [];
    const inner = cipherProvider('none');
    const recording: LrCipherProvider = {
      scheme: 'none',
      load: (bytes, runtime) => inner.load(bytes, runtime),
      create: (shape, runtime) => {
        shapes.push(shape);
        return inner.create(shape, runtime);
      },
    };
    await trainHeteroLr({
      guest: { features: data.guest, labels: data.labels },
      hosts: data.hosts.map((features) => ({ features })),
      mode: 'arbiter',
      scheme: 'none',
      ciphers: () => recording,
      hyperparams: { batchSize: 64, maxEpochs: 3, maskBits: 16, validationFraction: 0.2, validationEvery: 1 },
      minMaskBits: 16,
    });
    const train = 300 - Math.round(0.2 * 300);
    // Guest and two hosts release once per batch (at most ceil(train / B) batches) in each of 3 epochs;
    // the validation sums once per validated epoch (every epoch here), each of the held-out length.
    expect(shapes).toEqual([
      {
        batchSize: Math.max(...batchSizes(train, 64)),
        columns: 4,
        releases: { products: 3 * Math.ceil(train / 64) * 3, vectors: 3, vectorLength: 300 - train },
      },
    ]);
  });

  it('the joint model says insecure when any key a party masks under is insecure, and only then', async () => {
    const data = syntheticSplit(200, 2, [2, 2], 43);
    const inner = cipherProvider('none');
    /** The plaintext keys, reporting the given flags (created keys, keys loaded from a peer). */
    const flagged = (created: boolean, loaded: boolean): LrCipherProvider => {
      const flag = <T extends object>(key: T, insecure: boolean): T =>
        new Proxy(key, {
          get: (t, p) => {
            if (p === 'insecure') return insecure;
            const v = Reflect.get(t, p);
            return typeof v === 'function' ? v.bind(t) : v;
          },
        });
      return {
        scheme: 'none',
        create: async (shape, runtime) => flag(await inner.create(shape, runtime), created),
        load: async (bytes, runtime) => flag(await inner.load(bytes, runtime), loaded),
      };
    };
    const insecureOf = async (mode: 'two-party' | 'arbiter', created: boolean, loaded: boolean) => {
      const res = await trainHeteroLr({
        guest: { features: data.guest, labels: data.labels },
        hosts: data.hosts.map((features) => ({ features })),
        mode,
        scheme: 'none',
        ciphers: () => flagged(created, loaded),
        hyperparams: { batchSize: 100, maxEpochs: 1, maskBits: 16 },
        minMaskBits: 16,
      });
      return res.descriptor.training.insecure;
    };
    for (const mode of ['two-party', 'arbiter'] as const) {
      expect(await insecureOf(mode, false, false), mode).toBe(false);
      expect(await insecureOf(mode, false, true), mode).toBe(true);
    }
    // The guest's own key (two-party): insecure though every key it loads is not.
    expect(await insecureOf('two-party', true, false)).toBe(true);
  });
});
