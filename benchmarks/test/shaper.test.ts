/**
 * The benchmark network shaper (benchmarks/src/net/shaper.ts) against the link model it claims: over an
 * idle link of rate B and one-way latency L, N bytes sent at once arrive whole N * 8 / B + L after the
 * first was sent; a small request and its reply take 2 L. Tolerance: 10 % of the expected time plus 5 ms
 * (timer resolution and loopback costs); both bounds are checked, so a shaper that leaks (too fast) fails
 * as well as one that stalls. Small rates (8 and 16 Mbps) make the transfers last 0.1-1 s so the timing
 * dominates scheduling noise on a loaded 2-core machine; the file runs in about 3 s. A measurement that
 * comes out too fast fails at once (load cannot make a shaper leak); one that comes out too slow is taken
 * again, up to 3 times, since a busy machine can stall the event loop for tens of ms (the best of three is
 * the usual reading of a timing under noise).
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesBetween, type LinkShape, PROFILE_SHAPES, ShapedProxy } from '../src/net/shaper.ts';

const UP: LinkShape = { latencyMs: 20, bitsPerSecond: 8e6 };
const DOWN: LinkShape = { latencyMs: 30, bitsPerSecond: 16e6 };

const expectedMs = (n: number, s: LinkShape): number => (n * 8 * 1000) / s.bitsPerSecond + s.latencyMs;
const tolerance = (expected: number): number => 0.1 * expected + 5;

/** Bytes written through the proxy per direction, for the counting test. */
const sent = { up: 0, down: 0 };

/** Run `measure` (returns elapsed ms) until it lands within tolerance of `expected`, at most 3 times. */
async function within(expected: number, measure: () => Promise<number>): Promise<void> {
  let measured = Number.NaN;
  for (let attempt = 0; attempt < 3; attempt++) {
    measured = await measure();
    const msg = `measured ${measured.toFixed(1)} ms, expected ${expected.toFixed(1)} ms`;
    expect(measured, `too fast: ${msg}`).toBeGreaterThanOrEqual(expected - tolerance(expected));
    if (measured <= expected + tolerance(expected)) return;
  }
  expect.fail(`too slow 3 times: last ${measured.toFixed(1)} ms, expected ${expected.toFixed(1)} ms`);
}

let serverSocket: Promise<Socket>;
let server: Server;
let proxy: ShapedProxy;
let client: Socket;

/** Resolve with performance.now() once `n` more bytes have been read from `s`. */
function arrival(s: Socket, n: number): Promise<number> {
  return new Promise((ok) => {
    let got = 0;
    const on = (d: Buffer) => {
      got += d.length;
      if (got >= n) {
        s.off('data', on);
        ok(performance.now());
      }
    };
    s.on('data', on);
  });
}

