/**
 * The bank node's side of the scoring API: one applicant in, score, rating band, pre-approved line and
 * reason codes out, computed with the government node under encryption (protocol scoring.online over the
 * node's mutual-TLS gRPC transport; docs/protocols/online-scoring.md, docs/scoring-api.md).
 *
 * The model is a registry version (`scoring.api.model`, e.g. `sme-credit-line@production`, resolved on
 * every request so that a promotion takes effect at once): the bank's own part (weights on standardized
 * features and the intercept) is its registry artifact; the government's part stays at the government.
 * The bank computes its partial logit z_bank in the clear, sends [[z_bank]] and receives [[z]] with
 * z = z_bank + z_gov (exact mode) or the blinded comparisons with the band thresholds (band mode).
 *
 * Points follow the scorecard convention (Siddiqi 2006): score = offset - factor x z, factor = pdo / ln 2,
 * offset = baseScore - factor x ln(baseOdds), z the log-odds of default. Reason codes are each bank
 * feature's term -factor x w_j (x_j - mean_j) / scale_j, the base offset - factor x intercept, and in exact
 * mode the government's whole part -factor x z_gov as one opaque entry; they add up to the score.
 *
 * Sessions: `sessions` protocol sessions with the government are kept open per model (each with its own
 * CKKS key, created once), one request at a time on each; requests wait for a free one (at most
 * `maxQueued`). A session whose request fails or times out is dropped (its key with it) and replaced on
 * demand, so a government restart costs one failed request per open session.
 */
import { randomUUID } from 'node:crypto';
import {
  FedscoreError,
  isFedscoreError,
  type Logger,
  noopLogger,
  normalizeUscc,
  type PartyId,
  ProtocolSession,
} from '@fedscore/core';
import {
  bandFromThresholdIndex,
  bandThresholds,
  type CreditDecision,
  type CreditRules,
  checkTreeModel,
  decideCredit,
  decisionForBand,
  ONLINE_CKKS_PARAMS,
  ONLINE_MAX_BATCH,
  ONLINE_MAX_MAGNITUDE,
  ONLINE_SCORING_PROTOCOL,
  ONLINE_SCORING_VERSION,
  type OnlineBatchItem,
  type OnlineBatchOutcome,
  type OnlineScore,
  OnlineScoringBank,
  onlineMaxBatch,
  resolveScaling,
  type ScoreRefusal,
  TREE_MAX_HOSTS,
  TREE_SCORING_PROTOCOL,
  TREE_SCORING_VERSION,
  type TreeBatchItem,
  type TreeBatchOutcome,
  TreeScoringBank,
  treeGuestContributions,
} from '@fedscore/scoring';
import {
  type PartyModel,
  parseGuestModel,
  parseJointModel,
  parsePartyModel,
  type SecureBoostGuestModel,
} from '@fedscore/vfl';
import { AuditGroupCommit, type AuditLog, enterpriseSetFingerprint } from '../audit/index.ts';
import type { ScoringApiConfig } from '../config/config.ts';
import type { ModelRegistry, ModelVersion } from '../registry/index.ts';
import type { GrpcTransport } from '../transport/grpc.ts';
import {
  SCORING_API_ERRORS,
  type ScoreBatchResponseBody,
  type ScoreRequestBody,
  type ScoreResponseBody,
} from './api-schema.ts';
import { SCORE_SESSION_PREFIX, TREE_SESSION_PREFIX } from './government.ts';

/** The government's refusals the API answers with their own code (model_unavailable is a 503). */
const API_REFUSALS: ReadonlySet<string> = new Set<
  Exclude<ScoreRefusal, 'model_unavailable'> | 'unusable_record'
>(['policy_refused', 'quota_exceeded', 'rate_limited', 'consent_missing', 'unusable_record']);

