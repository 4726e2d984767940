/**
 * The steps of protocol `vfl.hetero-lr`, defined once and shared by guest.ts, host.ts and arbiter.ts.
 * Payload messages: packages/wire/proto/hetero_lr.proto (plan, hello, public context, control) and the
 * common/he messages (ciphertext batches, released vectors). The order in which each role sends and
 * receives them is written at the top of each role file and in docs/protocols/hetero-lr.md.
 */
import { FedscoreError, type StepDef } from '@fedscore/core';
import {
  type AbortInfo,
  abortStep,
  bytesListStep,
  type CiphertextBatch,
  ciphertextBatchStep,
  fedscore,
  float64VectorStep,
  protoStep,
  uint32VectorStep,
} from '@fedscore/wire';

export const HETERO_LR_PROTOCOL = 'vfl.hetero-lr';
/**
 * 2: fixed batch membership per run (`fixedBatches`, only the batch order changes per epoch) and the
 * blocked packed-product layout (one ciphertext per block of rows). A version-1 peer would cut other
 * batches, so the versions must not meet.
 * 3: the resume handshake (`resume-offer`, `resume-from`) after the key exchange, every session.
 * 4: the remainder joins the last full batch (`batchSizes`), and every party refuses a plan with a
 * batch below the floor (`checkBatchFloor`): a version-3 peer would cut other batches.
 * 5: Paillier releases masked values exactly (`released-residues`, `validation-residues`: residues mod
 *    n of values masked uniformly mod n) instead of float64 vectors (issue 11).
 * 6: the CKKS key holder's public-context bytes are an HE blob (`BLOB_KIND.layoutContext`, layout tag
 *    `ckks-layout/3`) instead of a hand-made length-prefixed JSON header: a version-5 peer cannot read them.
 */
export const HETERO_LR_VERSION = 7;

export type TrainPlanMessage = fedscore.heterolr.TrainPlan;
export type HostHelloMessage = fedscore.heterolr.HostHello;
export type PublicContextMessage = fedscore.heterolr.PublicContext;
export type EpochControlMessage = fedscore.heterolr.EpochControl;
export type ValidationResultMessage = fedscore.heterolr.ValidationResult;

function planCheck(m: fedscore.heterolr.TrainPlan.$Properties): string | null {
  if ((m.mode ?? 0) === 0) return 'mode: absent';
  if ((m.scheme ?? 0) === 0) return 'scheme: absent';
  if ((m.hosts ?? []).length === 0) return 'hosts: at least one host';
  if ((m.batchSize ?? 0) < 1) return 'batch_size: must be >= 1';
  if ((m.maxEpochs ?? 0) < 1) return 'max_epochs: must be >= 1';
  if ((m.lrSchedule ?? 0) === 0) return 'lr_schedule: absent';
  if (!(Number.isFinite(m.learningRate) && (m.learningRate ?? 0) > 0)) return 'learning_rate: must be > 0';
  if (!(Number.isFinite(m.l2) && (m.l2 ?? 0) >= 0)) return 'l2: must be >= 0';
  if ((m.validationEvery ?? 0) < 1) return 'validation_every: must be >= 1';
  const rows = m.rows ?? 0;
  for (const r of m.validationRows ?? []) if (r >= rows) return 'validation_rows: row out of range';
  if ((m.modelId ?? '').length === 0) return 'model_id: absent';
  return null;
}

/** Guest -> hosts and arbiter: the agreed plan. */
export const TRAIN_PLAN: StepDef<TrainPlanMessage> = protoStep('train-plan', fedscore.heterolr.TrainPlan, {
  check: planCheck,
});
/** Host -> guest: its table's shape and published column names. */
export const HOST_HELLO: StepDef<HostHelloMessage> = protoStep('host-hello', fedscore.heterolr.HostHello, {
  check: (m) =>
    (m.featureNames ?? []).length === (m.features ?? 0) ? null : 'feature_names: one name per feature',
});
/** Key holder -> peers: a public HE context (never a secret key). */
export const PUBLIC_CONTEXT: StepDef<PublicContextMessage> = protoStep(
  'public-context',
  fedscore.heterolr.PublicContext,
  { check: (m) => ((m.scheme ?? 0) === 0 ? 'scheme: absent' : null) },
);
/** Guest -> everyone: start epoch, or stop and keep an epoch's weights. */
export const EPOCH_CONTROL: StepDef<EpochControlMessage> = protoStep(
  'epoch-control',
  fedscore.heterolr.EpochControl,
);
/** Guest -> hosts: whether the last validated epoch improved (each party snapshots its weights). */
export const VALIDATION_RESULT: StepDef<ValidationResultMessage> = protoStep(
  'validation-result',
  fedscore.heterolr.ValidationResult,
);

/**
 * Host or arbiter -> guest, after the key exchange: the epochs (1-based counts, ascending) this party
 * holds checkpoints of for this plan; empty on a fresh start.
 */
