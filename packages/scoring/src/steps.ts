/**
 * The steps of the three scoring protocols, defined once and shared by every role file. Payloads:
 * packages/wire/proto/scoring.proto (plans, hellos, requests, replies, the self-estimate form) and the
 * common/he messages (ciphertext batches, released vectors).
 */
import { FedscoreError, type StepDef } from '@fedscore/core';
import {
  type CiphertextBatch,
  ciphertextBatchStep,
  fedscore,
  float64VectorStep,
  mappedProtoStep,
  protoStep,
} from '@fedscore/wire';

export const BATCH_SCORING_PROTOCOL = 'scoring.batch';
export const ONLINE_SCORING_PROTOCOL = 'scoring.online';
export const SELF_ESTIMATE_PROTOCOL = 'scoring.self-estimate';
/** Tree models (SecureBoost) where the guest learns only each applicant's score (tree.ts). */
export const TREE_SCORING_PROTOCOL = 'scoring.tree';
export const SCORING_VERSION = 1;
/**
 * Version of "scoring.tree" (its own since version 2): version 2 adds the session mode of a node's
 * scoring API (tree-layout.max_rounds, then rounds of tree-request / tree-reply naming their applicants)
 * and models of several hosts (the leaf-weight ciphertext passes through every host in turn); version 3
 * adds band mode to the session mode (tree-layout.band_thresholds K: K blinded blocks per applicant), a
 * host of version 2 would have answered such a session with scores, so the version says it; version 4
 * adds the `unusable_record` answer (a record the host's bins cannot place, which version 3 answered as
 * `no_record`; a version-3 guest would reject the new value); version 5 adds models of several hosts to
 * the session mode (a tree-request to every host, host j's product passed to host j + 1 as a
 * tree-leaf-weights message, a tree-reply from every host: each host answers for its own records), which a
 * version-4 host would have misread as a one-host session.
 */
export const TREE_SCORING_VERSION = 5;
/**
 * Version of "scoring.online" (its own since version 2): version 2 carries the encrypted partial score
 * inside score-request and the joint result inside score-reply, 2 envelopes per score instead of 4;
 * version 3 may score several applicants in one round (score-request.more, score-reply.more_errors).
 */
export const ONLINE_SCORING_VERSION = 3;

export type BatchPlanMessage = fedscore.scoring.BatchPlan;
export type OnlineHelloMessage = fedscore.scoring.OnlineHello;
export type ScoreRequestMessage = fedscore.scoring.ScoreRequest;
export type ScoreReplyMessage = fedscore.scoring.ScoreReply;
export type SelfEstimateFormMessage = fedscore.scoring.SelfEstimateForm;
export type SelfEstimateKeysMessage = fedscore.scoring.SelfEstimateKeys;

// -- batch ------------------------------------------------------------------------------------------

/** Data owner -> model owner: records, column names, who learns the scores, the public context. */
export const BATCH_PLAN: StepDef<BatchPlanMessage> = protoStep('batch-plan', fedscore.scoring.BatchPlan, {
  check: (m) => {
    if ((m.records ?? 0) < 1) return 'records: must be >= 1';
    if ((m.features ?? []).length === 0) return 'features: at least one';
    if ((m.resultTo ?? 0) === 0) return 'result_to: absent';
    if ((m.context ?? new Uint8Array(0)).length === 0) return 'context: absent';
    return null;
  },
});
/** Data owner -> model owner, one per block of up to N/2 records: one ciphertext per feature. */
export const RECORD_BLOCK: StepDef<CiphertextBatch> = ciphertextBatchStep('record-block');
/** Model owner -> data owner, one per block: the encrypted scores (masked when the model owner learns them). */
export const BLOCK_SCORES: StepDef<CiphertextBatch> = ciphertextBatchStep('block-scores');
/** Data owner -> model owner (result to model owner only): the masked scores, decrypted with flooding. */
export const RELEASED_SCORES: StepDef<Float64Array> = float64VectorStep('released-scores');

export const RESULT_TO_WIRE = {
  'data-owner': fedscore.scoring.ResultTo.RESULT_TO_DATA_OWNER,
  'model-owner': fedscore.scoring.ResultTo.RESULT_TO_MODEL_OWNER,
} as const;

// -- online -----------------------------------------------------------------------------------------

