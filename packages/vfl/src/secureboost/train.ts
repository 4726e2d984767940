/**
 * `trainSecureBoost` and `predictSecureBoost`: every role of one SecureBoost run in this process, over
 * the in-memory network (every message goes through the real wire codec and is counted). For tests,
 * benchmarks and, later, the one pipeline; a party node runs one role class over its own channel.
 */
import {
  type CapturedMessage,
  type CryptoRng,
  createInMemoryNetwork,
  FedscoreError,
  type Logger,
  noopLogger,
  type ProgressCallback,
  ProtocolSession,
  type RngKey,
  runParties,
} from '@fedscore/core';
import { envelopeCodec } from '@fedscore/wire';
import { abortAwareChannel } from '../hetero-lr/exchange.ts';
import type { PartyFeatures } from '../hetero-lr/features.ts';
import type { ReleaseLedger, SecureBoostCheckpoint } from './checkpoint.ts';
import {
  SecureBoostGuest,
  type SecureBoostGuestResult,
  type SecureBoostHeOptions,
  type TreeRecord,
} from './guest.ts';
import { SecureBoostHost, type SecureBoostHostResult } from './host.ts';
import type { FeatureImportance, SecureBoostGuestModel, SecureBoostHostModel } from './model.ts';
import type { SecureBoostHistogramOffload } from './offload.ts';
import { checkScheme, type SecureBoostHyperparams, type SecureBoostScheme } from './options.ts';
import { SecureBoostPredictGuest, SecureBoostPredictHost } from './predict.ts';
import { SECUREBOOST_PREDICT_PROTOCOL, SECUREBOOST_PROTOCOL, SECUREBOOST_VERSION } from './steps.ts';

export const SECUREBOOST_GUEST_ID = 'guest';

export interface TrainSecureBoostInput {
  readonly guest: {
    readonly id?: string;
    readonly features?: PartyFeatures;
    readonly labels: ArrayLike<number>;
    /** Rows held out for validation (else `hyperparams.validationFraction` of them, drawn). */
    readonly validationRows?: ArrayLike<number>;
  };
  readonly hosts: readonly {
    readonly id?: string;
    readonly features: PartyFeatures;
    /** This host's row floor (default `MIN_NODE_ROWS`; lower only for the attack test). */
    readonly minNodeRows?: number;
    /** Skip flooding (attack and error-measurement tests only). */
    readonly unsafeNoFlooding?: boolean;
    /** Skip the host's per-bin floor (attack tests only). */
    readonly unsafeNoBinFloor?: boolean;
    /** This host's feature subsample per tree (default `hyperparams.colsampleByTree`). */
    readonly colsampleByTree?: number;
    /** Memory for this host's run-cached CKKS diagonals (default 768 MiB; 0: none). */
    readonly maxDiagonalCacheBytes?: number;
    /** The run-cached products one level lower (default false; see `SecureBoostHostOptions`). */
    readonly lowProductLevel?: boolean;
    /** This host's CKKS histograms on a task executor (a work queue: secureboost/offload.ts). */
    readonly histogramOffload?: SecureBoostHistogramOffload;
    /** This host's HE worker threads (default 0; see `SecureBoostHostOptions.workers`). */
    readonly workers?: number;
    /** Histograms on those threads: forced on/off, default by the cost rule (`threadedHistograms`). */
    readonly threadedHistograms?: boolean;
    readonly rng?: CryptoRng;
    /** This host's release count across runs of one job (checkpoint.ts). */
    readonly releaseLedger?: ReleaseLedger;
    /** Trees' worth of releases beyond the plan's in its budget (default 0). */
    readonly retryTrees?: number;
  }[];
  /** Default 'ckks'. */
  readonly scheme?: SecureBoostScheme;
  readonly hyperparams?: SecureBoostHyperparams;
  readonly he?: SecureBoostHeOptions;
  /** The guest's generator: row subsampling or GOSS, its feature subsample, the validation split. */
  readonly rng?: CryptoRng;
  /** The model id of the plan (default: made from the clock; fix it to resume, the keyed draws bind it). */
  readonly modelId?: string;
  /** Per party id: the key its draws come from (needed to resume; the guest's and each host's own). */
  readonly rngKeys?: Readonly<Record<string, RngKey>>;
  /** Per-tree checkpoints of each party (checkpoint.ts), as the party made them. */
  readonly onCheckpoint?: (party: string, cp: SecureBoostCheckpoint) => void;
  /** Per party id: the checkpoints it holds (the run resumes from the latest tree all hold). */
  readonly resumeFrom?: Readonly<Record<string, readonly SecureBoostCheckpoint[]>>;
  /** Keep every message (privacy tests). */
  readonly capture?: boolean;
  readonly session?: string;
  readonly logger?: Logger;
  readonly onProgress?: ProgressCallback;
}

