/**
 * What a party's hetero-LR checkpoint holds (the types and format constants), apart from checkpoint.ts's
 * logic so that options.ts, plan.ts and checkpoint.ts can all name them without importing one another
 * in a cycle (checked by `pnpm lint`, scripts/check-boundaries.ts).
 */

/** The `format` of a serialized checkpoint's header line and body. */
export const CHECKPOINT_FORMAT = 'fedscore.hetero-lr.checkpoint';
/** 2: the mask stream is recorded by key id (version 1 stored the mask seed itself: refused). */
export const CHECKPOINT_VERSION = 2;

export type CheckpointRole = 'guest' | 'host' | 'arbiter';

/** The early-stopping state the guest holds. */
export interface EarlyStoppingState {
  /** Best validation AUC so far (null before the first validation). */
  readonly bestAuc: number | null;
  /** Epochs since the best validation. */
  readonly sinceBest: number;
  /** The guest decided to stop after this epoch (a resumed run goes straight to the stop message). */
  readonly stop: boolean;
}

/**
 * How a party's masks are drawn: derived from a 256-bit key (recorded by its one-way id, never the key)
 * or from the platform CSPRNG.
 */
export type MaskStream = { readonly kind: 'keyed'; readonly keyId: string } | { readonly kind: 'crypto' };

/** One epoch record of the guest's validation history. */
export interface CheckpointEpoch {
  readonly epoch: number;
  readonly learningRate: number;
  readonly seconds: number;
  readonly validationAuc?: number;
}

/** One party's state at the end of an epoch. */
export interface HeteroLrCheckpoint {
  readonly format: typeof CHECKPOINT_FORMAT;
  readonly version: typeof CHECKPOINT_VERSION;
  readonly role: CheckpointRole;
  readonly party: string;
  readonly modelId: string;
  /** SHA-256 (hex) of the agreed plan (every field but the arbiter-only max_columns). */
  readonly planDigest: string;
  /** SHA-256 (hex) of this party's own inputs (feature names and values; guest: labels too); '' for the arbiter. */
  readonly dataDigest: string;
  /** Epochs completed (1-based count); the resumed run starts epoch index `epoch`. */
  readonly epoch: number;
  /** The learning rate the next epoch will use (the schedule's position, for readers; derived from the plan). */
  readonly nextLearningRate: number;
  /** This party's current weights (guest: features then intercept; arbiter: none). */
  readonly weights: readonly number[];
  /** The weights of the kept (best validated) epoch, and that epoch. */
  readonly kept: readonly number[];
  readonly keptEpoch: number;
  readonly masks: MaskStream;
  /** Guest only. */
  readonly earlyStopping?: EarlyStoppingState;
  /** Guest only: one record per epoch so far. */
  readonly history?: readonly CheckpointEpoch[];
  /** Arbiter only: masked vectors decrypted so far. */
  readonly releases?: number;
}

/** Called at the end of each epoch; a returned promise is awaited before the next epoch starts. */
export type CheckpointCallback = (checkpoint: HeteroLrCheckpoint) => void | Promise<void>;
