/**
 * A party refuses what a lying peer sends, on its own, whatever the other parties check (issue 19: the
 * refusal lines that in-process runs of honest parties never reach; docs/protocols/hetero-lr.md).
 *
 * The lying peer is a real role whose view or wire is tampered in the test: a guest whose channel
 * rewrites its own messages to the arbiter (an epoch out of order, a gradient wider than the plan, of no
 * value, or whose bytes are not its values), a guest, host or arbiter sending any vector one value longer
 * than the protocol says, and parties whose cipher provider reports a peer's key with less room for the
 * masks than the plan's (as a peer on a weak preset would send), with another `insecure` flag, or unable
 * to encode a value (as CKKS refuses one beyond its level's bound). Each test
 * runs the roles by hand (not `trainHeteroLr`) so that exactly one party sees the lie: the refusal
 * asserted is that party's own, with its code and field (with the check removed, the run completes or
 * fails elsewhere with another code or field; the vfl-arbiter and vfl-gradients mutation scopes check it).
 */
import {
  createInMemoryNetwork,
  type Envelope,
  FedscoreError,
  ProtocolSession,
  runParties,
} from '@fedscore/core';
import {
  abortAwareChannel,
  cipherProvider,
  HETERO_LR_PROTOCOL,
  HETERO_LR_VERSION,
  HeteroLrArbiter,
  type HeteroLrArbiterResult,
  HeteroLrGuest,
  HeteroLrHost,
  type HeteroLrHostResult,
  type LrCipherProvider,
} from '@fedscore/vfl';
import { ciphertextBatchStep, envelopeCodec, fedscore, float64VectorStep, protoStep } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';
import { syntheticSplit } from './synthetic.ts';

type Mode = 'two-party' | 'arbiter';
/** Rewrites one party's outgoing envelope (the lie), or returns it as it is. */
type Tamper = (env: Envelope) => Envelope;

/** The plaintext keys, with the fields given overridden on created and on loaded (a peer's) keys. */
function viewed(
  created: { insecure?: boolean; maxMaskBits?: number } = {},
  loaded: { insecure?: boolean; maxMaskBits?: number; encrypt?: () => never } = {},
): LrCipherProvider {
  const inner = cipherProvider('none');
  const over = <T extends object>(key: T, fields: Record<string, unknown>): T =>
    new Proxy(key, {
      get: (t, p) => {
        if (typeof p === 'string' && p in fields) return fields[p];
        const v = Reflect.get(t, p);
        return typeof v === 'function' ? v.bind(t) : v;
      },
    });
  return {
    scheme: 'none',
    create: async (shape, runtime) => over(await inner.create(shape, runtime), created),
    load: async (bytes, runtime) => over(await inner.load(bytes, runtime), loaded),
  };
}

interface RunOptions {
  readonly mode: Mode;
  readonly guestCiphers?: LrCipherProvider;
  readonly hostCiphers?: LrCipherProvider;
  readonly guestTamper?: Tamper;
  /** Tampered channels of the other parties (host-1, arbiter). */
  readonly tamper?: Readonly<Record<string, Tamper>>;
  readonly validation?: boolean;
  /** Parties that skip the batch floor (a guest and hosts that lie about having checked it). */
  readonly unsafe?: readonly string[];
  readonly batchSize?: number;
  /** The host's features (default 2). */
  readonly hostFeatures?: number;
}

