/**
 * Online joint score of one applicant (protocol "scoring.online", docs/protocols/online-scoring.md).
 *
 * Parties: the bank (guest: holds its features, its part of the joint model including the intercept, the
 * band thresholds, and the only CKKS secret key) and the government node (host: holds its features and
 * its own part of the model). The score is s = s_bank + s_gov, each part computed by its owner in the
 * clear from its own features and weights (a hetero-LR linear predictor or a scorecard's points).
 *
 * Messages in order:
 *   1. bank -> gov   online-hello    mode, number of thresholds (band mode), the bank's public context
 *   per round of B >= 1 applicants (version 3; version 2 had B = 1), one message each way:
 *   2. bank -> gov   score-request   the applicants' USCCs and request ids (`applicant`, then `more`), the
 *                                    round number, and `partial`: ONE ciphertext, applicant i in slots
 *                                    iK ... iK + K - 1: exact [[s_bank,i]]; band [[s_bank,i - t_k]]
 *   3. gov -> bank   score-reply     per applicant (`error`, `more_errors`): scored, "no_record", or a
 *                                    refusal (policy, quota, rate, model, consent: SCORE_REPLY_REFUSALS);
 *                                    when one is scored, `result`: exact [[s_i + e_i]]; band
 *                                    [[rho_ik (s_i - t_k) + e_ik]] in its block, rho_ik log-uniform in
 *                                    [1, 2^rhoBits], fresh per applicant and slot; blocks of applicants
 *                                    not scored are multiplied by 0 (flooding noise only)
 *   last: bank -> gov score-request with close = true
 * (Version 1 sent the partial score and the joint result as messages of their own, "partial-score" and
 * "joint-result": the same bytes in 4 envelopes per score instead of 2, each a network round trip.)
 *
 * What each party learns:
 *   - government: which applicant the bank scores (it must look up its own features: an authorized use,
 *     recorded by the governance layer), the mode and K; ciphertexts only otherwise. Never the bank's
 *     partial score, the thresholds, the result or the band.
 *   - bank, exact mode: s (within e, sd 2^-20), hence s_gov = s - s_bank for this applicant -- the exact
 *     score reveals the government's partial score. Never the government's features or weights.
 *   - bank, band mode: for every threshold the sign of s - t_k (= the band) and rho_k |s - t_k| with
 *     rho_k unknown to it: log|s - t_k| is hidden up to an additive uniform term of width rhoBits * ln 2
 *     (the magnitude leaks only as far as that blinding allows; see the doc for the precise bound). Scores
 *     within |e_k| / rho_k (< 2^-20 x 6 sd) of a threshold may land in the neighbouring band.
 *   - bank, batched round: for each applicant exactly what a round of one gives (all operations are
 *     slot-wise -- no rotation, no sum, no key switching -- and rho, e are drawn per applicant and slot;
 *     a shared rho would let a duplicated applicant divide the blinding out: attack test
 *     online-batch-blinding). The government sees which applicants share a round.
 *   Both modes are a scoring oracle for the bank: it picks the threshold values (the government never
 *   sees them) and may repeat a request, so every request for an applicant tells it K more comparisons
 *   of s_gov with values of its choice. The government's policy (`OnlineScoringPolicy`) therefore
 *   refuses exact mode unless allowed and caps K at the model's registered band count; the serving node
 *   meters requests per (bank, enterprise) through `admit` (quotas and rate limits). Refusals are typed
 *   (`policy_refused`, `quota_exceeded`, `rate_limited` in score-reply.error) and come before the
 *   applicant is looked up, so they say nothing about whether the government holds a record. After
 *   admission, `partialScoreOf` may still refuse (`consent_missing`: the enterprise has not authorized
 *   this bank; `model_unavailable`: the government does not serve the hello's model to this bank).
 *   The bank raises every refusal as a `FedscoreError` with that code; "no record" is `found: false`.
 * Threat model: semi-honest. A malicious government could return any value (the bank cannot verify it);
 * a malicious bank could put a chosen value in place of s_bank - t_k to probe s_gov's sign structure
 * (bounded by the policy and the quota above).
 * Paper: the comparison is multiplicative blinding of a difference (the "blinded comparison" of
 * Kerschbaum, Biswas & de Hoogh 2009, "Performance comparison of secure comparison protocols"; here
 * under CKKS with additive flooding after Li & Micciancio 2021), not a polynomial sign approximation.
 */