beforeAll(async () => {
  let resolveSocket!: (s: Socket) => void;
  serverSocket = new Promise((r) => {
    resolveSocket = r;
  });
  server = createServer({ noDelay: true }, (s) => resolveSocket(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  proxy = await ShapedProxy.start({
    target: { host: '127.0.0.1', port: (server.address() as { port: number }).port },
    up: UP,
    down: DOWN,
  });
  client = connect({ host: '127.0.0.1', port: proxy.port, noDelay: true });
  await once(client, 'connect');
  await serverSocket;
});

afterAll(async () => {
  client.destroy();
  await proxy.close();
  await new Promise((r) => server.close(r));
});

describe('ShapedProxy', () => {
  it('delivers N bytes client -> target in N / bandwidth + latency', async () => {
    const s = await serverSocket;
    for (const n of [100_000, 1_000_000]) {
      await within(expectedMs(n, UP), async () => {
        const done = arrival(s, n);
        const t0 = performance.now();
        client.write(Buffer.alloc(n, 7));
        sent.up += n;
        return (await done) - t0;
      });
    }
  });

  it('delivers N bytes target -> client at its own shape', async () => {
    const s = await serverSocket;
    for (const n of [100_000, 1_000_000]) {
      await within(expectedMs(n, DOWN), async () => {
        const done = arrival(client, n);
        const t0 = performance.now();
        s.write(Buffer.alloc(n, 9));
        sent.down += n;
        return (await done) - t0;
      });
    }
  });

  it('shapes both directions independently at the same time', async () => {
    const s = await serverSocket;
    const n = 500_000;
    let attempts = 0;
    let up = 0;
    let down = 0;
    const both = async () => {
      attempts++;
      const u = arrival(s, n);
      const d = arrival(client, n);
      const t0 = performance.now();
      client.write(Buffer.alloc(n, 1));
      s.write(Buffer.alloc(n, 2));
      sent.up += n;
      sent.down += n;
      up = (await u) - t0;
      down = (await d) - t0;
    };
    // Both transfers share the clock: retry the pair (as above) while either is late.
    const late = () =>
      up > expectedMs(n, UP) + tolerance(expectedMs(n, UP)) ||
      down > expectedMs(n, DOWN) + tolerance(expectedMs(n, DOWN));
    do await both();
    while (late() && attempts < 3);
    await within(expectedMs(n, UP), async () => up);
    await within(expectedMs(n, DOWN), async () => down);
  });

  it('takes two one-way latencies for a small request and its reply', async () => {
    const s = await serverSocket;
    const echo = (d: Buffer) => s.write(d);
    s.on('data', echo);
    try {
      for (let i = 0; i < 5; i++) {
        // 8 bytes each way add 8 us and 4 us of transmission: the round trip is the two latencies.
        await within(UP.latencyMs + DOWN.latencyMs, async () => {
          const back = arrival(client, 8);
          const t0 = performance.now();
          client.write(Buffer.alloc(8, i));
          sent.up += 8;
          sent.down += 8;
          return (await back) - t0;
        });
      }
    } finally {
      s.off('data', echo);
    }
  });

  it('delivers the byte stream exactly: every byte, in order, across many writes', async () => {
    const s = await serverSocket;
    const sentBytes = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 131 + (i >> 8)) & 255));
    const got: Buffer[] = [];
    let n = 0;
    const done = new Promise<void>((ok) => {
      const on = (d: Buffer) => {
        got.push(d);
        n += d.length;
        if (n >= sentBytes.length) {
          s.off('data', on);
          ok();
        }
      };
      s.on('data', on);
    });
    // Uneven writes, so slices of the pacer straddle the writes' boundaries.
    for (let off = 0, k = 1; off < sentBytes.length; off += 997 * k, k = (k % 7) + 1)
      client.write(sentBytes.subarray(off, Math.min(sentBytes.length, off + 997 * k)));
    sent.up += sentBytes.length;
    await done;
    expect(Buffer.concat(got).equals(sentBytes)).toBe(true);
  });

  it('counts the bytes it delivered, per direction and per interval', () => {
    const up = sent.up;
    expect(up).toBeGreaterThanOrEqual(100_000 + 1_000_000 + 500_000 + 5 * 8 + 200_000);
    expect(proxy.stats.up.bytes).toBe(sent.up);
    expect(proxy.stats.down.bytes).toBe(sent.down);
    expect(proxy.stats.connections).toBe(1);
    expect(bytesBetween(proxy.stats.up, 0, Date.now() + 1000)).toBe(up);
    expect(bytesBetween(proxy.stats.up, Date.now() + 1, Date.now() + 1000)).toBe(0);
  });
});

/**
 * The profiles themselves, as issue 20 defines them: lan 1 Gbps / 0.1 ms, wan 100 Mbps / 50 ms (one way,
 * each direction). A wrong constant in PROFILE_SHAPES would pass the tests above, which use their own
 * shapes. wan: 2 MB take 160 ms + 50 ms, within the same tolerance (10 % + 5 ms) and retries. lan: 12.5 MB
 * take 100 ms + 0.1 ms; the same lower bound (the shaper never leaks), and an upper bound of 2x + 20 ms,
 * since at 1 Gbps the proxy's own JavaScript (about 800 slices of 16 KiB through timers) on a loaded
 * 2-core machine is part of the time -- the profile's latency is below timer resolution (shaper.ts).
 */