/** A scoring call that ended without a score; `code` is the API error code. */
export class ScoringRefusal extends Error {
  readonly code:
    | Exclude<ScoreRefusal, 'model_unavailable'>
    | 'no_record'
    | 'unusable_record'
    | 'upstream_unavailable'
    | 'overloaded';
  constructor(code: ScoringRefusal['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ScoringRefusal';
    this.code = code;
  }
}

export interface ScoringClientOptions {
  readonly transport: GrpcTransport;
  /** This (bank) node's party id. */
  readonly party: PartyId;
  readonly models: ModelRegistry;
  readonly audit: AuditLog;
  readonly config: Pick<
    ScoringApiConfig,
    'government' | 'model' | 'mode' | 'scaling' | 'sessions' | 'maxQueued' | 'requestTimeoutMs'
  > &
    Partial<Pick<ScoringApiConfig, 'batch'>>;
  readonly rules?: CreditRules;
  readonly logger?: Logger;
}

interface ServedModel {
  readonly kind: 'linear';
  readonly version: ModelVersion;
  readonly own: PartyModel;
  readonly index: ReadonlyMap<string, number>;
}

/** A registered SecureBoost model: the bank's guest file (trees, leaf weights, its own splits). */
interface ServedTree {
  readonly kind: 'tree';
  readonly version: ModelVersion;
  readonly model: SecureBoostGuestModel;
  readonly index: ReadonlyMap<string, number>;
  /** Applicants per round (a ciphertext's 8,192 slots over the model's block of trees x leaves, x K in band mode). */
  readonly maxApplicants: number;
  /** The model's hosts in its order (the chain of its sessions: scoring.tree v5 with several). */
  readonly hosts: readonly PartyId[];
}

/** One applicant checked against the served model: what its round needs, and how its answer reads. */
type Prepared = (
  | { readonly kind: 'linear'; readonly item: Omit<OnlineBatchItem, 'requestId'> }
  | { readonly kind: 'tree'; readonly item: Omit<TreeBatchItem, 'requestId'> }
) & {
  readonly applicant: string;
  readonly finish: (result: OnlineScore, requestId: string) => ScoreResponseBody;
};

type ScoreBatchResult = ScoreBatchResponseBody['results'][number];

/** What a pooled session's scorer does: one round for a batch of applicants, then close and forget. */
interface RoundScorer<I> {
  scoreBatch(items: readonly I[]): Promise<OnlineBatchOutcome[]>;
  close(): Promise<void>;
  dispose(): void;
}

/**
 * One protocol session with the government: a `scoring.online` session (an `OnlineScoringBank`) or a
 * `scoring.tree` session (a `TreeScoringBank`: its key and layout are made once, each round is one
 * ciphertext each way).
 */
interface PooledSession<I, C extends RoundScorer<I>> {
  readonly id: string;
  readonly scorer: C;
  readonly protocol: ProtocolSession;
}

/** How to open one kind of session: its id prefix, protocol, scorer and hello. */
interface SessionKind<C> {
  readonly prefix: string;
  readonly protocol: string;
  readonly version: number;
  /** The log and revocation wording: 'scoring' or 'tree scoring'. */
  readonly label: string;
  /** The data owners the session spans (the government; every host of a tree model). */
  readonly hosts: readonly PartyId[];
  readonly create: () => Promise<C>;
  readonly open: (scorer: C, protocol: ProtocolSession) => Promise<void>;
}

/** Applicants waiting for their model's next round. */
interface Waiting<I> {
  readonly item: I;
  readonly resolve: (o: OnlineBatchOutcome) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * Micro-batching by model id: a round takes every applicant queued within `windowMs` of the first, up
 * to `maxApplicants` (scoring.online v3, scoring.tree).
 */
class RoundBatcher<I> {
  readonly #batches = new Map<
    string,
    { waiting: Waiting<I>[]; timer: ReturnType<typeof setTimeout> | undefined }
  >();

  /** Queue `item` under `key`; `round` sends the queued applicants as one round. */
  queue(
    key: string,
    item: I,
    o: { maxApplicants: number; windowMs: number },
    round: (waiting: readonly Waiting<I>[]) => void,
  ): Promise<OnlineBatchOutcome> {
    return new Promise<OnlineBatchOutcome>((resolve, reject) => {
      let b = this.#batches.get(key);
      if (b === undefined) {
        b = { waiting: [], timer: undefined };
        this.#batches.set(key, b);
      }
      b.waiting.push({ item, resolve, reject });
      if (b.waiting.length >= o.maxApplicants) this.#flush(key, round);
      else b.timer ??= setTimeout(() => this.#flush(key, round), o.windowMs);
    });
  }

  #flush(key: string, round: (waiting: readonly Waiting<I>[]) => void): void {
    const b = this.#batches.get(key);
    if (b === undefined) return;
    this.#batches.delete(key);
    if (b.timer !== undefined) clearTimeout(b.timer);
    round(b.waiting);
  }
}

/** Sessions with the government for one model. */
class SessionPool<S> {
  readonly #idle: S[] = [];
  readonly #waiters: ((s: S | undefined) => void)[] = [];
  #open = 0;
  #closed = false;
  readonly #create: () => Promise<S>;
  readonly #size: number;
  readonly #maxQueued: number;
  readonly #drop: (s: S) => Promise<void>;

  constructor(o: {
    create: () => Promise<S>;
    drop: (s: S) => Promise<void>;
    size: number;
    maxQueued: number;
  }) {
    this.#create = o.create;
    this.#drop = o.drop;
    this.#size = o.size;
    this.#maxQueued = o.maxQueued;
  }