import {
  type CryptoRng,
  cryptoRng,
  FedscoreError,
  type Logger,
  noopLogger,
  normal,
  type PartyId,
  type ProtocolSession,
  requireCryptoRng,
  uniform,
} from '@fedscore/core';
import {
  type CkksParams,
  type CkksPublicContext,
  type CkksSecretContext,
  createCkksContext,
  DEFAULT_FLOODING_STDDEV,
  loadCkksPublicContext,
} from '@fedscore/he';
import { fedscore } from '@fedscore/wire';
import { ContextCache, checkBatch, toBatch } from './he-io.ts';
import {
  enumFromWire,
  JOINT_RESULT,
  ONLINE_HELLO,
  ONLINE_MODE_TO_WIRE,
  PARTIAL_SCORE,
  SCORE_REPLY,
  SCORE_REPLY_NO_RECORD,
  SCORE_REPLY_REFUSALS,
  SCORE_REQUEST,
  type ScoreRefusal,
} from './steps.ts';

export type OnlineMode = 'exact' | 'band';

/**
 * CKKS parameters of the online flow: N = 4096, q = [50, 30, 29] (log q = 109, exactly the 128-bit bound
 * of the HE standard for N = 4096), scale 2^30. One multiplicative level (the band mode's blinding
 * product; in exact mode the product by 1 or 0 that wipes unscored slot blocks), 2048 slots, ~20 bits of headroom at level 0. No key switching is ever done (no rotations, no
 * relinearization), so the special-prime size does not matter for noise.
 */
export const ONLINE_CKKS_PARAMS: CkksParams = {
  polyModulusDegree: 4096,
  coeffModulusBits: [50, 30, 29],
  scaleBits: 30,
};

/** Default blinding range: rho in [1, 2^6]. With scale 2^30 and q0 = 2^50, |s - t| must stay below 2^13. */
export const DEFAULT_RHO_BITS = 6;
/** Largest |s - t| (band mode) and |s| (exact mode) the parameters carry without overflow. */
export const ONLINE_MAX_MAGNITUDE = 2 ** 13;

export interface OnlineBankOptions {
  readonly mode: OnlineMode;
  /** Band mode: thresholds t_0 > t_1 > ... (e.g. `bandThresholds(rules)`). */
  readonly thresholds?: readonly number[];
  /** Default `ONLINE_CKKS_PARAMS`. */
  readonly params?: CkksParams;
  readonly logger?: Logger;
}

export interface OnlineScore {
  readonly applicant: string;
  /** Exact mode: the joint score. */
  readonly score?: number;
  /**
   * Band mode: the index of the first threshold the score reaches (0 = highest band), or the number of
   * thresholds when it reaches none (the last band).
   */
  readonly thresholdIndex?: number;
  /** False when the government has no record of the applicant (refusals are thrown, not returned). */
  readonly found: boolean;
}

/** Per-request options of `OnlineScoringBank.score`. */
export interface OnlineScoreOptions {
  /** Sent with the request so that both parties' audit entries carry it (`REQUEST_ID_PATTERN`). */
  readonly requestId?: string;
}

/** One applicant of `OnlineScoringBank.scoreBatch`. */
export interface OnlineBatchItem {
  readonly applicant: string;
  /** The bank's partial score (its points or linear predictor, intercept included). */
  readonly bankPartial: number;
  /** As `OnlineScoreOptions.requestId`. */
  readonly requestId?: string;
}

/** One applicant's answer in a batch: its score (or `found: false`), or the government's typed refusal. */
export type OnlineBatchOutcome =
  | { readonly ok: true; readonly score: OnlineScore }
  | { readonly ok: false; readonly error: FedscoreError };

/** Most applicants in one round (version 3), whatever the slot count allows. */
export const ONLINE_MAX_BATCH = 64;

