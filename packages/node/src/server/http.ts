/**
 * Health and metrics over plain HTTP for the operator's probes and scrapers (bind it to an internal
 * address: it carries no data, but it is not authenticated):
 *   GET /healthz  -> 200 {"status":"ok","party":...,"uptimeSeconds":...,"runningStages":...,"store":...,
 *                    "lease":...[,"queue":...]}; 503 with "status":"degraded" when the store does not answer
 *   GET /metrics  -> Prometheus text format: counters and gauges of the node (no data values, no ids of
 *                    enterprises; job ids and party ids only as label values).
 * Anything else is 404; methods other than GET/HEAD are 405. With `console`, paths under /console/ are
 * the web console's (console/server.ts: its own authentication, CSRF and CSP).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { FedscoreError } from '@fedscore/core';

/** One metric sample: name, labels, value. */
export interface MetricSample {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly labels?: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface HealthReport {
  /** `degraded` (HTTP 503) when the store did not answer its health query in time. */
  readonly status: 'ok' | 'degraded';
  readonly party: string;
  readonly uptimeSeconds: number;
  readonly runningStages: number;
  /**
   * The node's store: its kind, whether it answered a trivial query within the health timeout (and how
   * long it took), and each module's schema (migration) version. Never its URL, user or password.
   */
  readonly store?: {
    readonly kind: 'sqlite' | 'postgres';
    readonly reachable: boolean;
    readonly latencyMs: number;
    readonly schema: Readonly<Record<string, number>>;
  };
  /**
   * This node's part in coordinating jobs: `single` (one node, no leases: SQLite), else `holder` while it
   * holds the lease of a job it coordinates, `standby` otherwise; `jobs`: the jobs it coordinates.
   */
  readonly lease?: {
    readonly role: 'single' | 'holder' | 'standby';
    readonly jobs: number;
    readonly leaseMs?: number;
    readonly renewMs?: number;
  };
  /**
   * With `queue: pgboss`: whether its database answered at the last read, its depth (every kind), the
   * tasks this node awaits, and per task kind (`packedProduct`, `binSums`, `sbHistogram`) those it awaits.
   */
  readonly queue?: {
    readonly up: boolean;
    readonly queued: number;
    readonly active: number;
    readonly pending: number;
    readonly kinds: Readonly<
      Record<string, { readonly pending: number; readonly queued: number; readonly active: number }>
    >;
  };
}

export interface HttpEndpointOptions {
  /** host:port; port 0 picks a free one. */
  readonly listen: string;
  readonly health: () => HealthReport;
  readonly metrics: () => readonly MetricSample[];
  /** The console's handler (answers its own paths, returns false for others). */
  readonly console?: ((req: IncomingMessage, res: ServerResponse) => boolean) & { close?: () => void };
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Render samples in the Prometheus text exposition format (version 0.0.4). */
export function renderMetrics(samples: readonly MetricSample[]): string {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const s of samples) {
    if (!seen.has(s.name)) {
      seen.add(s.name);
      lines.push(`# HELP ${s.name} ${s.help}`, `# TYPE ${s.name} ${s.type}`);
    }
    const labels = Object.entries(s.labels ?? {})
      .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
      .join(',');
    lines.push(`${s.name}${labels ? `{${labels}}` : ''} ${Number.isFinite(s.value) ? s.value : 0}`);
  }
  return `${lines.join('\n')}\n`;
}

export interface HttpEndpoint {
  readonly port: number;
  close(): Promise<void>;
}

export async function startHttpEndpoint(options: HttpEndpointOptions): Promise<HttpEndpoint> {
  const i = options.listen.lastIndexOf(':');
  const host = options.listen.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(options.listen.slice(i + 1));
  const server: Server = createServer((req, res) => {
    if (options.console?.(req, res) === true) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (path === '/healthz') {
        const report = options.health();
        res
          .writeHead(report.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' })
          .end(JSON.stringify(report));
      } else if (path === '/metrics') {
        res
          .writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
          .end(renderMetrics(options.metrics()));
      } else {
        res.writeHead(404).end();
      }
    } catch {
      res.writeHead(500).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(
        new FedscoreError('io', `cannot listen on ${options.listen} (${(e as NodeJS.ErrnoException).code})`, {
          field: 'http',
          cause: e,
        }),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr !== null ? addr.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        options.console?.close?.();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
