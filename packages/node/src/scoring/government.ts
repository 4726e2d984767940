/**
 * The government node's side of online scoring between nodes (config `scoring.serve: true`): a standing
 * grant per peer for the sessions `score/<bank>/<nonce>` of protocol scoring.online (@fedscore/scoring,
 * docs/protocols/online-scoring.md). A bank keeps a few sessions open (keys stay warm) and sends one
 * request at a time on each.
 *
 * Per session: the bank's hello names the joint model (`modelId`); this node serves it only when its own
 * registry holds its part of that model, not retired, trained with that bank as guest. Its partial
 * scores come from its current data (the model's job's dataset, or `scoring.data`), recomputed every
 * `refreshSeconds`.
 *
 * The node's online scoring policy (config `scoring`: `allowExactMode`, `maxThresholds`, `quota`, `rate`;
 * scoring-policy/) applies as to every online scoring session of this node (`governmentOnlineScoring`):
 *   0. per session: exact mode is refused unless allowed, band mode above `maxThresholds` thresholds is
 *      refused (`policy_refused`, every request of the session);
 * then per request, in this order (the first that applies is the answer):
 *   1. admission (per (bank, enterprise) rate and quota, `ScoringQuota`, counters in the node's store,
 *      shared with monitoring's rescoring), else `rate_limited` / `quota_exceeded` -- asked before the
 *      enterprise is looked up, so the refusal says nothing about this node's data; audited as a
 *      `security_event` by scoring-policy/ (with the bank's request id);
 *   2. the model: this node must serve the hello's model to this bank, else `model_unavailable`;
 *   3. consent: the enterprise must hold a `scoring` consent for the bank valid now, else
 *      `consent_missing`;
 *   4. a record of the enterprise with a finite partial score, else `no_record`.
 * From step 2 on, an answered request is a `data_use` audit entry (actor the bank, owner this node,
 * purpose scoring, job = the bank's request id, the one-enterprise fingerprint and consent id); a refused
 * one an `access_refused` entry with the same keys and the refusal code. Neither holds a score or a feature.
 * A bank can only open sessions under its own name (the transport checks the caller's certificate), at
 * most `maxSessionsPerPeer` at a time; a failed session is a `security_event` audit entry.
 */
import {
  FedscoreError,
  isFedscoreError,
  isValidUscc,
  type Logger,
  noopLogger,
  normalizeUscc,
  type PartyId,
  ProtocolSession,
  type Table,
} from '@fedscore/core';
import {
  hostRecordUsable,
  ONLINE_SCORING_PROTOCOL,
  ONLINE_SCORING_VERSION,
  type OnlineHelloInfo,
  type OnlineLookupRefusal,
  type ScoreRefusal,
  TREE_SCORING_PROTOCOL,
  TREE_SCORING_VERSION,
  type TreeLookupAnswer,
  type TreeLookupRequest,
  TreeScoringGovernment,
} from '@fedscore/scoring';
import {
  parseHostModel,
  parseJointModel,
  parsePartyModel,
  partyPartialScores,
  type SecureBoostHostModel,
} from '@fedscore/vfl';
import { AuditGroupCommit, type AuditLog, enterpriseSetFingerprint } from '../audit/index.ts';
import type { ConsentRegistry } from '../consent/index.ts';
import type { JobStore } from '../jobs/job-store.ts';
import { partyFeatures } from '../jobs/stages.ts';
import type { ModelRegistry, ModelVersion } from '../registry/index.ts';
import {
  governmentOnlineScoring,
  type ScoringPolicyConfig,
  type ScoringQuota,
} from '../scoring-policy/index.ts';
import type { GrpcTransport } from '../transport/grpc.ts';
import { StandingSessions, type StandingSessionsOptions } from '../transport/standing-sessions.ts';

/** First segment of every scoring session id. */
export const SCORE_SESSION_PREFIX = 'score';
/** First segment of every tree-model scoring session id (protocol scoring.tree, session mode). */
export const TREE_SESSION_PREFIX = 'score-tree';
const NONCE = /^[a-z0-9-]{8,64}$/;

