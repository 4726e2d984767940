/**
 * What the node cases of the sweep share (cases-node.ts): a development PKI, node configs, starting a node
 * in process or the CLI as an OS process, raw gRPC calls over Node's own HTTP/2 client (so a case can send
 * exactly the bytes it wants, with or without a client certificate), and the classification of an
 * outcome into a `SweepResult`. The packages are root devDependencies (workspace links), imported by name.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { createServer, type Server } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FedscoreError, isFedscoreError } from '@fedscore/core';
import {
  createDevCa,
  issuePartyCert,
  type NodeConfig,
  PartyNode,
  type PemPair,
  type TlsMaterial,
  validateNodeConfig,
} from '@fedscore/node';
import type { SweepResult } from './types.ts';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = join(REPO, 'packages/cli/src/main.ts');

/** One federation CA and party certificates, made once per sweep process. */
let pki: { ca: PemPair; other: PemPair; pairs: Map<string, PemPair> } | undefined;
export function federation(): {
  ca: PemPair;
  other: PemPair;
  party(p: string): PemPair;
  tls(p: string): TlsMaterial;
} {
  if (pki === undefined) {
    pki = { ca: createDevCa(), other: createDevCa({ name: 'not the federation CA' }), pairs: new Map() };
  }
  const state = pki;
  const party = (p: string): PemPair => {
    let pair = state.pairs.get(p);
    if (pair === undefined) {
      pair = issuePartyCert({ ca: state.ca, party: p });
      state.pairs.set(p, pair);
    }
    return pair;
  };
  return { ca: state.ca, other: state.other, party, tls: (p) => ({ ca: state.ca.cert, ...party(p) }) };
}

/** A government node's config on loopback (port 0) with `stateDir` under `workDir`. */
export function govConfig(workDir: string, extra: Record<string, unknown> = {}): NodeConfig {
  return validateNodeConfig({
    party: 'government',
    listen: '127.0.0.1:0',
    stateDir: join(workDir, 'state'),
    tls: { ca: 'unused', cert: 'unused', key: 'unused' },
    peers: { bank: { address: '127.0.0.1:1' } },
    ...extra,
  });
}

export function startGov(
  workDir: string,
  extra: Record<string, unknown> = {},
  tls?: TlsMaterial,
): Promise<PartyNode> {
  return PartyNode.start({ config: govConfig(workDir, extra), tls: tls ?? federation().tls('government') });
}

/** A started and stopped government node with `entries` consent_change audit entries. */
export async function initialisedGov(workDir: string, entries = 3): Promise<void> {
  const node = await startGov(workDir);
  for (let i = 0; i < entries; i++)
    node.audit.append({ kind: 'consent_change', actor: 'government', details: { i } });
  await node.stop();
}

export function listenPort(port = 0): Promise<Server> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(port, '127.0.0.1', () => res(s));
  });
}
export const portOf = (s: Server): number => (s.address() as { port: number }).port;
export const closeServer = (s: Server): Promise<void> => new Promise((r) => s.close(() => r()));

/**
 * The outcome of something that must be refused: a typed error naming a field or file is
 * `refused-clearly` (and, with `field`, only when it names that field); no error is `silent-wrong`; an
 * untyped error is a `crash`.
 */
export async function expectRefusal(
  run: () => Promise<unknown> | unknown,
  want: { code?: string; field?: string | RegExp } = {},
): Promise<SweepResult> {
  try {
    await run();
  } catch (e) {
    return classifyError(e, want);
  }
  return { outcome: 'silent-wrong', detail: 'accepted without an error' };
}

export function classifyError(
  e: unknown,
  want: { code?: string; field?: string | RegExp } = {},
): SweepResult {
  if (!isFedscoreError(e)) {
    return {
      outcome: 'crash',
      detail: `untyped: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`,
    };
  }
  const detail = `[${e.code}] ${e.message.split('\n')[0]}`;
  if (e.field === undefined && e.file === undefined)
    return { outcome: 'crash', detail: `no field: ${detail}` };
  if (want.code !== undefined && e.code !== want.code)
    return { outcome: 'crash', detail: `want ${want.code}: ${detail}` };
  if (want.field !== undefined) {
    const ok = typeof want.field === 'string' ? e.field === want.field : want.field.test(e.field ?? '');
    if (!ok) return { outcome: 'crash', detail: `want field ${String(want.field)}: ${detail}` };
  }
  return { outcome: 'refused-clearly', detail };
}

/** Write a government config file (and its certificate files) under `dir`; returns its path. */
export function writeGovConfigFile(dir: string, lines: string[] = [], tls?: TlsMaterial): string {
  mkdirSync(join(dir, 'certs'), { recursive: true });
  const t = tls ?? federation().tls('government');
  writeFileSync(join(dir, 'certs/ca.pem'), t.ca);
  writeFileSync(join(dir, 'certs/gov.pem'), t.cert);
  writeFileSync(join(dir, 'certs/gov-key.pem'), t.key);
  const base: Record<string, string> = {
    party: 'government',
    listen: '127.0.0.1:0',
    stateDir: './state',
    tls: '{ ca: certs/ca.pem, cert: certs/gov.pem, key: certs/gov-key.pem }',
    peers: "{ bank: { address: '127.0.0.1:1' } }",
  };
  for (const l of lines) {
    const i = l.indexOf(':');
    base[l.slice(0, i)] = l.slice(i + 1).trim();
  }
  const file = join(dir, 'gov.yaml');
  writeFileSync(
    file,
    Object.entries(base)
      .map(([k, v]) => `${k}: ${v}`)
      .join('\n'),
  );
  return file;
}