/** Most applicants one round can carry with `slotCount` slots and K values per applicant. */
export function onlineMaxBatch(slotCount: number, valuesPerApplicant: number): number {
  return Math.min(ONLINE_MAX_BATCH, Math.floor(slotCount / Math.max(1, valuesPerApplicant)));
}

/** The bank's side of an online scoring session. Create once; keys stay warm across requests. */
export class OnlineScoringBank {
  readonly mode: OnlineMode;
  readonly context: CkksSecretContext;
  readonly #thresholds: Float64Array;
  readonly #logger: Logger;
  #session: ProtocolSession | undefined;
  #government: PartyId | undefined;
  #index = 0;

  private constructor(
    mode: OnlineMode,
    context: CkksSecretContext,
    thresholds: Float64Array,
    logger: Logger,
  ) {
    this.mode = mode;
    this.context = context;
    this.#thresholds = thresholds;
    this.#logger = logger;
  }

  static async create(options: OnlineBankOptions): Promise<OnlineScoringBank> {
    if (options.mode !== 'exact' && options.mode !== 'band') {
      throw new FedscoreError('invalid_argument', "expected 'exact' or 'band'", { field: 'mode' });
    }
    const t = Float64Array.from(options.thresholds ?? []);
    if (options.mode === 'band') {
      if (t.length === 0)
        throw new FedscoreError('invalid_argument', 'band mode needs thresholds', { field: 'thresholds' });
      for (let k = 0; k < t.length; k++) {
        if (!Number.isFinite(t[k]!) || (k > 0 && !(t[k]! < t[k - 1]!))) {
          throw new FedscoreError('invalid_argument', 'thresholds must be finite and strictly decreasing', {
            field: `thresholds[${k}]`,
          });
        }
      }
    }
    const ctx = await createCkksContext({
      params: options.params ?? ONLINE_CKKS_PARAMS,
      relinearization: false,
    });
    return new OnlineScoringBank(options.mode, ctx, t, options.logger ?? noopLogger);
  }

  /** Start a session with the government node. */
  async open(session: ProtocolSession, government: PartyId, modelId: string): Promise<void> {
    this.#session = session;
    this.#government = government;
    this.#index = 0;
    await session.send(
      government,
      ONLINE_HELLO,
      fedscore.scoring.OnlineHello.create({
        mode: ONLINE_MODE_TO_WIRE[this.mode],
        thresholds: this.mode === 'band' ? this.#thresholds.length : 0,
        context: this.context.serialize(),
        modelId,
      }),
    );
  }

  /**
   * Score one applicant given the bank's own partial score (its points or linear predictor, intercept
   * included). A refusal of the government throws a `FedscoreError` with its code
   * (`SCORE_REPLY_REFUSALS`); the session stays usable.
   */
  async score(
    applicant: string,
    bankPartial: number,
    options: OnlineScoreOptions = {},
  ): Promise<OnlineScore> {
    const [out] = await this.scoreBatch([
      { applicant, bankPartial, ...(options.requestId !== undefined && { requestId: options.requestId }) },
    ]);
    if (!out!.ok) throw out!.error;
    return out!.score;
  }

