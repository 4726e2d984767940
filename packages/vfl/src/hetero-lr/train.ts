/**
 * `trainHeteroLr`: every role of one hetero-LR run in this process, over the in-memory network (which
 * encodes every message with the real wire codec and counts its bytes). For tests, the CLI, the demo
 * and the benchmarks; a party node runs one role class (HeteroLrGuest / HeteroLrHost / HeteroLrArbiter)
 * over its own channel instead.
 */
import {
  assertOneOf,
  type CapturedMessage,
  type CryptoRng,
  createInMemoryNetwork,
  FedscoreError,
  type Logger,
  noopLogger,
  type ProgressCallback,
  ProtocolSession,
  runParties,
} from '@fedscore/core';
import { envelopeCodec } from '@fedscore/wire';
import { HeteroLrArbiter, type HeteroLrArbiterResult } from './arbiter.ts';
import type { HeteroLrCheckpoint } from './checkpoint-state.ts';
import { type CipherProviderOptions, cipherProvider, type LrCipherProvider } from './cipher.ts';
import { abortAwareChannel } from './exchange.ts';
import type { PartyFeatures } from './features.ts';
import { type EpochRecord, HeteroLrGuest } from './guest.ts';
import { HeteroLrHost } from './host.ts';
import type { JointModelDescriptor, PartyModel } from './model.ts';
import {
  HETERO_LR_MODES,
  HETERO_LR_SCHEMES,
  type HeteroLrHyperparams,
  type HeteroLrMode,
  type HeteroLrRuntime,
  type HeteroLrScheme,
} from './options.ts';
import { HETERO_LR_PROTOCOL, HETERO_LR_VERSION } from './steps.ts';

export interface TrainHeteroLrInput {
  readonly guest: {
    readonly id?: string;
    readonly features: PartyFeatures;
    readonly labels: ArrayLike<number>;
  };
  readonly hosts: readonly { readonly id?: string; readonly features: PartyFeatures }[];
  /** Default 'arbiter'. */
  readonly mode?: HeteroLrMode;
  /** Default 'ckks'. */
  readonly scheme?: HeteroLrScheme;
  readonly hyperparams?: HeteroLrHyperparams;
  /** HE backend options (CKKS preset, Paillier key size, `allowWeakParameters` for test parameters). */
  readonly he?: CipherProviderOptions;
  /** Replace the HE providers entirely (tests). */
  readonly ciphers?: (scheme: HeteroLrScheme) => LrCipherProvider;
  /** Keep every message (privacy tests). Default false. */
  readonly capture?: boolean;
  /**
   * Worker threads and diagonal-cache budget of each party's CKKS products (every party the same here).
   * Default: workers 'auto' (2 when the run is large enough), cache 1024 MiB per party.
   */
  readonly runtime?: HeteroLrRuntime;
  /** Mask generator per party id (cryptographic only; default cryptoRng() each). */
  readonly maskRngs?: Readonly<Record<string, CryptoRng>>;
  /**
   * Every host's floor on the plan's mask bits (default `DEFAULT_MASK_BITS`): lower it only to run a
   * deliberately weaker plan (tests that need float64-exact unmasking, attack tests).
   */
  readonly minMaskBits?: number;
  /**
   * A 256-bit mask key per party id (key-derived masks and CKKS flooding noise: reproducible runs and
   * bit-identical resumes); the arbiter's derives only its flooding noise (`floodingKey`).
   */
  readonly maskKeys?: Readonly<Record<string, Uint8Array>>;
  /** Every party's end-of-epoch checkpoint, with the party id (awaited). */
  readonly onCheckpoint?: (party: string, checkpoint: HeteroLrCheckpoint) => void | Promise<void>;
  /** The checkpoints each party holds, by party id (the run resumes from the latest epoch all hold). */
  readonly resumeFrom?: Readonly<Record<string, readonly HeteroLrCheckpoint[]>>;
  /**
   * Parties (by id) that skip the batch-size floor. Only for the attack test; every party not listed
   * still refuses a plan with a small batch.
   */
  readonly unsafeAllowSmallBatches?: readonly string[];
  /** Resuming needs the same model id (default: derived from `session`). */
  readonly modelId?: string;
  readonly session?: string;
  readonly logger?: Logger;
  readonly onProgress?: ProgressCallback;
}

export interface TrainHeteroLrResult {
  readonly guest: PartyModel;
  readonly hosts: readonly PartyModel[];
  readonly descriptor: JointModelDescriptor;
  readonly history: readonly EpochRecord[];
  readonly epochs: number;
  readonly keptEpoch: number;
  readonly secondsTotal: number;
  readonly secondsPerEpoch: number;
  /** Bytes each party sent (encoded envelopes). */
  readonly bytesSent: Readonly<Record<string, number>>;
  /** True when trained with scheme 'none' or insecure HE parameters. */
  readonly insecure: boolean;
  readonly arbiter?: HeteroLrArbiterResult;
  /** Every message, when `capture` was set. */
  readonly captured: readonly CapturedMessage[];
  /** The epoch the run resumed from (0: a fresh start). */
  readonly resumedFrom: number;
}

export const GUEST_ID = 'guest';
export const ARBITER_ID = 'arbiter';