  async acquire(): Promise<S> {
    if (this.#closed) throw new ScoringRefusal('upstream_unavailable', 'the node is stopping');
    const idle = this.#idle.pop();
    if (idle !== undefined) return idle;
    if (this.#open < this.#size) {
      this.#open++;
      try {
        return await this.#create();
      } catch (e) {
        this.#open--;
        this.#wakeOne();
        throw e;
      }
    }
    if (this.#waiters.length >= this.#maxQueued) {
      throw new ScoringRefusal('overloaded', `${this.#waiters.length} requests are waiting for a session`);
    }
    const s = await new Promise<S | undefined>((resolve) => this.#waiters.push(resolve));
    if (s !== undefined) return s;
    if (this.#closed) throw new ScoringRefusal('upstream_unavailable', 'the node is stopping');
    // A session was dropped: open a replacement for this waiter.
    return this.acquire();
  }

  release(s: S, healthy: boolean): void {
    if (!healthy || this.#closed) {
      this.#open--;
      void this.#drop(s);
      this.#wakeOne();
      return;
    }
    const w = this.#waiters.shift();
    if (w !== undefined) w(s);
    else this.#idle.push(s);
  }

  #wakeOne(): void {
    const w = this.#waiters.shift();
    if (w !== undefined) w(undefined);
  }

  /** Close the idle sessions (those in use close when released); resolves when their ends are sent. */
  async close(): Promise<void> {
    this.#closed = true;
    const idle = this.#idle.splice(0);
    this.#open -= idle.length;
    for (const w of this.#waiters.splice(0)) w(undefined);
    await Promise.all(idle.map((s) => this.#drop(s)));
  }
}

/** Open `n` sessions of `pool` now and put them back idle. */
async function warmPool<S>(pool: SessionPool<S>, n: number): Promise<void> {
  const held = await Promise.allSettled(Array.from({ length: n }, () => pool.acquire()));
  for (const h of held) if (h.status === 'fulfilled') pool.release(h.value, true);
  const failed = held.find((h) => h.status === 'rejected');
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
}

/** The bank's scoring service behind POST /v1/score and POST /v1/score/batch. */
export class ScoringClient {
  readonly #o: ScoringClientOptions;
  readonly #logger: Logger;
  readonly #pools = new Map<string, SessionPool<PooledSession<OnlineBatchItem, OnlineScoringBank>>>();
  readonly #treePools = new Map<string, SessionPool<PooledSession<TreeBatchItem, TreeScoringBank>>>();
  /** Tree-model applicants waiting for their model's next round, by model id. */
  readonly #treeBatches = new RoundBatcher<TreeBatchItem>();
  /** Applicants waiting for their model's next round (micro-batching), by model id. */
  readonly #batches = new RoundBatcher<OnlineBatchItem>();
  readonly #models = new Map<string, ServedModel | ServedTree>();
  readonly #commit: AuditGroupCommit;
  readonly #factor: number;
  readonly #offset: number;
  /** Band mode: the rules' thresholds in points (t_0 > t_1 > ...), and in logits sent to the protocol. */
  readonly #pointThresholds: readonly number[];
  readonly #logitThresholds: readonly number[];

  constructor(options: ScoringClientOptions) {
    this.#o = options;
    this.#logger = (options.logger ?? noopLogger).child({ component: 'scoring-api' });
    this.#commit = new AuditGroupCommit(options.audit);
    const s = resolveScaling(options.config.scaling);
    this.#factor = s.factor;
    this.#offset = s.offset;
    this.#pointThresholds = options.rules === undefined ? [] : bandThresholds(options.rules);
    // points >= t  <=>  z <= (offset - t) / factor; the protocol compares z with thresholds listed from
    // the highest down, so the logit thresholds go in reverse order (see #band).
    this.#logitThresholds = this.#pointThresholds.map((t) => (this.#offset - t) / this.#factor).reverse();
    if (options.config.mode === 'band' && options.rules === undefined) {
      throw new FedscoreError('invalid_config', 'band mode needs credit rules', {
        field: 'scoring.api.rules',
      });
    }
  }

  get government(): PartyId {
    return this.#o.config.government;
  }

  /** Score one applicant. Throws FedscoreError for bad input (400), ScoringRefusal for refusals. */
  async score(body: ScoreRequestBody, requestId: string): Promise<ScoreResponseBody> {
    const served = this.#model();
    const p = this.#prepare(served, body);
    const result = await this.#settle(served, p.applicant, requestId, () =>
      p.kind === 'tree'
        ? this.#treeBatched(served as ServedTree, { ...p.item, requestId })
        : this.#batched(served as ServedModel, { ...p.item, requestId }),
    );
    return p.finish(result, requestId);
  }

  /**
   * Score the applicants of one request (POST /v1/score/batch) with the current model, scorecard or
   * trees alike. Every applicant's input is checked first: a bad one refuses the whole batch (400, its
   * field named under `applicants[i]`) before the government is asked anything. Then the applicants go
   * in rounds of as many as one ciphertext holds, straight to the model's sessions (not through the
   * single requests' micro-batching window). Each applicant is audited on its own (request id
   * `<requestId>:<i>`) and answered on its own: its score, or the refusal for it (consent, no record,
   * quota, rate, upstream), with the HTTP status a single request would have had.
   */
  async scoreBatch(bodies: readonly ScoreRequestBody[], requestId: string): Promise<ScoreBatchResponseBody> {
    const served = this.#model();
    const prepared = bodies.map((body, i) => {
      try {
        return this.#prepare(served, body);
      } catch (e) {
        if (!isFedscoreError(e)) throw e;
        throw new FedscoreError(e.code, e.message, {
          field: `applicants[${i}]${e.field === undefined ? '' : `.${e.field}`}`,
          cause: e,
        });
      }
    });
    const ids = prepared.map((_, i) => `${requestId}:${i}`);
    let outcomes: Promise<OnlineBatchOutcome>[];
    if (served.kind === 'tree') {
      const items = prepared.map((p, i) => ({
        ...(p.item as Omit<TreeBatchItem, 'requestId'>),
        requestId: ids[i]!,
      }));
      outcomes = this.#rounds(items, Math.min(served.maxApplicants, ONLINE_MAX_BATCH), (w) =>
        this.#round(this.#treePool(served), w, 'tree-reply.errors', (s) => s.scorer.roundsLeft > 0),
      );
    } else {
      const items = prepared.map((p, i) => ({
        ...(p.item as Omit<OnlineBatchItem, 'requestId'>),
        requestId: ids[i]!,
      }));
      outcomes = this.#rounds(items, this.#linearMaxApplicants(), (w) =>
        this.#round(this.#pool(served), w, 'score-reply.error'),
      );
    }
    const results = await Promise.all(
      prepared.map((p, i) =>
        this.#settle(served, p.applicant, ids[i]!, () => outcomes[i]!).then(
          (result): ScoreBatchResult => ({ index: i, status: 200, score: p.finish(result, ids[i]!) }),
          (e: unknown): ScoreBatchResult => {
            if (!(e instanceof ScoringRefusal)) throw e;
            return {
              index: i,
              status: SCORING_API_ERRORS[e.code],
              error: { code: e.code, message: e.message, requestId: ids[i]! },
            };
          },
        ),
      ),
    );
    return { requestId, results };
  }

  /** `items` in rounds of at most `size`, each sent by `send`; one outcome per item, in order. */
  #rounds<I>(
    items: readonly I[],
    size: number,
    send: (waiting: readonly Waiting<I>[]) => void,
  ): Promise<OnlineBatchOutcome>[] {
    const waiting: Waiting<I>[] = [];
    const outcomes = items.map(
      (item) => new Promise<OnlineBatchOutcome>((resolve, reject) => waiting.push({ item, resolve, reject })),
    );
    for (let i = 0; i < waiting.length; i += size) send(waiting.slice(i, i + size));
    return outcomes;
  }