export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run the CLI to completion (killed after `timeoutMs`). */
export function runCli(args: string[], cwd: string, timeoutMs = 30_000): Promise<CliRun> {
  return new Promise((res) => {
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', CLI, ...args], { cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal, stdout, stderr });
    });
  });
}

/** A CLI run that must fail: exit 1 with `fedscore: error [code]` naming `field` (when given). */
export function cliRefusal(r: CliRun, want: { code: string; field?: string }): SweepResult {
  const line = r.stderr.split('\n').find((l) => l.startsWith('fedscore: ')) ?? '';
  if (r.signal === 'SIGKILL') return { outcome: 'hang', detail: 'killed at the time limit' };
  if (r.code === 0) return { outcome: 'silent-wrong', detail: 'exit 0' };
  if (!line.startsWith(`fedscore: error [${want.code}]`)) {
    return { outcome: 'crash', detail: `exit ${r.code}: ${line || r.stderr.split('\n')[0] || 'no message'}` };
  }
  if (want.field !== undefined && !line.includes(`field '${want.field}'`)) {
    return { outcome: 'crash', detail: `no field ${want.field}: ${line}` };
  }
  return { outcome: 'refused-clearly', detail: `exit ${r.code}: ${line.slice('fedscore: '.length)}` };
}

/** Start `fedscore node --config FILE` and wait for its ready line (or its exit). */
export function spawnNode(
  config: string,
  cwd: string,
  timeoutMs = 30_000,
): Promise<{ child: ChildProcess; ready: boolean; grpc: number; stderr: () => string }> {
  return new Promise((res) => {
    const child = spawn(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', CLI, 'node', '--config', config],
      {
        cwd,
      },
    );
    let stderr = '';
    let done = false;
    const finish = (ready: boolean, grpc = 0): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      res({ child, ready, grpc, stderr: () => stderr });
    };
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /fedscore node ready party=\S+ grpc=(\d+)/.exec(stderr);
      if (m !== null) finish(true, Number(m[1]));
    });
    child.stdout.resume();
    child.on('exit', () => finish(false));
    const timer = setTimeout(() => finish(false), timeoutMs);
  });
}

/** Kill a child and wait for it to be gone. */
export function killHard(child: ChildProcess): Promise<void> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      res();
      return;
    }
    child.once('exit', () => res());
    child.kill('SIGKILL');
  });
}

export interface GrpcAnswer {
  /** grpc-status (0 = OK); undefined when the connection failed before an answer. */
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly message: string;
}

/**
 * One gRPC call over a raw HTTP/2 session (`/fedscore.node.PartyNode/<rpc>`), each message framed as
 * gRPC does (1 byte flag, 4 bytes length). `client` is the certificate to present (none when absent).
 */
export function grpcCall(
  port: number,
  rpc: 'Deliver' | 'Control' | 'Health',
  messages: readonly Uint8Array[],
  client?: { cert: string; key: string },
  session?: ReturnType<typeof http2Connect>,
): Promise<GrpcAnswer> {
  const f = federation();
  const own = session === undefined;
  const s =
    session ??
    http2Connect(`https://127.0.0.1:${port}`, {
      ca: f.ca.cert,
      ...(client !== undefined && { cert: client.cert, key: client.key }),
      checkServerIdentity: () => undefined,
    });
  return new Promise((res) => {
    let headers: Record<string, unknown> = {};
    let settled = false;
    const done = (a: GrpcAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (own) s.close();
      res(a);
    };
    const timer = setTimeout(
      () => done({ status: undefined, code: undefined, message: 'no answer in 10 s' }),
      10_000,
    );
    s.on('error', (e) => done({ status: undefined, code: undefined, message: e.message }));
    const req = s.request({
      ':method': 'POST',
      ':path': `/fedscore.node.PartyNode/${rpc}`,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    req.on('response', (h) => {
      headers = h;
    });
    req.on('trailers', (t) => {
      headers = { ...headers, ...t };
    });
    req.on('data', () => {});
    req.on('error', (e) => done({ status: undefined, code: undefined, message: e.message }));
    req.on('close', () => {
      const st = headers['grpc-status'];
      const code = headers['fedscore-code'];
      done({
        status: st === undefined ? undefined : Number(st),
        code: typeof code === 'string' ? code : undefined,
        message: decodeURIComponent(String(headers['grpc-message'] ?? '')),
      });
    });
    for (const m of messages) {
      const frame = Buffer.alloc(5 + m.length);
      frame.writeUInt32BE(m.length, 1);
      frame.set(m, 5);
      req.write(frame);
    }
    req.end();
  });
}

export function http2Session(
  port: number,
  client?: { cert: string; key: string },
): ReturnType<typeof http2Connect> {
  const f = federation();
  const s = http2Connect(`https://127.0.0.1:${port}`, {
    ca: f.ca.cert,
    ...(client !== undefined && { cert: client.cert, key: client.key }),
    checkServerIdentity: () => undefined,
  });
  s.on('error', () => {});
  return s;
}

/** The node answers an authenticated Health call (it is up and serving). */
export async function healthy(port: number): Promise<boolean> {
  const a = await grpcCall(port, 'Health', [new Uint8Array()], federation().party('bank'));
  return a.status === 0;
}

export function internalError(message: string): FedscoreError {
  return new FedscoreError('internal', message);
}
