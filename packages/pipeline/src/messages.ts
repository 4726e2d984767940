/**
 * The pipeline's own small protocols around the algorithm packages' (names and versions on the wire),
 * and their messages: the guest's alignment and hold-out (node.align), the feature selection
 * (node.select), the hosts' partial scores (node.evaluate) and the joint model (node.publish; for a
 * 'secureboost' job `secureboost-model`). Every role file of a stage uses these definitions; none
 * re-declares a step. Payloads: common.proto vectors and lists, and packages/wire/proto/node_job.proto
 * (`consent-summary`, `joint-model`, `secureboost-model`).
 */
import { type StepDef, safeUint64 } from '@fedscore/core';
import {
  heteroLrEnumFromWire,
  JOINT_MODEL_FORMAT,
  type JointModelDescriptor,
  type JointModelParty,
  MODE_TO_WIRE,
  MODEL_FORMAT_VERSION,
  SCHEDULE_TO_WIRE,
  SCHEME_TO_WIRE,
  serializeJointModel,
} from '@fedscore/vfl';
import { fedscore, float64VectorStep, idListStep, mappedProtoStep, uint32VectorStep } from '@fedscore/wire';

/** The node's own small protocols around the algorithm packages' (names and versions on the wire). */
export const ALIGN_PROTOCOL = 'node.align';
export const SELECT_PROTOCOL = 'node.select';
export const EVALUATE_PROTOCOL = 'node.evaluate';
export const PUBLISH_PROTOCOL = 'node.publish';
/**
 * 4: `consent-summary` and `joint-model` are node_job.proto messages (the joint descriptor a protobuf
 * message, no longer JSON text inside JSON). 3: PSI on the host's consented set; node.align carries
 * `consent-summary` (aligned count, reference) and no consented positions. (2: consent filtering after
 * PSI.)
 */
export const NODE_PROTOCOL_VERSION = 4;
export const ALIGNED_POSITIONS = uint32VectorStep('aligned-positions');
export const TEST_POSITIONS = uint32VectorStep('test-positions');
export const SELECTED_FEATURES = idListStep('selected-features', { unique: true });
export const PARTIAL_SCORES = float64VectorStep('partial-scores');

/**
 * A host's consent check of a job, as the guest receives it: no identifiers and nothing about the host's
 * enterprises outside the intersection (PSI ran on the consented set only, so every aligned enterprise
 * is covered).
 */
export interface ConsentSummary {
  /** False when the host does not require consent (its config's governance.requireConsent). */
  readonly enforced: boolean;
  readonly purpose: string;
  /** Enterprises in the PSI intersection of the guest's ids with the host's consented set. */
  readonly aligned: number;
  /** `consentSetFingerprint` of the consents that cover the aligned set (absent when not enforced). */
  readonly consentRef?: string;
  /** The instant the consents were checked at (the host's acceptance of the job), ms since the epoch. */
  readonly at?: number;
}

/** The joint model's aggregate metrics on the held-out rows. */
export interface TestMetrics {
  readonly auc?: number;
  readonly ks?: number;
  readonly testRows: number;
}

/** What the guest tells each host at publish: the joint descriptor and the aggregate test metrics. */
export interface JointModelMessage {
  readonly descriptor: JointModelDescriptor;
  readonly metrics: TestMetrics;
}

type ConsentSummaryWire = fedscore.nodejob.ConsentSummary.$Properties;
type JointModelWire = fedscore.nodejob.JointModel.$Properties;
type DescriptorWire = fedscore.nodejob.JointModelDescriptor.$Properties;

const PURPOSE = /^[a-z]{1,32}$/;
const CONSENT_REF = /^consents:[0-9a-f]{64}$/;
const SIGMOID = 'taylor-1: 0.5 + z/4';
const ROLE_TO_WIRE = {
  guest: fedscore.nodejob.PartyRole.PARTY_ROLE_GUEST,
  host: fedscore.nodejob.PartyRole.PARTY_ROLE_HOST,
} as const;

function checkConsentSummary(m: ConsentSummaryWire): string | null {
  if (!PURPOSE.test(m.purpose ?? '')) return 'purpose: expected a purpose (lowercase letters, 1-32)';
  if (m.consentRef != null && !CONSENT_REF.test(m.consentRef)) {
    return 'consent_ref: expected consents:<sha256 hex>';
  }
  return null;
}