  /**
   * Score several applicants in ONE round of the protocol (version 3 micro-batching): applicant i's
   * values go to slots i*K ... i*K + K - 1 of one ciphertext. Each applicant is admitted, looked up and
   * audited by the government on its own; a refusal answers that applicant only (`ok: false` with the
   * typed `FedscoreError`), the others are scored. At most `onlineMaxBatch(this)` applicants. Errors
   * that concern the whole round (a broken session, a malformed reply) are thrown.
   */
  async scoreBatch(items: readonly OnlineBatchItem[]): Promise<OnlineBatchOutcome[]> {
    const session = this.#session;
    const gov = this.#government;
    if (session === undefined || gov === undefined) {
      throw new FedscoreError('invalid_argument', 'call open() first', { field: 'session' });
    }
    const K = this.mode === 'exact' ? 1 : this.#thresholds.length;
    const B = items.length;
    if (B < 1 || B > onlineMaxBatch(this.context.slotCount, K)) {
      throw new FedscoreError(
        'out_of_range',
        `a batch holds 1 to ${onlineMaxBatch(this.context.slotCount, K)} applicants`,
        { field: 'items' },
      );
    }
    const values = new Float64Array(B * K);
    items.forEach((item, i) => {
      const p = item.bankPartial;
      if (!Number.isFinite(p) || Math.abs(p) > ONLINE_MAX_MAGNITUDE) {
        throw new FedscoreError(
          'out_of_range',
          `the partial score must be finite and within ${ONLINE_MAX_MAGNITUDE}`,
          { field: B === 1 ? 'bankPartial' : `items[${i}].bankPartial` },
        );
      }
      for (let k = 0; k < K; k++) values[i * K + k] = this.mode === 'exact' ? p : p - this.#thresholds[k]!;
    });
    const ctx = this.context;
    const index = this.#index++;
    const bytes = ctx.encryptSymmetricSerialized(values, { compression: 'none' });
    const partial = PARTIAL_SCORE.encode(
      toBatch(ctx, [bytes], values.length, 2 ** ctx.params.scaleBits, ctx.levels),
    );
    const [first, ...rest] = items;
    await session.send(
      gov,
      SCORE_REQUEST,
      fedscore.scoring.ScoreRequest.create({
        applicant: first!.applicant,
        index,
        requestId: first!.requestId ?? '',
        partial,
        more: rest.map((it) => ({ applicant: it.applicant, requestId: it.requestId ?? '' })),
      }),
    );
    const reply = await session.receive(gov, SCORE_REPLY);
    if (reply.index !== index) {
      throw new FedscoreError('protocol_sequence', `reply to request ${reply.index}, expected ${index}`, {
        field: 'score-reply.index',
      });
    }
    const errors = [reply.error, ...(reply.moreErrors ?? [])];
    if (errors.length !== B) {
      throw new FedscoreError('protocol_step', `${errors.length} answers for ${B} applicants`, {
        field: 'score-reply.more_errors',
      });
    }
    let plain: Float64Array | undefined;
    if (errors.some((e) => e === '')) {
      const [item] = checkBatch(ctx, JOINT_RESULT.decode(reply.result), 'joint-result', {
        items: 1,
        slotsPerItem: values.length,
      });
      const v = ctx.deserializeVector(item!);
      try {
        plain = ctx.decrypt(v);
      } finally {
        v.dispose();
      }
    }
    return items.map((it, i): OnlineBatchOutcome => {
      const applicant = it.applicant;
      const error = errors[i]!;
      if (error === SCORE_REPLY_NO_RECORD) return { ok: true, score: { applicant, found: false } };
      if (error !== '') {
        const code = SCORE_REPLY_REFUSALS.find((c) => c === error);
        if (code === undefined) {
          throw new FedscoreError('protocol_step', 'an unknown score-reply error', {
            field: 'score-reply.error',
          });
        }
        // The session stays usable: a refusal answers this applicant only (policy and model refusals
        // answer every request of the session).
        return {
          ok: false,
          error: new FedscoreError(code, `the government refused this request (${code})`, {
            field: 'score-reply.error',
          }),
        };
      }
      const own = plain!.subarray(i * K, i * K + K);
      if (this.mode === 'exact') return { ok: true, score: { applicant, found: true, score: own[0]! } };
      let k = 0;
      while (k < own.length && own[k]! < 0) k++;
      return { ok: true, score: { applicant, found: true, thresholdIndex: k } };
    });
  }

