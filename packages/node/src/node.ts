/**
 * A party node: one long-running process per party (government, bank, arbiter/platform) on its own
 * premises. It ties together the config (config/), its store (store/: jobs, audit log), the gRPC
 * transport over mutual TLS (transport/), the job runner (jobs/) and the health and metrics endpoint
 * (server/). `fedscore node --config party.yaml` runs one; tests and the example start them as separate
 * processes on loopback.
 *
 * Governance (docs/governance.md), all in the node's one store:
 *   - consent: as a job's host (the government node), the node runs PSI only on the enterprises its
 *     `ConsentRegistry` lists as consenting to the job's guest and use (config
 *     `governance.requireConsent`, default on), and refuses a guest whose submitted set exceeds
 *     `governance.psi` (`psi_policy`: a `security_event` entry on both nodes); its own table's exclusion
 *     counts stay in its checkpoint and job events;
 *   - audit: every refused inbound call (malformed, oversized, replayed, out-of-order, wrong step or
 *     version, wrong peer) is a `security_event` entry; every stage that uses a host's data is a
 *     `data_use` entry on the guest and on that host, with the same actor (the guest), data owner (the
 *     host), purpose, job, consent reference and enterprise-set fingerprint -- once per stage, whatever the
 *     number of attempts -- so `reconcileAuditLogs` on the two logs agrees;
 *   - models: publish registers each job's model in the node's `ModelRegistry`;
 *   - monitoring: a government node (`monitoring.serve`) answers alert polls and encrypted rescoring of
 *     its peers over the transport (`MonitoringEndpoint`); a bank node (`monitoring.government`) polls
 *     every `monitoring.pollSeconds` and, with `monitoring.rescoreModel`, rescores new alerts
 *     (`MonitoringClient`);
 *   - online scoring: a government node (`scoring.serve`) answers the banks' scoring sessions, consent-
 *     and quota-gated and audited per request (`ScoringEndpoint`); a bank node (`scoring.api`) serves
 *     POST /v1/score (and /v1/score/batch) to its risk engine over HTTP(S) with API tokens (`ScoringClient`, `startScoringApi`);
 *   - feature catalogue: every node takes its peers' published feature profiles (`CatalogueService`,
 *     catalogue/), a node that keeps the catalogue (`catalogue.serve`) answers with the other parties',
 *     and the node publishes its own at start (`catalogue.publishOnStart`: by default a bank to its
 *     platform peer, retried while that peer is unreachable), when `fedscore datasets
 *     publish-profile` asks through the store, or on `publishProfiles()`.
 * Logs carry party, job, stage and counts, never data values.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  atLevel,
  FedscoreError,
  isFedscoreError,
  type Logger,
  noopLogger,
  noProgress,
  type ProgressCallback,
  type Table,
} from '@fedscore/core';
import { readCsvFile } from '@fedscore/core/node';
import {
  buildSelfEstimateCompactModel,
  type CreditRules,
  parseCreditRules,
  parseScorecard,
} from '@fedscore/scoring';
import { type AuditDetails, AuditLog, enterpriseSetFingerprint, RefusalWindow } from './audit/index.ts';
import { CatalogueService, type PublicationResult, profileOwnDatasets } from './catalogue/index.ts';
import {
  advertisedAddress,
  cataloguePublishOnStart,
  catalogueServes,
  catalogueTargets,
  consoleEnabled,
  DEFAULT_LEASE_MS,
  type NodeConfig,
  readTlsFiles,
  storeUrl,
} from './config/config.ts';
import { ConsentRegistry } from './consent/index.ts';
import {
  AlertBook,
  alertDeliveries,
  ConsoleAccounts,
  type ConsoleChartAssets,
  ConsoleOidc,
  createConsoleHandler,
  createSelfEstimatePageHandler,
  ProductPool,
  profileAlignedSets,
  profileDatasets,
  scoringPolicyUsage,
  scoringUsage,
} from './console/index.ts';
import { cancelJob, recordJobChange, retryJob } from './jobs/control.ts';
import { testFaultFromEnv } from './jobs/fault.ts';
import { JOB_STATUSES, type JobRecord, JobStore } from './jobs/job-store.ts';
import type { DataUseEvent, JobRefusal } from './jobs/runner.ts';
import { JobRunner, submitJob } from './jobs/runner.ts';
import { MonitoringClient, MonitoringEndpoint } from './monitoring/remote.ts';
import { ModelRegistry } from './registry/index.ts';
import { ScoringClient, ScoringRefusal } from './scoring/bank.ts';
import { ScoringEndpoint } from './scoring/government.ts';
import { ApiTokens } from './scoring/tokens.ts';
import { ScoringQuota } from './scoring-policy/index.ts';
import { type HealthReport, type HttpEndpoint, type MetricSample, startHttpEndpoint } from './server/http.ts';
import { NodeQueue, type QueuePruneReport } from './server/queue.ts';
import { type ScoringApi, startScoringApi } from './server/scoring-api.ts';
import { NodeStore } from './store/index.ts';
import { GrpcTransport, type InboundBytes, type RejectionEvent, type TlsMaterial } from './transport/grpc.ts';
import { checkOwnTlsMaterial } from './transport/peer-auth.ts';

/**
 * The store a node config names: the SQLite file in `stateDir` (default) or the PostgreSQL database of
 * `store` (shared by the party's replicas). The URL is never logged with its password (`NodeStore.path`).
 * The one place a store is chosen from a config: the node, its `fedscore node cancel|retry`, and the CLI's
 * governance commands (`--store DIR|URL`, `--store-env VAR`, `--store-schema NAME`, through
 * `validateStoreConfig`) all open it here. `readOnly`: open an existing store without migrating it.
 */