  /**
   * Checks one applicant's input against the served model (FedscoreError naming the field, before any
   * round) and computes what the round needs; `finish` turns the government's answer into the response.
   */
  #prepare(served: ServedModel | ServedTree, body: ScoreRequestBody): Prepared {
    if (served.kind === 'tree') return this.#prepareTree(served, body);
    const applicant = normalizeUscc(body.applicant);
    const { own } = served;
    // The bank's own terms on the standardized scale (what partyPartialScores computes, per feature).
    const terms = this.#terms(served, body.features);
    let zBank = own.intercept;
    for (const t of terms) zBank += t;
    if (!(Math.abs(zBank) <= ONLINE_MAX_MAGNITUDE)) {
      throw new FedscoreError(
        'out_of_range',
        "these feature values put the bank's partial score out of range",
        {
          field: 'features',
        },
      );
    }
    const figures = this.#figures(body);
    const mode = this.#o.config.mode;
    const finish = (result: OnlineScore, requestId: string): ScoreResponseBody => {
      const rules = this.#o.rules;
      const f = this.#factor;
      let score: number | null = null;
      let pd: number | null = null;
      let decision: CreditDecision | undefined;
      if (mode === 'exact') {
        const z = result.score!;
        score = this.#offset - f * z;
        pd = 1 / (1 + Math.exp(-z));
        if (rules !== undefined) decision = decideCredit(rules, score, figures);
      } else {
        decision = decisionForBand(rules!, this.#band(result.thresholdIndex!), figures);
      }
      const reasons: ScoreResponseBody['reasons'] = own.featureNames.map((name, j) => ({
        code: `bank:${name}`,
        source: 'bank' as const,
        feature: name,
        points: -f * terms[j]!,
      }));
      reasons.push({ code: 'base', source: 'base', feature: null, points: this.#offset - f * own.intercept });
      if (mode === 'exact') {
        reasons.push({
          code: 'government',
          source: 'government',
          feature: null,
          points: -f * (result.score! - zBank),
        });
      }
      return this.#response(served.version, requestId, applicant, mode, score, pd, decision, reasons);
    };
    return { kind: 'linear', applicant, item: { applicant, bankPartial: zBank }, finish };
  }

  /** The API's answer: the model, the score and PD (null in band mode), band, decision, sorted reasons. */
  #response(
    v: ModelVersion,
    requestId: string,
    applicant: string,
    mode: ScoreResponseBody['mode'],
    score: number | null,
    pd: number | null,
    decision: CreditDecision | undefined,
    reasons: ScoreResponseBody['reasons'],
  ): ScoreResponseBody {
    reasons.sort((a, b) => a.points - b.points);
    return {
      requestId,
      applicant,
      model: { ref: v.ref, name: v.name, version: v.version, modelId: v.modelId, algorithm: v.algorithm },
      mode,
      score,
      probabilityOfDefault: pd,
      band: decision === undefined ? null : { name: decision.band, index: decision.bandIndex },
      decision:
        decision === undefined
          ? null
          : {
              approved: decision.approved,
              creditLine: decision.line,
              currency: this.#o.rules!.currency,
              bindingCap: decision.bindingCap,
              rateBp: decision.rateBp,
            },
      reasons,
    };
  }

  /**
   * The government's answer to one applicant's round (`run`), audited on this node: a score, or a
   * `ScoringRefusal` thrown with the API's code (no record, consent, quota, rate, policy, upstream).
   * A tree model of several hosts: one audit entry per host, as that host answered (`data_use` where
   * it used its record, `access_refused` with its own code where it refused: the entries the hosts
   * write themselves), and the refusal's message names the host that refused.
   */
  async #settle(
    served: ServedModel | ServedTree,
    applicant: string,
    requestId: string,
    run: () => Promise<OnlineBatchOutcome>,
  ): Promise<OnlineScore> {
    const version = served.version;
    const owners = served.kind === 'tree' ? served.hosts : [this.government];
    const audit = async (
      kind: 'data_use' | 'access_refused',
      outcome: string,
      answers?: readonly string[],
      refusedBy?: PartyId,
    ): Promise<void> => {
      for (const [i, owner] of owners.entries()) {
        // Several hosts: each host's own answer ('' = it used its record, whatever the others said).
        const answer = owners.length > 1 ? answers?.[i] : undefined;
        const entry =
          answer === undefined
            ? { kind, outcome }
            : answer === ''
              ? { kind: 'data_use' as const, outcome: 'scored' }
              : { kind: 'access_refused' as const, outcome: answer };
        await this.#commit.append({
          kind: entry.kind,
          actor: this.#o.party,
          dataOwner: owner,
          purpose: 'scoring',
          job: requestId,
          enterpriseFingerprint: enterpriseSetFingerprint([applicant]),
          enterpriseCount: 1,
          details: {
            rpc: 'score',
            outcome: entry.outcome,
            requestId,
            model: version.ref,
            ...(owners.length > 1 && refusedBy !== undefined && { refusedBy }),
          },
        });
      }
    };
    const mode = this.#o.config.mode;
    let result: OnlineScore | ScoringRefusal;
    let answers: readonly string[] | undefined;
    let refusedBy: PartyId | undefined;
    try {
      const outcome = await run();
      answers = (outcome as Partial<TreeBatchOutcome>).hostAnswers;
      refusedBy = (outcome as Partial<TreeBatchOutcome>).refusedBy;
      const owner =
        owners.length > 1 && refusedBy !== undefined ? `the data owner ${refusedBy}` : 'the government';
      if (outcome.ok) {
        result = outcome.score;
      } else {
        const e = outcome.error;
        // A per-applicant refusal (consent, quota, rate) leaves the session usable.
        // model_unavailable and policy_refused answer every request of the session, whose round then
        // drops it (#flush), so a later request opens a new one (e.g. once the government has registered
        // its part or changed its policy).
        if (e.code === 'model_unavailable') {
          throw new ScoringRefusal(
            'upstream_unavailable',
            `${owner} does not serve model ${version.modelId} to this bank`,
          );
        }
        if (e.code === 'policy_refused') {
          throw new ScoringRefusal(
            'policy_refused',
            `${owner}'s policy does not serve ${this.#o.config.mode} mode with ${
              mode === 'band' ? this.#logitThresholds.length : 0
            } thresholds (allowExactMode, maxThresholds)`,
          );
        }
        if (API_REFUSALS.has(e.code)) {
          const code = e.code as keyof typeof REFUSAL_MESSAGES;
          result = new ScoringRefusal(code, REFUSAL_MESSAGES[code](owner));
        } else {
          throw e;
        }
      }
    } catch (e) {
      const code = e instanceof ScoringRefusal ? e.code : 'upstream_unavailable';
      await audit('access_refused', code, answers, refusedBy);
      if (e instanceof ScoringRefusal) throw e;
      throw new ScoringRefusal(
        'upstream_unavailable',
        `the government node did not answer (${isFedscoreError(e) ? e.code : 'error'})`,
        { cause: e },
      );
    }
    if (result instanceof ScoringRefusal || !result.found) {
      const refusal =
        result instanceof ScoringRefusal
          ? result
          : new ScoringRefusal(
              'no_record',
              REFUSAL_MESSAGES.no_record(
                owners.length > 1 && refusedBy !== undefined
                  ? `the data owner ${refusedBy}`
                  : 'the government',
              ),
            );
      await audit('access_refused', refusal.code, answers, refusedBy);
      throw refusal;
    }
    await audit('data_use', 'scored', answers);
    return result;
  }