  /** End the session (the government's `serve` returns). */
  async close(): Promise<void> {
    if (this.#session && this.#government) {
      await this.#session.send(
        this.#government,
        SCORE_REQUEST,
        fedscore.scoring.ScoreRequest.create({ applicant: '', index: this.#index, close: true }),
      );
      this.#logger.debug('online scoring session closed', { requests: this.#index });
    }
    this.#session = undefined;
    this.#government = undefined;
  }

  dispose(): void {
    this.context.dispose();
  }
}

/** Default cap on band-mode thresholds: a typical rating table's bands with a minimum score. */
export const DEFAULT_MAX_THRESHOLDS = 4;

/**
 * What a government serves. Exact mode releases s = s_bank + s_gov, hence s_gov, to the bank; band mode
 * with K thresholds releases K comparisons (and rho-blinded distances) per request, and the bank
 * chooses the threshold values itself, so K and the number of requests per applicant bound what it
 * learns about s_gov (docs/protocols/online-scoring.md).
 */
export interface OnlineScoringPolicy {
  /** Serve exact mode. Default false: only band mode. */
  readonly allowExactMode?: boolean;
  /**
   * Most thresholds of a band-mode session: the band count registered for the model (by the hello's
   * model id; undefined = unknown model, refused) or one number for all. Default `DEFAULT_MAX_THRESHOLDS`.
   */
  readonly maxThresholds?: number | ((modelId: string) => number | undefined);
}

/** A per-request refusal of `OnlineGovernmentOptions.admit`. */
export type OnlineAdmission = 'quota_exceeded' | 'rate_limited' | undefined;

/** A refusal `OnlineGovernmentOptions.partialScoreOf` may answer with (after admission). */
export type OnlineLookupRefusal = 'consent_missing' | 'model_unavailable';

/** What the government's hooks see of one request. */
export interface OnlineRequestInfo {
  /** 0-based request number within the session. */
  readonly index: number;
  /** The bank's request id ('' when it sent none). */
  readonly requestId: string;
}

/** The session's hello as the government's `onHello` hook sees it (no key material). */
export interface OnlineHelloInfo {
  readonly mode: OnlineMode;
  readonly thresholds: number;
  readonly modelId: string;
}

export interface OnlineGovernmentOptions {
  /**
   * The government's own partial score of an applicant; undefined when it has no record, or a refusal
   * code (`consent_missing`, `model_unavailable`) the bank raises instead of a result. Asked only after
   * the policy and `admit` let the request through. May be async (e.g. to commit an audit entry before
   * answering).
   */
  readonly partialScoreOf: (
    applicant: string,
    request: OnlineRequestInfo,
  ) => number | OnlineLookupRefusal | undefined | Promise<number | OnlineLookupRefusal | undefined>;
  /**
   * Called once per session the policy serves, with the bank's hello, before any request is answered
   * (e.g. to load the model part `modelId` names). Throwing ends the session with that error.
   */
  readonly onHello?: (hello: OnlineHelloInfo) => void | Promise<void>;
  /** Modes and threshold counts served. Default: band mode only, at most `DEFAULT_MAX_THRESHOLDS`. */
  readonly policy?: OnlineScoringPolicy;
  /**
   * Per-request admission (quotas, rate limits; the node keeps the counters), asked before the
   * applicant is looked up so that a refusal says nothing about whether the government holds a record.
   * May be async (e.g. to commit the admission before the request is answered).
   */
  readonly admit?: (
    applicant: string,
    request: OnlineRequestInfo,
  ) => OnlineAdmission | Promise<OnlineAdmission>;
  /**
   * Called for every request refused by the policy or by `admit`, e.g. to audit it (refusals of
   * `partialScoreOf` are its own to record). May be async: the reply waits for it.
   */
  readonly onRefusal?: (
    applicant: string,
    code: ScoreRefusal,
    request: OnlineRequestInfo,
  ) => void | Promise<void>;
  /** Band mode blinding: rho_k in [1, 2^rhoBits]. Default 6. */
  readonly rhoBits?: number;
  /**
   * INSECURE, attack tests only: one rho_k per threshold shared by every applicant of a round instead of
   * a fresh rho per applicant and slot. A bank that puts the same applicant twice in a round with two
   * partials of its choice then divides the two results' difference out and reads s_gov exactly
   * (test/attacks/online-batch-blinding.attack.test.ts). Always warned.
   */
  readonly insecureSharedBlinding?: boolean;
  /** Flooding noise sd. Default 2^-20. */
  readonly noiseStdDev?: number;
  /**
   * Draws the band blinding rho_k and the flooding noise, which hide the government's partial score:
   * a cryptographic generator (a seeded one is refused with `insecure_rng`). Default `cryptoRng()`.
   */
  readonly rng?: CryptoRng;
  readonly logger?: Logger;
  /** Accept a bank context below 128-bit security (tests only; always warned). */
  readonly allowWeakParameters?: boolean;
  /** @deprecated The old name of `allowWeakParameters`. */
  readonly insecure?: boolean;
}

/** The government node's side. Loaded bank contexts are cached (warm) across sessions. */
export class OnlineScoringGovernment {
  readonly #o: OnlineGovernmentOptions;
  readonly #contexts = new ContextCache<CkksPublicContext>();