export function openNodeStore(
  config: Pick<NodeConfig, 'stateDir' | 'store'>,
  options: { logger?: Logger; env?: Readonly<Record<string, string | undefined>>; readOnly?: boolean } = {},
): NodeStore {
  const s = config.store;
  const readOnly = options.readOnly === true;
  if (s.kind === 'sqlite') {
    return NodeStore.open(config.stateDir, {
      ...(options.logger !== undefined && { logger: options.logger }),
      ...(readOnly && { readOnly }),
    });
  }
  const store = NodeStore.postgres(storeUrl(s, options.env ?? process.env), {
    ...(options.logger !== undefined && { logger: options.logger }),
    ...(s.schema !== undefined && { schema: s.schema }),
    busyTimeoutMs: s.busyTimeoutMs,
    ...(readOnly && { readOnly }),
  });
  options.logger?.info('store opened', { store: 'postgres', database: store.path });
  return store;
}

/**
 * How long a coordinator replica's lease on a job lasts without renewal by default (config
 * `store.leaseMs`; renewed every `store.leaseRenewMs`, default 0.5 s).
 */
export const JOB_LEASE_MS = DEFAULT_LEASE_MS;

/** How long /healthz waits for the store to answer `SELECT 1` before it reports it unreachable. */
export const STORE_HEALTH_TIMEOUT_MS = 2000;

/** Further tries of the publication at start to a peer that failed (5 s, 10 s, ... 160 s after). */
const PUBLISH_RETRIES = 6;

export interface PartyNodeOptions {
  readonly config: NodeConfig;
  /** TLS material instead of the config's files (tests). */
  readonly tls?: TlsMaterial;
  readonly logger?: Logger;
  readonly progress?: ProgressCallback;
  /**
   * The environment test-only fault injection is read from (default `process.env`): see
   * `jobs/fault.ts` (`FEDSCORE_TEST_KILL_AFTER_EPOCH`, honoured only with NODE_ENV=test).
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Coordinator replicas on a PostgreSQL store: how long a job lease lasts unrenewed, over the config's
   * `store.leaseMs` (tests).
   */
  readonly jobLeaseMs?: number;
  /**
   * Sees the raw bytes of every inbound gRPC call after TLS (message-capture tests: what this node
   * receives, byte for byte). In-process only; never set from a config file.
   */
  readonly onInbound?: (event: InboundBytes) => void;
  /** The report's chart assets for the console's model charts (the CLI passes its own; absent: tables). */
  readonly consoleCharts?: ConsoleChartAssets;
}

export class PartyNode {
  readonly party: string;
  readonly config: NodeConfig;
  readonly store: NodeStore;
  readonly jobs: JobStore;
  readonly audit: AuditLog;
  readonly consents: ConsentRegistry;
  readonly models: ModelRegistry;
  /** Government nodes (`monitoring.serve`): the credit-event feed and the alert and rescoring service. */
  readonly monitoring: MonitoringEndpoint | undefined;
  /** Bank nodes (`monitoring.government`): watchlist, alert inbox, polls and rescoring. */
  readonly alerts: MonitoringClient | undefined;
  /** Government nodes (`scoring.serve`): the banks' online scoring sessions. */
  readonly scoring: ScoringEndpoint | undefined;
  /** The feature catalogue: peers' published feature profiles, and this node's publication. */
  readonly catalogue: CatalogueService;
  /** Bank nodes (`scoring.api`): the scoring behind POST /v1/score. */
  readonly scorer: ScoringClient | undefined;
  readonly transport: GrpcTransport;
  readonly runner: JobRunner;
  /** Refused calls of unauthenticated callers, audited once per source and window (`flush()` writes now). */
  readonly refusals: RefusalWindow;
  readonly #http: HttpEndpoint | undefined;
  readonly #scoringApi: ScoringApi | undefined;
  /** The work queue (config `queue: pgboss`). */
  readonly #queue: NodeQueue | undefined;
  #pollTimer: ReturnType<typeof setInterval> | undefined;
  #catalogueTimer: ReturnType<typeof setInterval> | undefined;
  #publishRetry: ReturnType<typeof setTimeout> | undefined;
  #stopping = false;
  readonly #logger: Logger;
  readonly #rejections = new Map<string, number>();
  readonly #startedAt = Date.now();

  private constructor(parts: {
    config: NodeConfig;
    store: NodeStore;
    jobs: JobStore;
    audit: AuditLog;
    consents: ConsentRegistry;
    models: ModelRegistry;
    monitoring: MonitoringEndpoint | undefined;
    alerts: MonitoringClient | undefined;
    scoring: ScoringEndpoint | undefined;
    scorer: ScoringClient | undefined;
    catalogue: CatalogueService;
    transport: GrpcTransport;
    runner: JobRunner;
    http: HttpEndpoint | undefined;
    scoringApi: ScoringApi | undefined;
    logger: Logger;
    rejections: Map<string, number>;
    refusals: RefusalWindow;
    queue: NodeQueue | undefined;
  }) {
    this.party = parts.config.party;
    this.config = parts.config;
    this.store = parts.store;
    this.jobs = parts.jobs;
    this.audit = parts.audit;
    this.consents = parts.consents;
    this.models = parts.models;
    this.monitoring = parts.monitoring;
    this.alerts = parts.alerts;
    this.scoring = parts.scoring;
    this.scorer = parts.scorer;
    this.catalogue = parts.catalogue;
    this.#scoringApi = parts.scoringApi;
    this.transport = parts.transport;
    this.runner = parts.runner;
    this.#http = parts.http;
    this.#logger = parts.logger;
    this.#rejections = parts.rejections;
    this.refusals = parts.refusals;
    this.#queue = parts.queue;
  }