/** Guest, one host (and the arbiter): 200 rows, 2 + 2 features, one epoch of two batches, 2^16 masks. */
async function run(o: RunOptions): Promise<{ host: HeteroLrHostResult; arbiter?: HeteroLrArbiterResult }> {
  const data = syntheticSplit(200, 2, [o.hostFeatures ?? 2], 47);
  const parties = o.mode === 'arbiter' ? ['guest', 'host-1', 'arbiter'] : ['guest', 'host-1'];
  const network = createInMemoryNetwork(parties, envelopeCodec, { receiveTimeoutMs: 20_000 });
  const session = (p: string, tamper?: Tamper) => {
    const ch = abortAwareChannel(network.channel(p));
    const channel = tamper === undefined ? ch : { ...ch, send: (env: Envelope) => ch.send(tamper(env)) };
    return new ProtocolSession(channel, {
      protocol: HETERO_LR_PROTOCOL,
      version: HETERO_LR_VERSION,
      session: `lying-peer-${o.mode}`,
    });
  };
  const honest = cipherProvider('none');
  const arbiter = o.mode === 'arbiter' ? { arbiter: 'arbiter' } : {};
  const unsafe = (p: string) => o.unsafe?.includes(p) === true && { unsafeAllowSmallBatches: true };
  const roles: Record<string, () => Promise<unknown>> = {
    guest: () =>
      new HeteroLrGuest({
        session: session('guest', o.guestTamper),
        hosts: ['host-1'],
        ...arbiter,
        mode: o.mode,
        scheme: 'none',
        features: data.guest,
        labels: data.labels,
        hyperparams: {
          batchSize: o.batchSize ?? 80,
          maxEpochs: 1,
          maskBits: 16,
          ...(o.validation === true && { validationFraction: 0.2, validationEvery: 1 }),
        },
        ciphers: () => o.guestCiphers ?? honest,
        ...unsafe('guest'),
      }).run(),
    'host-1': () =>
      new HeteroLrHost({
        session: session('host-1', o.tamper?.['host-1']),
        guest: 'guest',
        ...arbiter,
        features: data.hosts[0]!,
        ciphers: () => o.hostCiphers ?? honest,
        allowPlaintextScheme: true,
        minMaskBits: 16,
        ...unsafe('host-1'),
      }).run(),
  };
  if (o.mode === 'arbiter') {
    roles.arbiter = () =>
      new HeteroLrArbiter({
        session: session('arbiter', o.tamper?.arbiter),
        guest: 'guest',
        ciphers: () => honest,
        allowPlaintextScheme: true,
        ...unsafe('arbiter'),
      }).run();
  }
  const out = await runParties(network, roles);
  return {
    host: out['host-1'] as HeteroLrHostResult,
    ...(o.mode === 'arbiter' && { arbiter: out.arbiter as HeteroLrArbiterResult }),
  };
}

const EPOCH_CONTROL = protoStep('epoch-control', fedscore.heterolr.EpochControl);
const MASKED_GRADIENT = ciphertextBatchStep('masked-gradient');

/** The guest's messages of `step` to the arbiter, rewritten by `edit`. */
function toArbiter<T>(
  step: { name: string; encode(v: T): Uint8Array; decode(b: Uint8Array): T },
  edit: (v: T) => T,
): Tamper {
  return (env) =>
    env.receiver === 'arbiter' && env.step === step.name
      ? { ...env, payload: step.encode(edit(step.decode(env.payload))) }
      : env;
}

/**
 * `from`'s message `step` to `to`, one value longer than the protocol says (a well-formed message: a
 * plaintext batch with one more float64, or a released vector with one more value).
 */
function oneLonger(to: string, step: string, kind: 'batch' | 'vector'): Tamper {
  const batch = ciphertextBatchStep(step);
  const vector = float64VectorStep(step);
  return (env) => {
    if (env.receiver !== to || env.step !== step) return env;
    if (kind === 'vector') {
      const v = vector.decode(env.payload);
      const longer = new Float64Array(v.length + 1);
      longer.set(v);
      return { ...env, payload: vector.encode(longer) };
    }
    const b = batch.decode(env.payload);
    const bytes = new Uint8Array(8 * (b.valueCount + 1));
    bytes.set(b.items[0] ?? new Uint8Array(0));
    return {
      ...env,
      payload: batch.encode({
        ...b,
        items: [bytes],
        valueCount: b.valueCount + 1,
        slotsPerItem: b.valueCount + 1,
      }),
    };
  };
}

