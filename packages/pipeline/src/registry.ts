/**
 * The stage and model registry: a model's pipeline is a list of stages, and a stage is, per role, one
 * function over that party's `StageContext` plus the protocols (name -> version) its messages use. The
 * node grants a stage attempt exactly those protocols and runs this party's role function over gRPC;
 * an in-process run (`runStageInProcess`) runs every party's role function over the in-memory network.
 *
 * A new model is added by writing its stages once and registering its pipeline:
 *
 *   registerPipeline({ model: 'secureboost', stages: [ALIGN_STAGE, { name: 'train', protocols, roles:
 *     { guest: sbtGuest, host: sbtHost } }, ...] });
 *
 * reusing the model-independent stages (`ALIGN_STAGE`, `BINNING_STAGE`, `PUBLISH_STAGE`) and replacing
 * those that depend on the model (`train`, and `evaluate` when the model is not linear). A horizontal FL
 * strategy is a pipeline whose stages have 'server' work on the guest's side and 'client' work on the
 * hosts'. docs/conventions.md says where each piece goes.
 */
import { FedscoreError } from '@fedscore/core';
import { PSI_PROTOCOL, PSI_VERSION } from '@fedscore/psi';
import {
  HETERO_LR_PROTOCOL,
  HETERO_LR_VERSION,
  WOE_BINNING_PROTOCOL,
  WOE_BINNING_VERSION,
} from '@fedscore/vfl';
import { type JobPlan, roleOf, type StageContext } from './context.ts';
import {
  ALIGN_PROTOCOL,
  EVALUATE_PROTOCOL,
  NODE_PROTOCOL_VERSION,
  PUBLISH_PROTOCOL,
  SELECT_PROTOCOL,
} from './messages.ts';
import type { ModelPipeline, StageDef } from './stage-def.ts';
import { alignGuest, alignHost } from './stages/align.ts';
import { binningGuest, binningHost } from './stages/binning.ts';
import { evaluateGuest, evaluateHost } from './stages/evaluate.ts';
import { HFL_PIPELINE } from './stages/hfl.ts';
import { publishStage } from './stages/publish.ts';
import {
  SECUREBOOST_EVALUATE_STAGE,
  SECUREBOOST_MODEL,
  SECUREBOOST_PUBLISH_STAGE,
  SECUREBOOST_TRAIN_STAGE,
} from './stages/secureboost.ts';
import { trainHeteroLrStage } from './stages/train.ts';
import { TREE_SCORE_KIND, TREE_SCORE_PUBLISH_STAGE, TREE_SCORE_STAGE } from './stages/tree-score.ts';

export type { ModelPipeline, StageDef, StageRun } from './stage-def.ts';

/** Stage `psi`: consent-filtered PSI, alignment and the stratified hold-out (stages/align.ts). */
export const ALIGN_STAGE: StageDef = {
  name: 'psi',
  protocols: { [PSI_PROTOCOL]: PSI_VERSION, [ALIGN_PROTOCOL]: NODE_PROTOCOL_VERSION },
  roles: { guest: alignGuest, host: alignHost },
};

/** Stage `binning`: WOE binning and IV selection (stages/binning.ts); runs when the plan enables it. */
export const BINNING_STAGE: StageDef = {
  name: 'binning',
  protocols: { [WOE_BINNING_PROTOCOL]: WOE_BINNING_VERSION, [SELECT_PROTOCOL]: NODE_PROTOCOL_VERSION },
  roles: { guest: binningGuest, host: binningHost },
  enabled: (plan) => plan.binning.enabled,
};

/** Stage `evaluate` of a linear model: the hosts' partial scores on the held-out rows. */
export const LINEAR_EVALUATE_STAGE: StageDef = {
  name: 'evaluate',
  protocols: { [EVALUATE_PROTOCOL]: NODE_PROTOCOL_VERSION },
  roles: { guest: evaluateGuest, host: evaluateHost },
};

/** Stage `publish`: the joint model to every host; each party writes its own part. */
export const PUBLISH_STAGE: StageDef = {
  name: 'publish',
  protocols: { [PUBLISH_PROTOCOL]: NODE_PROTOCOL_VERSION },
  roles: {
    guest: (ctx) => publishStage(ctx, 'guest'),
    host: (ctx) => publishStage(ctx, 'host'),
    arbiter: (ctx) => publishStage(ctx, 'arbiter'),
  },
};

