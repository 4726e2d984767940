/**
 * Protocol "catalogue.profiles", version 1: a party node publishes its feature profile to a peer, and a
 * platform node answers with the catalogue of the other parties' profiles. One round trip per session.
 *
 * Parties: the publisher (any party node with registered datasets: a bank, the government) and the
 * receiver (a peer: the platform/government node, which keeps the catalogue, or a job peer).
 *
 * Messages in order (payloads: packages/wire/proto/catalogue.proto):
 *   1. publisher -> receiver  feature-profiles   the publisher's profile (profile.ts): per dataset a
 *                                                rounded row count and rate step, per feature its name,
 *                                                description, type, coverage and missing rate
 *   2. receiver -> publisher  feature-catalogue  the profiles the receiver holds of parties other than the
 *                                                publisher (a platform node: every party it received one
 *                                                from, and its own); empty from a node that keeps none
 *
 * What each party learns: the receiver learns the publisher's feature names, descriptions and types, and
 * per dataset about how many rows it has (to 10) and what share of them has each feature (to one step,
 * >= 1 percentage point); the publisher learns the same of the parties in the catalogue. Neither learns
 * a feature value, a category, a bin edge, an enterprise id or which enterprises have a value. Every
 * dataset has at least `MIN_PROFILE_ROWS` (50) rows: the publisher refuses to publish one below it, the
 * receiver refuses to take one. A bank's IV and jobs are not part of it.
 * Threat model: semi-honest parties over mutual TLS (the transport checks that the envelope's sender is
 * the caller's certificate, and the receiver checks that a published profile's `party` is that sender);
 * a profile relayed in a catalogue is as trustworthy as the platform node that relays it. A malicious
 * peer's malformed message is refused with a `wire_decode` error naming the field (zod over the decoded
 * message), audited as a security event; the node stays up.
 * Reference: the indicator library of Shanghai's data-model laboratory (../shared/DOMAIN.md).
 */
import { FedscoreError, type StepDef, safeUint64 } from '@fedscore/core';
import { fedscore, mappedProtoStep } from '@fedscore/wire';
import { z } from 'zod';
import { PARTY_ID_PATTERN } from '../transport/certs.ts';
import {
  BASIS_POINTS,
  type FeatureProfileSet,
  type FeatureType,
  MIN_PROFILE_ROWS,
  type PublishedDataset,
  RATE_STEPS_BP,
  ROWS_ROUNDING,
} from './profile.ts';

export const CATALOGUE_PROTOCOL = 'catalogue.profiles';
export const CATALOGUE_VERSION = 1;

/** Most datasets in one profile, features in one dataset, and profiles in one catalogue. */
export const MAX_PROFILE_DATASETS = 64;
export const MAX_DATASET_FEATURES = 5_000;
export const MAX_CATALOGUE_PROFILES = 1_000;

const pb = fedscore.catalogue;

const TYPE_TO_WIRE: Readonly<Record<FeatureType, number>> = {
  numeric: pb.FeatureType.FEATURE_TYPE_NUMERIC,
  categorical: pb.FeatureType.FEATURE_TYPE_CATEGORICAL,
  binary: pb.FeatureType.FEATURE_TYPE_BINARY,
};
const TYPE_FROM_WIRE = new Map<number, FeatureType>(
  Object.entries(TYPE_TO_WIRE).map(([k, v]) => [v, k as FeatureType]),
);

const oneLine = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[^\p{Cc}]*$/u, 'one line of text without control characters');

const featureSchema = z
  .object({
    name: oneLine(128).min(1, 'absent'),
    description: oneLine(200),
    type: z.enum(['numeric', 'categorical', 'binary'], { error: 'absent or unknown feature type' }),
    coverageBp: z.number().int().min(0).max(BASIS_POINTS),
    missingBp: z.number().int().min(0).max(BASIS_POINTS),
  })
  .strict();

const datasetSchema = z
  .object({
    dataset: oneLine(128).min(1, 'absent'),
    rows: z
      .number()
      .int()
      .min(MIN_PROFILE_ROWS, `below the release floor of ${MIN_PROFILE_ROWS} rows`)
      .max(0xffff_ffff)
      .refine((r) => r % ROWS_ROUNDING === 0, `not rounded to a multiple of ${ROWS_ROUNDING}`),
    rateStepBp: z
      .number()
      .refine(
        (s) => (RATE_STEPS_BP as readonly number[]).includes(s),
        `not one of ${RATE_STEPS_BP.join(', ')}`,
      ),
    features: z.array(featureSchema).min(1, 'no feature').max(MAX_DATASET_FEATURES),
  })
  .strict()
  .superRefine((d, ctx) => {
    // One enterprise must not move a rate by more than a step: step * rows >= 1 (in basis points).
    if (d.rateStepBp * d.rows < BASIS_POINTS) {
      ctx.addIssue({ code: 'custom', path: ['rateStepBp'], message: 'finer than one row of the dataset' });
    }
    d.features.forEach((f, i) => {
      for (const k of ['coverageBp', 'missingBp'] as const) {
        if (f[k] % d.rateStepBp !== 0) {
          ctx.addIssue({ code: 'custom', path: ['features', i, k], message: 'not rounded to the rate step' });
        }
      }
    });
    const names = new Set<string>();
    d.features.forEach((f, i) => {
      if (names.has(f.name))
        ctx.addIssue({ code: 'custom', path: ['features', i, 'name'], message: 'repeated' });
      names.add(f.name);
    });
  });