  /**
   * Start a node. Before it listens it refuses, with a typed error naming the field: TLS material that is
   * not its own (certificate of another party, key of another certificate, a leaf as CA), a state
   * directory it cannot create or that is too open and not its own, a store that was truncated, deleted,
   * replaced or is damaged, and an audit chain that does not verify (unless the break is acknowledged in
   * `audit.acknowledgedBreaks`). A start that fails after opening anything (store, gRPC port, HTTP
   * port) closes all of it before the error is thrown, so a failed node holds no port and no file.
   */
  static async start(options: PartyNodeOptions): Promise<PartyNode> {
    const config = options.config;
    const logger = atLevel(options.logger ?? noopLogger, config.log.level).child({ party: config.party });
    const opened: (() => unknown)[] = [];
    try {
      return await PartyNode.#start(options, logger, opened);
    } catch (e) {
      for (const close of opened.reverse()) {
        try {
          await close();
        } catch (closeError) {
          logger.warn('closing after a failed start failed', { error: errorCode(closeError) });
        }
      }
      const fe = isFedscoreError(e)
        ? e
        : new FedscoreError(
            'internal',
            `the node failed to start: ${e instanceof Error ? e.message : String(e)}`,
            {
              cause: e,
            },
          );
      logger.error('node start refused', { code: fe.code, field: fe.field });
      throw fe;
    }
  }