/** Host -> guest (node.align): the host's consent check of the job (counts and a reference only). */
export const CONSENT_SUMMARY: StepDef<ConsentSummary> = mappedProtoStep(
  'consent-summary',
  fedscore.nodejob.ConsentSummary,
  {
    check: checkConsentSummary,
    toWire: (v) => ({
      enforced: v.enforced,
      purpose: v.purpose,
      aligned: v.aligned,
      ...(v.consentRef !== undefined && { consentRef: v.consentRef }),
      ...(v.at !== undefined && { atMs: v.at }),
    }),
    fromWire: (m) => ({
      enforced: m.enforced,
      purpose: m.purpose,
      aligned: safeUint64(m.aligned, 'fedscore.nodejob.ConsentSummary.aligned'),
      ...(m.consentRef != null && { consentRef: m.consentRef }),
      ...(m.atMs != null && { at: safeUint64(m.atMs, 'fedscore.nodejob.ConsentSummary.at_ms') }),
    }),
  },
);

function finite(value: number | null | undefined, field: string): string | null {
  return value != null && Number.isFinite(value) ? null : `${field}: expected a finite number`;
}

function checkDescriptor(d: DescriptorWire | null | undefined): string | null {
  if (d == null) return 'descriptor: absent';
  if (d.version !== MODEL_FORMAT_VERSION) return `descriptor.version: expected ${MODEL_FORMAT_VERSION}`;
  if (!d.modelId) return 'descriptor.model_id: absent';
  if (!d.createdAt) return 'descriptor.created_at: absent';
  if (d.link !== fedscore.nodejob.Link.LINK_LOGIT) return 'descriptor.link: expected LINK_LOGIT';
  const parties = d.parties ?? [];
  if (parties.length < 2) return 'descriptor.parties: expected a guest and at least one host';
  for (const [i, p] of parties.entries()) {
    if (!p.id) return `descriptor.parties[${i}].id: absent`;
    if (p.role !== ROLE_TO_WIRE.guest && p.role !== ROLE_TO_WIRE.host) {
      return `descriptor.parties[${i}].role: expected guest or host`;
    }
    if ((p.featureNames ?? []).some((n) => n.length === 0)) {
      return `descriptor.parties[${i}].feature_names: expected non-empty names`;
    }
  }
  const guests = parties.filter((p) => p.role === ROLE_TO_WIRE.guest);
  if (guests.length !== 1) return 'descriptor.parties: expected exactly one guest';
  if (d.interceptHolder !== guests[0]!.id) return 'descriptor.intercept_holder: expected the guest';
  const t = d.training;
  if (t == null) return 'descriptor.training: absent';
  if (!Object.values(MODE_TO_WIRE).includes(t.mode as never)) return 'descriptor.training.mode: unknown';
  if (!Object.values(SCHEME_TO_WIRE).includes(t.scheme as never))
    return 'descriptor.training.scheme: unknown';
  if (t.sigmoid !== SIGMOID) return `descriptor.training.sigmoid: expected '${SIGMOID}'`;
  if ((t.keptEpoch ?? 0) < 1 || (t.keptEpoch ?? 0) > (t.epochs ?? 0)) {
    return 'descriptor.training.kept_epoch: expected an epoch of the run';
  }
  const h = t.hyperparams;
  if (h == null) return 'descriptor.training.hyperparams: absent';
  if (!Object.values(SCHEDULE_TO_WIRE).includes(h.lrSchedule as never)) {
    return 'descriptor.training.hyperparams.lr_schedule: unknown';
  }
  const at = 'descriptor.training.hyperparams';
  return (
    finite(h.learningRate, `${at}.learning_rate`) ??
    finite(h.lrDecay, `${at}.lr_decay`) ??
    finite(h.l2, `${at}.l2`) ??
    finite(h.validationFraction, `${at}.validation_fraction`) ??
    finite(h.tolerance, `${at}.tolerance`)
  );
}

function checkJointModel(m: JointModelWire): string | null {
  const bad = checkDescriptor(m.descriptor);
  if (bad !== null) return bad;
  const metrics = m.metrics;
  if (metrics == null) return 'metrics: absent';
  if (metrics.auc != null && !Number.isFinite(metrics.auc)) return 'metrics.auc: expected a finite number';
  if (metrics.ks != null && !Number.isFinite(metrics.ks)) return 'metrics.ks: expected a finite number';
  return null;
}

