/**
 * A job: one credit model trained across party nodes, as a fixed pipeline of stages
 *
 *   psi -> binning -> train -> evaluate -> publish
 *
 * submitted to the guest's node (the bank: it holds the labels and coordinates), which offers it to every
 * other party. The spec names the parties, which of each party's configured datasets to use, the seed and
 * the algorithm settings; it never holds data. Each stage runs in attempts; each party persists what a
 * stage produced (its checkpoint) in its own store before reporting it done, so a job resumes at the first
 * stage not yet completed by every party.
 */
import { FedscoreError } from '@fedscore/core';
import {
  HETERO_LR_DEFAULTS,
  JOB_DEFAULTS,
  pipelineFor,
  planStages,
  stageOf,
  stagePartiesOf,
  TREE_SCORE_KIND,
} from '@fedscore/pipeline';
import { z } from 'zod';
import { PARTY_ID_PATTERN } from '../transport/certs.ts';
import { HFL_JOB_KIND, hflJobSchema } from './hfl-spec.ts';
import { SECUREBOOST_JOB_KIND, secureBoostJobSchema, secureBoostSettingsIssue } from './secureboost-spec.ts';

export const STAGES = ['psi', 'binning', 'train', 'evaluate', 'publish'] as const;
/** A portfolio scoring job with a registered SecureBoost model (jobs/tree-score.ts). */
export const TREE_SCORE_JOB_KIND = TREE_SCORE_KIND;
export type StageName = (typeof STAGES)[number];

const partyId = z.string().regex(PARTY_ID_PATTERN, 'a party id is 1-63 lower-case letters, digits or dashes');
const scheme = z.enum(['ckks', 'paillier', 'none']);
/** The CKKS parameter presets a job's `train.ckksPreset` may name (@fedscore/he presets.ts). */
export const JOB_CKKS_PRESETS = ['ckks-16384-release', 'ckks-8192', 'ckks-8192-deep', 'ckks-16384'] as const;
/**
 * The NOT SECURE preset of smoke runs (@fedscore/he presets.ts: the default preset's moduli at N = 2048),
 * which `bench all --smoke` trains hetero-LR with: a spec may name it only beside `allowWeakParameters`,
 * and every party's own `accept.weakParameters` must allow it (as any weak parameters). Not offered in
 * the console's job form (JOB_CKKS_PRESETS).
 */
export const SMOKE_CKKS_PRESET = 'ckks-2048-smoke-insecure' as const;