describe('hetero-LR: a party refuses a lying peer on its own', () => {
  it('honest baseline: the same runs complete (so each refusal below is caused by its lie)', async () => {
    for (const mode of ['two-party', 'arbiter'] as const) {
      const { host, arbiter } = await run({ mode, validation: true });
      expect(host.epochs, mode).toBe(1);
      // The arbiter counts every release: 160 training rows in 2 batches, the guest's and the host's
      // gradient of each, and the validation sums once.
      if (mode === 'arbiter') expect(arbiter?.releases).toBe(2 * 2 + 1);
    }
    // A host of one feature: a gradient of one value is a gradient (the arbiter's lower bound is 1).
    for (const mode of ['two-party', 'arbiter'] as const) {
      const { host } = await run({ mode, validation: true, hostFeatures: 1 });
      expect(host.model.weights, mode).toHaveLength(1);
    }
  });

  it('arbiter: a batch below the floor is refused by the arbiter when guest and host skipped their checks', async () => {
    // 200 training rows (no validation split) in batches of 40: below the floor of 64 rows (max(64, 2 x 3 columns)).
    const err = await run({ mode: 'arbiter', batchSize: 40, unsafe: ['guest', 'host-1'] }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({
      code: 'out_of_range',
      field: 'batchSize',
      details: { rows: 200, batchSize: 40, smallest: 40, minimum: 64 },
    });
    // Every party skipping it (the attack test's weakened configuration): the run completes.
    const { host } = await run({ mode: 'arbiter', batchSize: 40, unsafe: ['guest', 'host-1', 'arbiter'] });
    expect(host.epochs).toBe(1);
  });

  it('arbiter: a guest that starts another epoch than the one due is refused (epoch)', async () => {
    const lie = toArbiter(EPOCH_CONTROL, (c) =>
      c.stop ? c : fedscore.heterolr.EpochControl.create({ ...c, epoch: c.epoch + 1 }),
    );
    const err = await run({ mode: 'arbiter', guestTamper: lie }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'protocol_step', field: 'epoch' });
    expect(String((err as Error).message)).toContain('guest starts epoch 1, arbiter expects 0');
  });

  it('arbiter: a masked gradient wider than the plan, or of no value, is refused before it is decrypted', async () => {
    // The plan's widest gradient: the guest's 2 features + intercept, the host's 2 -> 3 values.
    for (const [count, text] of [
      [4, 'a gradient of 4 values'],
      [0, 'a gradient of 0 values'],
    ] as const) {
      // A well-formed plaintext batch of `count` float64 values (the guest's values, zero-padded or cut).
      const lie = toArbiter(MASKED_GRADIENT, (b) => {
        const bytes = new Uint8Array(8 * count);
        bytes.set((b.items[0] ?? new Uint8Array(0)).subarray(0, bytes.length));
        return {
          ...b,
          items: count === 0 ? [] : [bytes],
          valueCount: count,
          slotsPerItem: Math.max(1, count),
        };
      });
      const err = await run({ mode: 'arbiter', guestTamper: lie }).catch((e: unknown) => e);
      expect(err, `${count} values`).toMatchObject({ code: 'protocol_step', field: 'masked-gradient' });
      expect(String((err as Error).message)).toContain(text);
    }
  });

  it('arbiter: a batch whose bytes are not its values, or a validation vector of the wrong length, is refused naming the message', async () => {
    // The gradient says 3 values and carries 2 (16 bytes): refused when it is read, before any release.
    const short = toArbiter(MASKED_GRADIENT, (b) => ({
      ...b,
      items: [(b.items[0] ?? new Uint8Array(24)).subarray(0, 16)],
    }));
    expect(await run({ mode: 'arbiter', guestTamper: short }).catch((e: unknown) => e)).toMatchObject({
      code: 'wire_decode',
      field: 'masked-gradient',
    });
    const validation = oneLonger('arbiter', 'validation-masked', 'batch');
    expect(
      await run({ mode: 'arbiter', validation: true, guestTamper: validation }).catch((e: unknown) => e),
    ).toMatchObject({ code: 'wire_decode', field: 'validation-masked' });
  });

  it("the host refuses a guest's key too small for the plan's masks (two-party), the guest not checking its own", async () => {
    // The guest's key, as the host loads it, holds masks of at most 2^8; the plan masks with 2^16.
    const err = await run({ mode: 'two-party', hostCiphers: viewed({}, { maxMaskBits: 8 }) }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({
      code: 'invalid_config',
      field: 'maskBits',
      details: { maskBits: 16, max: 8 },
    });
  });

  it("the guest refuses a host's key (two-party) or the arbiter's key too small for the masks, the host trusting it", async () => {
    for (const mode of ['two-party', 'arbiter'] as const) {
      const err = await run({ mode, guestCiphers: viewed({}, { maxMaskBits: 8 }) }).catch((e: unknown) => e);
      expect(err, mode).toMatchObject({
        code: 'invalid_config',
        field: 'maskBits',
        details: { maskBits: 16, max: 8 },
      });
    }
  });

  it("a value the arbiter's key cannot encode stops the host with diverged, naming the epoch and what grew", async () => {
    // The encoder's refusal of a value beyond the level's bound (CKKS `ckksEncodeBound`), on the host's
    // first encryption: its partial predictions of epoch 1.
    const refuse = (): never => {
      throw new FedscoreError('out_of_range', 'beyond the encoding bound', { field: 'values' });
    };
    const err = await run({ mode: 'arbiter', hostCiphers: viewed({}, { encrypt: refuse }) }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'diverged', field: 'learningRate', details: { epoch: 1 } });
    expect(String((err as Error).message)).toContain('the partial predictions grew');
  });

  it("the host's result says insecure exactly when its own key or the key it masks under is", async () => {
    const insecure = async (mode: Mode, created: boolean, loaded: boolean) =>
      (await run({ mode, hostCiphers: viewed({ insecure: created }, { insecure: loaded }) })).host.insecure;
    // Two-party: the host's own key (created) and the guest's key (loaded).
    expect(await insecure('two-party', false, false)).toBe(false);
    expect(await insecure('two-party', false, true)).toBe(true);
    expect(await insecure('two-party', true, false)).toBe(true);
    // Arbiter: the host creates no key; only the arbiter's (loaded) counts.
    expect(await insecure('arbiter', true, false)).toBe(false);
    expect(await insecure('arbiter', false, true)).toBe(true);
  });

  it('every received vector of the wrong length is refused by its receiver, naming the message', async () => {
    // [mode, liar, its message, receiver, kind, code]: each message of a batch (and of validation), one
    // value longer; the receiver refuses it with the message's name as the field.
    const cases = [
      ['arbiter', 'guest', 'residual', 'host-1', 'batch', 'wire_decode'],
      ['arbiter', 'arbiter', 'released-gradient', 'host-1', 'vector', 'protocol_step'],
      ['arbiter', 'arbiter', 'released-gradient', 'guest', 'vector', 'protocol_step'],
      ['arbiter', 'arbiter', 'validation-released', 'guest', 'vector', 'protocol_step'],
      ['two-party', 'guest', 'released-gradient', 'host-1', 'vector', 'protocol_step'],
      ['two-party', 'guest', 'masked-gradient', 'host-1', 'batch', 'wire_decode'],
      ['two-party', 'host-1', 'host-forward', 'guest', 'batch', 'wire_decode'],
      ['two-party', 'host-1', 'released-gradient', 'guest', 'vector', 'protocol_step'],
      ['two-party', 'host-1', 'masked-gradient', 'guest', 'batch', 'wire_decode'],
    ] as const;
    for (const [mode, liar, step, to, kind, code] of cases) {
      const lie = oneLonger(to, step, kind);
      const err = await run({
        mode,
        validation: true,
        ...(liar === 'guest' ? { guestTamper: lie } : { tamper: { [liar]: lie } }),
      }).catch((e: unknown) => e);
      expect(err, `${mode}: ${liar} -> ${to} ${step}`).toMatchObject({ code, field: step });
    }
  });
});