  constructor(options: OnlineGovernmentOptions) {
    if (options.rng !== undefined) requireCryptoRng(options.rng, 'rng');
    this.#o = options;
  }

  async #context(bytes: Uint8Array): Promise<CkksPublicContext> {
    const have = this.#contexts.get(bytes);
    if (have) return have;
    const ctx = await loadCkksPublicContext(bytes, {
      allowWeakParameters: this.#o.allowWeakParameters === true || this.#o.insecure === true,
      expected: { scheme: 'ckks' },
      ...(this.#o.logger !== undefined && { logger: this.#o.logger }),
    });
    this.#contexts.set(bytes, ctx);
    return ctx;
  }

  /** The hello's refusal under the policy, or undefined when it is served. */
  #refusal(mode: OnlineMode, hello: { thresholds: number; modelId: string }): string | undefined {
    const policy = this.#o.policy ?? {};
    if (mode === 'exact') return policy.allowExactMode === true ? undefined : 'exact mode is not served';
    const cap = policy.maxThresholds ?? DEFAULT_MAX_THRESHOLDS;
    const max = typeof cap === 'number' ? cap : cap(hello.modelId);
    if (max === undefined) return 'no band count registered for this model';
    if (hello.thresholds < 1 || hello.thresholds > max) return `band mode takes 1 to ${max} thresholds`;
    return undefined;
  }

