/**
 * A network-shaping TCP proxy in user space, for benchmarks (this machine's kernel has no netem, and the
 * benchmarks must not need root). It listens on a loopback port and forwards every accepted connection to
 * one target, shaping each direction on its own as a point-to-point link would:
 *
 *   - bandwidth: a FIFO transmitter at B bits/s. A chunk of n bytes starts transmitting when the previous
 *     one has finished (or when it arrives, if the link is idle) and takes n * 8 / B seconds -- a token
 *     bucket with a one-chunk burst, chunks at most `sliceBytes` long so the pacing is smooth;
 *   - latency: every chunk is held a further L ms of one-way propagation after it is transmitted, order
 *     preserved.
 *
 * So a transfer of N bytes over an idle link arrives whole at N * 8 / B + L after its first byte was
 * sent, and a request/response round trip of small messages takes 2 L (test: benchmarks/test/shaper.test.ts).
 * All connections through one proxy share its two transmitters (one per direction), like one network path
 * (a node's gRPC client multiplexes its calls on one connection anyway).
 *
 * Resolution: delivery runs on Node timers (about 1 ms). A chunk due in under `earlyMs` is sent at once,
 * one due later waits for a timer that may fire ~1 ms late; the transmitter's clock is virtual (each
 * chunk's departure is computed from the previous one's, not from when it was actually delivered), so the
 * long-run rate is exact and the error of any single delivery is about a millisecond. That is far below
 * the `wan` profile's 50 ms and is the `lan` profile's floor (0.1 ms is below what timers resolve: `lan`
 * here is "about 1 ms of latency at most", which still bounds the comparison from above).
 *
 * Backpressure: when more than `maxQueuedBytes` wait in one direction the source socket is paused until the
 * queue drains, so a fast sender sees the link's rate (as TCP's window would make it) instead of filling
 * memory.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { FedscoreError } from '@fedscore/core';

/** A link shape the proxy may change in place (`ShapedProxy.reshape`). */
type MutableShape = { -readonly [K in keyof LinkShape]: LinkShape[K] };

/** The shape of one direction of a link. */
export interface LinkShape {
  /** One-way propagation delay, milliseconds. */
  readonly latencyMs: number;
  /** Link rate in bits per second; `Infinity` = not limited. */
  readonly bitsPerSecond: number;
}

export const NETWORK_PROFILES = ['memory', 'lan', 'wan'] as const;
export type NetworkProfile = (typeof NETWORK_PROFILES)[number];

/**
 * The profiles: `memory` = all parties in one process over the in-memory network (no proxy, no sockets);
 * `lan` = 1 Gbps, 0.1 ms one way (FATE 2.0's two machines on 1 Gb LAN); `wan` = 100 Mbps, 50 ms one way
 * (SecretFlow's WAN setting in its benchmark tables).
 */
export const PROFILE_SHAPES: Readonly<Record<Exclude<NetworkProfile, 'memory'>, LinkShape>> = {
  lan: { latencyMs: 0.1, bitsPerSecond: 1e9 },
  wan: { latencyMs: 50, bitsPerSecond: 100e6 },
};

export function parseNetworkProfile(v: string | undefined, fallback: NetworkProfile): NetworkProfile {
  if (v === undefined) return fallback;
  if (!(NETWORK_PROFILES as readonly string[]).includes(v))
    throw new FedscoreError('invalid_argument', `expected one of ${NETWORK_PROFILES.join(', ')}`, {
      field: '--network',
    });
  return v as NetworkProfile;
}

export interface ShapedProxyOptions {
  /** Where connections are forwarded. */
  readonly target: { readonly host: string; readonly port: number };
  /** Client -> target direction. */
  readonly up: LinkShape;
  /** Target -> client direction (default: the same as `up`). */
  readonly down?: LinkShape;
  /** Port to listen on (default 0: any free port). Always loopback. */
  readonly port?: number;
  /** Largest chunk paced as one unit. Default 16 KiB. */
  readonly sliceBytes?: number;
  /** Bytes queued per direction before the source is paused. Default 8 MiB. */
  readonly maxQueuedBytes?: number;
  /** Deliver a chunk at once when it is due in less than this (timer resolution). Default 0.5 ms. */
  readonly earlyMs?: number;
}

/** Bytes delivered in one direction, with a coarse timeline for attributing them to intervals. */
export interface DirectionStats {
  bytes: number;
  /** [wall-clock time in epoch ms (`Date.now()`, never decreasing), cumulative bytes], at most one per 5 ms. */
  readonly timeline: [number, number][];
}

