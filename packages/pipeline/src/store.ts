/**
 * What a stage needs of the party's persistent state, scoped to one job: the checkpoints of the stages
 * before it, the per-epoch checkpoints of training, the party's own secrets, events, and artifacts it
 * writes (model files). The node implements it over its SQLite job store and state directory
 * (`JobStore`); an in-process run can keep it in memory (`memoryStore`). Stages never touch files.
 */

/** One per-epoch checkpoint a stage wrote earlier (e.g. hetero-LR's, bytes as vfl serializes them). */
export interface EpochCheckpoint {
  readonly epoch: number;
  readonly bytes: Uint8Array;
}

export interface PipelineStore {
  /** The checkpoint a completed stage of this job left on this party (`job_state` error when absent). */
  checkpoint<T>(stage: string): T;
  /** The per-epoch checkpoints of `stage` this party holds, oldest first. */
  epochCheckpoints(stage: string): readonly EpochCheckpoint[];
  /** Persist the checkpoint of `epoch` of `stage` (the store keeps the latest few). */
  saveEpochCheckpoint(stage: string, epoch: number, bytes: Uint8Array): void;
  dropEpochCheckpoint(stage: string, epoch: number): void;
  /** This party's secret of that name (created on first use, kept, never sent). */
  partySecret(name: string): Uint8Array;
  /** Record an event of this job (e.g. 'train_resumed'). */
  event(kind: string, stage: string, detail: string): void;
  /**
   * The detail of this job's latest event of `kind` on this party, over every attempt (events are never
   * dropped: SecureBoost's hosts keep their release count this way, `histograms_released`).
   */
  lastEvent(kind: string): string | undefined;
  /** Write a file of this job's output (e.g. the party's model); returns where it went. */
  writeArtifact(name: string, text: string): string;
}
