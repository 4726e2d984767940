/**
 * One party of `bench secureboost --scale` (./secureboost-scale.ts) in its own process, so that its
 * memory is its own: `node secureboost-scale-party.ts guest|host DATA RESULT JSON`. It reads its own
 * features (and the guest its labels) from DATA (written by the coordinator, `writePartyData`), runs
 * its SecureBoost role (`SecureBoostGuest` or `SecureBoostHost`, the classes a party node runs) over a
 * `Channel` on file descriptor 3 (a pipe the coordinator relays to the other party), every message
 * encoded with the real wire codec (`envelopeCodec`) and counted as the in-memory network counts it,
 * and writes to RESULT: its history, bytes, a trace of its messages (for the per-stage split) and its
 * memory (VmRSS sampled every 200 ms, VmHWM at the end, `process.memoryUsage()` at the sampled peak).
 * The role runs on this process's main thread, as SecureBoost runs in the library (no worker pool).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  type Channel,
  type ChannelStats,
  type Envelope,
  FedscoreError,
  type PartyId,
  ProtocolSession,
} from '@fedscore/core';
import type { CkksPresetName } from '@fedscore/he';
import {
  abortAwareChannel,
  type PartyFeatures,
  SECUREBOOST_PROTOCOL,
  SECUREBOOST_VERSION,
  SecureBoostGuest,
  SecureBoostHost,
  type SecureBoostHyperparams,
} from '@fedscore/vfl';
import { envelopeCodec } from '@fedscore/wire';

/** One message event of a party: a send, or a receive (called at `t`, resolved at `done`). */
export interface TraceEvent {
  readonly kind: 'send' | 'receive';
  readonly step: string;
  readonly bytes: number;
  /** ms since this process's `performance.timeOrigin`. */
  readonly t: number;
  readonly done: number;
}

export interface PartyMemory {
  readonly vmHwmMb: number;
  readonly sampledPeakRssMb: number;
  /** Seconds into the role's run at the sampled peak, and the last message step before it. */
  readonly peakAtSeconds: number;
  readonly peakAfterStep: string;
  /** `process.memoryUsage()` at the sampled peak, MB. */
  readonly peakUsageMb: Readonly<Record<string, number>>;
  /** VmRSS after the data is loaded, before the role starts. */
  readonly rssAfterLoadMb: number;
}

export interface PartyReport {
  readonly role: 'guest' | 'host';
  readonly seconds: number;
  /** CPU seconds of this process (user + system) over the role's run: its share of the shared cores. */
  readonly cpuSeconds: number;
  readonly history?: unknown;
  readonly stats: ChannelStats;
  readonly trace: readonly TraceEvent[];
  readonly memory: PartyMemory;
  readonly floodingStdDev?: number;
}

/** A `Channel` over a byte stream: frames of a 4-byte big-endian length and one encoded envelope. */
export function streamChannel(party: PartyId, socket: Socket, trace: TraceEvent[]): Channel {
  const queues = new Map<string, { items: Envelope[]; waiters: ((e: Envelope) => void)[] }>();
  const stats: ChannelStats = { bytesSent: {}, bytesReceived: {}, messagesSent: {}, messagesReceived: {} };
  let failed: Error | undefined;
  const failures: ((e: Error) => void)[] = [];
  const queueOf = (from: PartyId, session: string) => {
    const key = `${from}\u0000${session}`;
    let q = queues.get(key);
    if (q === undefined) {
      q = { items: [], waiters: [] };
      queues.set(key, q);
    }
    return q;
  };
  let chunks: Buffer[] = [];
  let have = 0;
  let need = -1;
  const take = (n: number): Uint8Array => {
    const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, have);
    const out = Uint8Array.prototype.slice.call(all, 0, n);
    const rest = all.subarray(n);
    chunks = rest.length > 0 ? [rest] : [];
    have = rest.length;
    return out;
  };
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    have += c.length;
    for (;;) {
      if (need < 0) {
        if (have < 4) break;
        need = Buffer.from(take(4)).readUInt32BE(0);
      }
      if (have < need) break;
      const bytes = take(need);
      need = -1;
      const env = envelopeCodec.decode(bytes);
      const from = env.sender;
      stats.bytesReceived[from] = (stats.bytesReceived[from] ?? 0) + bytes.length;
      stats.messagesReceived[from] = (stats.messagesReceived[from] ?? 0) + 1;
      const q = queueOf(from, env.session);
      const w = q.waiters.shift();
      if (w) w(env);
      else q.items.push(env);
    }
  });
  const fail = (e: Error) => {
    failed ??= e;
    for (const f of failures.splice(0)) f(failed);
  };
  socket.on('error', fail);
  socket.on('close', () => fail(new FedscoreError('channel_closed', `channel of ${party} closed`)));
  return {
    party,
    async send(envelope: Envelope): Promise<void> {
      if (failed)
        throw new FedscoreError('channel_closed', `channel of ${party} is closed`, { cause: failed });
      const t = performance.now();
      const bytes = envelopeCodec.encode(envelope);
      const head = Buffer.alloc(4);
      head.writeUInt32BE(bytes.length, 0);
      const to = envelope.receiver;
      stats.bytesSent[to] = (stats.bytesSent[to] ?? 0) + bytes.length;
      stats.messagesSent[to] = (stats.messagesSent[to] ?? 0) + 1;
      socket.write(head);
      if (!socket.write(bytes)) await new Promise((r) => socket.once('drain', r));
      trace.push({ kind: 'send', step: envelope.step, bytes: bytes.length, t, done: performance.now() });
    },
    receive(from: PartyId, session: string): Promise<Envelope> {
      if (failed) return Promise.reject(failed);
      const t = performance.now();
      const done = (env: Envelope) => {
        trace.push({ kind: 'receive', step: env.step, bytes: 0, t, done: performance.now() });
        return env;
      };
      const q = queueOf(from, session);
      const ready = q.items.shift();
      if (ready !== undefined) return Promise.resolve(done(ready));
      return new Promise<Envelope>((resolve, reject) => {
        q.waiters.push((env) => resolve(done(env)));
        failures.push(reject);
      });
    },
    stats: () => structuredClone(stats),
    close(reason?: Error): void {
      fail(reason ?? new Error('closed'));
      socket.destroy();
    },
  };
}

