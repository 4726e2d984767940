/**
 * What a stage function gets: this party's own data, its session over a `Channel`, its store, the job's
 * plan, and the policies this party applies (consent, PSI bounds, HE opt-ins). One context type serves
 * every stage of every model; a stage reads only what it needs.
 */
import {
  type Channel,
  FedscoreError,
  type Logger,
  type PartyId,
  type ProgressCallback,
  ProtocolSession,
  type Table,
} from '@fedscore/core';
import type { PsiBlindOffload, PsiIdKindChoice } from '@fedscore/psi';
import type { CreditRules } from '@fedscore/scoring';
import type {
  BinSumOffload,
  HeteroLrHyperparams,
  HeteroLrRuntime,
  PackedProductOffload,
  SecureBoostHistogramOffload,
  SecureBoostHyperparams,
} from '@fedscore/vfl';
import type { PipelineStore } from './store.ts';

export type PartyRole = 'guest' | 'host' | 'arbiter';
export type HeScheme = 'ckks' | 'paillier' | 'none';
export type CkksPresetName =
  | 'ckks-16384-release'
  | 'ckks-8192'
  | 'ckks-8192-deep'
  | 'ckks-16384'
  | 'ckks-2048-smoke-insecure';

/**
 * The job as the stages read it: the parties, the seed and the settings of each stage. The node's
 * validated job spec is one (it has more fields); an in-process run builds one from its flags.
 */
export interface JobPlan {
  readonly id: string;
  /** The label holder and coordinator. */
  readonly guest: PartyId;
  readonly hosts: readonly PartyId[];
  /** Key holder of arbiter-mode hetero-LR; absent = two-party mode. */
  readonly arbiter?: PartyId | undefined;
  readonly seed: number;
  /** Share of the aligned rows held out for evaluation (stratified by label, seeded). */
  readonly testFraction: number;
  readonly binning: {
    readonly enabled: boolean;
    readonly method: 'quantile' | 'equal-width';
    readonly bins: number;
    readonly minIv: number;
    readonly scheme: HeScheme;
  };
  readonly train: {
    readonly scheme: HeScheme;
    readonly ckksPreset?: CkksPresetName | undefined;
    readonly paillierBits?: number | undefined;
    readonly maxEpochs: number;
    readonly batchSize?: number | undefined;
    readonly learningRate?: number | undefined;
    readonly l2?: number | undefined;
    readonly validationFraction?: number | undefined;
  };
  readonly consent: { readonly purpose: string };
  /** The model kind (a registered pipeline; absent = 'hetero-lr'). */
  readonly kind?: string | undefined;
  /** The settings of an 'hfl' job (stages/hfl.ts). */
  readonly hfl?: HflPlan | undefined;
  /**
   * The hyperparameters of a 'secureboost' job (stages/secureboost.ts), vfl's `SecureBoostHyperparams`
   * as given (over `SECUREBOOST_DEFAULTS`); its HE scheme and parameters are those of `train`.
   */
  readonly secureboost?: SecureBoostHyperparams | undefined;
  readonly allowPlaintextScheme?: boolean | undefined;
  readonly allowWeakParameters?: boolean | undefined;
  /** @deprecated Both of the above at once. */
  readonly insecure?: boolean | undefined;
  /** What an in-process run (the CLI) sets beyond a job spec; a node's plan never has it. */
  readonly inProcess?: InProcessSettings | undefined;
}

/**
 * The settings of an in-process run that a node job spec does not carry: the CLI's split (the seed as
 * given, or id lists), its PSI choices, the full hetero-LR hyperparameters and runtime, and a train-rows
 * pass in evaluation. Every party of an in-process run reads the same plan (they share the process).
 */
export interface InProcessSettings {
  /** Seed of the stratified hold-out as given (a node job derives it from the job seed). */
  readonly splitSeed?: number;
  /**
   * The split as lists of the guest's ids (instead of the seeded hold-out): aligned rows in neither list
   * are left out, and an id of a list that is not an aligned row is a `not_found` error naming `source`.
   */
  readonly splitIds?: {
    readonly train: readonly string[];
    readonly test: readonly string[];
    readonly source?: { readonly train: string; readonly test: string };
  };
  /** PSI: how ids are prepared ('auto': each party decides from its own ids) and blinding threads. */
  readonly psi?: { readonly idKind?: PsiIdKindChoice; readonly threads?: number };
  /** Hetero-LR hyperparameters under those of `train` (schedule, decay, patience, class weights...). */
  readonly hyperparams?: HeteroLrHyperparams;
  /** Worker threads and cache of every party's hetero-LR role. */
  readonly runtime?: HeteroLrRuntime;
  /** Evaluate scores the training rows too (AUC and KS on the guest). */
  readonly evaluateTrain?: boolean;
}

