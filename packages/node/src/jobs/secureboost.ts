/**
 * The node's side of a 'secureboost' job (vertical boosted trees; the stages are the pipeline's
 * `secureboost` model, packages/pipeline/src/stages/secureboost.ts): registering this party's own model
 * after publish. Consent, PSI bounds, HE acceptance and the audit of each stage's data use are those of
 * a hetero-LR job (the same align stage and psi checkpoint: runner.ts, stages.ts).
 *
 * What a party registers: its own model file only (the guest: the trees, leaf weights and its own
 * splits, a host split as (host, opaque split id); a host: its split ids with its own feature, bin and
 * edges), as the registry's artifact, which never leaves the node; the joint facts every party holds
 * (model id, parties, hyperparameters, aggregate test metrics) as the descriptor; and the party list
 * with feature names for this party only: no party's registry names another party's features.
 */
import { FedscoreError, type Logger, normalizeUscc, type Table } from '@fedscore/core';
import type { PsiCheckpoint, PublishCheckpoint, SecureBoostPublishOutcome } from '@fedscore/pipeline';
import { enterpriseSetFingerprint } from '../audit/index.ts';
import type { ModelRegistry } from '../registry/index.ts';
import type { JobStore } from './job-store.ts';
import type { JobSpec } from './spec.ts';

/** What registering needs of a stage's context (stages.ts `StageContext`). */
export interface SecureBoostRegistrationContext {
  readonly spec: JobSpec;
  readonly party: string;
  readonly logger: Logger;
  readonly jobs: JobStore;
  readonly models?: ModelRegistry | undefined;
  /** This party's own table (the dataset the job names for it). */
  readonly table: () => Promise<Table>;
}

/** Register this party's published model once (a re-run publish finds its earlier version). */
export async function registerSecureBoostModel(
  ctx: SecureBoostRegistrationContext,
  out: SecureBoostPublishOutcome,
): Promise<PublishCheckpoint> {
  const models = ctx.models;
  if (models === undefined) return { files: out.files };
  const name = ctx.spec.model ?? ctx.spec.id;
  const existing = models.list({ name }).find((m) => m.modelId === ctx.spec.id);
  if (existing !== undefined) return { files: out.files, model: existing.ref };
  const joint = out.joint;
  if (joint.modelId !== ctx.spec.id) {
    throw new FedscoreError('internal', 'the published model belongs to another job', { field: 'publish' });
  }
  const psi = ctx.jobs.requireCheckpoint<PsiCheckpoint>(ctx.spec.id, 'psi');
  const table = await ctx.table();
  const idsAt = (positions: Iterable<number>): string[] =>
    [...positions].map((p) => normalizeUscc(table.ids[psi.rows[p]!]!));
  const all = psi.rows.map((_, p) => p);
  const test = new Set(psi.test);
  const own = Object.keys(out.importance.features);
  // Fenced: a replica that lost the job's lease registers no model (job-store.ts, lease_epoch).
  const v = ctx.jobs.fenced(ctx.spec.id, () =>
    models.register({
      name,
      algorithm: 'secureboost',
      modelId: joint.modelId,
      parties: [
        { id: joint.guest, role: 'guest', ...(joint.guest === ctx.party && { featureNames: own }) },
        ...joint.hosts.map((id) => ({ id, role: 'host', ...(id === ctx.party && { featureNames: own }) })),
      ],
      metrics: {
        ...(joint.metrics.auc !== undefined && { auc: joint.metrics.auc }),
        ...(joint.metrics.ks !== undefined && { ks: joint.metrics.ks }),
        testRows: joint.metrics.testRows,
      },
      parameters: { scheme: joint.scheme, trees: joint.trees, ...joint.parameters },
      // The same fingerprints on every party (each computes them from its own copy of the ids).
      dataFingerprints: {
        alignedSet: enterpriseSetFingerprint(idsAt(all)),
        trainingSet: enterpriseSetFingerprint(idsAt(all.filter((p) => !test.has(p)))),
        testSet: enterpriseSetFingerprint(idsAt(psi.test)),
      },
      lineage: { job: ctx.spec.id },
      artifact: out.partyModel,
      descriptor: JSON.stringify(joint),
    }),
  );
  ctx.logger.info('model registered', { model: v.ref });
  return { files: out.files, model: v.ref };
}