export const ONLINE_HELLO: StepDef<OnlineHelloMessage> = protoStep(
  'online-hello',
  fedscore.scoring.OnlineHello,
  {
    check: (m) => {
      const mode = m.mode ?? 0;
      if (mode === 0) return 'mode: absent';
      if (mode === fedscore.scoring.OnlineMode.ONLINE_MODE_BAND && (m.thresholds ?? 0) < 1) {
        return 'thresholds: band mode needs at least one';
      }
      if ((m.context ?? new Uint8Array(0)).length === 0) return 'context: absent';
      return null;
    },
  },
);
/** A request id both parties' audit entries carry (the bank's scoring API request id). */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

/** Bank -> government: whom to score, with the encrypted partial score (`partial`, a PARTIAL_SCORE). */
export const SCORE_REQUEST: StepDef<ScoreRequestMessage> = protoStep(
  'score-request',
  fedscore.scoring.ScoreRequest,
  {
    check: (m) => {
      const rid = m.requestId ?? '';
      if (rid !== '' && !REQUEST_ID_PATTERN.test(rid)) return 'request_id: 1-64 of A-Z a-z 0-9 . _ : -';
      const empty = (m.applicant ?? '').length === 0;
      const partial = (m.partial ?? new Uint8Array(0)).length > 0;
      if (m.close === true) {
        if (!empty || (m.more ?? []).length > 0) return 'applicant: must be empty when closing';
        return partial ? 'partial: must be empty when closing' : null;
      }
      if (empty) return 'applicant: absent';
      for (const [i, item] of (m.more ?? []).entries()) {
        if ((item.applicant ?? '').length === 0) return `more[${i}].applicant: absent`;
        const r = item.requestId ?? '';
        if (r !== '' && !REQUEST_ID_PATTERN.test(r))
          return `more[${i}].request_id: 1-64 of A-Z a-z 0-9 . _ : -`;
      }
      return partial ? null : 'partial: absent';
    },
  },
);
/**
 * [[s_bank]] (exact) or [[s_bank - t_k]]_k (band), under the bank's key: the codec of score-request's
 * `partial` (a step of its own in version 1).
 */
export const PARTIAL_SCORE: StepDef<CiphertextBatch> = ciphertextBatchStep('partial-score');
/** Government -> bank: scored or not; when scored, the joint result (`result`, a JOINT_RESULT). */
export const SCORE_REPLY: StepDef<ScoreReplyMessage> = protoStep('score-reply', fedscore.scoring.ScoreReply, {
  check: (m) => {
    const result = (m.result ?? new Uint8Array(0)).length > 0;
    const scored = [m.error ?? '', ...(m.moreErrors ?? [])].some((e) => e === '');
    if (scored) return result ? null : 'result: absent';
    return result ? 'result: must be empty when no applicant is scored' : null;
  },
});

/** `score-reply.error` when the government holds no record of the applicant (the bank gets `found: false`). */
export const SCORE_REPLY_NO_RECORD = 'no_record';
/**
 * `tree-reply.errors` (version 4) when the host holds a record of the applicant that its model's bins
 * cannot place (a value missing where training had none): the bank gets a typed `unusable_record`
 * refusal, distinct from no record. It names no feature and no value.
 */
export const SCORE_REPLY_UNUSABLE_RECORD = 'unusable_record';
/**
 * The other `score-reply.error` values: refusals, each the `FedscoreError` code the bank raises. In the
 * order the government decides them: the session's mode or threshold count is not served
 * (`policy_refused`, every request of the session); the bank's rate or quota for this enterprise is used
 * up (`rate_limited`, `quota_exceeded`; asked before the applicant is looked up); the government does not
 * serve the session's model to this bank (`model_unavailable`, every request); the enterprise has not
 * authorized this bank's scoring use (`consent_missing`).
 */
export const SCORE_REPLY_REFUSALS = [
  'policy_refused',
  'quota_exceeded',
  'rate_limited',
  'model_unavailable',
  'consent_missing',
] as const;
export type ScoreRefusal = (typeof SCORE_REPLY_REFUSALS)[number];
/**
 * [[s + e]] (exact) or [[rho_k (s - t_k) + e_k]]_k (band): the codec of score-reply's `result` (a step of
 * its own in version 1).
 */
export const JOINT_RESULT: StepDef<CiphertextBatch> = ciphertextBatchStep('joint-result');

export const ONLINE_MODE_TO_WIRE = {
  exact: fedscore.scoring.OnlineMode.ONLINE_MODE_EXACT,
  band: fedscore.scoring.OnlineMode.ONLINE_MODE_BAND,
} as const;