export interface TrainSecureBoostResult {
  readonly guest: SecureBoostGuestModel;
  readonly hosts: readonly SecureBoostHostModel[];
  readonly hostRuns: readonly SecureBoostHostResult[];
  /** Every tree grown, including those early stopping then dropped. */
  readonly history: readonly TreeRecord[];
  /** The tree count the guest resumed from (0: from the first tree). */
  readonly resumedFrom: number;
  /** Trees kept (early stopping: the best number; else all). */
  readonly bestTrees: number;
  readonly validationRows: Uint32Array;
  /**
   * Feature importance per party, each over its own features only: the guest's (and the gains it holds
   * per opaque host split id), and each host's as that host computed it (counts; gains with
   * `shareSplitGains`).
   */
  readonly importance: {
    readonly guest: SecureBoostGuestResult['importance'];
    readonly hosts: readonly (readonly FeatureImportance[])[];
  };
  readonly secondsTotal: number;
  readonly secondsPerTree: number;
  readonly bytesSent: Readonly<Record<string, number>>;
  readonly insecure: boolean;
  readonly captured: readonly CapturedMessage[];
}

function partyIds(
  guestId: string | undefined,
  hosts: readonly { readonly id?: string }[],
): { guest: string; hosts: string[] } {
  const guest = guestId ?? SECUREBOOST_GUEST_ID;
  const ids = hosts.map((h, i) => h.id ?? `host-${i + 1}`);
  if (new Set([guest, ...ids]).size !== ids.length + 1) {
    throw new FedscoreError('invalid_argument', 'party ids must be unique', { field: 'hosts' });
  }
  if (ids.length === 0) throw new FedscoreError('invalid_argument', 'at least one host', { field: 'hosts' });
  return { guest, hosts: ids };
}

export async function trainSecureBoost(input: TrainSecureBoostInput): Promise<TrainSecureBoostResult> {
  const scheme = checkScheme(input.scheme ?? 'ckks');
  const ids = partyIds(input.guest.id, input.hosts);
  const logger = input.logger ?? noopLogger;
  const parties = [ids.guest, ...ids.hosts];
  const network = createInMemoryNetwork(parties, envelopeCodec, { capture: input.capture === true });
  const spec = {
    protocol: SECUREBOOST_PROTOCOL,
    version: SECUREBOOST_VERSION,
    session: input.session ?? `secureboost-${Date.now().toString(36)}`,
  };
  const session = (p: string) => new ProtocolSession(abortAwareChannel(network.channel(p)), spec);
  const roles: Record<string, () => Promise<unknown>> = {
    [ids.guest]: () =>
      new SecureBoostGuest({
        session: session(ids.guest),
        hosts: ids.hosts,
        ...(input.guest.features !== undefined && { features: input.guest.features }),
        labels: input.guest.labels,
        ...(input.guest.validationRows !== undefined && { validationRows: input.guest.validationRows }),
        scheme,
        ...(input.hyperparams !== undefined && { hyperparams: input.hyperparams }),
        ...(input.he !== undefined && { he: input.he }),
        ...(input.rng !== undefined && { rng: input.rng }),
        ...(input.modelId !== undefined && { modelId: input.modelId }),
        ...(input.rngKeys?.[ids.guest] !== undefined && { rngKey: input.rngKeys[ids.guest] }),
        ...(input.onCheckpoint !== undefined && {
          onCheckpoint: (cp: SecureBoostCheckpoint) => input.onCheckpoint!(ids.guest, cp),
        }),
        ...(input.resumeFrom?.[ids.guest] !== undefined && { resumeFrom: input.resumeFrom[ids.guest] }),
        logger,
        ...(input.onProgress !== undefined && { onProgress: input.onProgress }),
      }).run(),
  };
  input.hosts.forEach((h, i) => {
    const id = ids.hosts[i]!;
    roles[id] = () =>
      new SecureBoostHost({
        session: session(id),
        guest: ids.guest,
        features: h.features,
        // Choosing 'none' here is choosing it for every role of this in-process run.
        allowPlaintextScheme: scheme === 'none',
        allowWeakParameters: input.he?.allowWeakParameters === true,
        ...(h.minNodeRows !== undefined && { minNodeRows: h.minNodeRows }),
        ...(h.unsafeNoFlooding === true && { unsafeNoFlooding: true }),
        ...(h.unsafeNoBinFloor === true && { unsafeNoBinFloor: true }),
        ...(h.maxDiagonalCacheBytes !== undefined && { maxDiagonalCacheBytes: h.maxDiagonalCacheBytes }),
        ...(h.lowProductLevel === true && { lowProductLevel: true }),
        ...(h.histogramOffload !== undefined && { histogramOffload: h.histogramOffload }),
        ...(h.workers !== undefined && { workers: h.workers }),
        ...(h.threadedHistograms !== undefined && { threadedHistograms: h.threadedHistograms }),
        // Each party's own setting; in this in-process run they default to the job's.
        colsampleByTree: h.colsampleByTree ?? input.hyperparams?.colsampleByTree ?? 1,
        receiveSplitGains: input.hyperparams?.shareSplitGains === true,
        ...(h.rng !== undefined && { rng: h.rng }),
        ...(h.releaseLedger !== undefined && { releaseLedger: h.releaseLedger }),
        ...(h.retryTrees !== undefined && { retryTrees: h.retryTrees }),
        ...(input.rngKeys?.[id] !== undefined && { rngKey: input.rngKeys[id] }),
        ...(input.onCheckpoint !== undefined && {
          onCheckpoint: (cp: SecureBoostCheckpoint) => input.onCheckpoint!(id, cp),
        }),
        ...(input.resumeFrom?.[id] !== undefined && { resumeFrom: input.resumeFrom[id] }),
        logger,
      }).run();
  });
  const t0 = performance.now();
  const out = (await runParties(network, roles)) as Record<string, unknown>;
  const secondsTotal = (performance.now() - t0) / 1000;
  const g = out[ids.guest] as Awaited<ReturnType<SecureBoostGuest['run']>>;
  const hostRuns = ids.hosts.map((id) => out[id] as SecureBoostHostResult);
  const bytesSent: Record<string, number> = {};
  for (const p of parties) {
    bytesSent[p] = Object.values(network.channel(p).stats().bytesSent).reduce((a, b) => a + b, 0);
  }
  return {
    guest: g.model,
    hosts: hostRuns.map((r) => r.model),
    hostRuns,
    history: g.history,
    resumedFrom: g.resumedFrom,
    bestTrees: g.bestTrees,
    validationRows: g.validationRows,
    importance: { guest: g.importance, hosts: hostRuns.map((r) => r.importance) },
    secondsTotal,
    secondsPerTree: g.history.length > 0 ? secondsTotal / g.history.length : 0,
    bytesSent,
    insecure: g.insecure || scheme === 'none',
    captured: network.captured,
  };
}