  static async #start(
    options: PartyNodeOptions,
    logger: Logger,
    opened: (() => unknown)[],
  ): Promise<PartyNode> {
    const config = options.config;
    const testFault = testFaultFromEnv(options.env ?? process.env);
    if (testFault !== undefined) {
      const d = testFault.hflDropout;
      logger.warn('test fault injection enabled', {
        ...(testFault.killAfterEpoch !== undefined && { killAfterEpoch: testFault.killAfterEpoch }),
        ...(testFault.stopBeforeEpoch !== undefined && { stopBeforeEpoch: testFault.stopBeforeEpoch }),
        ...(d !== undefined && { hflDropout: `${d.round}:${d.step}:${d.how}` }),
        ...(testFault.ignoreLeaseEpoch === true && { ignoreLeaseEpoch: true }),
      });
    }
    const tls = options.tls ?? readTlsFiles(config);
    checkOwnTlsMaterial(tls, config.party);
    const store = openNodeStore(config, { logger, env: options.env ?? process.env });
    opened.push(() => store.close());
    const damage = store.quickCheck();
    if (damage.length > 0) {
      throw new FedscoreError('store', `the store is damaged (${damage[0]}): restore it from a backup`, {
        file: store.path,
        field: 'stateDir',
      });
    }
    const jobs = new JobStore(store);
    const audit = new AuditLog(store);
    verifyAuditAtStart(audit, config, logger);
    const consents = new ConsentRegistry(store, { audit, party: config.party });
    const models = new ModelRegistry(store, { audit, party: config.party });
    const refusals = new RefusalWindow({
      audit,
      windowMs: config.audit.refusalWindowSeconds * 1000,
      onError: (e) => logger.error('audit of refused calls failed', { error: errorCode(e) }),
    });
    opened.push(() => refusals.close());
    const rejections = new Map<string, number>();
    const onRejected = (e: RejectionEvent): void => {
      rejections.set(e.code, (rejections.get(e.code) ?? 0) + 1);
      // A peer's message for a job another replica coordinates: routing (docs/deploy.md section 8),
      // counted in the metrics, not a security event.
      if (e.code === 'not_lease_holder' && e.peer !== undefined) return;
      if (e.peer === undefined) {
        // Unauthenticated: counted per source and window (refusal-window.ts), never one row per call.
        refusals.record({
          rpc: e.rpc,
          code: e.code,
          reason: e.message,
          ...(e.field !== undefined && { field: e.field }),
          ...(e.remoteAddress !== undefined && { remoteAddress: e.remoteAddress }),
          ...(e.certificate !== undefined && { certificate: e.certificate }),
        });
        return;
      }
      audit.append({
        kind: 'security_event',
        actor: e.peer,
        details: {
          rpc: e.rpc,
          code: e.code,
          ...(e.field !== undefined && { field: e.field }),
          ...(e.session !== undefined && { session: e.session }),
          ...(e.remoteAddress !== undefined && { remoteAddress: e.remoteAddress }),
          // Public facts of the presented certificate (a wrong one is identified by these).
          ...(e.certificate !== undefined && {
            certFingerprint256: e.certificate.fingerprint256,
            certSubject: e.certificate.subject,
            certIssuer: e.certificate.issuer,
            certSerial: e.certificate.serialNumber,
            ...(e.certificate.claimedParty !== undefined && { certParty: e.certificate.claimedParty }),
          }),
        },
      });
    };
    let runnerRef: JobRunner | undefined;
    const transport = await GrpcTransport.start({
      party: config.party,
      listen: config.listen,
      tls,
      peers: Object.fromEntries(Object.entries(config.peers).map(([id, p]) => [id, p.addresses])),
      limits: config.limits,
      logger,
      onRejected,
      health: () => ({ runningStages: runnerRef?.runningStages() ?? 0 }),
      ...(options.onInbound !== undefined && { onInbound: options.onInbound }),
    });
    opened.push(() => transport.close());
    const readData = (name: string): Promise<Table> => readNodeDataset(config, name);
    // Jobs read a dataset once per process (every stage of a job must see the same rows).
    const tables = new Map<string, Promise<Table>>();
    const data = (name: string): Promise<Table> => {
      let t = tables.get(name);
      if (t === undefined) {
        t = readData(name);
        t.catch(() => tables.delete(name));
        tables.set(name, t);
      }
      return t;
    };
    let queue: NodeQueue | undefined;
    if (config.queue.kind === 'pgboss') {
      queue = await NodeQueue.open(config.queue, jobs, logger, options.env ?? process.env);
      opened.push(() => queue?.close());
    }
    // A scoring job's guest turns its scores into bands and lines under the scoring API's rules.
    const rulesPath = config.scoring.api?.rules;
    let creditRules: CreditRules | undefined;
    if (rulesPath !== undefined) {
      let text: string;
      try {
        text = readFileSync(rulesPath, 'utf8');
      } catch (e) {
        throw new FedscoreError(
          'io',
          `cannot read scoring.api.rules (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
          {
            file: rulesPath,
            field: 'scoring.api.rules',
            cause: e,
          },
        );
      }
      creditRules = parseCreditRules(text, rulesPath);
    }
    const runner = new JobRunner({
      ...(queue !== undefined && {
        offload: queue.offload,
        binSumOffload: queue.binSums,
        secureBoostOffload: queue.secureBoost,
        psiOffload: queue.psi,
      }),
      ...(creditRules !== undefined && { creditRules }),
      party: config.party,
      transport,
      jobs,
      data,
      hasData: (name) => config.data[name] !== undefined && existsSync(config.data[name].path),
      stateDir: config.stateDir,
      peerDownSeconds: config.limits.peerDownSeconds,
      maxAttempts: config.limits.maxAttempts,
      jobPollMs: config.limits.jobPollMs,
      pollMs: config.limits.stagePollMs,
      logger,
      progress: options.progress ?? noProgress,
      ...(testFault !== undefined && { testFault }),
      onDataUse: (u) => recordDataUse(audit, u),
      onRefused: (r) => recordRefusal(audit, r),
      onDropout: (d) =>
        audit.append({
          kind: 'party_dropout',
          actor: d.user,
          dataOwner: d.party,
          job: d.job,
          details: { stage: d.stage, round: d.round },
        }),
      onJobChange: (e) => recordJobChange(audit, e),
      accept: config.accept,
      // Replicas on one PostgreSQL store lease the jobs they coordinate (docs/deploy.md section 8).
      ...(config.store.kind === 'postgres' && {
        lease: {
          holder: `${config.party}/${randomUUID()}`,
          ttlMs: options.jobLeaseMs ?? config.store.leaseMs,
          renewMs: config.store.leaseRenewMs,
          // Named to a peer whose message for a job this replica holds reached another replica.
          address: advertisedAddress(config, options.env ?? process.env),
        },
      }),
      ...(config.governance.requireConsent && { consents }),
      psiPolicy: config.governance.psi,
      // One policy (config `accept`): the admission gate refuses a job and the stages load keys by it.
      he: {
        allowPlaintextScheme: config.accept.plaintextScheme,
        allowWeakParameters: config.accept.weakParameters,
      },
      onPolicyRefusal: (e) =>
        audit.append({
          kind: 'security_event',
          actor: e.requester,
          dataOwner: e.refusedBy,
          job: e.job,
          details: {
            rpc: 'job',
            code: e.code,
            stage: e.stage,
            ...(e.field !== undefined && { field: e.field }),
          },
        }),
      models,
    });
    runnerRef = runner;
    const peers = Object.keys(config.peers);
    const monitoring = config.monitoring.serve
      ? new MonitoringEndpoint({
          transport,
          party: config.party,
          peers,
          store,
          consents,
          audit,
          jobs,
          data: readData,
          scoring: config.scoring,
          logger,
        })
      : undefined;
    const descriptions = Object.fromEntries(Object.entries(config.data).map(([k, d]) => [k, d.descriptions]));
    const catalogue = new CatalogueService({
      transport,
      party: config.party,
      peers,
      store,
      audit,
      serve: catalogueServes(config),
      // Read afresh: a profile describes the data as it is now, not as a running job cached it.
      profile: () =>
        profileOwnDatasets({
          party: config.party,
          names: Object.keys(config.data),
          read: readData,
          descriptions,
        }),
      deadlineMs: config.limits.deadlineMs,
      logger,
    });
    const government = config.monitoring.government;
    const alerts =
      government === undefined
        ? undefined
        : new MonitoringClient({
            transport,
            party: config.party,
            government,
            store,
            audit,
            jobs,
            models,
            data: readData,
            deadlineMs: config.limits.deadlineMs,
            ...(config.monitoring.rescoreThresholds !== undefined && {
              rescoreThresholds: config.monitoring.rescoreThresholds,
            }),
            logger,
          });
    const scoring = config.scoring.serve
      ? new ScoringEndpoint({
          transport,
          party: config.party,
          peers,
          consents,
          audit,
          models,
          jobs,
          data: readData,
          ...(config.scoring.data !== undefined && { dataName: config.scoring.data }),
          maxSessionsPerPeer: config.scoring.maxSessionsPerPeer,
          policy: config.scoring,
          // The same counters as monitoring's rescoring (one table in the store): one quota per
          // (bank, enterprise), whichever service the bank asks.
          quota: monitoring?.quota ?? new ScoringQuota(store, config.scoring),
          logger,
        })
      : undefined;
    const apiConfig = config.scoring.api;
    let scorer: ScoringClient | undefined;
    let scoringApi: ScoringApi | undefined;
    if (apiConfig !== undefined) {
      const readPem = (file: string, field: string): string => {
        try {
          return readFileSync(file, 'utf8');
        } catch (e) {
          throw new FedscoreError(
            'io',
            `cannot read ${field} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
            {
              file,
              field,
              cause: e,
            },
          );
        }
      };
      const rules =
        apiConfig.rules === undefined
          ? undefined
          : parseCreditRules(readPem(apiConfig.rules, 'scoring.api.rules'), apiConfig.rules);
      const client = new ScoringClient({
        transport,
        party: config.party,
        models,
        audit,
        config: apiConfig,
        ...(rules !== undefined && { rules }),
        logger,
      });
      scorer = client;
      scoringApi = await startScoringApi({
        listen: apiConfig.listen,
        tokens: new ApiTokens(apiConfig.tokens),
        score: (body, requestId) => client.score(body, requestId),
        scoreBatch: (applicants, requestId) => client.scoreBatch(applicants, requestId),
        audit,
        party: config.party,
        maxBodyBytes: apiConfig.maxBodyBytes,
        retryAfterSeconds: apiConfig.retryAfterSeconds,
        ...(apiConfig.tls !== undefined && {
          tls: {
            cert: readPem(apiConfig.tls.cert, 'scoring.api.tls.cert'),
            key: readPem(apiConfig.tls.key, 'scoring.api.tls.key'),
          },
        }),
        logger,
      });
      // The model's sessions now (keys; a tree model's 38 MB context at the government), so the first
      // request does not pay them (7-14 s for a tree session). Not awaited: the government may be down or
      // the model not registered yet, and then the first request opens them, as it would have anyway.
      client.warm().then(
        () => logger.info('scoring sessions opened', { model: apiConfig.model }),
        (e: unknown) =>
          logger.info('scoring sessions not opened at start; the first request opens them', {
            model: apiConfig.model,
            code: isFedscoreError(e) ? e.code : e instanceof ScoringRefusal ? e.code : 'error',
          }),
      );
    }
    if (monitoring !== undefined) opened.push(() => monitoring.drain());
    let http: HttpEndpoint | undefined;
    const node = (): PartyNode => self!;
    let self: PartyNode | undefined;
    if (config.http !== undefined) {
      const consoleHandler = consoleEnabled(config)
        ? createConsoleHandler({
            source: {
              party: config.party,
              peers: Object.keys(config.peers),
              datasets: Object.keys(config.data),
              jobs,
              models,
              audit,
              consents,
              acknowledgedBreaks: config.audit.acknowledgedBreaks,
              ...(config.scoring.serve && { scoringUsage: () => scoringUsage(store, config.scoring.quota) }),
              ...(config.scoring.serve && {
                scoringPolicy: {
                  quota: config.scoring.quota,
                  rate: config.scoring.rate,
                  usage: () => scoringPolicyUsage(store, config.scoring, peers),
                },
              }),
              ...(alerts !== undefined && {
                alerts: new AlertBook(alerts.inbox, { bank: config.party, audit }),
              }),
              ...(monitoring !== undefined && {
                alertDeliveries: () => alertDeliveries(store, audit, config.party),
              }),
              datasetProfiles: () => profileDatasets(Object.keys(config.data), data, undefined, descriptions),
              featureCatalogue: () => catalogue.catalogue.list(),
              alignedProfiles: () =>
                profileAlignedSets({
                  party: config.party,
                  jobs,
                  audit,
                  models,
                  names: Object.keys(config.data),
                  read: data,
                }),
              submit: (spec) => node().submit(spec),
              cancel: (id, by) => node().cancel(id, by),
              retry: (id, by) => node().retry(id, by),
              products: new ProductPool(store),
            },
            accounts: new ConsoleAccounts(store, config.console),
            localAccounts: config.console.localAccounts,
            ...(config.console.oidc !== undefined && { oidc: new ConsoleOidc(config.console.oidc) }),
            loginsPerMinute: config.console.loginsPerMinute,
            ...(options.consoleCharts !== undefined && { charts: options.consoleCharts }),
            onRefused: (r) => refusals.record(r),
            logger,
          })
        : undefined;
      const se = config.console.selfEstimate;
      const readText = (file: string, field: string): string => {
        try {
          return readFileSync(file, 'utf8');
        } catch (e) {
          throw new FedscoreError('io', `cannot read ${field}`, { file, field, cause: e });
        }
      };
      const estimateHandler =
        se === undefined
          ? undefined
          : createSelfEstimatePageHandler({
              model: buildSelfEstimateCompactModel(
                parseScorecard(readText(se.scorecard, 'console.selfEstimate.scorecard'), se.scorecard),
                parseCreditRules(readText(se.rules, 'console.selfEstimate.rules'), se.rules),
                { product: se.product, revealScore: se.revealScore },
              ),
              assetsDir: se.assets,
              perMinute: se.perMinute,
              logger,
            });
      const web =
        estimateHandler === undefined
          ? consoleHandler
          : Object.assign(
              (req: IncomingMessage, res: ServerResponse) =>
                estimateHandler(req, res) || consoleHandler?.(req, res) === true,
              { close: () => consoleHandler?.close() },
            );
      http = await startHttpEndpoint({
        ...(web !== undefined && { console: web }),
        listen: config.http,
        health: () => node().health(),
        metrics: () => node().metrics(),
      });
      opened.push(() => http?.close());
    }
    self = new PartyNode({
      config,
      store,
      jobs,
      audit,
      consents,
      models,
      monitoring,
      alerts,
      scoring,
      scorer,
      catalogue,
      transport,
      runner,
      http,
      scoringApi,
      logger,
      rejections,
      refusals,
      queue,
    });
    runner.start();
    self.#startPolling();
    const publishTo = cataloguePublishOnStart(config);
    if (publishTo.length > 0) self.#publishOnStart(publishTo, 0);
    self.#watchPublicationRequests();
    logger.info('node started', {
      grpcPort: transport.port,
      httpPort: http?.port,
      ...(scoringApi !== undefined && { scoringApiPort: scoringApi.port }),
    });
    return self;
  }

  get grpcPort(): number {
    return this.transport.port;
  }

  get httpPort(): number | undefined {
    return this.#http?.port;
  }

  /** The scoring API's port (bank nodes with `scoring.api`). */
  get scoringApiPort(): number | undefined {
    return this.#scoringApi?.port;
  }

  /**
   * Bank nodes: poll the government for alerts now (sending queued watchlist changes) and, when the
   * config names a model, rescore the alerted borrowers under encryption.
   */
  async pollAlerts(): Promise<{ alerts: number; stored: number; rescored: number }> {
    const client = this.alerts;
    if (client === undefined) {
      throw new FedscoreError('invalid_config', 'this node polls no government for alerts', {
        field: 'monitoring.government',
      });
    }
    const r = await client.poll();
    const model = this.config.monitoring.rescoreModel;
    let rescored = 0;
    if (model !== undefined && client.inbox.pendingEnterprises(client.government).length > 0) {
      rescored = (await client.rescore(model)).rescored.length;
    }
    return { alerts: r.alerts, stored: r.stored, rescored };
  }

  /**
   * Publish this node's feature profile (every `data` dataset) to `to` (default `catalogueTargets`: the
   * `catalogue.publishTo`, else the platform peer the node names, else every peer) and keep the catalogue each peer answers with. A dataset below the release floor refuses
   * it (`privacy_floor`, naming `data.<name>`); a peer that fails is reported in its result.
   */
  publishProfiles(to?: readonly string[]): Promise<PublicationResult[]> {
    return this.catalogue.publish(to ?? catalogueTargets(this.config));
  }

  /** Publish when asked from outside the node (`fedscore datasets publish-profile`), checked every second. */
  #watchPublicationRequests(): void {
    let running = false;
    this.#catalogueTimer = setInterval(() => {
      if (running) return;
      let to: readonly string[] | null | undefined;
      try {
        to = this.catalogue.catalogue.takeRequests();
      } catch (e) {
        this.#logger.warn('publication requests unreadable', {
          code: isFedscoreError(e) ? e.code : 'internal',
        });
        return;
      }
      if (to === undefined) return;
      running = true;
      this.#publishInBackground(to ?? undefined).finally(() => {
        running = false;
      });
    }, 1000);
    this.#catalogueTimer.unref();
  }

  /**
   * The publication at start (`cataloguePublishOnStart`): a peer that fails (often a platform node that
   * is not up yet) is tried again after 5 s, doubling up to `PUBLISH_RETRIES` times (~5 minutes in all);
   * a refusal of the whole publication (a dataset below the floor) is not retried.
   */
  #publishOnStart(to: readonly string[], attempt: number): void {
    this.publishProfiles(to)
      .then((r) => {
        const failed = r.filter((x) => x.error !== undefined).map((x) => x.peer);
        this.#logger.info('feature profile published', {
          peers: r.length - failed.length,
          failed: failed.length,
        });
        if (failed.length === 0 || attempt >= PUBLISH_RETRIES || this.#stopping) return;
        this.#publishRetry = setTimeout(
          () => this.#publishOnStart(failed, attempt + 1),
          5_000 * 2 ** attempt,
        );
        this.#publishRetry.unref();
      })
      .catch((e: unknown) => {
        const code = isFedscoreError(e) ? e.code : 'internal';
        const field = isFedscoreError(e) ? e.field : undefined;
        this.#logger.warn('feature profile not published', { code, ...(field !== undefined && { field }) });
      });
  }

  #publishInBackground(to?: readonly string[]): Promise<void> {
    return this.publishProfiles(to)
      .then((r) => {
        const failed = r.filter((x) => x.error !== undefined).length;
        this.#logger.info('feature profile published', { peers: r.length - failed, failed });
      })
      .catch((e: unknown) => {
        const code = isFedscoreError(e) ? e.code : 'internal';
        const field = isFedscoreError(e) ? e.field : undefined;
        this.#logger.warn('feature profile not published', { code, ...(field !== undefined && { field }) });
      });
  }

  #startPolling(): void {
    const seconds = this.config.monitoring.pollSeconds;
    if (this.alerts === undefined || seconds === 0) return;
    let running = false;
    this.#pollTimer = setInterval(() => {
      if (running) return;
      running = true;
      this.pollAlerts()
        .catch((e: unknown) => {
          this.#logger.warn('alert poll failed', { code: isFedscoreError(e) ? e.code : 'internal' });
        })
        .finally(() => {
          running = false;
        });
    }, seconds * 1000);
    this.#pollTimer.unref();
  }

  /** Record a job on this node (its guest's node); it starts within half a second. */
  submit(spec: unknown): JobRecord {
    return submitJob(this.jobs, this.party, spec);
  }

  /**
   * Cancel a job this node coordinates (control.ts): audited with `by` here, then, within half a second,
   * its stages stop on every party and each marks it cancelled.
   */
  cancel(id: string, by: string): JobRecord {
    const j = cancelJob(this.jobs, this.audit, this.party, id, by);
    this.runner.applyCancel(id);
    return this.jobs.get(id) ?? j;
  }

  /** Retry a failed or cancelled job this node coordinates, from its last checkpoint (audited). */
  retry(id: string, by: string): JobRecord {
    return retryJob(this.jobs, this.audit, this.party, id, by);
  }

  /**
   * What /healthz reports: the store's kind, whether it answers a trivial query within
   * `STORE_HEALTH_TIMEOUT_MS` and its schema versions, this replica's lease role, and the queue's depth
   * (`queue: pgboss`). No URL, user or password: the report is served without authentication.
   */
  health(): HealthReport {
    const ping = this.store.ping(STORE_HEALTH_TIMEOUT_MS);
    let schema: Record<string, number> = {};
    if (ping.reachable) {
      try {
        schema = this.store.schemaVersions();
      } catch {
        // answered the ping, then failed: reported as reachable with no versions
      }
    }
    const s = this.config.store;
    return {
      status: ping.reachable ? 'ok' : 'degraded',
      party: this.party,
      uptimeSeconds: Math.round((Date.now() - this.#startedAt) / 1000),
      runningStages: this.runner.runningStages(),
      store: { kind: this.store.dialect, reachable: ping.reachable, latencyMs: ping.latencyMs, schema },
      lease: {
        ...this.runner.leaseState(),
        ...(s.kind === 'postgres' && { leaseMs: s.leaseMs, renewMs: s.leaseRenewMs }),
      },
      ...(this.#queue !== undefined && { queue: this.#queue.health() }),
    };
  }

  /**
   * Prune the work queue's task results now (`queue: pgboss`; the node also does it every minute): those
   * of done jobs, and those older than `queue.resultRetentionHours`; and the shared blobs no task has named
   * for that long and no waiting task names. Undefined without a queue.
   */
  async pruneQueueResults(): Promise<QueuePruneReport | undefined> {
    return this.#queue?.prune();
  }

  /** Metric samples for /metrics. */
  metrics(): MetricSample[] {
    const out: MetricSample[] = [
      {
        name: 'fedscore_uptime_seconds',
        help: 'Seconds since the node started.',
        type: 'gauge',
        value: Math.round((Date.now() - this.#startedAt) / 1000),
      },
      {
        name: 'fedscore_running_stages',
        help: 'Stage attempts running on this node.',
        type: 'gauge',
        value: this.runner.runningStages(),
      },
    ];
    for (const status of JOB_STATUSES) {
      out.push({
        name: 'fedscore_jobs',
        help: 'Jobs in this node store by status.',
        type: 'gauge',
        labels: { status },
        value: this.jobs.list(status).length,
      });
    }
    for (const [code, n] of this.#rejections) {
      out.push({
        name: 'fedscore_rejected_calls_total',
        help: 'Inbound calls refused, by error code.',
        type: 'counter',
        labels: { code },
        value: n,
      });
    }
    for (const [status, n] of Object.entries(this.#scoringApi?.stats() ?? {})) {
      out.push({
        name: 'fedscore_scoring_api_responses_total',
        help: 'Scoring API answers, by HTTP status.',
        type: 'counter',
        labels: { status },
        value: n,
      });
    }
    if (this.scoring !== undefined) {
      const c = this.scoring.counts();
      out.push({
        name: 'fedscore_scoring_served_total',
        help: 'Online scoring requests answered for peers.',
        type: 'counter',
        value: c.served,
      });
      for (const [code, n] of Object.entries(c.refused)) {
        out.push({
          name: 'fedscore_scoring_refused_total',
          help: 'Online scoring requests refused, by refusal code.',
          type: 'counter',
          labels: { code },
          value: n,
        });
      }
    }
    if (this.#queue !== undefined) out.push(...this.#queue.metrics());
    for (const [peer, n] of Object.entries(this.transport.addressSwitches())) {
      out.push({
        name: 'fedscore_peer_address_switches_total',
        help: 'Moves of the calls to a peer to another of its listed addresses (unreachable, or not its job lease holder).',
        type: 'counter',
        labels: { peer },
        value: n,
      });
    }
    const s = this.transport.stats();
    for (const [peer, n] of Object.entries(s.bytesSent)) {
      out.push({
        name: 'fedscore_sent_bytes_total',
        help: 'Envelope bytes sent, by peer.',
        type: 'counter',
        labels: { peer },
        value: n,
      });
    }
    for (const [peer, n] of Object.entries(s.bytesReceived)) {
      out.push({
        name: 'fedscore_received_payload_bytes_total',
        help: 'Payload bytes accepted, by peer.',
        type: 'counter',
        labels: { peer },
        value: n,
      });
    }
    return out;
  }

  async stop(): Promise<void> {
    if (this.#pollTimer !== undefined) clearInterval(this.#pollTimer);
    if (this.#catalogueTimer !== undefined) clearInterval(this.#catalogueTimer);
    this.#stopping = true;
    if (this.#publishRetry !== undefined) clearTimeout(this.#publishRetry);
    this.runner.stop();
    // Only awaited when present: the stop sequence of a node without scoring keeps its exact order of
    // turns (a stopped job's failure handler still writes to the store before it closes).
    if (this.#scoringApi !== undefined) await this.#scoringApi.close();
    if (this.scorer !== undefined) await this.scorer.close();
    await this.transport.close();
    await this.monitoring?.drain();
    await this.catalogue.drain();
    if (this.scoring !== undefined) await this.scoring.drain();
    await this.#http?.close();
    // After the runner: a stopped stage's awaited tasks reject (their jobs stay queued for a retry).
    await this.#queue?.close();
    this.refusals.close();
    this.store.close();
    this.#logger.info('node stopped');
  }
}

/** Read dataset `name` of a node's config (`data.<name>`) afresh, as the node's jobs read it. */
export function readNodeDataset(config: NodeConfig, name: string): Promise<Table> {
  const src = config.data[name];
  if (src === undefined) {
    return Promise.reject(
      new FedscoreError('not_found', `no dataset '${name}' in this node's config`, { field: 'data' }),
    );
  }
  return readCsvFile(src.path, {
    file: src.path,
    idColumn: src.id,
    ...(src.label !== undefined && { labelColumn: src.label }),
    roles: Object.fromEntries(src.exclude.map((c) => [c, 'ignored' as const])),
    impute: 'keep',
  });
}

/**
 * One `data_use` entry per (job, stage, user, owner): a stage re-run after a crash is the same use, and
 * both parties must hold the same entries for the owner's reconciliation to agree.
 */
function recordDataUse(audit: AuditLog, u: DataUseEvent): void {
  for (const e of audit.entries({ job: u.job, kind: 'data_use' })) {
    if (e.actor === u.user && e.dataOwner === u.owner && e.details?.['stage'] === u.stage) return;
  }
  const c = u.consent;
  const details: AuditDetails = {
    stage: u.stage,
    ...(c !== undefined && { consentChecked: c.enforced }),
  };
  audit.append({
    kind: 'data_use',
    actor: u.user,
    dataOwner: u.owner,
    purpose: u.purpose,
    job: u.job,
    ...(c?.consentRef !== undefined && { consentRef: c.consentRef }),
    enterpriseFingerprint: enterpriseSetFingerprint(u.enterpriseIds),
    enterpriseCount: u.enterpriseIds.length,
    details,
  });
}

/**
 * One `job_refused` entry per (job, stage, refusing party, data owner, code): an offer repeated on every
 * attempt is one refusal. The guest and the refusing host record the same fields.
 */
function recordRefusal(audit: AuditLog, r: JobRefusal): void {
  for (const e of audit.entries({ job: r.job, kind: 'job_refused' })) {
    const d = e.details ?? {};
    if (
      d['stage'] === r.stage &&
      d['refusedBy'] === r.refusedBy &&
      d['code'] === r.code &&
      e.dataOwner === r.owner
    ) {
      return;
    }
  }
  audit.append({
    kind: 'job_refused',
    actor: r.user,
    ...(r.owner !== undefined && { dataOwner: r.owner }),
    purpose: r.purpose,
    job: r.job,
    details: {
      stage: r.stage,
      refusedBy: r.refusedBy,
      code: r.code,
      ...(r.field !== undefined && { field: r.field }),
      ...r.counts,
    },
  });
}

/**
 * Verify the audit chain before the node appends to it. A break refuses the start, naming the entry,
 * unless the operator listed that entry in `audit.acknowledgedBreaks` after examining it; each
 * acknowledged break is itself recorded once, so the log shows that the node ran on past it.
 */
function verifyAuditAtStart(audit: AuditLog, config: NodeConfig, logger: Logger): void {
  const acknowledged = config.audit.acknowledgedBreaks;
  const v = audit.verify({ acknowledged });
  if (!v.ok) {
    const bad = v.firstBad!;
    throw new FedscoreError(
      'audit_tampered',
      `the audit log's hash chain breaks at entry ${bad.seq} (${bad.reason}: ${bad.message}); this node does not append to a broken log. Examine it with 'fedscore audit verify'; to run on it anyway, list ${bad.seq} in audit.acknowledgedBreaks`,
      { file: audit.store.path, field: `audit_log[${bad.seq}]` },
    );
  }
  const skipped = v.acknowledged ?? [];
  if (skipped.length === 0) return;
  const recorded = new Set<number>();
  for (const e of audit.entries({ kind: 'security_event' })) {
    const seq = e.details?.['acknowledgedBreak'];
    if (typeof seq === 'number') recorded.add(seq);
  }
  for (const seq of skipped) {
    logger.warn('running on an acknowledged break of the audit chain', { entry: seq });
    if (recorded.has(seq)) continue;
    audit.append({
      kind: 'security_event',
      actor: config.party,
      details: { event: 'audit_break_acknowledged', acknowledgedBreak: seq },
    });
  }
}

function errorCode(e: unknown): string {
  return isFedscoreError(e) ? e.code : e instanceof Error ? e.name : 'error';
}