function descriptorToWire(d: JointModelDescriptor): DescriptorWire {
  const t = d.training;
  const h = t.hyperparams;
  return {
    version: d.version,
    modelId: d.modelId,
    createdAt: d.createdAt,
    link: fedscore.nodejob.Link.LINK_LOGIT,
    interceptHolder: d.interceptHolder,
    parties: d.parties.map((p) => ({
      id: p.id,
      role: ROLE_TO_WIRE[p.role],
      featureNames: [...p.featureNames],
    })),
    training: {
      mode: MODE_TO_WIRE[t.mode],
      scheme: SCHEME_TO_WIRE[t.scheme],
      insecure: t.insecure,
      rows: t.rows,
      validationRows: t.validationRows,
      epochs: t.epochs,
      keptEpoch: t.keptEpoch,
      sigmoid: t.sigmoid,
      hyperparams: {
        batchSize: h.batchSize,
        maxEpochs: h.maxEpochs,
        learningRate: h.learningRate,
        lrSchedule: SCHEDULE_TO_WIRE[h.lrSchedule],
        lrDecay: h.lrDecay,
        l2: h.l2,
        validationFraction: h.validationFraction,
        patience: h.patience,
        tolerance: h.tolerance,
        validationEvery: h.validationEvery,
        maskBits: h.maskBits,
        seed: h.seed,
        classWeighted: h.classWeighted,
      },
    },
  };
}

/**
 * The descriptor of a verified message, its keys always in this order: every party that serializes it
 * (`serializeJointModel`) gets the same canonical JSON text.
 */
function descriptorFromWire(d: DescriptorWire): JointModelDescriptor {
  const t = d.training ?? {};
  const h = t.hyperparams ?? {};
  const at = 'fedscore.nodejob.JointModel.descriptor';
  return {
    format: JOINT_MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    modelId: d.modelId ?? '',
    createdAt: d.createdAt ?? '',
    link: 'logit',
    interceptHolder: d.interceptHolder ?? '',
    parties: (d.parties ?? []).map(
      (p): JointModelParty => ({
        id: p.id ?? '',
        role: p.role === ROLE_TO_WIRE.guest ? 'guest' : 'host',
        featureNames: [...(p.featureNames ?? [])],
      }),
    ),
    training: {
      mode: heteroLrEnumFromWire(MODE_TO_WIRE, t.mode ?? 0, `${at}.training.mode`),
      scheme: heteroLrEnumFromWire(SCHEME_TO_WIRE, t.scheme ?? 0, `${at}.training.scheme`),
      insecure: t.insecure ?? false,
      rows: t.rows ?? 0,
      validationRows: t.validationRows ?? 0,
      epochs: t.epochs ?? 0,
      keptEpoch: t.keptEpoch ?? 0,
      sigmoid: SIGMOID,
      hyperparams: {
        batchSize: h.batchSize ?? 0,
        maxEpochs: h.maxEpochs ?? 0,
        learningRate: h.learningRate ?? 0,
        lrSchedule: heteroLrEnumFromWire(
          SCHEDULE_TO_WIRE,
          h.lrSchedule ?? 0,
          `${at}.training.hyperparams.lr_schedule`,
        ),
        lrDecay: h.lrDecay ?? 0,
        l2: h.l2 ?? 0,
        validationFraction: h.validationFraction ?? 0,
        patience: h.patience ?? 0,
        tolerance: h.tolerance ?? 0,
        validationEvery: h.validationEvery ?? 0,
        maskBits: h.maskBits ?? 0,
        seed: h.seed ?? 0,
        classWeighted: h.classWeighted ?? false,
      },
    },
  };
}

/** Guest -> each host (node.publish): the joint descriptor and the aggregate test metrics. */
export const JOINT_MODEL: StepDef<JointModelMessage> = mappedProtoStep(
  'joint-model',
  fedscore.nodejob.JointModel,
  {
    check: checkJointModel,
    toWire: (v) => ({
      descriptor: descriptorToWire(v.descriptor),
      metrics: {
        ...(v.metrics.auc !== undefined && { auc: v.metrics.auc }),
        ...(v.metrics.ks !== undefined && { ks: v.metrics.ks }),
        testRows: v.metrics.testRows,
      },
    }),
    fromWire: (m) => ({
      descriptor: descriptorFromWire(m.descriptor ?? {}),
      metrics: {
        ...(m.metrics?.auc != null && { auc: m.metrics.auc }),
        ...(m.metrics?.ks != null && { ks: m.metrics.ks }),
        testRows: m.metrics?.testRows ?? 0,
      },
    }),
  },
);

