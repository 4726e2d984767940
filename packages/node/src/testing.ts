/**
 * Test support, exported as `@fedscore/node/testing` (never imported by library code): a cluster of
 * party nodes on loopback, the one home of the start-up every multi-node test, the network benchmark
 * and the runnable examples used to copy.
 *
 * `NodeCluster.create({ parties })` takes free ports (gRPC, and HTTP when asked), makes a development CA
 * and one certificate per party (written under `<dir>/certs/` too, for nodes run as processes), and
 * builds each party's node config: its listen address, its peers' addresses, its state directory
 * (`<dir>/<run>/<party>`: one run, one fresh set of stores), the certificate files, short retry limits,
 * then the cluster's `config(party, run)` and a start's own `config` overrides (data, accept, consent,
 * scoring, console, ...), each shallowly over the one before. A node then starts either in this process
 * (`start`, `startAll`: `PartyNode.start` with the TLS material) or as its own OS process (`startProcess`:
 * the config written as YAML, `fedscore node --config <file>` through the CLI entry the caller names,
 * ready when it prints `fedscore node ready`). `close()` stops every node still running (a process with
 * SIGTERM, SIGKILL after a grace period) and removes the directory when the cluster made it.
 *
 * Free ports are taken by binding port 0 and closing again before the node binds: a small race on a busy
 * machine, accepted in tests (a lost race fails the start loudly, it never talks to a stranger: peers are
 * authenticated by certificate).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Logger, ProgressCallback } from '@fedscore/core';
import { stringify } from 'yaml';
import { type NodeConfig, type NodeConfigInput, validateNodeConfig } from './config/index.ts';
import type { ConsentGrant } from './consent/index.ts';
import { ConsentRegistry } from './consent/index.ts';
import { JobStore, MASK_SEED_SECRET } from './jobs/index.ts';
import { openNodeStore, PartyNode, type PartyNodeOptions } from './node.ts';
import type { NodeStore } from './store/index.ts';
import { createDevCa, issuePartyCert } from './transport/certs.ts';

/** One party's TLS material (PEM): the cluster CA's certificate and the party's own pair. */
export interface PartyTls {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** What a test sets in a party's config over the cluster's defaults (party and TLS are the cluster's). */
export type NodeConfigOverrides = Omit<Partial<NodeConfigInput>, 'party' | 'tls'>;

export interface NodeClusterOptions<P extends string> {
  /** The parties, each with its own certificate, ports and state. */
  readonly parties: readonly P[];
  /** Where certificates, configs and state go (default: a new temporary directory, removed by `close`). */
  readonly dir?: string;
  /** Also take an HTTP port per party (health, metrics, console) and put it in the config. */
  readonly http?: boolean;
  /** Every start's config for `party` in `run`, over the defaults (data, limits, accept, ...). */
  readonly config?: (party: P, run: string) => NodeConfigOverrides;
  /** The `fedscore` CLI entry a node process runs (`packages/cli/src/main.ts`); needed by `startProcess`. */
  readonly cliMain?: string;
}

export interface StartOptions {
  /** The run: state lives in `<dir>/<run>/<party>` (default `'run'`). */
  readonly run?: string;
  /** Overrides over the cluster's config for this start. */
  readonly config?: NodeConfigOverrides;
}

export interface InProcessStartOptions extends StartOptions {
  readonly progress?: ProgressCallback;
  readonly logger?: Logger;
  readonly env?: PartyNodeOptions['env'];
  readonly onInbound?: PartyNodeOptions['onInbound'];
  /** The report's chart scripts for the console's model pages (the CLI passes its own). */
  readonly consoleCharts?: PartyNodeOptions['consoleCharts'];
}

export interface ProcessStartOptions extends StartOptions {
  /** Added to this process's environment (test-only faults with `NODE_ENV: 'test'`). */
  readonly env?: Readonly<Record<string, string>>;
  /** How long to wait for `fedscore node ready` (default 60 s). */
  readonly readyTimeoutMs?: number;
}

/** A node running as its own OS process. */
export interface NodeProcess {
  readonly party: string;
  readonly child: ChildProcess;
  /** The YAML config it runs with. */
  readonly configFile: string;
  /** Its stderr lines (structured logs), the last 500. */
  readonly log: string[];
  /** Its exit code (null when killed by a signal: see `child.signalCode`). */
  readonly exited: Promise<number | null>;
}

const DEFAULT_RUN = 'run';
const READY = 'fedscore node ready';

/** Ports the OS hands out now, closed again before use (see the file comment for the race). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Server>((ok, fail) => {
          const s = createServer();
          s.once('error', fail);
          s.listen(0, '127.0.0.1', () => ok(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Poll `ok` every 20 ms until it holds; throw naming `what` after `timeoutMs`. */
export async function waitUntil(what: string, ok: () => boolean, timeoutMs = 30_000): Promise<void> {
  for (const t0 = Date.now(); !ok(); ) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A training consent of each enterprise in `ids` for `grantee`, all columns, from a minute ago for a day
 * (what a data owner's registry holds before a job that should see every row).
 */
export function trainingConsents(
  ids: readonly string[],
  grantee: string,
  now: number = Date.now(),
): ConsentGrant[] {
  return ids.map((enterprise) => ({
    enterprise,
    grantee,
    purpose: 'training' as const,
    scope: ['*'],
    grantedAt: now - 60_000,
    expiresAt: now + 86_400_000,
  }));
}

export class NodeCluster<P extends string> {
  readonly dir: string;
  readonly parties: readonly P[];
  /** The development CA (its key too: tests that issue a rogue or extra certificate need it). */
  readonly ca: { readonly cert: string; readonly key: string };
  readonly tls: Readonly<Record<P, PartyTls>>;
  /** Each party's gRPC port. */
  readonly ports: Readonly<Record<P, number>>;
  /** Each party's HTTP port (only with `http: true`). */
  readonly httpPorts: Readonly<Record<P, number>>;
  readonly #options: NodeClusterOptions<P>;
  readonly #ownsDir: boolean;
  readonly #nodes = new Map<PartyNode, Promise<void> | undefined>();
  readonly #processes: NodeProcess[] = [];

  private constructor(
    options: NodeClusterOptions<P>,
    dir: string,
    ownsDir: boolean,
    ports: number[],
    ca: { cert: string; key: string },
  ) {
    this.#options = options;
    this.parties = [...options.parties];
    this.dir = dir;
    this.#ownsDir = ownsDir;
    this.ca = ca;
    const n = this.parties.length;
    const byParty = <T>(f: (p: P, i: number) => T) =>
      Object.fromEntries(this.parties.map((p, i) => [p, f(p, i)])) as Record<P, T>;
    this.ports = byParty((_, i) => ports[i]!);
    this.httpPorts = options.http === true ? byParty((_, i) => ports[n + i]!) : ({} as Record<P, number>);
    const certs = join(dir, 'certs');
    mkdirSync(certs, { recursive: true });
    writeFileSync(join(certs, 'ca.pem'), ca.cert);
    this.tls = byParty((p) => {
      const pair = issuePartyCert({ ca, party: p });
      writeFileSync(join(certs, `${p}.pem`), pair.cert);
      writeFileSync(join(certs, `${p}-key.pem`), pair.key, { mode: 0o600 });
      return { ca: ca.cert, cert: pair.cert, key: pair.key };
    });
  }

  static async create<P extends string>(options: NodeClusterOptions<P>): Promise<NodeCluster<P>> {
    if (new Set(options.parties).size !== options.parties.length || options.parties.length === 0)
      throw new Error('a cluster needs one or more distinct parties');
    const ownsDir = options.dir === undefined;
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'fedscore-cluster-'));
    mkdirSync(dir, { recursive: true });
    const ports = await freePorts(options.parties.length * (options.http === true ? 2 : 1));
    return new NodeCluster(options, dir, ownsDir, ports, createDevCa());
  }

  /** The state directory of `party` in `run`. */
  stateDir(party: P, run: string = DEFAULT_RUN): string {
    return join(this.dir, run, party);
  }

  /** The config `party` starts with in `run`, before validation (what `startProcess` writes as YAML). */
  configInput(party: P, options: StartOptions = {}): NodeConfigInput {
    const run = options.run ?? DEFAULT_RUN;
    const certs = join(this.dir, 'certs');
    return {
      party,
      listen: `127.0.0.1:${this.ports[party]}`,
      ...(this.#options.http === true && { http: `127.0.0.1:${this.httpPorts[party]}` }),
      stateDir: this.stateDir(party, run),
      peers: Object.fromEntries(
        this.parties.filter((q) => q !== party).map((q) => [q, { address: `127.0.0.1:${this.ports[q]}` }]),
      ),
      limits: { peerDownSeconds: 60, retries: 2, retryBaseMs: 50 },
      ...this.#options.config?.(party, run),
      ...options.config,
      tls: {
        ca: join(certs, 'ca.pem'),
        cert: join(certs, `${party}.pem`),
        key: join(certs, `${party}-key.pem`),
      },
    };
  }

  /** The validated config `party` starts with in `run`. */
  config(party: P, options: StartOptions = {}): NodeConfig {
    return validateNodeConfig(this.configInput(party, options));
  }

  /** Start `party`'s node in this process (stopped by `close` unless stopped before through `stop`). */
  async start(party: P, options: InProcessStartOptions = {}): Promise<PartyNode> {
    const node = await PartyNode.start({
      config: this.config(party, options),
      tls: this.tls[party],
      ...(options.progress !== undefined && { progress: options.progress }),
      ...(options.logger !== undefined && { logger: options.logger }),
      ...(options.env !== undefined && { env: options.env }),
      ...(options.onInbound !== undefined && { onInbound: options.onInbound }),
      ...(options.consoleCharts !== undefined && { consoleCharts: options.consoleCharts }),
    });
    this.#nodes.set(node, undefined);
    return node;
  }

  /**
   * Start every party in `parties` (default all) in this process, concurrently; `perParty` gives each its
   * own start options over `options`.
   */
  async startAll(
    options: InProcessStartOptions = {},
    perParty: Partial<Record<P, InProcessStartOptions>> = {},
    parties: readonly P[] = this.parties,
  ): Promise<Record<P, PartyNode>> {
    const started = await Promise.all(
      parties.map((p) => {
        const own = perParty[p];
        return this.start(p, {
          ...options,
          ...own,
          ...((options.config !== undefined || own?.config !== undefined) && {
            config: { ...options.config, ...own?.config },
          }),
        });
      }),
    );
    return Object.fromEntries(parties.map((p, i) => [p, started[i]!])) as Record<P, PartyNode>;
  }

  /** Stop an in-process node once (a second call, or `close`, waits for the same stop). */
  stop(node: PartyNode): Promise<void> {
    let stopping = this.#nodes.get(node);
    if (stopping === undefined) {
      stopping = node.stop();
      this.#nodes.set(node, stopping);
    }
    return stopping;
  }

  /** Stop every in-process node in `nodes` (a `startAll` result, say). */
  async stopAll(nodes: Partial<Record<P, PartyNode>> | readonly PartyNode[]): Promise<void> {
    await Promise.all(Object.values(nodes).map((n) => this.stop(n as PartyNode)));
  }

  /**
   * Open the store `party`'s config names in `run` (the SQLite file in its state directory, or its
   * PostgreSQL database and schema), as a test inspecting or preparing a party's state does. The caller
   * closes it.
   */
  openStore(party: P, options: { run?: string; readOnly?: boolean } = {}): NodeStore {
    const config = this.config(party, options.run === undefined ? {} : { run: options.run });
    const readOnly = options.readOnly === true;
    return openNodeStore(config, { readOnly });
  }

  /** Grant consents in `party`'s store for `run` while its node is not running (before a process starts). */
  grantConsents(party: P, grants: readonly ConsentGrant[], run: string = DEFAULT_RUN): void {
    const store = this.openStore(party, { run });
    try {
      new ConsentRegistry(store, { party }).grantAll(grants);
    } finally {
      store.close();
    }
  }

  /**
   * Give `toRun`'s stores of `parties` the party secrets of `fromRun`'s (the mask seeds of a job derive
   * from them; `names`: which secrets, default hetero-LR's): a run that must compare bit for bit with an
   * earlier run of the same job, as the restarted nodes of one deployment would.
   */
  copyPartySecrets(
    fromRun: string,
    toRun: string,
    parties: readonly P[] = this.parties,
    names: readonly string[] = [MASK_SEED_SECRET],
  ): void {
    for (const p of parties) {
      const from = this.openStore(p, { run: fromRun, readOnly: true });
      const secrets = new Map<string, Uint8Array>();
      try {
        for (const name of names) secrets.set(name, new JobStore(from).partySecret(name));
      } finally {
        from.close();
      }
      const to = this.openStore(p, { run: toRun });
      try {
        new JobStore(to);
        for (const [name, secret] of secrets) {
          to.run('INSERT INTO job_secrets (name, secret, created_at) VALUES (?, ?, ?)', name, secret, 0);
        }
      } finally {
        to.close();
      }
    }
  }

  /** Where `writeConfigFile` puts `party`'s config for `run`: `<dir>/<run>/<party>.yaml`. */
  configFile(party: P, run: string = DEFAULT_RUN): string {
    return join(this.dir, run, `${party}.yaml`);
  }

  /** Write `party`'s config for `run` as YAML (`configFile`) and return its path. */
  writeConfigFile(party: P, options: StartOptions = {}): string {
    const file = this.configFile(party, options.run);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, stringify(this.configInput(party, options)));
    return file;
  }

  /**
   * Start `party`'s node as its own OS process (`fedscore node --config <file>`), resolved once it prints
   * that it is ready; rejected with its log when it exits first or is not ready in time.
   */
  async startProcess(party: P, options: ProcessStartOptions = {}): Promise<NodeProcess> {
    const cliMain = this.#options.cliMain;
    if (cliMain === undefined) throw new Error('startProcess needs the cluster option cliMain');
    const configFile = this.writeConfigFile(party, options);
    const child = spawn(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', cliMain, 'node', '--config', configFile],
      { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...options.env } },
    );
    const log: string[] = [];
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const proc: NodeProcess = { party, child, configFile, log, exited };
    this.#processes.push(proc);
    await new Promise<void>((ok, fail) => {
      const timer = setTimeout(
        () => fail(new Error(`${party} node not ready:\n${log.join('\n')}`)),
        options.readyTimeoutMs ?? 60_000,
      );
      child.stderr!.on('data', (d: Buffer) => {
        for (const line of d.toString().split('\n')) {
          if (line.length > 0) log.push(line);
          if (log.length > 500) log.shift();
          if (line.startsWith(READY)) {
            clearTimeout(timer);
            ok();
          }
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        fail(new Error(`${party} node exited ${code}:\n${log.join('\n')}`));
      });
    });
    return proc;
  }

  /** Every node process started so far (running or not). */
  get processes(): readonly NodeProcess[] {
    return this.#processes;
  }

  /**
   * Stop a node process: SIGTERM (the node drains and exits 0), then SIGKILL when it has not exited
   * within `graceMs`; resolves with its exit code (null when killed).
   */
  async stopProcess(proc: NodeProcess, graceMs = 10_000): Promise<number | null> {
    const { child } = proc;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await proc.exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return proc.exited;
  }

  /**
   * Stop every in-process node not yet stopped and every node process still running (`stopProcess`), and
   * remove the directory when the cluster made it. Errors of nodes stopped earlier by hand are ignored
   * (a test may stop a node itself to simulate a crash).
   */
  async close(): Promise<void> {
    await Promise.all([...this.#nodes.keys()].map((n) => this.stop(n).catch(() => undefined)));
    await Promise.all(this.#processes.map((p) => this.stopProcess(p)));
    if (this.#ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