/** The zod schema of a profile as it arrives (after protobuf decoding): every rule of profile.ts. */
export const featureProfileSetSchema = z
  .object({
    party: z.string().regex(PARTY_ID_PATTERN, 'not a party id'),
    // A day of clock skew at most: a profile dated later would never be replaced by the owner's next one.
    publishedAt: z
      .number()
      .int()
      .min(0)
      .refine((t) => t <= Date.now() + 86_400_000, 'in the future'),
    datasets: z.array(datasetSchema).max(MAX_PROFILE_DATASETS),
  })
  .strict()
  .superRefine((p, ctx) => {
    const names = new Set<string>();
    p.datasets.forEach((d, i) => {
      if (names.has(d.dataset)) {
        ctx.addIssue({ code: 'custom', path: ['datasets', i, 'dataset'], message: 'repeated' });
      }
      names.add(d.dataset);
    });
  });

function fieldOf(prefix: string, path: readonly PropertyKey[]): string {
  return path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : `${s}.${String(k)}`), prefix);
}

/** Validate a decoded profile with the schema; a violation is `wire_decode` naming the field. */
export function checkFeatureProfileSet(value: unknown, field: string): FeatureProfileSet {
  const r = featureProfileSetSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const at = fieldOf(field, issue.path);
    throw new FedscoreError('wire_decode', `${at}: ${issue.message}`, { field: at });
  }
  return r.data;
}

function profilesToWire(p: FeatureProfileSet): fedscore.catalogue.IFeatureProfiles {
  return {
    party: p.party,
    publishedAtMs: p.publishedAt,
    datasets: p.datasets.map((d) => ({
      name: d.dataset,
      rows: d.rows,
      rateStepBp: d.rateStepBp,
      features: d.features.map((f) => ({
        name: f.name,
        description: f.description,
        type: TYPE_TO_WIRE[f.type],
        coverageBp: f.coverageBp,
        missingBp: f.missingBp,
      })),
    })),
  };
}

/** The decoded message as a plain object for the schema (an unknown type becomes undefined: refused). */
function profilesFromWire(m: fedscore.catalogue.IFeatureProfiles, field: string): FeatureProfileSet {
  const plain = {
    party: m.party ?? '',
    publishedAt: safeUint64(m.publishedAtMs ?? 0, `${field}.publishedAt`),
    datasets: (m.datasets ?? []).map(
      (d): PublishedDataset => ({
        dataset: d.name ?? '',
        rows: d.rows ?? 0,
        rateStepBp: d.rateStepBp ?? 0,
        features: (d.features ?? []).map((f) => ({
          name: f.name ?? '',
          description: f.description ?? '',
          type: TYPE_FROM_WIRE.get(f.type ?? 0) as FeatureType,
          coverageBp: f.coverageBp ?? 0,
          missingBp: f.missingBp ?? 0,
        })),
      }),
    ),
  };
  return checkFeatureProfileSet(plain, field);
}

/** Publisher -> receiver: the publisher's profile. */
export const FEATURE_PROFILES: StepDef<FeatureProfileSet> = mappedProtoStep(
  'feature-profiles',
  pb.FeatureProfiles,
  {
    toWire: (p) => pb.FeatureProfiles.create(profilesToWire(p)),
    fromWire: (m) => profilesFromWire(m, 'profile'),
  },
);

/** Receiver -> publisher: the catalogue of the other parties' profiles. */
export const FEATURE_CATALOGUE: StepDef<readonly FeatureProfileSet[]> = mappedProtoStep(
  'feature-catalogue',
  pb.FeatureCatalogue,
  {
    toWire: (c) => pb.FeatureCatalogue.create({ profiles: c.map(profilesToWire) }),
    fromWire: (m) => {
      const profiles = m.profiles ?? [];
      if (profiles.length > MAX_CATALOGUE_PROFILES) {
        throw new FedscoreError('wire_decode', `more than ${MAX_CATALOGUE_PROFILES} profiles`, {
          field: 'catalogue.profiles',
        });
      }
      return profiles.map((p, i) => profilesFromWire(p, `catalogue.profiles[${i}]`));
    },
  },
);
