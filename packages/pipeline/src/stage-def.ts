/**
 * What a stage and a model's pipeline are (the registry, registry.ts, lists them; a model's stage file
 * declares its own): types only, so that stage files and the registry import this module and not each
 * other.
 */
import type { JobPlan, PartyRole, StageContext } from './context.ts';

/** One role's side of a stage: returns this party's checkpoint of the stage (JSON-serializable). */
export type StageRun = (ctx: StageContext) => Promise<unknown>;

export interface StageDef {
  readonly name: string;
  /** The protocols (and versions) whose messages an attempt of this stage accepts. */
  readonly protocols: Readonly<Record<string, number>>;
  /** The function each role runs; a role absent here takes no part in the stage. */
  readonly roles: Readonly<Partial<Record<PartyRole, StageRun>>>;
  /** Whether the stage runs for this plan (default: always). */
  readonly enabled?: (plan: JobPlan) => boolean;
}

export interface ModelPipeline {
  /** The model kind, e.g. 'hetero-lr'. */
  readonly model: string;
  /** The stages in order. */
  readonly stages: readonly StageDef[];
}
