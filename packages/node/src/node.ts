/**
 * A party node: one long-running process per party (government, bank, arbiter/platform) on its own
 * premises. It ties together the config (config/), its store (store/: jobs, audit log), the gRPC
 * transport over mutual TLS (transport/), the job runner (jobs/) and the health and metrics endpoint
 * (server/). `fedscore node --config party.yaml` runs one; tests and the example start them as separate
 * processes on loopback.
 *
 * Audit: every refused inbound call (malformed, oversized, replayed, out-of-order, wrong step or
 * version, wrong peer) becomes a `security_event` entry, and every use of this party's data in a job (the
 * aligned enterprise set, at PSI and at training) a `data_use` entry with the set's fingerprint and size.
 * Logs carry party, job, stage and counts, never data values.
 */
import { existsSync } from 'node:fs';
import { type Logger, noopLogger, noProgress, type ProgressCallback, type Table } from '@fedscore/core';
import { readCsvFile } from '@fedscore/core/node';
import { AuditLog, enterpriseSetFingerprint } from './audit/index.ts';
import { type NodeConfig, readTlsFiles } from './config/config.ts';
import { type JobRecord, JobStore } from './jobs/job-store.ts';
import { JobRunner, submitJob } from './jobs/runner.ts';
import { type HttpEndpoint, type MetricSample, startHttpEndpoint } from './server/http.ts';
import { NodeStore } from './store/index.ts';
import { GrpcTransport, type RejectionEvent, type TlsMaterial } from './transport/grpc.ts';

export interface PartyNodeOptions {
  readonly config: NodeConfig;
  /** TLS material instead of the config's files (tests). */
  readonly tls?: TlsMaterial;
  readonly logger?: Logger;
  readonly progress?: ProgressCallback;
}

export class PartyNode {
  readonly party: string;
  readonly config: NodeConfig;
  readonly store: NodeStore;
  readonly jobs: JobStore;
  readonly audit: AuditLog;
  readonly transport: GrpcTransport;
  readonly runner: JobRunner;
  readonly #http: HttpEndpoint | undefined;
  readonly #logger: Logger;
  readonly #rejections = new Map<string, number>();
  readonly #startedAt = Date.now();

  private constructor(parts: {
    config: NodeConfig;
    store: NodeStore;
    jobs: JobStore;
    audit: AuditLog;
    transport: GrpcTransport;
    runner: JobRunner;
    http: HttpEndpoint | undefined;
    logger: Logger;
    rejections: Map<string, number>;
  }) {
    this.party = parts.config.party;
    this.config = parts.config;
    this.store = parts.store;
    this.jobs = parts.jobs;
    this.audit = parts.audit;
    this.transport = parts.transport;
    this.runner = parts.runner;
    this.#http = parts.http;
    this.#logger = parts.logger;
    this.#rejections = parts.rejections;
  }

  static async start(options: PartyNodeOptions): Promise<PartyNode> {
    const config = options.config;
    const logger = (options.logger ?? noopLogger).child({ party: config.party });
    const store = NodeStore.open(config.stateDir, { logger });
    const jobs = new JobStore(store);
    const audit = new AuditLog(store);
    const rejections = new Map<string, number>();
    const onRejected = (e: RejectionEvent): void => {
      rejections.set(e.code, (rejections.get(e.code) ?? 0) + 1);
      audit.append({
        kind: 'security_event',
        actor: e.peer ?? 'unauthenticated',
        details: {
          rpc: e.rpc,
          code: e.code,
          ...(e.field !== undefined && { field: e.field }),
          ...(e.session !== undefined && { session: e.session }),
        },
      });
    };
    let runnerRef: JobRunner | undefined;
    const transport = await GrpcTransport.start({
      party: config.party,
      listen: config.listen,
      tls: options.tls ?? readTlsFiles(config),
      peers: Object.fromEntries(Object.entries(config.peers).map(([id, p]) => [id, p.address])),
      limits: config.limits,
      logger,
      onRejected,
      health: () => ({ runningStages: runnerRef?.runningStages() ?? 0 }),
    });
    const tables = new Map<string, Promise<Table>>();
    const data = (name: string): Promise<Table> => {
      let t = tables.get(name);
      if (t === undefined) {
        const src = config.data[name];
        if (src === undefined) {
          return Promise.reject(new Error(`no dataset '${name}'`));
        }
        t = readCsvFile(src.path, {
          file: src.path,
          idColumn: src.id,
          ...(src.label !== undefined && { labelColumn: src.label }),
          roles: Object.fromEntries(src.exclude.map((c) => [c, 'ignored' as const])),
          impute: 'keep',
        });
        t.catch(() => tables.delete(name));
        tables.set(name, t);
      }
      return t;
    };
    const runner = new JobRunner({
      party: config.party,
      transport,
      jobs,
      data,
      hasData: (name) => config.data[name] !== undefined && existsSync(config.data[name].path),
      stateDir: config.stateDir,
      peerDownSeconds: config.limits.peerDownSeconds,
      maxAttempts: config.limits.maxAttempts,
      logger,
      progress: options.progress ?? noProgress,
      onDataUse: (u) =>
        audit.append({
          kind: 'data_use',
          actor: u.party,
          dataOwner: u.party,
          purpose: 'training',
          job: u.job,
          enterpriseFingerprint: enterpriseSetFingerprint(u.enterpriseIds),
          enterpriseCount: u.enterpriseIds.length,
          details: { stage: u.stage },
        }),
    });
    runnerRef = runner;
    let http: HttpEndpoint | undefined;
    const node = (): PartyNode => self!;
    let self: PartyNode | undefined;
    if (config.http !== undefined) {
      http = await startHttpEndpoint({
        listen: config.http,
        health: () => ({
          status: 'ok',
          party: config.party,
          uptimeSeconds: Math.round((Date.now() - node().#startedAt) / 1000),
          runningStages: runner.runningStages(),
        }),
        metrics: () => node().metrics(),
      });
    }
    self = new PartyNode({ config, store, jobs, audit, transport, runner, http, logger, rejections });
    runner.start();
    logger.info('node started', { grpcPort: transport.port, httpPort: http?.port });
    return self;
  }

  get grpcPort(): number {
    return this.transport.port;
  }

  get httpPort(): number | undefined {
    return this.#http?.port;
  }

  /** Record a job on this node (its guest's node); it starts within half a second. */
  submit(spec: unknown): JobRecord {
    return submitJob(this.jobs, this.party, spec);
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
    for (const status of ['submitted', 'running', 'done', 'failed'] as const) {
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
    this.runner.stop();
    await this.transport.close();
    await this.#http?.close();
    this.store.close();
    this.#logger.info('node stopped');
  }
}