export interface ProxyStats {
  readonly up: DirectionStats;
  readonly down: DirectionStats;
  connections: number;
}

interface Pending {
  readonly chunk: Buffer;
  readonly due: number;
}

/** One direction of a link: the virtual transmitter, the propagation queue, delivery into `to`. */
class Direction {
  /** The proxy's shape of this direction, read per chunk (`ShapedProxy.reshape` changes it in place). */
  readonly #shape: LinkShape;
  readonly #stats: DirectionStats;
  readonly #opts: Required<Pick<ShapedProxyOptions, 'sliceBytes' | 'maxQueuedBytes' | 'earlyMs'>>;
  readonly #from: Socket;
  readonly #to: Socket;
  readonly #queue: Pending[] = [];
  #head = 0;
  #queued = 0;
  /** The transmitter, shared by this direction of every connection through the proxy. */
  readonly #link: { freeAt: number };
  #timer: NodeJS.Timeout | undefined;
  #ended = false;
  #paused = false;

  constructor(
    shape: LinkShape,
    stats: DirectionStats,
    opts: Required<Pick<ShapedProxyOptions, 'sliceBytes' | 'maxQueuedBytes' | 'earlyMs'>>,
    from: Socket,
    to: Socket,
    link: { freeAt: number },
  ) {
    this.#link = link;
    this.#shape = shape;
    this.#stats = stats;
    this.#opts = opts;
    this.#from = from;
    this.#to = to;
    from.on('data', (d: Buffer) => this.#accept(d));
    from.on('end', () => {
      this.#ended = true;
      this.#pump();
    });
  }

  #accept(data: Buffer): void {
    const now = performance.now();
    const perByteMs = Number.isFinite(this.#shape.bitsPerSecond) ? 8000 / this.#shape.bitsPerSecond : 0;
    for (let off = 0; off < data.length; off += this.#opts.sliceBytes) {
      const chunk = data.subarray(off, Math.min(data.length, off + this.#opts.sliceBytes));
      const start = Math.max(now, this.#link.freeAt);
      this.#link.freeAt = start + chunk.length * perByteMs;
      this.#queue.push({ chunk, due: this.#link.freeAt + this.#shape.latencyMs });
      this.#queued += chunk.length;
    }
    if (this.#queued > this.#opts.maxQueuedBytes && !this.#paused) {
      this.#paused = true;
      this.#from.pause();
    }
    this.#pump();
  }

  #pump(): void {
    if (this.#timer !== undefined) return;
    const now = performance.now();
    let wrote = 0;
    while (this.#head < this.#queue.length) {
      const p = this.#queue[this.#head]!;
      if (p.due - now >= this.#opts.earlyMs) break;
      this.#head++;
      this.#queued -= p.chunk.length;
      wrote += p.chunk.length;
      if (!this.#to.destroyed) this.#to.write(p.chunk);
    }
    if (wrote > 0) this.#record(wrote);
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
    if (this.#paused && this.#queued <= this.#opts.maxQueuedBytes / 2) {
      this.#paused = false;
      this.#from.resume();
    }
    const next = this.#queue[this.#head];
    if (next !== undefined) {
      this.#timer = setTimeout(
        () => {
          this.#timer = undefined;
          this.#pump();
        },
        Math.max(1, next.due - now),
      );
    } else if (this.#ended && !this.#to.destroyed) {
      this.#to.end();
    }
  }

  #record(n: number): void {
    this.#stats.bytes += n;
    // The wall clock, as the node processes stamp the job events whose intervals the bytes are attributed
    // to. Not `performance.timeOrigin + performance.now()`: this machine's wall clock drifts from the
    // monotonic one (measured in one process: 5 ms a second, then a 17.6 s step within 30 s), which put
    // bytes into the wrong stage or into none. Kept non-decreasing should the wall clock step back.
    const last = this.#stats.timeline.at(-1);
    const t = Math.max(Date.now(), last?.[0] ?? 0);
    if (last !== undefined && t - last[0] < 5) last[1] = this.#stats.bytes;
    else this.#stats.timeline.push([t, this.#stats.bytes]);
  }

  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** A running proxy: `port` to dial instead of the target; `stats` counts what it delivered. */
export class ShapedProxy {
  readonly port: number;
  readonly stats: ProxyStats;
  readonly #server: Server;
  readonly #sockets: Set<Socket>;
  readonly #directions: Set<Direction>;
  readonly #shapes: { readonly up: MutableShape; readonly down: MutableShape };

  private constructor(
    server: Server,
    port: number,
    stats: ProxyStats,
    sockets: Set<Socket>,
    directions: Set<Direction>,
    shapes: { readonly up: MutableShape; readonly down: MutableShape },
  ) {
    this.#server = server;
    this.port = port;
    this.stats = stats;
    this.#sockets = sockets;
    this.#directions = directions;
    this.#shapes = shapes;
  }

  /**
   * Shape every byte from now on, on open connections and new ones, as `up` (and `down`, default `up`):
   * one set of proxies, and of the processes behind them, serves several profiles one after another
   * (`bench net --smoke-kinds`). Bytes already queued keep the delivery time they were given.
   */
  reshape(up: LinkShape, down: LinkShape = up): void {
    checkShape(up, 'up');
    checkShape(down, 'down');
    Object.assign(this.#shapes.up, { latencyMs: up.latencyMs, bitsPerSecond: up.bitsPerSecond });
    Object.assign(this.#shapes.down, { latencyMs: down.latencyMs, bitsPerSecond: down.bitsPerSecond });
  }

  static async start(o: ShapedProxyOptions): Promise<ShapedProxy> {
    checkShape(o.up, 'up');
    if (o.down !== undefined) checkShape(o.down, 'down');
    const opts = {
      sliceBytes: o.sliceBytes ?? 16 * 1024,
      maxQueuedBytes: o.maxQueuedBytes ?? 8 * 1024 * 1024,
      earlyMs: o.earlyMs ?? 0.5,
    };
    const stats: ProxyStats = {
      up: { bytes: 0, timeline: [] },
      down: { bytes: 0, timeline: [] },
      connections: 0,
    };
    /** When each direction's transmitter is next free (ms, performance.now()). */
    const links = { up: { freeAt: 0 }, down: { freeAt: 0 } };
    /** Each direction's shape, shared by its `Direction`s (own copies: `reshape` changes them). */
    const down = o.down ?? o.up;
    const shapes = {
      up: { latencyMs: o.up.latencyMs, bitsPerSecond: o.up.bitsPerSecond },
      down: { latencyMs: down.latencyMs, bitsPerSecond: down.bitsPerSecond },
    };
    const sockets = new Set<Socket>();
    const directions = new Set<Direction>();
    const server = createServer({ noDelay: true }, (client) => {
      stats.connections++;
      const upstream = createConnection({ host: o.target.host, port: o.target.port, noDelay: true });
      const pair = [client, upstream];
      for (const s of pair) {
        sockets.add(s);
        s.on('error', () => {
          for (const t of pair) t.destroy();
        });
        s.on('close', () => {
          sockets.delete(s);
          for (const t of pair) t.destroy();
        });
      }
      const dirs = [
        new Direction(shapes.up, stats.up, opts, client, upstream, links.up),
        new Direction(shapes.down, stats.down, opts, upstream, client, links.down),
      ];
      for (const d of dirs) directions.add(d);
      client.on('close', () => {
        for (const d of dirs) {
          d.close();
          directions.delete(d);
        }
      });
    });
    const port = await new Promise<number>((ok, fail) => {
      server.once('error', fail);
      server.listen(o.port ?? 0, '127.0.0.1', () => ok((server.address() as { port: number }).port));
    });
    return new ShapedProxy(server, port, stats, sockets, directions, shapes);
  }

  async close(): Promise<void> {
    for (const d of this.#directions) d.close();
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

function checkShape(s: LinkShape, field: string): void {
  if (!(s.latencyMs >= 0) || !Number.isFinite(s.latencyMs))
    throw new Error(`${field}.latencyMs must be a finite number >= 0`);
  if (!(s.bitsPerSecond > 0)) throw new Error(`${field}.bitsPerSecond must be > 0`);
}

/** Bytes a direction delivered within [from, to] (epoch ms), from its timeline (5 ms resolution). */
export function bytesBetween(d: DirectionStats, from: number, to: number): number {
  return cumulativeAt(d, to) - cumulativeAt(d, from);
}

function cumulativeAt(d: DirectionStats, t: number): number {
  let lo = 0;
  let hi = d.timeline.length - 1;
  let best = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const e = d.timeline[mid]!;
    if (e[0] <= t) {
      best = e[1];
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}