export const jobSpecSchema = z
  .object({
    /** Job id; generated on submit when absent. */
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a job id is 1-63 lower-case letters, digits or dashes')
      .refine((id) => id !== 'monitor', "'monitor' is reserved (monitoring sessions)")
      .optional(),
    /**
     * The model kind, a registered pipeline: 'hetero-lr' (vertical: the guest is the labelled bank, the
     * hosts feature holders), 'secureboost' (vertical boosted trees, the same roles; HE settings in
     * `train`, hyperparameters in `secureboost`, jobs/secureboost.ts) or 'hfl' (horizontal: the guest is
     * the coordinating platform holding the test set, each host a bank training on its own rows;
     * settings in `hfl`, jobs/hfl.ts).
     */
    kind: z.enum(['hetero-lr', SECUREBOOST_JOB_KIND, HFL_JOB_KIND, TREE_SCORE_JOB_KIND]).default('hetero-lr'),
    /**
     * A 'secureboost-score' job (a portfolio scored with a registered SecureBoost model, jobs/tree-score.ts):
     * the model's id (`modelId`, the same on every party; each party serves its own part from its
     * registry). Only with that kind.
     */
    scoring: z
      .object({
        modelId: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'a model id (1-128 of A-Z a-z 0-9 . _ : -)'),
      })
      .strict()
      .optional(),
    /** The settings of an 'hfl' job (only with kind 'hfl'). */
    hfl: hflJobSchema.optional(),
    /** The hyperparameters of a 'secureboost' job (only with that kind; absent: the defaults). */
    secureboost: secureBoostJobSchema.optional(),
    /** The label holder and coordinator (the bank; the platform in an 'hfl' job). */
    guest: partyId,
    /** Feature holders without labels (e.g. the government credit node). */
    hosts: z.array(partyId).min(1),
    /** Key holder of arbiter-mode hetero-LR; absent = two-party mode. */
    arbiter: partyId.optional(),
    /** Dataset name (a key of that party's config `data`) per data-holding party. */
    data: z.record(partyId, z.string().min(1)),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(JOB_DEFAULTS.seed),
    /**
     * Share of the aligned rows held out for evaluation (stratified by label, seeded). 0 (hetero-LR only):
     * train on every aligned row, as FATE's benchmark does; the evaluation is then in-sample, recorded as
     * such (`inSample`) and never as a hold-out AUC.
     */
    testFraction: z.number().min(0).lt(1).default(JOB_DEFAULTS.testFraction),
    binning: z
      .object({
        enabled: z.boolean().default(true),
        method: z.enum(['quantile', 'equal-width']).default('quantile'),
        bins: z.number().int().min(2).max(64).default(10),
        minIv: z.number().min(0).default(0.02),
        scheme: scheme.default('ckks'),
      })
      .strict()
      .default({ enabled: true, method: 'quantile', bins: 10, minIv: 0.02, scheme: 'ckks' }),
    train: z
      .object({
        scheme: scheme.default('ckks'),
        ckksPreset: z.enum([...JOB_CKKS_PRESETS, SMOKE_CKKS_PRESET] as const).optional(),
        paillierBits: z.number().int().min(512).max(4096).optional(),
        maxEpochs: z.number().int().min(1).max(1000).default(HETERO_LR_DEFAULTS.maxEpochs),
        /** Absent: the pipeline's default for the training rows (`defaultBatch`: 4096 or 1024). */
        batchSize: z.number().int().min(1).optional(),
        /** Absent: the pipeline's default that goes with the batch size (`resolveBatch`). */
        learningRate: z.number().positive().optional(),
        l2: z.number().min(0).optional(),
        validationFraction: z.number().min(0).lt(1).optional(),
      })
      .strict()
      .default({ scheme: 'ckks', maxEpochs: HETERO_LR_DEFAULTS.maxEpochs }),
    /**
     * The use the job makes of each host's data, checked by every host that requires consent (the
     * government node): only aligned enterprises with a consent of theirs for the guest, this purpose and
     * every listed category take part; the rest are excluded and counted.
     */
    consent: z
      .object({
        purpose: z.enum(['training', 'scoring']).default('training'),
        categories: z
          .array(
            z.string().regex(/^(\*|[a-z][a-z0-9_]{0,63})$/, "a data category (lowercase identifier) or '*'"),
          )
          .min(1)
          .default(['*']),
      })
      .strict()
      .default({ purpose: 'training', categories: ['*'] }),
    /** Name under which each party registers the trained model in its model registry (default: the job id). */
    model: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'a model name is lowercase letters, digits and ._-')
      .optional(),
    /**
     * Ask for scheme 'none' (no encryption; debug runs only). Each party also needs its own node
     * config's `he.allowPlaintextScheme`: the guest's spec cannot switch encryption off for a host.
     */
    allowPlaintextScheme: z.boolean().optional(),
    /** Ask for HE parameters below 128-bit security (e.g. Paillier-1024); each party's config must allow it. */
    allowWeakParameters: z.boolean().optional(),
    /** @deprecated Both of the above at once (the old single flag). */
    insecure: z.boolean().default(false),
  })
  .strict()
  .superRefine((s, ctx) => {
    const parties = [s.guest, ...s.hosts, ...(s.arbiter === undefined ? [] : [s.arbiter])];
    if (new Set(parties).size !== parties.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['hosts'],
        message: 'guest, hosts and arbiter must be distinct parties',
      });
    }
    for (const p of [s.guest, ...s.hosts]) {
      if (s.data[p] === undefined)
        ctx.addIssue({ code: 'custom', path: ['data', p], message: `no dataset named for '${p}'` });
    }
    if (s.kind === HFL_JOB_KIND && s.arbiter !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['arbiter'], message: "an 'hfl' job has no arbiter" });
    }
    if (s.kind === HFL_JOB_KIND && s.hfl === undefined) {
      ctx.addIssue({ code: 'custom', path: ['hfl'], message: "an 'hfl' job needs its hfl settings" });
    }
    if (s.kind !== HFL_JOB_KIND && s.hfl !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['hfl'], message: "hfl settings need kind: 'hfl'" });
    }
    if (s.kind === SECUREBOOST_JOB_KIND && s.arbiter !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['arbiter'], message: "a 'secureboost' job has no arbiter" });
    }
    if (s.kind !== SECUREBOOST_JOB_KIND && s.secureboost !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['secureboost'],
        message: "secureboost settings need kind: 'secureboost'",
      });
    }
    if (s.kind === TREE_SCORE_JOB_KIND) {
      if (s.scoring === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['scoring'],
          message: 'a scoring job names the model: scoring.modelId',
        });
      }
      if (s.arbiter !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['arbiter'], message: 'a scoring job has no arbiter' });
      }
      if (s.consent.purpose !== 'scoring') {
        ctx.addIssue({
          code: 'custom',
          path: ['consent', 'purpose'],
          message: "a scoring job uses the hosts' data for purpose 'scoring'",
        });
      }
    } else if (s.scoring !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['scoring'],
        message: `scoring settings need kind: '${TREE_SCORE_JOB_KIND}'`,
      });
    }
    if (s.testFraction === 0 && s.kind !== 'hetero-lr') {
      ctx.addIssue({
        code: 'custom',
        path: ['testFraction'],
        message: "testFraction 0 (no hold-out) is for kind 'hetero-lr' only",
      });
    }
    const sbt = s.secureboost === undefined ? undefined : secureBoostSettingsIssue(s.secureboost);
    if (sbt !== undefined)
      ctx.addIssue({ code: 'custom', path: ['secureboost', ...sbt.path], message: sbt.message });
    // SecureBoost has no binning stage (each party bins inside the protocol): only its train scheme counts.
    const binningRuns = s.binning.enabled && s.kind === 'hetero-lr';
    const uses = [s.train.scheme, ...(binningRuns ? [s.binning.scheme] : [])];
    if (s.train.ckksPreset === SMOKE_CKKS_PRESET && s.allowWeakParameters !== true && !s.insecure) {
      ctx.addIssue({
        code: 'custom',
        path: ['train', 'ckksPreset'],
        message: `'${SMOKE_CKKS_PRESET}' is NOT SECURE (smoke runs only): set allowWeakParameters: true`,
      });
    }
    if (uses.includes('none') && s.allowPlaintextScheme !== true && !s.insecure) {
      ctx.addIssue({
        code: 'custom',
        path: ['train', 'scheme'],
        message: "scheme 'none' sends plaintext: set allowPlaintextScheme: true",
      });
    }
  });