// -- self-estimate ----------------------------------------------------------------------------------

export const SELF_ESTIMATE_FORM: StepDef<SelfEstimateFormMessage> = protoStep(
  'self-estimate-form',
  fedscore.scoring.SelfEstimateForm,
  {
    check: (m) => {
      if ((m.features ?? []).length === 0) return 'features: at least one';
      if ((m.bands ?? []).length === 0) return 'bands: at least one';
      const n = m.polyModulusDegree ?? 0;
      if (n < 1024 || (n & (n - 1)) !== 0) return 'poly_modulus_degree: a power of two >= 1024';
      return null;
    },
  },
);
/** Enterprise -> bank: its public context (public key + the form's Galois keys). */
export const SELF_ESTIMATE_KEYS: StepDef<SelfEstimateKeysMessage> = protoStep(
  'self-estimate-keys',
  fedscore.scoring.SelfEstimateKeys,
  { check: (m) => ((m.context ?? new Uint8Array(0)).length === 0 ? 'context: absent' : null) },
);
/** Enterprise -> bank: [[indicator bits]] (one ciphertext). */
export const ENCRYPTED_BITS: StepDef<CiphertextBatch> = ciphertextBatchStep('encrypted-bits');
/** Enterprise -> bank: [[figures]] laid out per band and cap (one ciphertext). */
export const ENCRYPTED_FIGURES: StepDef<CiphertextBatch> = ciphertextBatchStep('encrypted-figures');
/** Bank -> enterprise: the encrypted result (one ciphertext). */
export const ESTIMATE_RESULT: StepDef<CiphertextBatch> = ciphertextBatchStep('estimate-result');

export function enumFromWire<K extends string>(
  table: Readonly<Record<K, number>>,
  value: number,
  field: string,
): K {
  for (const [k, v] of Object.entries(table) as [K, number][]) if (v === value) return k;
  throw new FedscoreError('wire_decode', `unknown value ${value}`, { field });
}

// -- tree (SecureBoost, private path) -----------------------------------------------------------------

const EMPTY = new Uint8Array(0);

export type TreeLayoutMessage = fedscore.scoring.TreeLayout;
export type TreeRequestMessage = fedscore.scoring.TreeRequest;
export type TreeReplyMessage = fedscore.scoring.TreeReply;

/** Most rounds one session-mode key may serve (the flooding is sized for the declared count). */
export const TREE_MAX_ROUNDS = 4096;

/** Most band thresholds of a band-mode tree session (each is one block per applicant). */
export const TREE_MAX_THRESHOLDS = 16;

/** Guest -> host: the run's shape and the leaf slots under each host split (no weight, no guest split). */
export const TREE_LAYOUT: StepDef<TreeLayoutMessage> = protoStep('tree-layout', fedscore.scoring.TreeLayout, {
  check: (m) => {
    const rounds = m.maxRounds ?? 0;
    if (rounds === 0 && (m.records ?? 0) < 1) return 'records: must be >= 1';
    if (rounds > 0 && (m.records ?? 0) !== 0) return 'records: must be 0 in session mode';
    if (rounds > TREE_MAX_ROUNDS) return `max_rounds: at most ${TREE_MAX_ROUNDS}`;
    if ((m.trees ?? 0) < 1) return 'trees: must be >= 1';
    if ((m.slotsPerTree ?? 0) < 1) return 'slots_per_tree: must be >= 1';
    const block = m.block ?? 0;
    if (block < (m.trees ?? 0) * (m.slotsPerTree ?? 0) || (block & (block - 1)) !== 0) {
      return 'block: must be a power of two >= trees * slots_per_tree';
    }
    if ((m.contextChunks ?? 0) < 1) return 'context_chunks: must be >= 1';
    const k = m.bandThresholds ?? 0;
    if (k > TREE_MAX_THRESHOLDS) return `band_thresholds: at most ${TREE_MAX_THRESHOLDS}`;
    if (k > 0 && rounds === 0) {
      return 'band_thresholds: band mode is a session mode';
    }
    const bytes = Math.ceil((m.slotsPerTree ?? 0) / 8);
    for (const [i, s] of (m.splits ?? []).entries()) {
      if ((s.tree ?? 0) >= (m.trees ?? 0)) return `splits[${i}].tree: out of range`;
      if ((s.left ?? EMPTY).length !== bytes || (s.right ?? EMPTY).length !== bytes) {
        return `splits[${i}]: left and right must be bitmaps over slots_per_tree`;
      }
    }
    return null;
  },
});

