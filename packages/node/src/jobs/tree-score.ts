/**
 * The node's side of a 'secureboost-score' job (a portfolio scored with a registered SecureBoost model;
 * the stages are the pipeline's, packages/pipeline/src/stages/tree-score.ts): each party reads its own
 * part of the model the job names from its own registry. The part never leaves the node: the guest's
 * trees and leaf weights stay with the guest, each host's thresholds with that host; what crosses is
 * `scoring.tree`'s private path (ciphertexts under the guest's key, host to host along the chain).
 * Consent (purpose `scoring`), PSI bounds and the audit of each stage's data use are those of every job
 * (runner.ts, the align stage).
 */
import { FedscoreError } from '@fedscore/core';
import type { ModelRegistry } from '../registry/index.ts';
import type { JobSpec } from './spec.ts';

/** What reading the model part needs of a stage's context (stages.ts `StageContext`). */
export interface ScoringModelContext {
  readonly spec: JobSpec;
  readonly party: string;
  readonly models?: ModelRegistry | undefined;
}

/**
 * This party's part of the job's model: the newest live `secureboost` version with the job's
 * `scoring.modelId` whose descriptor names the job's guest and hosts (a model trained with other
 * parties is refused naming `scoring.modelId`).
 */
export function scoringModelPart(ctx: ScoringModelContext): string {
  const modelId = ctx.spec.scoring?.modelId;
  const field = 'scoring.modelId';
  if (modelId === undefined) {
    throw new FedscoreError('invalid_config', 'a scoring job names its model', { field });
  }
  const models = ctx.models;
  if (models === undefined) {
    throw new FedscoreError('invalid_config', 'this node has no model registry', { field });
  }
  // The newest live version (the registry lists a name's versions highest first; pick by number so
  // the order of list() does not matter).
  const version = models
    .list()
    .filter((m) => m.modelId === modelId && m.status !== 'retired' && m.algorithm === 'secureboost')
    .reduce<ReturnType<typeof models.list>[number] | undefined>(
      (newest, m) => (newest === undefined || m.version > newest.version ? m : newest),
      undefined,
    );
  if (version === undefined) {
    throw new FedscoreError('not_found', `no live SecureBoost model '${modelId}' on ${ctx.party}`, { field });
  }
  const { artifact, descriptor } = models.artifacts(version.ref);
  if (artifact === undefined || descriptor === undefined) {
    throw new FedscoreError('invalid_state', `${version.ref} holds no part of ${ctx.party}`, { field });
  }
  const joint = JSON.parse(descriptor) as { guest?: unknown; hosts?: unknown };
  const hosts = Array.isArray(joint.hosts) ? (joint.hosts as unknown[]) : [];
  if (
    joint.guest !== ctx.spec.guest ||
    hosts.length !== ctx.spec.hosts.length ||
    hosts.some((h, j) => h !== ctx.spec.hosts[j])
  ) {
    throw new FedscoreError(
      'invalid_argument',
      `model '${modelId}' was trained by other parties (or hosts in another order) than this job's`,
      { field },
    );
  }
  return artifact;
}