  /** Open the sessions of the current model now (keys generated, the government's context loaded). */
  async warm(): Promise<void> {
    const served = this.#model();
    if (served.kind === 'tree') await warmPool(this.#treePool(served), this.#o.config.sessions);
    else await warmPool(this.#pool(served), this.#o.config.sessions);
  }

  /**
   * Close every session (the node calls this when it stops, before closing its transport): the
   * government is told each session's end, waited for at most a second, so that it frees them at once.
   */
  async close(): Promise<void> {
    const pools: { close(): Promise<void> }[] = [...this.#pools.values(), ...this.#treePools.values()];
    this.#pools.clear();
    this.#treePools.clear();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(pools.map((p) => p.close())),
      new Promise<void>((r) => {
        timer = setTimeout(r, 1000);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Band mode: the protocol's threshold index over the reversed logit thresholds -> the rules' band. */
  #band(reversedIndex: number): number {
    const k = this.#pointThresholds.length;
    // reversedIndex = first i with z >= tau'_i (tau' decreasing) = the number of point thresholds the
    // score does NOT reach counted from the lowest; so the score reaches thresholds k - reversedIndex ...
    return bandFromThresholdIndex(this.#o.rules!.bands.length, k, k - reversedIndex);
  }

  #terms(served: ServedModel, features: Readonly<Record<string, number | null>>): number[] {
    const { own, index } = served;
    for (const name of Object.keys(features)) {
      if (!index.has(name)) {
        throw new FedscoreError('invalid_argument', `'${name}' is not a feature of ${served.version.ref}`, {
          field: `features.${name}`,
        });
      }
    }
    const { mean, scale } = own.standardization;
    return own.featureNames.map((name, j) => {
      const x = features[name];
      if (x === undefined) {
        throw new FedscoreError('missing_value', `the model needs feature '${name}'`, {
          field: `features.${name}`,
        });
      }
      // Missing: imputed with the training mean, i.e. 0 on the standardized scale (as in training).
      if (x === null) return 0;
      if (!Number.isFinite(x)) {
        throw new FedscoreError('invalid_argument', 'not a finite number', { field: `features.${name}` });
      }
      return (own.weights[j]! * (x - mean[j]!)) / scale[j]!;
    });
  }

  #figures(body: ScoreRequestBody): Record<string, number | null> {
    const rules = this.#o.rules;
    const out: Record<string, number | null> = {};
    if (rules === undefined) {
      const extra = Object.keys(body.figures ?? {})[0];
      if (extra !== undefined) {
        throw new FedscoreError('invalid_argument', 'this node has no credit rules that read figures', {
          field: `figures.${extra}`,
        });
      }
      return out;
    }
    const wanted = new Set<string>();
    if (rules.figures.revenue !== undefined) wanted.add(rules.figures.revenue);
    if (rules.figures.taxPaid !== undefined) wanted.add(rules.figures.taxPaid);
    if (rules.leverage !== undefined) {
      wanted.add(rules.leverage.base);
      wanted.add(rules.leverage.debt);
    }
    for (const [name, v] of Object.entries(body.figures ?? {})) {
      if (!wanted.has(name)) {
        throw new FedscoreError('invalid_argument', `the credit rules read no figure '${name}'`, {
          field: `figures.${name}`,
        });
      }
      out[name] = v;
    }
    for (const name of wanted) {
      if (out[name] === undefined && body.features[name] !== undefined)
        out[name] = body.features[name] ?? null;
    }
    return out;
  }

  #model(): ServedModel | ServedTree {
    const { models, config, party } = this.#o;
    let version: ModelVersion;
    try {
      version = models.get(config.model);
    } catch (e) {
      throw new ScoringRefusal('upstream_unavailable', `model ${config.model} cannot be served here`, {
        cause: e,
      });
    }
    const have = this.#models.get(version.ref);
    if (have !== undefined && have.version.status === version.status) return have;
    if (version.status === 'retired') {
      throw new ScoringRefusal('upstream_unavailable', `model ${version.ref} is retired`);
    }
    const { artifact, descriptor } = models.artifacts(version.ref);
    if (artifact === undefined || descriptor === undefined) {
      throw new ScoringRefusal('upstream_unavailable', `model ${version.ref} holds no part of this node`);
    }
    if (version.algorithm === 'secureboost') return this.#treeModel(version, artifact, descriptor);
    const own = parsePartyModel(artifact);
    const joint = parseJointModel(descriptor);
    if (own.party !== party || own.role !== 'guest') {
      throw new ScoringRefusal(
        'upstream_unavailable',
        `model ${version.ref} does not hold this bank's guest part`,
      );
    }
    if (!joint.parties.some((p) => p.id === config.government && p.role === 'host')) {
      throw new ScoringRefusal(
        'upstream_unavailable',
        `model ${version.ref} was not trained with ${config.government}`,
      );
    }
    const served: ServedModel = {
      kind: 'linear',
      version,
      own,
      index: new Map(own.featureNames.map((n, j) => [n, j])),
    };
    this.#models.set(version.ref, served);
    return served;
  }

  /**
   * A registered SecureBoost model (algorithm `secureboost`): the bank's guest file as its artifact, the
   * joint facts (guest, hosts) as its descriptor. Served when this bank is its guest and the configured
   * government one of its 1 ... `TREE_MAX_HOSTS` hosts, the descriptor's hosts being the model file's in
   * its order (the chain of a session of several hosts, scoring.tree v5; each host a configured peer).
   */
  #treeModel(version: ModelVersion, artifact: string, descriptor: string): ServedTree {
    const { config, party } = this.#o;
    let model: SecureBoostGuestModel;
    let joint: { guest?: unknown; hosts?: unknown };
    try {
      model = parseGuestModel(artifact);
      joint = JSON.parse(descriptor) as { guest?: unknown; hosts?: unknown };
    } catch (e) {
      throw new ScoringRefusal('upstream_unavailable', `model ${version.ref} cannot be read`, { cause: e });
    }
    if (joint.guest !== party) {
      throw new ScoringRefusal(
        'upstream_unavailable',
        `model ${version.ref} does not hold this bank's guest part`,
      );
    }
    const hosts: readonly unknown[] = Array.isArray(joint.hosts) ? joint.hosts : [];
    if (
      hosts.length < 1 ||
      hosts.length > TREE_MAX_HOSTS ||
      hosts.length !== model.hosts.length ||
      hosts.some((h, j) => h !== model.hosts[j]) ||
      !hosts.includes(config.government)
    ) {
      throw new ScoringRefusal(
        'upstream_unavailable',
        `model ${version.ref} was not trained with ${config.government} as one of its 1 ... ${TREE_MAX_HOSTS} hosts`,
      );
    }
    try {
      checkTreeModel(model);
    } catch (e) {
      throw new ScoringRefusal('upstream_unavailable', `model ${version.ref} cannot be scored privately`, {
        cause: e,
      });
    }
    // The block of one applicant: trees x (largest leaf count), to the next power of two (tree.ts).
    const leaves = Math.max(...model.trees.map((t) => t.filter((n) => n.kind === 'leaf').length));
    let block = 1;
    while (block < model.trees.length * leaves) block *= 2;
    // Band mode: one block per threshold and applicant.
    const K = this.#o.config.mode === 'band' ? this.#logitThresholds.length : 1;
    const served: ServedTree = {
      kind: 'tree',
      version,
      model,
      index: new Map(model.features.map((n, j) => [n, j])),
      maxApplicants: Math.max(1, Math.floor(TREE_SLOTS / (block * K))),
      hosts: [...model.hosts],
    };
    this.#models.set(version.ref, served);
    return served;
  }

  /**
   * One applicant of a tree model (protocol `scoring.tree`, session mode): never the government's split
   * outcomes. Exact mode: the bank learns the log-odds (flooded), as in the linear exact mode (the
   * government's policy must allow it); band mode: the band only (blinded comparisons with the rules'
   * thresholds, as the linear band mode). Reasons: each of the bank's features by its own splits
   * (`treeGuestContributions`: the government's sides weighted 1/2), the base (the model's base score
   * and the trees' reference value), and in exact mode the government's splits as one entry (the score
   * minus what the bank's splits alone give: computed from the score, no more).
   */
  #prepareTree(served: ServedTree, body: ScoreRequestBody): Prepared {
    const applicant = normalizeUscc(body.applicant);
    const values = this.#treeValues(served, body.features);
    const figures = this.#figures(body);
    const mode = this.#o.config.mode;
    const finish = (result: OnlineScore, requestId: string): ScoreResponseBody => {
      const f = this.#factor;
      const { model } = served;
      const own = treeGuestContributions(model, values);
      const bankReasons = (): ScoreResponseBody['reasons'] => [
        ...model.features.map((name, j) => ({
          code: `bank:${name}`,
          source: 'bank' as const,
          feature: name,
          points: -f * own.features[j]!,
        })),
        {
          code: 'base',
          source: 'base',
          feature: null,
          points: this.#offset - f * (model.baseScore + own.reference),
        },
      ];
      if (mode === 'band') {
        const decision = decisionForBand(this.#o.rules!, this.#band(result.thresholdIndex!), figures);
        return this.#response(
          served.version,
          requestId,
          applicant,
          'band',
          null,
          null,
          decision,
          bankReasons(),
        );
      }
      const z = result.score!;
      const score = this.#offset - f * z;
      const rules = this.#o.rules;
      const decision = rules === undefined ? undefined : decideCredit(rules, score, figures);
      const reasons = bankReasons();
      reasons.push({
        code: 'government',
        source: 'government',
        feature: null,
        points: -f * (z - model.baseScore - own.known),
      });
      const pd = z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
      return this.#response(served.version, requestId, applicant, 'exact', score, pd, decision, reasons);
    };
    return { kind: 'tree', applicant, item: { applicant, features: values }, finish };
  }

  /** The request's features in the tree model's order: every one present, no other; null -> missing (NaN). */
  #treeValues(served: ServedTree, features: Readonly<Record<string, number | null>>): Float64Array {
    for (const name of Object.keys(features)) {
      if (!served.index.has(name)) {
        throw new FedscoreError('invalid_argument', `'${name}' is not a feature of ${served.version.ref}`, {
          field: `features.${name}`,
        });
      }
    }
    const { model } = served;
    const out = Float64Array.from(model.features, (name) => {
      const x = features[name];
      if (x === undefined) {
        throw new FedscoreError('missing_value', `the model needs feature '${name}'`, {
          field: `features.${name}`,
        });
      }
      if (x === null) return Number.NaN;
      if (!Number.isFinite(x)) {
        throw new FedscoreError('invalid_argument', 'not a finite number', { field: `features.${name}` });
      }
      return x;
    });
    // A missing value where the model's bins have no missing bin: named here, before the round.
    model.features.forEach((name, j) => {
      if (Number.isNaN(out[j]!) && model.bins[j]?.missing !== true) {
        throw new FedscoreError('missing_value', `the model has no bin for a missing '${name}'`, {
          field: `features.${name}`,
        });
      }
    });
    return out;
  }

