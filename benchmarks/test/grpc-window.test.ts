/**
 * The node's gRPC transport fills a shaped link (issue 20): one 4 MB envelope from the bank to the
 * government through the benchmark shaper (benchmarks/src/net/shaper.ts, tested in shaper.test.ts) at
 * 20 Mbit/s and 20 ms one way must move at >= 70 % of the link rate, i.e. arrive within
 * 4 MB * 8 / (0.7 * 20 Mbit/s) = 2.29 s (the link itself needs 1.62 s: 1.6 s of transmission and 20 ms of
 * latency). Tolerance: 30 % for TLS and HTTP/2 framing (~1 %), the round trips of the call's start and
 * end (two or three 40 ms round trips), and a loaded 2-core machine; a measurement that comes out too slow
 * is taken again, up to 3 times (the best of three).
 *
 * What it guards: HTTP/2's default flow-control window of 64 KiB per stream and per connection lets one
 * stream carry at most a window per round trip; before the transport opened a larger one
 * (`limits.windowBytes`, packages/node/src/transport/grpc/server.ts) this transfer ran at ~4.7 Mbit/s
 * (6.8 s), and the `wan` profile (100 Mbit/s, 50 ms) at ~3 Mbit/s. The same test with
 * `windowBytes: 65_535` is the control: it must come out below the bar, which shows the test can fail.
 */
import { defineStep, ProtocolSession } from '@fedscore/core';
import { createDevCa, GrpcTransport, issuePartyCert } from '@fedscore/node';
import { afterEach, describe, expect, it } from 'vitest';
import { type LinkShape, ShapedProxy } from '../src/net/shaper.ts';

const LINK: LinkShape = { latencyMs: 20, bitsPerSecond: 20e6 };
const BYTES = 4_000_000;
const FRACTION = 0.7;

const ca = createDevCa();
const certs = {
  bank: issuePartyCert({ ca, party: 'bank' }),
  government: issuePartyCert({ ca, party: 'government' }),
};
const blob = defineStep<Uint8Array>('blob', { encode: (v) => v, decode: (b) => b });

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

/** Seconds to move one BYTES envelope bank -> government through the shaped link (after a warm-up). */
async function transferSeconds(windowBytes?: number): Promise<number> {
  const limits = windowBytes === undefined ? {} : { windowBytes };
  const bank = await GrpcTransport.start({
    party: 'bank',
    listen: '127.0.0.1:0',
    tls: { ca: ca.cert, ...certs.bank },
    peers: { government: 'pending' },
    limits,
  });
  open.push(bank);
  const gov = await GrpcTransport.start({
    party: 'government',
    listen: '127.0.0.1:0',
    tls: { ca: ca.cert, ...certs.government },
    peers: { bank: `127.0.0.1:${bank.port}` },
    limits,
  });
  open.push(gov);
  const proxy = await ShapedProxy.start({ target: { host: '127.0.0.1', port: gov.port }, up: LINK });
  open.push(proxy);
  bank.setPeer('government', `127.0.0.1:${proxy.port}`);
  const grant = { key: 'window', parties: ['bank', 'government'], protocols: { bulk: 1 } };
  bank.grant(grant);
  gov.grant(grant);
  const spec = { protocol: 'bulk', version: 1, session: 'window/0' };
  const sb = new ProtocolSession(bank.channel(), spec);
  const sg = new ProtocolSession(gov.channel(), spec);
  // Warm-up: TLS handshake and HTTP/2 settings exchange are not part of the transfer.
  await Promise.all([sb.send('government', blob, Uint8Array.of(1)), sg.receive('bank', blob)]);
  const payload = new Uint8Array(BYTES).fill(7);
  const t0 = performance.now();
  const [, got] = await Promise.all([sb.send('government', blob, payload), sg.receive('bank', blob)]);
  const seconds = (performance.now() - t0) / 1000;
  expect(got.length).toBe(BYTES);
  return seconds;
}

const bar = (BYTES * 8) / (FRACTION * LINK.bitsPerSecond);

describe('gRPC transport over a shaped link', () => {
  it(`moves ${BYTES / 1e6} MB at >= ${FRACTION * 100} % of 20 Mbit/s (20 ms one way)`, async () => {
    let best = Number.POSITIVE_INFINITY;
    for (let attempt = 0; attempt < 3 && best > bar; attempt++) {
      best = Math.min(best, await transferSeconds());
      for (const o of open.splice(0).reverse()) await o.close();
    }
    const mbps = (BYTES * 8) / best / 1e6;
    expect(
      best,
      `${best.toFixed(2)} s = ${mbps.toFixed(1)} Mbit/s; bar ${bar.toFixed(2)} s`,
    ).toBeLessThanOrEqual(bar);
  }, 40_000);

  it("control: HTTP/2's default 64 KiB window does not reach the bar", async () => {
    const seconds = await transferSeconds(65_535);
    expect(seconds).toBeGreaterThan(bar);
  }, 40_000);
});