export async function trainHeteroLr(input: TrainHeteroLrInput): Promise<TrainHeteroLrResult> {
  const mode = assertOneOf(input.mode ?? 'arbiter', HETERO_LR_MODES, 'mode');
  const scheme = assertOneOf(input.scheme ?? 'ckks', HETERO_LR_SCHEMES, 'scheme');
  if (!Array.isArray(input.hosts) || input.hosts.length === 0) {
    throw new FedscoreError('invalid_argument', 'at least one host', { field: 'hosts' });
  }
  const guestId = input.guest.id ?? GUEST_ID;
  const hostIds = input.hosts.map((h, i) => h.id ?? `host-${i + 1}`);
  const parties = mode === 'arbiter' ? [guestId, ...hostIds, ARBITER_ID] : [guestId, ...hostIds];
  if (new Set(parties).size !== parties.length) {
    throw new FedscoreError('invalid_argument', 'party ids must be unique', { field: 'hosts' });
  }
  const logger = input.logger ?? noopLogger;
  const providers = new Map<HeteroLrScheme, LrCipherProvider>();
  const ciphers =
    input.ciphers ??
    ((s: HeteroLrScheme) => {
      let p = providers.get(s);
      if (p === undefined) {
        p = cipherProvider(s, { ...input.he, logger });
        providers.set(s, p);
      }
      return p;
    });
  const network = createInMemoryNetwork(parties, envelopeCodec, { capture: input.capture === true });
  const spec = {
    protocol: HETERO_LR_PROTOCOL,
    version: HETERO_LR_VERSION,
    session: input.session ?? `hetero-lr-${Date.now().toString(36)}`,
  };
  const session = (p: string) => new ProtocolSession(abortAwareChannel(network.channel(p)), spec);
  // Choosing scheme 'none' here is choosing it for every role of this in-process run.
  const allowPlaintextScheme = scheme === 'none';
  const checkpointing = (id: string) => ({
    ...(input.maskKeys?.[id] !== undefined && { maskKey: input.maskKeys[id] }),
    ...(input.resumeFrom?.[id] !== undefined && { resumeFrom: input.resumeFrom[id] }),
    ...(input.onCheckpoint !== undefined && {
      onCheckpoint: (cp: HeteroLrCheckpoint) => input.onCheckpoint!(id, cp),
    }),
  });
  const unsafeBatches = (id: string) =>
    input.unsafeAllowSmallBatches?.includes(id) === true && { unsafeAllowSmallBatches: true };
  const roles: Record<string, () => Promise<unknown>> = {
    [guestId]: () =>
      new HeteroLrGuest({
        session: session(guestId),
        hosts: hostIds,
        ...(mode === 'arbiter' && { arbiter: ARBITER_ID }),
        mode,
        scheme,
        features: input.guest.features,
        labels: input.guest.labels,
        ...(input.hyperparams !== undefined && { hyperparams: input.hyperparams }),
        ciphers,
        ...(input.maskRngs?.[guestId] !== undefined && { maskRng: input.maskRngs[guestId] }),
        ...checkpointing(guestId),
        ...(input.modelId !== undefined && { modelId: input.modelId }),
        ...(input.runtime !== undefined && { runtime: input.runtime }),
        ...unsafeBatches(guestId),
        logger,
        ...(input.onProgress !== undefined && { onProgress: input.onProgress }),
      }).run(),
  };
  input.hosts.forEach((h, i) => {
    const id = hostIds[i]!;
    roles[id] = () =>
      new HeteroLrHost({
        session: session(id),
        guest: guestId,
        ...(mode === 'arbiter' && { arbiter: ARBITER_ID }),
        features: h.features,
        ciphers,
        allowPlaintextScheme,
        ...(input.minMaskBits !== undefined && { minMaskBits: input.minMaskBits }),
        ...(input.maskRngs?.[id] !== undefined && { maskRng: input.maskRngs[id] }),
        ...checkpointing(id),
        ...(input.runtime !== undefined && { runtime: input.runtime }),
        ...unsafeBatches(id),
        logger,
      }).run();
  });
  if (mode === 'arbiter') {
    roles[ARBITER_ID] = () =>
      new HeteroLrArbiter({
        session: session(ARBITER_ID),
        guest: guestId,
        ciphers,
        allowPlaintextScheme,
        ...(input.maskKeys?.[ARBITER_ID] !== undefined && { floodingKey: input.maskKeys[ARBITER_ID] }),
        ...(input.resumeFrom?.[ARBITER_ID] !== undefined && { resumeFrom: input.resumeFrom[ARBITER_ID] }),
        ...(input.onCheckpoint !== undefined && {
          onCheckpoint: (cp: HeteroLrCheckpoint) => input.onCheckpoint!(ARBITER_ID, cp),
        }),
        ...unsafeBatches(ARBITER_ID),
        logger,
      }).run();
  }
  const t0 = performance.now();
  const out = (await runParties(network, roles)) as Record<string, unknown>;
  const secondsTotal = (performance.now() - t0) / 1000;
  const g = out[guestId] as Awaited<ReturnType<HeteroLrGuest['run']>>;
  const hosts = hostIds.map((id) => (out[id] as Awaited<ReturnType<HeteroLrHost['run']>>).model);
  const bytesSent: Record<string, number> = {};
  for (const p of parties) {
    bytesSent[p] = Object.values(network.channel(p).stats().bytesSent).reduce((a, b) => a + b, 0);
  }
  const trainSeconds = g.history.reduce((a, r) => a + r.seconds, 0);
  return {
    guest: g.model,
    hosts,
    descriptor: g.descriptor,
    history: g.history,
    epochs: g.epochs,
    keptEpoch: g.keptEpoch,
    secondsTotal,
    secondsPerEpoch: g.epochs > 0 ? trainSeconds / g.epochs : 0,
    bytesSent,
    insecure: g.insecure || scheme === 'none',
    ...(mode === 'arbiter' && { arbiter: out[ARBITER_ID] as HeteroLrArbiterResult }),
    captured: network.captured,
    resumedFrom: g.resumedFrom,
  };
}
