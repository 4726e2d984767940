/**
 * An HFL run in one process (`fedscore train fedavg`): the coordinator and every bank run the `hfl`
 * pipeline's stages (stages/hfl.ts) over the in-memory network with the real wire codec, each with its
 * own store and table, exactly the role functions a node runs over gRPC.
 */
import type { CapturedMessage, Logger, PartyId, ProgressCallback, Table } from '@fedscore/core';
import type { HflPlan, JobPlan } from '../context.ts';
import { pipelineFor, planStages } from '../registry.ts';
import {
  HFL_MODEL,
  type HflEvaluateCheckpoint,
  type HflPublishOutcome,
  type HflTrainCheckpoint,
} from '../stages/hfl.ts';
import { type MemoryStore, memoryStore, runStageInProcess } from './in-process.ts';

export interface HflInProcessInput {
  readonly id?: string;
  /** The coordinator's id and its (labelled) test table. */
  readonly coordinator: PartyId;
  readonly test: Table;
  /** Each bank's id and its own rows, in order (the order seeds each bank's batch order). */
  readonly banks: readonly { readonly id: PartyId; readonly table: Table }[];
  readonly seed: number;
  readonly plan: HflPlan;
  readonly logger?: Logger;
  readonly progress?: ProgressCallback;
  readonly onMessage?: (message: CapturedMessage) => void;
}

export interface HflInProcessResult {
  readonly train: HflTrainCheckpoint;
  readonly evaluate: HflEvaluateCheckpoint;
  readonly publish: HflPublishOutcome;
  /** Every party's store (the banks' train checkpoints hold which of their rows trained). */
  readonly stores: ReadonlyMap<PartyId, MemoryStore>;
}

/** The job plan of an in-process HFL run. */
export function hflJobPlan(
  input: Pick<HflInProcessInput, 'id' | 'coordinator' | 'banks' | 'seed' | 'plan'>,
): JobPlan {
  return {
    id: input.id ?? 'hfl-local',
    kind: HFL_MODEL,
    guest: input.coordinator,
    hosts: input.banks.map((b) => b.id),
    seed: input.seed,
    testFraction: 0,
    binning: { enabled: false, method: 'quantile', bins: 10, minIv: 0, scheme: 'none' },
    train: { scheme: 'none', maxEpochs: 1 },
    consent: { purpose: 'training' },
    hfl: input.plan,
  };
}

/** Run the `hfl` pipeline's stages in this process; returns the coordinator's checkpoints. */
export async function runHflInProcess(input: HflInProcessInput): Promise<HflInProcessResult> {
  const plan = hflJobPlan(input);
  const stores = new Map<PartyId, MemoryStore>();
  const parties = [
    { id: input.coordinator, table: input.test, store: memoryStore() },
    ...input.banks.map((b) => ({ id: b.id, table: b.table, store: memoryStore() })),
  ];
  for (const p of parties) stores.set(p.id, p.store);
  const out: Record<string, unknown> = {};
  for (const stage of planStages(pipelineFor(HFL_MODEL), plan)) {
    const r = await runStageInProcess(stage, {
      plan,
      parties,
      ...(input.logger !== undefined && { logger: input.logger }),
      ...(input.progress !== undefined && { progress: input.progress }),
      ...(input.onMessage !== undefined && { onMessage: input.onMessage }),
    });
    out[stage.name] = r[input.coordinator];
  }
  return {
    train: out['train'] as HflTrainCheckpoint,
    evaluate: out['evaluate'] as HflEvaluateCheckpoint,
    publish: out['publish'] as HflPublishOutcome,
    stores,
  };
}