  /** Serve one session until the bank closes it; returns the number of requests received and refused. */
  async serve(
    session: ProtocolSession,
    bank: PartyId,
  ): Promise<{ requests: number; notFound: number; refused: number }> {
    const hello = await session.receive(bank, ONLINE_HELLO);
    const mode = enumFromWire(ONLINE_MODE_TO_WIRE, hello.mode, 'online-hello.mode');
    const logger = this.#o.logger ?? noopLogger;
    // A refused session still answers every request (with the refusal), so the bank gets a typed error.
    const refusal = this.#refusal(mode, hello);
    if (refusal !== undefined) logger.warn('online scoring session refused', { mode, reason: refusal });
    const ctx = refusal === undefined ? await this.#context(hello.context) : undefined;
    if (ctx !== undefined) {
      await this.#o.onHello?.({ mode, thresholds: hello.thresholds, modelId: hello.modelId });
    }
    const K = mode === 'band' ? hello.thresholds : 1;
    const rng = this.#o.rng ?? cryptoRng();
    const sd = this.#o.noiseStdDev ?? DEFAULT_FLOODING_STDDEV;
    const rhoBits = this.#o.rhoBits ?? DEFAULT_RHO_BITS;
    let rounds = 0;
    let requests = 0;
    let notFound = 0;
    let refused = 0;
    const maxBatch = onlineMaxBatch(ctx?.slotCount ?? 0, K);
    for (;;) {
      const req = await session.receive(bank, SCORE_REQUEST);
      if (req.close) break;
      if (req.index !== rounds) {
        throw new FedscoreError('protocol_sequence', `request ${req.index}, expected ${rounds}`, {
          field: 'score-request.index',
        });
      }
      rounds++;
      // Decoded (and so checked) whatever the answer, as when it was a message of its own.
      const partial = PARTIAL_SCORE.decode(req.partial);
      const batch = [
        { applicant: req.applicant, requestId: req.requestId ?? '' },
        ...(req.more ?? []).map((m) => ({ applicant: m.applicant ?? '', requestId: m.requestId ?? '' })),
      ];
      const B = batch.length;
      if (ctx !== undefined && B > maxBatch) {
        throw new FedscoreError('protocol_step', `a batch holds at most ${maxBatch} applicants`, {
          field: 'score-request.more',
        });
      }
      const slots =
        ctx === undefined
          ? undefined
          : checkBatch(ctx, partial, 'partial-score', {
              items: 1,
              slotsPerItem: B * K,
            });
      // Each applicant on its own and in order: admission (quota, rate), lookup (consent, model), audit
      // by the hooks -- exactly once per applicant, as in an unbatched request.
      const errors: string[] = [];
      const owns: (number | undefined)[] = [];
      for (const item of batch) {
        requests++;
        const info: OnlineRequestInfo = { index: req.index, requestId: item.requestId };
        const admission: ScoreRefusal | undefined =
          ctx === undefined ? 'policy_refused' : await this.#o.admit?.(item.applicant, info);
        if (ctx === undefined || admission !== undefined) {
          refused++;
          await this.#o.onRefusal?.(item.applicant, admission ?? 'policy_refused', info);
          errors.push(admission ?? 'policy_refused');
          owns.push(undefined);
          continue;
        }
        const own = await this.#o.partialScoreOf(item.applicant, info);
        if (own === undefined) {
          notFound++;
          errors.push(SCORE_REPLY_NO_RECORD);
          owns.push(undefined);
          continue;
        }
        if (typeof own === 'string') {
          refused++;
          errors.push(own);
          owns.push(undefined);
          continue;
        }
        if (!Number.isFinite(own)) {
          throw new FedscoreError('internal', 'partial score is not finite', { field: 'partialScoreOf' });
        }
        errors.push('');
        owns.push(own);
      }
      let result: Uint8Array | undefined;
      if (ctx !== undefined && owns.some((o) => o !== undefined)) {
        // Slot block i: scored, [[rho_ik (x_ik + s_gov,i) + e_ik]] with rho_ik fresh per applicant and
        // slot (exact mode: rho = 1); not scored, rho = 0 -- the bank's own values are wiped and only
        // the flooding noise e_ik remains. Every operation is slot-wise (no rotation, no key
        // switching), so no slot's value enters another's.
        const n = B * K;
        const add = new Float64Array(n);
        const rho = new Float64Array(n);
        const noise = new Float64Array(n);
        const shared = this.#o.insecureSharedBlinding === true;
        if (shared) logger.warn('online scoring: INSECURE shared blinding across a round', {});
        const sharedRho = shared ? Array.from({ length: K }, () => 2 ** (rhoBits * uniform(rng))) : [];
        for (let i = 0; i < B; i++) {
          const own = owns[i];
          for (let k = 0; k < K; k++) {
            const j = i * K + k;
            if (own !== undefined) {
              add[j] = own;
              rho[j] = mode === 'exact' ? 1 : shared ? sharedRho[k]! : 2 ** (rhoBits * uniform(rng));
            }
            noise[j] = normal(rng, 0, sd);
          }
        }
        const out = ctx.scope(() =>
          ctx
            .deserializeVector(slots![0]!)
            .add(add)
            .mul(rho)
            .add(noise)
            .add(ctx.encrypt(new Float64Array(n))),
        );
        const level = out.level;
        let bytes: Uint8Array;
        try {
          bytes = out.serialize({ compression: 'none' });
        } finally {
          out.dispose();
        }
        result = JOINT_RESULT.encode(toBatch(ctx, [bytes], n, 2 ** ctx.params.scaleBits, level));
      }
      await session.send(
        bank,
        SCORE_REPLY,
        fedscore.scoring.ScoreReply.create({
          index: req.index,
          error: errors[0]!,
          moreErrors: errors.slice(1),
          ...(result !== undefined && { result }),
        }),
      );
    }
    logger.debug('online scoring session served', { requests, notFound, refused, mode });
    return { requests, notFound, refused };
  }

  dispose(): void {
    for (const c of this.#contexts.values()) c.dispose();
    this.#contexts.clear();
  }
}

/** The band index (into `rules.bands`) from a threshold index, when bands are `bandThresholds(rules)`. */
export function bandFromThresholdIndex(
  bandCount: number,
  thresholdCount: number,
  thresholdIndex: number,
): number {
  if (thresholdIndex < thresholdCount) return thresholdIndex;
  // Below every threshold: the last band if it has no minimum, else no band.
  return bandCount > thresholdCount ? bandCount - 1 : -1;
}