/** Enterprises a consent check excluded, by reason. */
export interface ConsentExclusions {
  /** The id is not a valid USCC. */
  readonly invalidId: number;
  /** No consent at all for this grantee and purpose. */
  readonly noConsent: number;
  /** Consents exist and are valid in time but none covers all requested categories. */
  readonly outOfScope: number;
  /** The covering consents were all revoked before `at`. */
  readonly revoked: number;
  /** The covering consents all expired before `at`. */
  readonly expired: number;
  /** The covering consents all start after `at`. */
  readonly notYetValid: number;
}

/** What a consent check kept of a list of enterprise ids (a host's consent registry's answer). */
export interface ConsentFilter {
  /** Enterprises with valid consent, in input order (normalized USCCs, de-duplicated). */
  readonly included: readonly string[];
  readonly excluded: ConsentExclusions;
  readonly excludedTotal: number;
  /** Fingerprint of the consents that cover `included`. */
  readonly consentRef: string;
  /** The instant the consents were checked at, ms since the epoch. */
  readonly at: number;
}

/**
 * A host's consent check of one job: the filter applied to a list of its enterprise ids. A node's check
 * is asynchronous (its registry filters a table in steps that yield to the event loop, so millions of
 * ids do not stall the node's gRPC streams); a synchronous answer is accepted too (tests, short lists).
 */
export type ConsentCheck = (ids: readonly string[]) => ConsentFilter | Promise<ConsentFilter>;

/** What a party accepts of HE in jobs (node config `he`), whatever the job's plan asks. */
export interface HeAcceptance {
  readonly allowPlaintextScheme: boolean;
  readonly allowWeakParameters: boolean;
}

/** A host's bounds on the id set a guest submits to PSI (node config `governance.psi`). */
export interface PsiPolicy {
  readonly maxSubmittedIds: number;
  /** Submitted ids per enterprise in the host's PSI set; 0 = no ratio bound. */
  readonly maxSubmittedRatio: number;
}

export interface StageContext {
  readonly spec: JobPlan;
  readonly party: PartyId;
  /** The attempt key (session-id prefix): each stage attempt's sessions are distinct. */
  readonly key: string;
  readonly channel: Channel;
  readonly store: PipelineStore;
  /** This party's own table (the dataset the job names for it). */
  readonly table: () => Promise<Table>;
  /** Where a missing label column is reported (e.g. `data.bank.label`). */
  readonly labelField?: string;
  readonly logger: Logger;
  readonly progress: ProgressCallback;
  /** Hosts that require consent: the check of this job (absent = every enterprise takes part). */
  readonly consent?: ConsentCheck;
  /** Hosts: bounds on the guest's submitted PSI set (absent: only PSI's own `maxPeerCount`). */
  readonly psiPolicy?: PsiPolicy;
  /** What this party accepts of HE (absent: neither opt-in). */
  readonly he?: HeAcceptance;
  /**
   * Where this party's hetero-LR packed products run instead of its threads (a node's `queue: pgboss`);
   * the task id prefix is set per job here.
   */
  readonly offload?: PackedProductOffload;
  /**
   * Where a binning host's encrypted bin sums run instead of its threads (the same queue); the task id
   * prefix is set per job here.
   */
  readonly binSumOffload?: BinSumOffload;
  /**
   * Where a SecureBoost host's CKKS histograms run instead of its process (the same queue); the task id
   * prefix is set per job here.
   */
  readonly secureBoostOffload?: SecureBoostHistogramOffload;
  /**
   * Where this party's PSI blinding runs instead of its threads (the same queue): tasks carry the run's
   * ephemeral key to the party's workers and are dropped when the run ends; the task id prefix is set
   * per job and peer here.
   */
  readonly psiOffload?: PsiBlindOffload;
  /** Called after each per-epoch training checkpoint is saved (the node's test-only fault hook). */
  readonly onEpochSaved?: (epoch: number) => void;
  /**
   * HFL banks: called after each secure-aggregation step this bank completed in a round (the node's
   * test-only dropout hook); a bank stops taking part in the round while the returned promise is pending.
   */
  readonly onSecAggStep?: (round: number, step: HflSecAggStep) => Promise<void> | void;
  /** Where this party's ids come from, for PSI's error locations (in-process: the CSV and its lines). */
  readonly idSource?: IdSource;
  /**
   * A scoring job (stages/tree-score.ts): this party's own part of the model the job names (the text
   * of its model file; the node reads it from its registry). Absent in a training job.
   */
  readonly scoringModel?: () => string;
  /** A scoring job's guest: the credit rules its scores become bands and lines under (absent: none). */
  readonly creditRules?: CreditRules;
}