export interface ScoringEndpointOptions {
  readonly transport: GrpcTransport;
  /** This (government) node's party id. */
  readonly party: PartyId;
  /** The peers allowed to open scoring sessions (consent decides whom they may score). */
  readonly peers: readonly PartyId[];
  readonly consents: ConsentRegistry;
  readonly audit: AuditLog;
  readonly models: ModelRegistry;
  readonly jobs: JobStore;
  /** This party's dataset by config name. */
  readonly data: (name: string) => Promise<Table>;
  /** The dataset to score from when the model's job is not on this node (config `scoring.data`). */
  readonly dataName?: string;
  /** Concurrent sessions per bank. Default 64. */
  readonly maxSessionsPerPeer?: number;
  /**
   * Concurrent tree-model sessions per bank (each holds the bank's ~38 MB public context with its
   * Galois keys in memory). Default 4, and never above `maxSessionsPerPeer`.
   */
  readonly maxTreeSessionsPerPeer?: number;
  /** Partial scores are recomputed from the data this often (s). Default 300. */
  readonly refreshSeconds?: number;
  /** Modes and threshold cap served (the config's `scoring`). */
  readonly policy: ScoringPolicyConfig;
  /** Quotas and rate limits per (bank, enterprise) (`new ScoringQuota(store, config.scoring)`). */
  readonly quota: ScoringQuota;
  readonly now?: () => number;
  readonly logger?: Logger;
}

interface Partials {
  readonly at: number;
  readonly scores: Promise<Map<string, number>>;
}

/** A tree model this node serves: its host file and each enterprise's values of its features. */
interface TreeRecords {
  readonly at: number;
  readonly model: SecureBoostHostModel;
  /** The model's hosts in its order (the registered descriptor's). */
  readonly hosts: readonly string[];
  readonly rows: Promise<Map<string, Float64Array>>;
}

/** The government's online scoring service on its transport. */
export class ScoringEndpoint {
  readonly #o: ScoringEndpointOptions;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #sessions: StandingSessions<string>;
  readonly #partials = new Map<string, Partials>();
  readonly #treeSessions: StandingSessions<string>;
  readonly #trees = new Map<string, TreeRecords>();
  readonly #commit: AuditGroupCommit;
  #served = 0;
  readonly #refused = new Map<ScoreRefusal | 'no_record' | 'unusable_record', number>();