/** Guest -> host: one chunk of the public CKKS context. */
export const TREE_CONTEXT: StepDef<Uint8Array> = mappedProtoStep(
  'tree-context',
  fedscore.scoring.TreeContext,
  {
    check: (m) => ((m.chunk ?? EMPTY).length === 0 ? 'chunk: empty' : null),
    sizeHint: (m) => (m.chunk?.length ?? 0) + 16,
    toWire: (chunk) => ({ chunk }),
    fromWire: (m) => m.chunk,
  },
);

/** Serialized ciphertexts: the guest's masked leaf weights, or the host's flooded per-applicant sums. */
function treeCiphertexts(name: string): StepDef<readonly Uint8Array[]> {
  return mappedProtoStep(name, fedscore.scoring.TreeCiphertexts, {
    check: (m) => ((m.items ?? []).length === 0 ? 'items: at least one' : null),
    sizeHint: (m) => (m.items ?? []).reduce((a, b) => a + b.length + 8, 16),
    toWire: (items) => ({ items: [...items] }),
    fromWire: (m) => m.items,
  });
}

/** Guest -> host, per group of applicants: Enc(w_l if leaf l is reachable on the guest's splits, else 0). */
export const TREE_LEAF_WEIGHTS: StepDef<readonly Uint8Array[]> = treeCiphertexts('tree-leaf-weights');
/** Host -> guest: Enc(sum over leaves also reachable on the host's splits + flooding), one slot per applicant. */
export const TREE_SCORES: StepDef<readonly Uint8Array[]> = treeCiphertexts('tree-scores');

/**
 * Guest -> host, per session-mode round: the applicants and one ciphertext of their masked leaf weights
 * (to the first host of a model of several; the others get the applicants only, and the ciphertext from
 * the host before them as tree-leaf-weights); or `close` alone.
 */
export const TREE_REQUEST: StepDef<TreeRequestMessage> = protoStep(
  'tree-request',
  fedscore.scoring.TreeRequest,
  {
    check: (m) => {
      const applicants = m.applicants ?? [];
      const items = m.items ?? [];
      if (m.close === true) {
        return applicants.length === 0 && items.length === 0 ? null : 'close: no applicant or ciphertext';
      }
      if (applicants.length === 0) return 'applicants: at least one';
      for (const [i, a] of applicants.entries()) {
        if ((a.applicant ?? '').length === 0 || (a.applicant ?? '').length > 64) {
          return `applicants[${i}].applicant: 1-64 characters`;
        }
        const r = a.requestId ?? '';
        if (r !== '' && !REQUEST_ID_PATTERN.test(r))
          return `applicants[${i}].request_id: 1-64 of A-Z a-z 0-9 . _ : -`;
      }
      return items.length <= 1 ? null : 'items: at most one ciphertext';
    },
    sizeHint: (m) =>
      (m.items ?? []).reduce((a, b) => a + b.length + 8, 64 + 96 * (m.applicants ?? []).length),
  },
);

/** The errors a tree-reply may carry per applicant ('' = scored). */
export const TREE_REPLY_ERRORS = [
  '',
  SCORE_REPLY_NO_RECORD,
  SCORE_REPLY_UNUSABLE_RECORD,
  ...SCORE_REPLY_REFUSALS,
] as const;

/**
 * Host -> guest, per round: an error per applicant and, when any is scored, one ciphertext (from the last
 * host of a model of several; the hosts before it answer with their codes only).
 */
export const TREE_REPLY: StepDef<TreeReplyMessage> = protoStep('tree-reply', fedscore.scoring.TreeReply, {
  check: (m) => {
    const errors = m.errors ?? [];
    if (errors.length === 0) return 'errors: one per applicant';
    for (const [i, e] of errors.entries()) {
      if (!(TREE_REPLY_ERRORS as readonly string[]).includes(e)) return `errors[${i}]: unknown value`;
    }
    const scored = errors.some((e) => e === '');
    const items = (m.items ?? []).length;
    if (scored) return items <= 1 ? null : 'items: at most one ciphertext';
    return items === 0 ? null : 'items: must be empty when no applicant is scored';
  },
  sizeHint: (m) => (m.items ?? []).reduce((a, b) => a + b.length + 8, 64 + 24 * (m.errors ?? []).length),
});