/** A party's id column as read, for error locations. */
export interface IdSource {
  readonly file?: string;
  /** The id column's name. */
  readonly field?: string;
  /** The 1-based file line of table row `row`. */
  readonly lineOf?: (row: number) => number;
}

/** This party's role in the job. */
export function roleOf(spec: JobPlan, party: PartyId): PartyRole {
  return party === spec.guest ? 'guest' : spec.hosts.includes(party) ? 'host' : 'arbiter';
}

/**
 * The HE opt-ins this party uses in a job: only those the plan asks for (`insecure`, deprecated, asks
 * for both) AND this party's own policy allows (absent policy: neither).
 */
export function heOptIns(spec: JobPlan, accepted: HeAcceptance | undefined): HeAcceptance {
  return {
    allowPlaintextScheme:
      (spec.allowPlaintextScheme === true || spec.insecure === true) &&
      accepted?.allowPlaintextScheme === true,
    allowWeakParameters:
      (spec.allowWeakParameters === true || spec.insecure === true) && accepted?.allowWeakParameters === true,
  };
}

/** A protocol session of this stage attempt, named `<key>/<name>`. */
export function stageSession(
  ctx: StageContext,
  protocol: string,
  version: number,
  name: string,
): ProtocolSession {
  return new ProtocolSession(ctx.channel, { protocol, version, session: `${ctx.key}/${name}` });
}

/** The guest's labels (an `invalid_config` error naming the dataset's label when its table has none). */
export function requireLabels(table: Table, ctx: StageContext): Float64Array {
  if (table.label === undefined) {
    throw new FedscoreError('invalid_config', 'the guest dataset has no label column', {
      field: ctx.labelField ?? 'label',
    });
  }
  return table.label;
}

/**
 * A bank's completed steps of one round: its local training done, before it sends anything of its update
 * (`trained`; plain FedAvg or secure aggregation), and under secure aggregation its key shares sent and
 * its masked input sent.
 */
export type HflSecAggStep = 'trained' | 'shares-sent' | 'masked-input-sent';

/** The settings of an HFL run (a node job's `hfl` field; the CLI's flags). */
export interface HflPlan {
  /** The feature columns every bank trains on, in order (absent: all of the coordinator's test table's). */
  readonly columns?: readonly string[] | undefined;
  /** 'lr' = logistic regression, 'mlp' = MLP (32, 16). */
  readonly model: 'lr' | 'mlp';
  readonly rounds: number;
  readonly localEpochs: number;
  readonly learningRate: number;
  /**
   * Inverse-time decay of the banks' learning rate over rounds (absent or 0: constant): round r uses
   * learningRate / (1 + learningRateDecay · (r − 1)) (`scheduledLearningRate` of @fedscore/hfl).
   */
  readonly learningRateDecay?: number | undefined;
  readonly batchSize: number;
  /** FedProx μ (0 = FedAvg). */
  readonly proximalMu: number;
  /** Aggregate with secure aggregation (the coordinator sees only the sum). */
  readonly secureAgg: boolean;
  /** SecAgg+ neighbours per bank (absent: every other sampled bank, the original SecAgg). */
  readonly neighbours?: number | undefined;
  /** Per-phase deadline of secure aggregation (ms); a bank silent past it is a dropout of the round. */
  readonly phaseDeadlineMs?: number | undefined;
  /**
   * Deadline (ms) of a round's first phase, which covers each bank's local training (default:
   * `phaseDeadlineMs`). A bank that misses any deadline drops out of the round and of later rounds.
   */
  readonly fitDeadlineMs?: number | undefined;
  /** User-level DP: each bank clips its update to `clipNorm` and adds its share of the noise. */
  readonly dp?: { readonly epsilon: number; readonly delta: number; readonly clipNorm: number } | undefined;
}