  constructor(options: ScoringEndpointOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#logger = (options.logger ?? noopLogger).child({ component: 'scoring' });
    this.#commit = new AuditGroupCommit(options.audit);
    this.#sessions = this.#standing({
      prefix: SCORE_SESSION_PREFIX,
      protocols: { [ONLINE_SCORING_PROTOCOL]: ONLINE_SCORING_VERSION },
      name: 'scoring',
      maxSessionsPerPeer: options.maxSessionsPerPeer ?? 64,
      serve: (session, bank) => this.#serve(session, bank),
    });
    this.#treeSessions = this.#standing({
      prefix: TREE_SESSION_PREFIX,
      protocols: { [TREE_SCORING_PROTOCOL]: TREE_SCORING_VERSION },
      name: 'tree scoring',
      maxSessionsPerPeer: Math.min(options.maxTreeSessionsPerPeer ?? 4, options.maxSessionsPerPeer ?? 64),
      // A model of several hosts: the host before this one in the chain sends its product into the
      // bank's session (scoring.tree v5); the role reads only from the one the layout names.
      relays: options.peers,
      serve: (session, bank) => this.#serveTree(session, bank),
    });
  }

  /** Standing sessions of one scoring protocol with the banks: nonce ids, failures logged and audited. */
  #standing(
    o: Pick<
      StandingSessionsOptions<string>,
      'prefix' | 'protocols' | 'name' | 'maxSessionsPerPeer' | 'serve' | 'relays'
    >,
  ): StandingSessions<string> {
    return new StandingSessions({
      ...o,
      transport: this.#o.transport,
      party: this.#o.party,
      peers: this.#o.peers,
      parse: (nonce) => (NONCE.test(nonce) ? nonce : undefined),
      onFailure: (session, bank, e) => {
        const code = isFedscoreError(e) ? e.code : 'internal';
        const field = isFedscoreError(e) ? e.field : undefined;
        // A bank that goes away (or a node that stops) ends its sessions this way: not an attack.
        if (code === 'channel_closed') return;
        this.#logger.warn('scoring session failed', { peer: bank, code, field });
        this.#o.audit.append({
          kind: 'security_event',
          actor: bank,
          details: { rpc: 'score', code, session, ...(field !== undefined && { field }) },
        });
      },
    });
  }

  /** Sessions being served now. */
  get activeSessions(): number {
    return this.#sessions.activeSessions + this.#treeSessions.activeSessions;
  }

  /** Requests answered and refused (by code) since start, for /metrics. */
  counts(): { served: number; refused: Readonly<Record<string, number>> } {
    return { served: this.#served, refused: Object.fromEntries(this.#refused) };
  }

  /** Wait for the sessions in progress (the node calls this when it stops, after closing its transport). */
  async drain(): Promise<void> {
    await Promise.all([this.#sessions.drain(), this.#treeSessions.drain()]);
  }

  async #serve(session: string, bank: PartyId): Promise<void> {
    let scores: Map<string, number> | undefined;
    let modelId = '';
    // A model this node does not serve to this bank: every request of the session is refused with
    // model_unavailable (the bank learns at once instead of waiting for its deadline).
    let unavailable = false;
    const gov = governmentOnlineScoring({
      policy: this.#o.policy,
      quota: this.#o.quota,
      audit: this.#o.audit,
      party: this.#o.party,
      grantee: bank,
      session,
      logger: this.#logger,
      onRefused: (code) => this.#refused.set(code, (this.#refused.get(code) ?? 0) + 1),
      onHello: async (hello) => {
        modelId = hello.modelId;
        try {
          scores = await this.#partialsFor(hello, bank);
        } catch (e) {
          unavailable = true;
          const code = isFedscoreError(e) ? e.code : 'internal';
          this.#logger.warn('scoring model not served', { peer: bank, code });
          this.#o.audit.append({
            kind: 'security_event',
            actor: bank,
            details: { rpc: 'score.hello', code, session, modelId: hello.modelId },
          });
        }
      },
      partialScoreOf: (applicant, request) =>
        unavailable
          ? this.#refuseUnserved(bank, modelId, applicant, request.requestId)
          : this.#answer(bank, modelId, scores!, applicant, request.requestId),
    });
    try {
      await this.#run(gov, session, bank, ONLINE_SCORING_PROTOCOL, ONLINE_SCORING_VERSION, 'scoring');
    } finally {
      gov.dispose();
    }
  }

  /** Serve `session` of `protocol` with `gov` until it ends; `label` names it in the log. */
  async #run(
    gov: { serve(s: ProtocolSession, bank: PartyId): Promise<{ readonly requests: number }> },
    session: string,
    bank: PartyId,
    protocol: string,
    version: number,
    label: string,
  ): Promise<void> {
    const s = new ProtocolSession(this.#o.transport.channel(), { protocol, version, session });
    const r = await gov.serve(s, bank);
    this.#logger.debug(`${label} session served`, { peer: bank, requests: r.requests });
  }

  async #refuseUnserved(
    bank: PartyId,
    modelId: string,
    applicant: string,
    requestId: string,
  ): Promise<OnlineLookupRefusal> {
    this.#refused.set('model_unavailable', (this.#refused.get('model_unavailable') ?? 0) + 1);
    const enterprise = normalizeUscc(applicant);
    await this.#commit.append({
      kind: 'access_refused',
      actor: bank,
      dataOwner: this.#o.party,
      purpose: 'scoring',
      ...(requestId !== '' && { job: requestId }),
      ...(isValidUscc(enterprise) && {
        enterpriseFingerprint: enterpriseSetFingerprint([enterprise]),
        enterpriseCount: 1,
      }),
      details: {
        rpc: 'score',
        outcome: 'model_unavailable',
        modelId,
        ...(requestId !== '' && { requestId }),
      },
    });
    return 'model_unavailable';
  }

  /**
   * One request's answer; its audit entry is committed (group commit) before the answer is sent. With
   * `usable` (tree models: `hostRecordUsable`), a record it refuses is answered `unusable_record` and
   * audited as an `access_refused` entry with that outcome (never a `data_use`).
   */
  async #answer<T extends number | Float64Array>(
    bank: PartyId,
    modelId: string,
    scores: Map<string, T>,
    applicant: string,
    requestId: string,
  ): Promise<T | OnlineLookupRefusal | undefined>;
  async #answer<T extends number | Float64Array>(
    bank: PartyId,
    modelId: string,
    scores: Map<string, T>,
    applicant: string,
    requestId: string,
    usable: (value: T) => boolean,
  ): Promise<T | OnlineLookupRefusal | 'unusable_record' | undefined>;
  async #answer<T extends number | Float64Array>(
    bank: PartyId,
    modelId: string,
    scores: Map<string, T>,
    applicant: string,
    requestId: string,
    usable?: (value: T) => boolean,
  ): Promise<T | OnlineLookupRefusal | 'unusable_record' | undefined> {
    const { consents, party } = this.#o;
    const at = this.#now();
    const enterprise = normalizeUscc(applicant);
    const common = {
      actor: bank,
      dataOwner: party,
      purpose: 'scoring',
      ...(requestId !== '' && { job: requestId }),
      enterpriseFingerprint: enterpriseSetFingerprint([enterprise]),
      enterpriseCount: 1,
    } as const;
    const refuse = async (
      refusal: 'consent_missing' | 'no_record' | 'unusable_record',
      consentRef?: string,
    ): Promise<void> => {
      this.#refused.set(refusal, (this.#refused.get(refusal) ?? 0) + 1);
      await this.#commit.append({
        kind: 'access_refused',
        ...common,
        ...(consentRef !== undefined && { consentRef }),
        details: { rpc: 'score', outcome: refusal, modelId, ...(requestId !== '' && { requestId }) },
      });
    };
    if (!isValidUscc(enterprise)) {
      await refuse('no_record');
      return undefined;
    }
    const consentRef = consents.consentFor(enterprise, {
      grantee: bank,
      purpose: 'scoring',
      categories: ['*'],
      at,
    }).consentId;
    if (consentRef === undefined) {
      await refuse('consent_missing');
      return 'consent_missing';
    }
    const value = scores.get(enterprise);
    if (value === undefined || (typeof value === 'number' && !Number.isFinite(value))) {
      await refuse('no_record', consentRef);
      return undefined;
    }
    if (usable !== undefined && !usable(value)) {
      await refuse('unusable_record', consentRef);
      return 'unusable_record';
    }
    this.#served++;
    await this.#commit.append({
      kind: 'data_use',
      ...common,
      consentRef,
      details: { rpc: 'score', outcome: 'scored', modelId, ...(requestId !== '' && { requestId }) },
    });
    return value;
  }

  /**
   * One `scoring.tree` session (a SecureBoost model; @fedscore/scoring tree-session.ts): in exact mode
   * the bank learns each score, so it is served only where the policy allows exact mode; in band mode
   * (K blinded comparisons per applicant) only up to `maxThresholds` thresholds, as for a scorecard
   * (`policy_refused` otherwise, every request); the model must be this node's host part of a model
   * trained with this bank as guest (`model_unavailable` otherwise). Per applicant: admission (rate,
   * quota), consent and record exactly as for a scorecard (#answer), audited the same way.
   */
  async #serveTree(session: string, bank: PartyId): Promise<void> {
    let modelId = '';
    let records: Map<string, Float64Array> | undefined;
    const gov = new TreeScoringGovernment({
      logger: this.#logger,
      modelFor: async (id, mode, chain) => {
        modelId = id;
        const refuse = (code: 'policy_refused' | 'model_unavailable', field?: string): ScoreRefusal => {
          this.#logger.warn('tree scoring session refused', { peer: bank, code });
          this.#o.audit.append({
            kind: 'security_event',
            actor: bank,
            details: { rpc: 'score.tree', code, session, modelId: id, ...(field !== undefined && { field }) },
          });
          return code;
        };
        const policy = this.#o.policy;
        if (mode.mode === 'exact' ? !policy.allowExactMode : mode.thresholds > policy.maxThresholds) {
          return refuse('policy_refused');
        }
        let t: TreeRecords;
        try {
          t = this.#treeRecordsFor(id, bank);
          records = await t.rows;
        } catch (e) {
          return refuse('model_unavailable', isFedscoreError(e) ? e.field : undefined);
        }
        // A model of several hosts: this node passes its product only to the model's next host and
        // takes it only from the model's previous one, as registered (the session fails otherwise).
        const at = t.hosts.indexOf(this.#o.party);
        const want = {
          hosts: t.hosts.length,
          previous: at > 0 ? t.hosts[at - 1]! : '',
          next: at < t.hosts.length - 1 ? t.hosts[at + 1]! : '',
        };
        const field =
          chain.hosts !== want.hosts
            ? 'tree-layout.hosts'
            : chain.previous !== want.previous
              ? 'tree-layout.previous'
              : chain.next !== want.next
                ? 'tree-layout.next'
                : undefined;
        if (field !== undefined) {
          throw new FedscoreError('protocol_step', "the layout's chain is not the model's hosts", { field });
        }
        return t.model;
      },
      lookup: (requests, model) =>
        Promise.all(requests.map((r) => this.#treeLookup(bank, modelId, model, records!, r))),
    });
    await this.#run(gov, session, bank, TREE_SCORING_PROTOCOL, TREE_SCORING_VERSION, 'tree scoring');
  }

  /**
   * One applicant of a tree round: admission first (before any lookup), then #answer, which answers a
   * record the model's bins cannot place `unusable_record` (audited with that outcome).
   */
  async #treeLookup(
    bank: PartyId,
    modelId: string,
    model: SecureBoostHostModel,
    records: Map<string, Float64Array>,
    r: TreeLookupRequest,
  ): Promise<TreeLookupAnswer> {
    const enterprise = normalizeUscc(r.applicant);
    const { refusal, committed } = this.#o.quota.admitQueued(bank, enterprise);
    if (refusal !== undefined) {
      this.#refused.set(refusal, (this.#refused.get(refusal) ?? 0) + 1);
      this.#o.audit.append({
        kind: 'security_event',
        actor: bank,
        dataOwner: this.#o.party,
        ...(isValidUscc(enterprise) && {
          enterpriseFingerprint: enterpriseSetFingerprint([enterprise]),
          enterpriseCount: 1,
        }),
        details: {
          rpc: 'scoring.tree',
          code: refusal,
          ...(r.requestId !== '' && { requestId: r.requestId }),
        },
      });
      return refusal;
    }
    try {
      return await this.#answer(bank, modelId, records, r.applicant, r.requestId, (v) =>
        hostRecordUsable(model, v),
      );
    } finally {
      await committed;
    }
  }

  /**
   * The host part of tree model `modelId` for `bank` and each enterprise's values of its features
   * (from the model's job's dataset or `scoring.data`, as core's `featureColumns` builds them in training;
   * a one-hot level the data lacks is 0), cached for refreshSeconds.
   */
  #treeRecordsFor(modelId: string, bank: PartyId): TreeRecords {
    const { party } = this.#o;
    const { version, artifact, descriptor } = this.#servedPart(
      modelId,
      'tree model',
      'tree-layout.model_id',
      (m) => m.algorithm === 'secureboost',
    );
    const joint = JSON.parse(descriptor) as { guest?: unknown; hosts?: unknown };
    if (joint.guest !== bank || !Array.isArray(joint.hosts) || !joint.hosts.includes(party)) {
      throw new FedscoreError('not_found', `no tree model '${modelId}' shared with ${bank}`, {
        field: 'tree-layout.model_id',
      });
    }
    const key = `${modelId}\u0000${version.ref}`;
    const have = this.#trees.get(key);
    const now = this.#now();
    if (this.#fresh(have, now)) return have;
    const model = parseHostModel(artifact);
    // A one-hot level the data lacks is 0.
    const rows = this.#featureColumns(version, model.features, true).then(({ ids, columns }) => {
      const out = new Map<string, Float64Array>();
      ids.forEach((id, i) => {
        out.set(
          normalizeUscc(id),
          Float64Array.from(columns, (c) => c[i]!),
        );
      });
      return out;
    });
    rows.catch(() => this.#trees.delete(key));
    const t: TreeRecords = { at: now, model, rows, hosts: joint.hosts as string[] };
    this.#trees.set(key, t);
    return t;
  }

  /** This node's partial scores under the model the hello names, for `bank` (cached for refreshSeconds). */
  #partialsFor(hello: OnlineHelloInfo, bank: PartyId): Promise<Map<string, number>> {
    const { party } = this.#o;
    const { version, artifact, descriptor } = this.#servedPart(
      hello.modelId,
      'model',
      'online-hello.model_id',
      () => true,
    );
    const joint = parseJointModel(descriptor);
    const guest = joint.parties.find((p) => p.role === 'guest');
    if (guest?.id !== bank) {
      throw new FedscoreError('not_found', `no model '${hello.modelId}' shared with ${bank}`, {
        field: 'online-hello.model_id',
      });
    }
    const own = parsePartyModel(artifact);
    if (own.party !== party) {
      throw new FedscoreError('invalid_state', `${version.ref} holds ${own.party}'s part`, {
        field: 'artifact',
      });
    }
    const key = `${hello.modelId}\u0000${version.ref}`;
    const have = this.#partials.get(key);
    const now = this.#now();
    if (this.#fresh(have, now)) return have.scores;
    const scores = this.#featureColumns(version, own.featureNames, false).then(({ ids, columns }) => {
      const z = partyPartialScores(own, columns);
      const out = new Map<string, number>();
      ids.forEach((id, i) => {
        out.set(normalizeUscc(id), z[i]!);
      });
      return out;
    });
    scores.catch(() => this.#partials.delete(key));
    this.#partials.set(key, { at: now, scores });
    return scores;
  }

  /**
   * The newest live version of `modelId` that `accept`s, with this node's artifact and the joint
   * descriptor; `noun` ('model', 'tree model') and `field` name it in the errors.
   */
  #servedPart(
    modelId: string,
    noun: string,
    field: string,
    accept: (m: ModelVersion) => boolean,
  ): { version: ModelVersion; artifact: string; descriptor: string } {
    const { models } = this.#o;
    // The newest: the registry lists each name's versions highest first, so the last of the list
    // would be the oldest version of the last name.
    const version = models
      .list()
      .filter((m) => m.modelId === modelId && m.status !== 'retired' && accept(m))
      .reduce<ModelVersion | undefined>(
        (newest, m) =>
          newest === undefined ||
          m.createdAt > newest.createdAt ||
          (m.createdAt === newest.createdAt && m.version > newest.version)
            ? m
            : newest,
        undefined,
      );
    if (version === undefined) {
      throw new FedscoreError('not_found', `no ${noun} '${modelId}' to serve here`, { field });
    }
    const { artifact, descriptor } = models.artifacts(version.ref);
    if (artifact === undefined || descriptor === undefined) {
      throw new FedscoreError('invalid_state', `${version.ref} holds no part of this node`, { field });
    }
    return { version, artifact, descriptor };
  }

  /** A cache entry made less than refreshSeconds ago. */
  #fresh<E extends { readonly at: number }>(have: E | undefined, now: number): have is E {
    return have !== undefined && now - have.at < (this.#o.refreshSeconds ?? 300) * 1000;
  }

  /**
   * The enterprises' values of `names` from `version`'s dataset here (its job's, else `scoring.data`), as
   * core's `featureColumns` builds them in training; with `oneHotZero` a one-hot level (`name=level`)
   * the data lacks is a column of 0.
   */
  #featureColumns(
    version: ModelVersion,
    names: readonly string[],
    oneHotZero: boolean,
  ): Promise<{ ids: readonly string[]; columns: Float64Array[] }> {
    const { party } = this.#o;
    const job = version.lineage.job !== undefined ? this.#o.jobs.get(version.lineage.job) : undefined;
    const dataName = job?.spec.data[party] ?? this.#o.dataName;
    if (dataName === undefined) {
      throw new FedscoreError('invalid_config', `no dataset to score ${version.ref} from`, {
        field: 'scoring.data',
      });
    }
    return this.#o.data(dataName).then((table) => {
      const all = partyFeatures(
        table,
        table.columns.map((c) => c.name),
        table.ids.map((_, i) => i),
      );
      const byName = new Map(all.names.map((n, j) => [n, all.columns[j]!]));
      const zeros = new Float64Array(table.ids.length);
      const columns = names.map((n) => {
        const c = byName.get(n) ?? (oneHotZero && n.includes('=') ? zeros : undefined);
        if (c === undefined) {
          throw new FedscoreError('invalid_state', `the data has no column for the model's feature '${n}'`, {
            field: `data.${dataName}`,
          });
        }
        return c;
      });
      return { ids: table.ids, columns };
    });
  }
}