export interface PredictSecureBoostInput {
  readonly guest: {
    readonly id?: string;
    readonly model: SecureBoostGuestModel;
    readonly features?: PartyFeatures;
  };
  readonly hosts: readonly {
    readonly id?: string;
    readonly model: SecureBoostHostModel;
    readonly features: PartyFeatures;
  }[];
  readonly capture?: boolean;
  readonly session?: string;
}

export interface PredictSecureBoostResult {
  /** Probabilities of the positive class, at the guest. */
  readonly scores: Float64Array;
  /** Log-odds. */
  readonly margins: Float64Array;
  readonly captured: readonly CapturedMessage[];
}

/** Joint batch prediction: each host answers for its own split ids; the guest walks the trees. */
export async function predictSecureBoost(input: PredictSecureBoostInput): Promise<PredictSecureBoostResult> {
  const ids = partyIds(input.guest.id, input.hosts);
  const parties = [ids.guest, ...ids.hosts];
  const network = createInMemoryNetwork(parties, envelopeCodec, { capture: input.capture === true });
  const spec = {
    protocol: SECUREBOOST_PREDICT_PROTOCOL,
    version: SECUREBOOST_VERSION,
    session: input.session ?? `secureboost-predict-${Date.now().toString(36)}`,
  };
  const session = (p: string) => new ProtocolSession(abortAwareChannel(network.channel(p)), spec);
  const rows = input.hosts[0]!.features.columns[0]?.length ?? 0;
  const roles: Record<string, () => Promise<unknown>> = {
    [ids.guest]: () =>
      new SecureBoostPredictGuest({
        session: session(ids.guest),
        hosts: ids.hosts,
        model: input.guest.model,
        rows,
        ...(input.guest.features !== undefined && { features: input.guest.features }),
      }).run(),
  };
  input.hosts.forEach((h, i) => {
    const id = ids.hosts[i]!;
    roles[id] = () =>
      new SecureBoostPredictHost({
        session: session(id),
        guest: ids.guest,
        model: h.model,
        features: h.features,
      }).run();
  });
  const out = (await runParties(network, roles)) as Record<string, unknown>;
  const margins = out[ids.guest] as Float64Array;
  const scores = Float64Array.from(margins, (z) => 1 / (1 + Math.exp(-z)));
  return { scores, margins, captured: network.captured };
}