/** Each party's data file: a JSON header (names, rows, labels or not), padded to 8 bytes, then columns. */
export function writePartyData(path: string, f: PartyFeatures, labels?: Float64Array): void {
  const rows = f.columns[0]?.length ?? labels?.length ?? 0;
  const json = Buffer.from(JSON.stringify({ names: f.names, rows, labels: labels !== undefined }));
  const headLen = Math.ceil((4 + json.length) / 8) * 8;
  const head = Buffer.alloc(headLen);
  head.writeUInt32BE(json.length, 0);
  json.copy(head, 4);
  const parts: Uint8Array[] = [head];
  for (const c of f.columns) parts.push(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
  if (labels !== undefined) parts.push(new Uint8Array(labels.buffer, labels.byteOffset, labels.byteLength));
  writeFileSync(path, Buffer.concat(parts));
}

export function readPartyData(path: string): { features: PartyFeatures; labels?: Float64Array } {
  const buf = readFileSync(path);
  const jsonLen = buf.readUInt32BE(0);
  const head = JSON.parse(buf.subarray(4, 4 + jsonLen).toString('utf8')) as {
    names: string[];
    rows: number;
    labels: boolean;
  };
  let at = buf.byteOffset + Math.ceil((4 + jsonLen) / 8) * 8;
  const next = () => {
    const v = new Float64Array(buf.buffer, at, head.rows);
    at += head.rows * 8;
    return v;
  };
  const columns = head.names.map(() => next());
  return { features: { names: head.names, columns }, ...(head.labels && { labels: next() }) };
}

function vm(field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : Math.round(process.memoryUsage().rss / 2 ** 20);
}

async function main(): Promise<void> {
  const [role, dataPath, resultPath, json] = process.argv.slice(2);
  if ((role !== 'guest' && role !== 'host') || !dataPath || !resultPath || !json) {
    throw new FedscoreError('invalid_argument', 'usage: guest|host DATA RESULT JSON', { field: 'argv' });
  }
  const p = JSON.parse(json) as {
    session: string;
    hyperparams: SecureBoostHyperparams;
    ckksPreset?: CkksPresetName;
  };
  const data = readPartyData(dataPath);
  const rssAfterLoadMb = vm('VmRSS');
  const trace: TraceEvent[] = [];
  const socket = new Socket({ fd: 3, readable: true, writable: true });
  const channel = streamChannel(role, socket, trace);
  const session = new ProtocolSession(abortAwareChannel(channel), {
    protocol: SECUREBOOST_PROTOCOL,
    version: SECUREBOOST_VERSION,
    session: p.session,
  });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let peak = { rss: 0, at: 0, step: '', usage: {} as Record<string, number> };
  const sample = () => {
    const rss = vm('VmRSS');
    if (rss <= peak.rss) return;
    const u = process.memoryUsage();
    peak = {
      rss,
      at: (performance.now() - t0) / 1000,
      step: trace.at(-1)?.step ?? '',
      usage: Object.fromEntries(Object.entries(u).map(([k, v]) => [k, Math.round(v / 2 ** 20)])),
    };
  };
  const timer = setInterval(sample, 200);
  let history: unknown;
  let floodingStdDev: number | undefined;
  if (role === 'guest') {
    const r = await new SecureBoostGuest({
      session,
      hosts: ['host'],
      features: data.features,
      labels: data.labels!,
      scheme: 'ckks',
      hyperparams: p.hyperparams,
      ...(p.ckksPreset !== undefined && { he: { ckksPreset: p.ckksPreset } }),
      onProgress: (e) =>
        process.stderr.write(
          `guest: tree ${e.done}/${e.total} at ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
        ),
    }).run();
    history = r.history;
  } else {
    const r = await new SecureBoostHost({
      session,
      guest: 'guest',
      features: data.features,
      colsampleByTree: 1,
      receiveSplitGains: false,
    }).run();
    floodingStdDev = r.floodingStdDev;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  sample();
  clearInterval(timer);
  const report: PartyReport = {
    role,
    seconds,
    cpuSeconds,
    history,
    stats: channel.stats(),
    trace,
    memory: {
      vmHwmMb: vm('VmHWM'),
      sampledPeakRssMb: peak.rss,
      peakAtSeconds: peak.at,
      peakAfterStep: peak.step,
      peakUsageMb: peak.usage,
      rssAfterLoadMb,
    },
    ...(floodingStdDev !== undefined && { floodingStdDev }),
  };
  writeFileSync(resultPath, JSON.stringify(report));
  socket.end();
  socket.destroy();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