/**
 * The joint model as the registry stores it: the descriptor as canonical JSON text (`serializeJointModel`
 * of the descriptor decoded from its protobuf form, so the guest, which sends it, and each host, which
 * receives it, store byte-identical text) and the metrics as a record.
 */
export interface PublishedJointModel {
  readonly descriptor: string;
  readonly metrics: Readonly<Record<string, number>>;
}

export function publishedJointModel(joint: JointModelMessage): PublishedJointModel {
  const canonical = JOINT_MODEL.decode(JOINT_MODEL.encode(joint));
  return { descriptor: serializeJointModel(canonical.descriptor), metrics: { ...canonical.metrics } };
}

/**
 * What the guest tells each host at publish of a 'secureboost' job: the facts every party of the model
 * may hold. No tree, leaf weight, split or feature name: each party's own model stays with it.
 */
export interface SecureBoostModelMessage {
  /** The job id (each party's model file carries it). */
  readonly modelId: string;
  readonly guest: string;
  /** In the order the guest's trees index them. */
  readonly hosts: readonly string[];
  readonly scheme: 'ckks' | 'paillier' | 'none';
  readonly trees: number;
  /** The hyperparameters the guest trained with, by vfl's field name. */
  readonly parameters: Readonly<Record<string, string | number | boolean>>;
  readonly metrics: TestMetrics;
}

type SecureBoostModelWire = fedscore.nodejob.SecureBoostModel.$Properties;

function checkSecureBoostModel(m: SecureBoostModelWire): string | null {
  if (!m.modelId) return 'model_id: absent';
  if (!m.guest) return 'guest: absent';
  if ((m.hosts ?? []).length === 0 || (m.hosts ?? []).some((h) => h.length === 0)) {
    return 'hosts: expected at least one host id';
  }
  if (!Object.values(SCHEME_TO_WIRE).includes(m.scheme as never)) return 'scheme: unknown';
  for (const [k, v] of Object.entries(m.parameters ?? {})) {
    if (v.number == null && v.text == null && v.flag == null) return `parameters.${k}: expected a value`;
    if (v.number != null && !Number.isFinite(v.number)) return `parameters.${k}: expected a finite number`;
  }
  const metrics = m.metrics;
  if (metrics == null) return 'metrics: absent';
  return finite(metrics.auc ?? 0, 'metrics.auc') ?? finite(metrics.ks ?? 0, 'metrics.ks');
}

/** Guest -> each host (node.publish of a 'secureboost' job): the joint facts and the aggregate metrics. */
export const SECUREBOOST_MODEL_MESSAGE: StepDef<SecureBoostModelMessage> = mappedProtoStep(
  'secureboost-model',
  fedscore.nodejob.SecureBoostModel,
  {
    check: checkSecureBoostModel,
    toWire: (v) => ({
      modelId: v.modelId,
      guest: v.guest,
      hosts: [...v.hosts],
      scheme: SCHEME_TO_WIRE[v.scheme],
      trees: v.trees,
      parameters: Object.fromEntries(
        Object.entries(v.parameters).map(([k, x]) => [
          k,
          typeof x === 'number' ? { number: x } : typeof x === 'string' ? { text: x } : { flag: x },
        ]),
      ),
      metrics: {
        ...(v.metrics.auc !== undefined && { auc: v.metrics.auc }),
        ...(v.metrics.ks !== undefined && { ks: v.metrics.ks }),
        testRows: v.metrics.testRows,
      },
    }),
    fromWire: (m) => ({
      modelId: m.modelId ?? '',
      guest: m.guest ?? '',
      hosts: [...(m.hosts ?? [])],
      scheme: heteroLrEnumFromWire(SCHEME_TO_WIRE, m.scheme ?? 0, 'fedscore.nodejob.SecureBoostModel.scheme'),
      trees: m.trees ?? 0,
      parameters: Object.fromEntries(
        Object.entries(m.parameters ?? {}).map(([k, x]) => [k, x.number ?? x.text ?? x.flag ?? 0]),
      ),
      metrics: {
        ...(m.metrics?.auc != null && { auc: m.metrics.auc }),
        ...(m.metrics?.ks != null && { ks: m.metrics.ks }),
        testRows: m.metrics?.testRows ?? 0,
      },
    }),
  },
);
