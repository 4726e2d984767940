/**
 * The node's side of an 'hfl' job (horizontal FL; the stages are the pipeline's `hfl` model,
 * packages/pipeline/src/stages/hfl.ts): the job spec's `hfl` settings, registering the trained
 * TensorFlow.js LayersModel in the coordinator's model registry, and each bank's audit of its rows' use.
 *
 * Roles: the guest is the coordinating platform node (it holds the test set, no training rows); each
 * host is a bank. Consent: a bank that requires consent (config governance.requireConsent) trains only
 * on its customers with a consent for the guest, the job's purpose and categories; with none it refuses
 * the job (a typed `consent` error, a `job_refused` audit entry on the bank and on the guest). Each bank
 * audits its own `data_use` of the train stage (user = the guest, owner = the bank, the fingerprint and
 * count of its rows that trained). The guest never learns a bank's customer ids, so it records the
 * refusals but not the banks' fingerprints.
 */
import { FedscoreError, type Logger, normalizeUscc, type PartyId, type Table } from '@fedscore/core';
import type {
  HflHostTrainCheckpoint,
  HflPublishOutcome,
  HflTrainCheckpoint,
  PublishCheckpoint,
} from '@fedscore/pipeline';
import type { ModelRegistry } from '../registry/index.ts';
import type { DataUseEvent } from './events.ts';
import { HFL_JOB_KIND } from './hfl-spec.ts';
import type { JobStore } from './job-store.ts';
import type { JobSpec, StageName } from './spec.ts';

/**
 * Whether a stage of this job goes on when a bank drops out: an 'hfl' job's train stage with phase
 * deadlines (without them the coordinator's role would wait for a dead bank for ever).
 */
export function dropoutTolerant(spec: JobSpec, stage: StageName): boolean {
  return spec.kind === HFL_JOB_KIND && stage === 'train' && spec.hfl?.phaseDeadlineMs !== undefined;
}

/** The banks the coordinator's train checkpoint dropped (on the coordinator), with the round of each. */
export function hflDroppedHosts(jobs: JobStore, job: string): { party: PartyId; round: number }[] {
  const t = jobs.checkpoint<HflTrainCheckpoint>(job, 'train')?.output;
  if (t?.dropped === undefined) return [];
  return t.dropped.map((party) => ({
    party,
    round:
      t.history.find((h) => h.dropouts.includes(party) || (h.lateDropped ?? []).includes(party))?.round ?? 0,
  }));
}

/** Register the coordinator's published model once (a re-run publish finds its earlier version). */
/** What registering needs of a stage's context (stages.ts `StageContext`). */
export interface HflRegistrationContext {
  readonly spec: JobSpec;
  readonly logger: Logger;
  readonly models?: ModelRegistry | undefined;
  /** The job store whose lease fence the registration runs under. */
  readonly jobs: JobStore;
}

export function registerHflModel(ctx: HflRegistrationContext, out: HflPublishOutcome): PublishCheckpoint {
  const models = ctx.models;
  if (models === undefined) return { files: out.files };
  const name = ctx.spec.model ?? ctx.spec.id;
  const existing = models.list({ name }).find((m) => m.modelId === ctx.spec.id);
  if (existing !== undefined) return { files: out.files, model: existing.ref };
  let features: string[] = [];
  try {
    const meta = (
      JSON.parse(out.hfl.modelJson) as { userDefinedMetadata?: { fedscore?: { features?: string[] } } }
    ).userDefinedMetadata?.fedscore;
    features = meta?.features ?? [];
  } catch (e) {
    throw new FedscoreError('internal', 'the published model.json is not JSON', {
      field: 'publish',
      cause: e,
    });
  }
  // Fenced: a replica that lost the job's lease registers no model (job-store.ts, lease_epoch).
  const v = ctx.jobs.fenced(ctx.spec.id, () =>
    models.register({
      name,
      algorithm: out.hfl.algorithm,
      modelId: ctx.spec.id,
      parties: [
        ...ctx.spec.hosts.map((id) => ({ id, role: 'client', featureNames: features })),
        { id: ctx.spec.guest, role: 'coordinator' },
      ],
      metrics: out.hfl.metrics,
      parameters: out.hfl.parameters,
      dataFingerprints: {},
      lineage: { job: ctx.spec.id },
      artifact: JSON.stringify({
        modelJson: JSON.parse(out.hfl.modelJson),
        weightsBase64: out.hfl.weightsBase64,
      }),
      descriptor: out.hfl.modelJson,
    }),
  );
  ctx.logger.info('model registered', { model: v.ref });
  return { files: out.files, model: v.ref };
}

/** A bank's use of its own rows in the train stage, for its audit log (none on the coordinator). */
export async function hflDataUses(
  spec: JobSpec,
  stage: StageName,
  party: PartyId,
  jobs: JobStore,
  data: (name: string) => Promise<Table>,
): Promise<DataUseEvent[]> {
  const name = spec.data[party];
  if (stage !== 'train' || !spec.hosts.includes(party) || name === undefined) return [];
  const cp = jobs.checkpoint<HflHostTrainCheckpoint>(spec.id, 'train')?.output;
  if (cp === undefined) return [];
  return [bankDataUse(spec, party, await data(name), cp.rows, cp.consent)];
}

/** What a bank's consent check of a job kept (its registry's `filterByConsent`, as the train stage ran it). */
export interface HflConsentFilter {
  readonly included: readonly string[];
  readonly consentRef: string;
  readonly at: number;
  readonly excludedTotal: number;
}

/**
 * The data use of a bank that the coordinator dropped from the train stage (no train checkpoint: the
 * stage never completed here), for its own audit log: the rows its role trained on in the rounds it took
 * part in, found as the stage found them (every row, or those of the customers whose consent `filter`
 * keeps, evaluated at the job's start as the stage's was).
 */
export function hflDroppedDataUse(
  spec: JobSpec,
  party: PartyId,
  table: Table,
  filter?: HflConsentFilter,
): DataUseEvent | undefined {
  if (!spec.hosts.includes(party)) return undefined;
  let rows = Array.from({ length: table.nRows }, (_, i) => i);
  if (filter !== undefined) {
    const kept = new Set(filter.included);
    rows = rows.filter((i) => kept.has(normalizedOrRaw(table.ids[i]!)));
    if (rows.length === 0) return undefined;
  }
  return bankDataUse(
    spec,
    party,
    table,
    rows,
    filter === undefined
      ? { enforced: false }
      : { enforced: true, consentRef: filter.consentRef, at: filter.at },
  );
}

function normalizedOrRaw(id: string): string {
  try {
    return normalizeUscc(id);
  } catch {
    return id;
  }
}

function bankDataUse(
  spec: JobSpec,
  party: PartyId,
  table: Table,
  rows: readonly number[],
  c: { readonly enforced: boolean; readonly consentRef?: string; readonly at?: number } | undefined,
): DataUseEvent {
  const ids = rows.map((r) => normalizedOrRaw(table.ids[r]!));
  return {
    job: spec.id,
    stage: 'train',
    user: spec.guest,
    owner: party,
    purpose: spec.consent.purpose,
    enterpriseIds: ids,
    ...(c !== undefined && {
      consent: {
        enforced: c.enforced,
        purpose: spec.consent.purpose,
        aligned: ids.length,
        ...(c.consentRef !== undefined && { consentRef: c.consentRef }),
        ...(c.at !== undefined && { at: c.at }),
      },
    }),
  };
}