describe('the network profiles', () => {
  it("are the issue's lan (1 Gbps, 0.1 ms) and wan (100 Mbps, 50 ms)", () => {
    expect(PROFILE_SHAPES).toEqual({
      lan: { latencyMs: 0.1, bitsPerSecond: 1e9 },
      wan: { latencyMs: 50, bitsPerSecond: 100e6 },
    });
  });

  async function through(shape: LinkShape, n: number, upper: (expected: number) => number): Promise<void> {
    let resolveSocket!: (s: Socket) => void;
    const accepted = new Promise<Socket>((r) => {
      resolveSocket = r;
    });
    const target = createServer({ noDelay: true }, (sock) => resolveSocket(sock));
    target.listen(0, '127.0.0.1');
    await once(target, 'listening');
    const p = await ShapedProxy.start({
      target: { host: '127.0.0.1', port: (target.address() as { port: number }).port },
      up: shape,
    });
    const c = connect({ host: '127.0.0.1', port: p.port, noDelay: true });
    try {
      await once(c, 'connect');
      const s = await accepted;
      const expected = expectedMs(n, shape);
      let measured = Number.NaN;
      for (let attempt = 0; attempt < 3; attempt++) {
        const done = arrival(s, n);
        const t0 = performance.now();
        c.write(Buffer.alloc(n, attempt));
        measured = (await done) - t0;
        const msg = `measured ${measured.toFixed(1)} ms, expected ${expected.toFixed(1)} ms`;
        expect(measured, `too fast: ${msg}`).toBeGreaterThanOrEqual(expected - tolerance(expected));
        if (measured <= upper(expected)) return;
        // Let the link drain before the next attempt.
        await new Promise((r) => setTimeout(r, 50));
      }
      expect.fail(`too slow 3 times: last ${measured.toFixed(1)} ms, expected ${expected.toFixed(1)} ms`);
    } finally {
      c.destroy();
      await p.close();
      await new Promise((r) => target.close(r));
    }
  }

  it('wan: 2 MB take 2e6 * 8 / 100 Mbps + 50 ms', async () => {
    await through(PROFILE_SHAPES.wan, 2_000_000, (e) => e + tolerance(e));
  });

  it('lan: 12.5 MB take 12.5e6 * 8 / 1 Gbps + 0.1 ms (never less; at most 2x + 20 ms)', async () => {
    await through(PROFILE_SHAPES.lan, 12_500_000, (e) => 2 * e + 20);
  });
});

/**
 * `reshape`: one proxy serves several profiles one after another (`bench net --smoke-kinds` runs its
 * PSI-only job over wan on the processes and proxies its other jobs used over lan). On a connection
 * opened before the change, bytes sent after it take the new shape's N / bandwidth + latency, in both
 * directions (the down shape defaults to the up one).
 */
describe('ShapedProxy.reshape', () => {
  it('shapes an open connection at the new shape from then on, both directions', async () => {
    const before: LinkShape = { latencyMs: 10, bitsPerSecond: 80e6 };
    const after: LinkShape = { latencyMs: 80, bitsPerSecond: 8e6 };
    let accept!: (s: Socket) => void;
    const accepted = new Promise<Socket>((r) => {
      accept = r;
    });
    const target = createServer({ noDelay: true }, (s) => accept(s));
    target.listen(0, '127.0.0.1');
    await once(target, 'listening');
    const p = await ShapedProxy.start({
      target: { host: '127.0.0.1', port: (target.address() as { port: number }).port },
      up: before,
    });
    const c = connect({ host: '127.0.0.1', port: p.port, noDelay: true });
    try {
      await once(c, 'connect');
      const s = await accepted;
      const n = 100_000;
      const upOnce = async () => {
        const done = arrival(s, n);
        const t0 = performance.now();
        c.write(Buffer.alloc(n, 3));
        return (await done) - t0;
      };
      await within(expectedMs(n, before), upOnce);
      p.reshape(after);
      await within(expectedMs(n, after), upOnce);
      await within(expectedMs(n, after), async () => {
        const done = arrival(c, n);
        const t0 = performance.now();
        s.write(Buffer.alloc(n, 4));
        return (await done) - t0;
      });
      expect(() => p.reshape({ latencyMs: -1, bitsPerSecond: 1e6 })).toThrow(/latencyMs/);
    } finally {
      c.destroy();
      await p.close();
      await new Promise((r) => target.close(r));
    }
  });
});
