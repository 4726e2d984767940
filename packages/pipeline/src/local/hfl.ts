/**
 * An HFL run in one process (`fedscore train fedavg`): the coordinator and every bank run the `hfl`
 * pipeline's stages (stages/hfl.ts) over the in-memory network with the real wire codec, each with its
 * own store and table, exactly the role functions a node runs over gRPC.
 */
import {
  type CapturedMessage,
  FedscoreError,
  type Logger,
  type PartyId,
  type ProgressCallback,
  type Table,
} from '@fedscore/core';
import type { HflPlan, HflSecAggStep, JobPlan } from '../context.ts';
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
  /**
   * SIMULATION (no real failure): each listed bank leaves the run in `round` right after `step` (its
   * training done; or under secure aggregation its key shares or its masked input sent) and never answers
   * again, as a crashed bank would. The coordinator notices only by its deadlines (the plan's
   * `fitDeadlineMs`/`phaseDeadlineMs`, required) and goes on without it, as across party nodes.
   */
  readonly simulatedDropouts?: readonly HflSimulatedDropout[];
}

/** A bank that leaves an in-process run (simulation; see `HflInProcessInput.simulatedDropouts`). */
export interface HflSimulatedDropout {
  readonly bank: PartyId;
  readonly round: number;
  readonly step: HflSecAggStep;
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
  const drops = input.simulatedDropouts ?? [];
  checkSimulatedDropouts(input, drops);
  const stores = new Map<PartyId, MemoryStore>();
  // What a leaving bank's role throws at its drop point: ends its role, not the run (`leaves`).
  const left = new FedscoreError('aborted', 'simulated dropout: this bank left the run', {
    field: 'simulatedDropouts',
  });
  const parties = [
    { id: input.coordinator, table: input.test, store: memoryStore() },
    ...input.banks.map((b) => {
      const drop = drops.find((d) => d.bank === b.id);
      return {
        id: b.id,
        table: b.table,
        store: memoryStore(),
        ...(drop !== undefined && {
          onSecAggStep: (round: number, step: HflSecAggStep) => {
            if (round === drop.round && step === drop.step) throw left;
          },
          leaves: (e: unknown) => e === left,
        }),
      };
    }),
  ];
  for (const p of parties) stores.set(p.id, p.store);
  const out: Record<string, unknown> = {};
  for (const stage of planStages(pipelineFor(HFL_MODEL), plan)) {
    // Banks the coordinator dropped from the rounds take no part in the later stages (as on a node).
    const skip = stage.name === 'train' ? [] : ((out['train'] as HflTrainCheckpoint).dropped ?? []);
    const r = await runStageInProcess(stage, {
      plan,
      parties,
      skip,
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

function checkSimulatedDropouts(input: HflInProcessInput, drops: readonly HflSimulatedDropout[]): void {
  if (drops.length === 0) return;
  const bad = (message: string): never => {
    throw new FedscoreError('invalid_argument', message, { field: 'simulatedDropouts' });
  };
  if (input.plan.fitDeadlineMs === undefined && input.plan.phaseDeadlineMs === undefined) {
    bad(
      'a simulated dropout needs a round deadline (fitDeadlineMs or phaseDeadlineMs): nothing would notice it',
    );
  }
  const seen = new Set<string>();
  for (const d of drops) {
    if (!input.banks.some((b) => b.id === d.bank)) bad(`no bank '${d.bank}' in the run`);
    if (seen.has(d.bank)) bad(`bank '${d.bank}' can leave the run once`);
    seen.add(d.bank);
    if (!Number.isInteger(d.round) || d.round < 1 || d.round > input.plan.rounds) {
      bad(`round ${d.round} is not one of the run's rounds 1..${input.plan.rounds}`);
    }
    if (d.step !== 'trained' && !input.plan.secureAgg) {
      bad(
        `step '${d.step}' is a secure-aggregation step: without secure aggregation a bank can leave only after 'trained'`,
      );
    }
  }
}