  #treePool(served: ServedTree): SessionPool<PooledSession<TreeBatchItem, TreeScoringBank>> {
    return this.#poolFor(this.#treePools, served.version, {
      prefix: TREE_SESSION_PREFIX,
      protocol: TREE_SCORING_PROTOCOL,
      version: TREE_SCORING_VERSION,
      label: 'tree scoring',
      hosts: served.hosts,
      create: () =>
        TreeScoringBank.create({
          model: served.model,
          ...(this.#o.config.mode === 'band' && { thresholds: this.#logitThresholds }),
          logger: this.#logger,
        }),
      open: (scorer, protocol) => scorer.open(protocol, served.hosts),
    });
  }

  /** As `#batched`, for a tree model: applicants queued within the window share one round. */
  #treeBatched(served: ServedTree, item: TreeBatchItem): Promise<OnlineBatchOutcome> {
    const { windowMs, maxApplicants: m } = this.#o.config.batch ?? { maxApplicants: 1, windowMs: 0 };
    const maxApplicants = Math.min(m, served.maxApplicants, ONLINE_MAX_BATCH);
    return this.#treeBatches.queue(served.version.modelId, item, { maxApplicants, windowMs }, (waiting) =>
      this.#round(
        this.#treePool(served),
        waiting,
        'tree-reply.errors',
        // A session that used its rounds is closed; the next request opens one with a fresh key.
        (s) => s.scorer.roundsLeft > 0,
      ),
    );
  }

  #pool(served: ServedModel): SessionPool<PooledSession<OnlineBatchItem, OnlineScoringBank>> {
    const { config } = this.#o;
    return this.#poolFor(this.#pools, served.version, {
      prefix: SCORE_SESSION_PREFIX,
      protocol: ONLINE_SCORING_PROTOCOL,
      version: ONLINE_SCORING_VERSION,
      label: 'scoring',
      hosts: [config.government],
      create: () =>
        OnlineScoringBank.create({
          mode: config.mode,
          ...(config.mode === 'band' && { thresholds: this.#logitThresholds }),
          logger: this.#logger,
        }),
      open: (scorer, protocol) => scorer.open(protocol, config.government, served.version.modelId),
    });
  }

  /** The session pool of `version` in `pools`, made on first use. */
  #poolFor<I, C extends RoundScorer<I>>(
    pools: Map<string, SessionPool<PooledSession<I, C>>>,
    version: ModelVersion,
    kind: SessionKind<C>,
  ): SessionPool<PooledSession<I, C>> {
    const key = version.modelId;
    let pool = pools.get(key);
    if (pool === undefined) {
      pool = new SessionPool<PooledSession<I, C>>({
        size: this.#o.config.sessions,
        maxQueued: this.#o.config.maxQueued,
        create: () => this.#openSession(version, kind),
        drop: (s) => this.#dropSession(s, kind),
      });
      pools.set(key, pool);
    }
    return pool;
  }

  async #openSession<I, C extends RoundScorer<I>>(
    version: ModelVersion,
    kind: SessionKind<C>,
  ): Promise<PooledSession<I, C>> {
    const { transport, party } = this.#o;
    const id = `${kind.prefix}/${party}/${randomUUID()}`;
    const scorer = await kind.create();
    transport.grant({
      key: id,
      parties: [party, ...kind.hosts],
      protocols: { [kind.protocol]: kind.version },
    });
    const protocol = new ProtocolSession(transport.channel(), {
      protocol: kind.protocol,
      version: kind.version,
      session: id,
    });
    const s = { id, scorer, protocol };
    try {
      await kind.open(scorer, protocol);
    } catch (e) {
      await this.#dropSession(s, kind);
      throw e;
    }
    this.#logger.debug(`${kind.label} session opened`, { model: version.ref });
    return s;
  }

  /** Best effort: tell the government the session is over, then forget its key. */
  async #dropSession<I, C extends RoundScorer<I>>(
    s: PooledSession<I, C>,
    kind: Pick<SessionKind<C>, 'label'>,
  ): Promise<void> {
    try {
      await s.scorer.close();
    } catch {
      // The government is gone or the session broken: it ends the session on its side by itself.
    } finally {
      this.#o.transport.revoke(s.id, new Error(`${kind.label} session closed`));
      s.scorer.dispose();
    }
  }

  /**
   * Queue one applicant for the next round of its model's sessions: a round takes every applicant
   * queued within `batch.windowMs` of the first, up to `batch.maxApplicants` (scoring.online v3).
   */
  #batched(served: ServedModel, item: OnlineBatchItem): Promise<OnlineBatchOutcome> {
    const { windowMs, ...b0 } = this.#o.config.batch ?? { maxApplicants: 1, windowMs: 0 };
    const maxApplicants = Math.min(b0.maxApplicants, this.#linearMaxApplicants());
    return this.#batches.queue(served.version.modelId, item, { maxApplicants, windowMs }, (waiting) =>
      this.#round(this.#pool(served), waiting, 'score-reply.error'),
    );
  }

  /** Applicants one scoring.online round can hold: one ciphertext's slots (K per applicant in band mode). */
  #linearMaxApplicants(): number {
    const K = this.#o.config.mode === 'band' ? this.#logitThresholds.length : 1;
    return onlineMaxBatch(ONLINE_CKKS_PARAMS.polyModulusDegree / 2, K);
  }

  /** Send the queued applicants as one round on a session of `pool`; each gets its own outcome. */
  #round<I, C extends RoundScorer<I>>(
    pool: SessionPool<PooledSession<I, C>>,
    waiting: readonly Waiting<I>[],
    /** The reply field named when the government refuses the whole session. */
    field: string,
    reusable?: (s: PooledSession<I, C>) => boolean,
  ): void {
    this.#withSession(
      pool,
      async (s) => {
        const outcomes = await s.scorer.scoreBatch(waiting.map((w) => w.item));
        for (const [i, o] of outcomes.entries()) waiting[i]!.resolve(o);
        // Refusals that answer every request of the session: drop it (its waiters have their answers).
        if (
          outcomes.some(
            (o) =>
              !o.ok &&
              (isFedscoreError(o.error, 'model_unavailable') || isFedscoreError(o.error, 'policy_refused')),
          )
        ) {
          throw new FedscoreError('protocol_step', 'the government refuses every request of this session', {
            field,
          });
        }
      },
      reusable,
    ).catch((e: unknown) => {
      // Settled waiters ignore this; the others' round failed as a whole (timeout, broken session).
      for (const w of waiting) w.reject(e);
    });
  }

  async #withSession<S extends { readonly id: string }, T>(
    pool: SessionPool<S>,
    fn: (s: S) => Promise<T>,
    /** False when the session must not serve again (a tree session that used its rounds). */
    reusable: (s: S) => boolean = () => true,
  ): Promise<T> {
    const s = await pool.acquire();
    let healthy = false;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.#o.transport.revoke(s.id, new FedscoreError('timeout', 'the government did not answer in time'));
    }, this.#o.config.requestTimeoutMs);
    try {
      const out = await fn(s);
      healthy = !timedOut && reusable(s);
      return out;
    } catch (e) {
      this.#logger.warn('scoring request failed', { code: isFedscoreError(e) ? e.code : 'error', timedOut });
      throw e;
    } finally {
      clearTimeout(timer);
      pool.release(s, healthy);
    }
  }
}

/** Slots of one `scoring.tree` ciphertext (`ckks-16384-release`: N / 2). */
const TREE_SLOTS = 8192;

/** The API's message of each refusal, naming the data owner that refused ('the government' with one). */
const REFUSAL_MESSAGES: Record<
  Exclude<ScoreRefusal, 'policy_refused' | 'model_unavailable'> | 'no_record' | 'unusable_record',
  (owner: string) => string
> = {
  no_record: (o) => `${o} holds no record of this applicant`,
  unusable_record: (o) => `${o} holds a record of this applicant that the model's bins cannot place`,
  consent_missing: (o) => `the enterprise has not authorized this bank's scoring use at ${o}`,
  quota_exceeded: (o) => `the bank's scoring quota for this enterprise at ${o} is used up`,
  rate_limited: (o) => `${o} refused: too many scoring requests for this enterprise; retry later`,
};