export const RESUME_OFFER: StepDef<Uint32Array> = uint32VectorStep('resume-offer');
/** Guest -> hosts and arbiter: the epoch every party restores (the latest all hold; 0 = start afresh). */
export const RESUME_FROM: StepDef<Uint32Array> = uint32VectorStep('resume-from', { length: 1 });

/** Host -> guest: [[0.25 * X_h w_h]] on the batch rows (arbiter key, or the host's own key). */
export const HOST_FORWARD: StepDef<CiphertextBatch> = ciphertextBatchStep('host-forward');
/** Host -> other hosts (two-party, several hosts): [[c * 0.25 * X_h w_h]] under the guest's key. */
export const PEER_FORWARD: StepDef<CiphertextBatch> = ciphertextBatchStep('peer-forward');
/** Guest -> hosts, two-party with class weights: [[c]] on the batch rows under the guest's key. */
export const CLASS_WEIGHTS: StepDef<CiphertextBatch> = ciphertextBatchStep('class-weights');
/**
 * Guest -> hosts: the encrypted residual. Arbiter mode: the whole [[d]]; two-party mode: the guest's
 * part [[c * (0.25 u_g + 0.5 - y)]] under the guest's key, which each host completes.
 */
export const RESIDUAL: StepDef<CiphertextBatch> = ciphertextBatchStep('residual');
/** Any party -> key holder: an encrypted gradient (or gradient part) plus a uniform mask. */
export const MASKED_GRADIENT: StepDef<CiphertextBatch> = ciphertextBatchStep('masked-gradient');
/** Key holder -> that party: the masked gradient, decrypted (flooded for CKKS). */
export const RELEASED_GRADIENT: StepDef<Float64Array> = float64VectorStep('released-gradient');
/**
 * Paillier: key holder -> that party, the masked gradient decrypted as residues mod n (one fixed-width
 * big-endian byte string per value): uniform, because the mask is uniform mod n.
 */
export const RELEASED_RESIDUES: StepDef<Uint8Array[]> = bytesListStep('released-residues');
/** Paillier, arbiter mode: arbiter -> guest, the masked validation sum as residues mod n. */
export const VALIDATION_RESIDUES: StepDef<Uint8Array[]> = bytesListStep('validation-residues');
/** How gradients are released (float64 or, Paillier, residues). */
export const GRADIENT_RELEASE = { values: RELEASED_GRADIENT, residues: RELEASED_RESIDUES } as const;
/** Arbiter mode: host -> guest, [[X_h w_h]] on the validation rows. */
export const VALIDATION_FORWARD: StepDef<CiphertextBatch> = ciphertextBatchStep('validation-forward');
/** Arbiter mode: guest -> arbiter, [[sum_h X_h w_h + mask]] on the validation rows. */
export const VALIDATION_MASKED: StepDef<CiphertextBatch> = ciphertextBatchStep('validation-masked');
/** Arbiter mode: arbiter -> guest, the masked validation sum decrypted. */
export const VALIDATION_RELEASED: StepDef<Float64Array> = float64VectorStep('validation-released');
/** How masked validation sums are released (float64 or, Paillier, residues). */
export const VALIDATION_RELEASE = { values: VALIDATION_RELEASED, residues: VALIDATION_RESIDUES } as const;
/** Two-party mode: host -> guest, X_h w_h on the validation rows (what joint scoring reveals too). */
export const VALIDATION_PARTIAL: StepDef<Float64Array> = float64VectorStep('validation-partial');

/** Any party -> its peers: it stopped on an error (code and field only, never data values). */
export const ABORT: StepDef<AbortInfo> = abortStep();

/** Wire enum values, by name. */
export const MODE_TO_WIRE = {
  arbiter: fedscore.heterolr.Mode.MODE_ARBITER,
  'two-party': fedscore.heterolr.Mode.MODE_TWO_PARTY,
} as const;
export const SCHEME_TO_WIRE = {
  ckks: fedscore.he.Scheme.SCHEME_CKKS,
  paillier: fedscore.he.Scheme.SCHEME_PAILLIER,
  none: fedscore.he.Scheme.SCHEME_NONE,
} as const;
export const SCHEDULE_TO_WIRE = {
  constant: fedscore.heterolr.LrSchedule.LR_SCHEDULE_CONSTANT,
  'inverse-time': fedscore.heterolr.LrSchedule.LR_SCHEDULE_INVERSE_TIME,
  exponential: fedscore.heterolr.LrSchedule.LR_SCHEDULE_EXPONENTIAL,
} as const;

export function fromWire<K extends string>(
  table: Readonly<Record<K, number>>,
  value: number,
  field: string,
): K {
  for (const [k, v] of Object.entries(table) as [K, number][]) if (v === value) return k;
  throw new FedscoreError('wire_decode', `unknown value ${value}`, { field });
}