/** Hetero-LR: psi -> binning -> train -> evaluate -> publish. */
export const HETERO_LR_PIPELINE: ModelPipeline = {
  model: 'hetero-lr',
  stages: [
    ALIGN_STAGE,
    BINNING_STAGE,
    {
      name: 'train',
      protocols: { [HETERO_LR_PROTOCOL]: HETERO_LR_VERSION },
      roles: {
        guest: (ctx) => trainHeteroLrStage(ctx, 'guest'),
        host: (ctx) => trainHeteroLrStage(ctx, 'host'),
        arbiter: (ctx) => trainHeteroLrStage(ctx, 'arbiter'),
      },
    },
    LINEAR_EVALUATE_STAGE,
    PUBLISH_STAGE,
  ],
};

/**
 * SecureBoost (stages/secureboost.ts): psi -> train -> evaluate -> publish. No binning stage: each party
 * bins its own features inside the protocol, and a tree selects its features by gain.
 */
export const SECUREBOOST_PIPELINE: ModelPipeline = {
  model: SECUREBOOST_MODEL,
  stages: [ALIGN_STAGE, SECUREBOOST_TRAIN_STAGE, SECUREBOOST_EVALUATE_STAGE, SECUREBOOST_PUBLISH_STAGE],
};

/**
 * A portfolio scoring job with a SecureBoost model (stages/tree-score.ts): psi (no labels, no hold-out)
 * -> evaluate (`scoring.tree`'s private path over the aligned rows) -> publish (the guest's scores).
 */
export const TREE_SCORE_PIPELINE: ModelPipeline = {
  model: TREE_SCORE_KIND,
  stages: [ALIGN_STAGE, TREE_SCORE_STAGE, TREE_SCORE_PUBLISH_STAGE],
};

const pipelines = new Map<string, ModelPipeline>([
  [HETERO_LR_PIPELINE.model, HETERO_LR_PIPELINE],
  [TREE_SCORE_PIPELINE.model, TREE_SCORE_PIPELINE],
  [HFL_PIPELINE.model, HFL_PIPELINE],
  [SECUREBOOST_PIPELINE.model, SECUREBOOST_PIPELINE],
]);

/** Register a model's pipeline (an `invalid_argument` error when the model is already registered). */
export function registerPipeline(pipeline: ModelPipeline): void {
  if (pipelines.has(pipeline.model)) {
    throw new FedscoreError('invalid_argument', `a pipeline for '${pipeline.model}' is already registered`, {
      field: 'model',
    });
  }
  const names = pipeline.stages.map((s) => s.name);
  if (new Set(names).size !== names.length) {
    throw new FedscoreError('invalid_argument', 'stage names repeat', { field: 'stages' });
  }
  pipelines.set(pipeline.model, pipeline);
}

/** The registered pipeline of `model` (`not_found` otherwise). */
export function pipelineFor(model: string): ModelPipeline {
  const p = pipelines.get(model);
  if (p === undefined) {
    throw new FedscoreError('not_found', `no pipeline is registered for model '${model}'`, {
      field: 'model',
    });
  }
  return p;
}

/** Registered model kinds. */
export function registeredModels(): string[] {
  return [...pipelines.keys()];
}

/** Stage `name` of the pipeline (`not_found` otherwise). */
export function stageOf(pipeline: ModelPipeline, name: string): StageDef {
  const s = pipeline.stages.find((d) => d.name === name);
  if (s === undefined) {
    throw new FedscoreError('not_found', `model '${pipeline.model}' has no stage '${name}'`, {
      field: 'stage',
    });
  }
  return s;
}

/** The stages of the pipeline that run for this plan, in order. */
export function planStages(pipeline: ModelPipeline, plan: JobPlan): StageDef[] {
  return pipeline.stages.filter((s) => s.enabled === undefined || s.enabled(plan));
}

/** The parties with a role in the stage, guest first. */
export function stagePartiesOf(stage: StageDef, plan: JobPlan): string[] {
  const out: string[] = [];
  if (stage.roles.guest !== undefined) out.push(plan.guest);
  if (stage.roles.host !== undefined) out.push(...plan.hosts);
  if (stage.roles.arbiter !== undefined && plan.arbiter !== undefined) out.push(plan.arbiter);
  return out;
}

/** Run this party's side of `stage` (its role from the plan). */
export function runStageRole(stage: StageDef, ctx: StageContext): Promise<unknown> {
  const role = roleOf(ctx.spec, ctx.party);
  const run = stage.roles[role];
  if (run === undefined) {
    return Promise.reject(
      new FedscoreError('invalid_argument', `a ${role} takes no part in stage '${stage.name}'`, {
        field: 'stage',
      }),
    );
  }
  return run(ctx);
}