/** A validated job; `kind` may be absent in specs stored before kinds existed (= 'hetero-lr'). */
export type JobSpec = Omit<z.infer<typeof jobSpecSchema>, 'kind'> & {
  readonly kind?: z.infer<typeof jobSpecSchema>['kind'];
  readonly id: string;
};
export type JobSpecInput = z.input<typeof jobSpecSchema>;

export function validateJobSpec(value: unknown, file?: string): z.infer<typeof jobSpecSchema> {
  const r = jobSpecSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path
      .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
      .join('')
      .replace(/^\./, '');
    throw new FedscoreError('invalid_config', `job spec: ${issue.message}`, {
      field: field || 'job',
      ...(file !== undefined && { file }),
    });
  }
  return r.data;
}

/** Every party of the job, guest first. */
export function jobParties(spec: JobSpec): string[] {
  return [spec.guest, ...spec.hosts, ...(spec.arbiter === undefined ? [] : [spec.arbiter])];
}

/** The stages this job runs, in order (the pipeline registry's stages of its kind this plan enables). */
export function jobStages(spec: JobSpec): StageName[] {
  return planStages(pipelineFor(spec.kind ?? 'hetero-lr'), spec).map((s) => s.name as StageName);
}

/** The parties with a role in `stage` (the arbiter trains and publishes only), guest first. */
export function stageParties(spec: JobSpec, stage: StageName): string[] {
  return stagePartiesOf(stageOf(pipelineFor(spec.kind ?? 'hetero-lr'), stage), spec);
}

/** The session-id prefix of one stage attempt; every session of the attempt starts with it. */
export function attemptKey(jobId: string, stage: StageName, attempt: number): string {
  return `${jobId}/${stage}/${attempt}`;
}
