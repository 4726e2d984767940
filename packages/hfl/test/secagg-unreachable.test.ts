/**
 * Secure aggregation's server when a client cannot be reached (a bank node that died or hangs, as a
 * party node's transport sees it): the server's message to it fails at once, or never completes. With a
 * phase deadline the server must not wait on that send: the client drops out of the next phase exactly
 * as a client whose reply is late (Bonawitz et al. 2017: U2 ⊂ U1), and the sum is the survivors' plain
 * sum within the fixed-point bound (survivors · 2^-25, fixed-point.ts). Without a deadline a failed send
 * still fails the run (typed), as before.
 */
import { createInMemoryNetwork, cryptoRng, FedscoreError, ProtocolSession, uniform } from '@fedscore/core';
import {
  runSecAggClient,
  runSecAggServer,
  SECAGG_PROTOCOL,
  SECAGG_VERSION,
  secAggReady,
} from '@fedscore/hfl';
import { envelopeCodec } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';
import { config } from './secagg-run.ts';

const LENGTH = 50;
const UNREACHABLE = 'bank-3';

/** The server's session, whose sends to UNREACHABLE after its first message fail or hang for good. */
function serverSession(session: ProtocolSession, how: 'fails' | 'hangs'): ProtocolSession {
  return new Proxy(session, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (prop !== 'send' || typeof v !== 'function') return typeof v === 'function' ? v.bind(target) : v;
      return (to: string, step: { name: string }, value: unknown) => {
        if (to !== UNREACHABLE) return (v as ProtocolSession['send']).call(target, to, step as never, value);
        if (how === 'hangs') return new Promise<void>(() => {});
        return Promise.reject(new FedscoreError('io', `${to} is unreachable`, { field: `peers.${to}` }));
      };
    },
  });
}

async function run(how: 'fails' | 'hangs', phaseDeadlineMs: number | undefined) {
  await secAggReady();
  const cfg = config(4, LENGTH);
  const inputs = cfg.clients.map(() =>
    Float64Array.from({ length: LENGTH }, () => 1000 * (2 * uniform(cryptoRng()) - 1)),
  );
  const network = createInMemoryNetwork([cfg.server, ...cfg.clients], envelopeCodec);
  const spec = { protocol: SECAGG_PROTOCOL, version: SECAGG_VERSION, session: 'round-1' };
  const server = runSecAggServer(
    serverSession(new ProtocolSession(network.channel(cfg.server), spec), how),
    cfg,
    phaseDeadlineMs === undefined ? {} : { phaseDeadlineMs },
  );
  const clients = cfg.clients.map((c, i) =>
    runSecAggClient(new ProtocolSession(network.channel(c), spec), cfg, inputs[i]!, cryptoRng(), {
      // The unreachable client never hears from the server again: it gives up.
      ...(c === UNREACHABLE && { receiveDeadlineMs: 200 }),
    }).catch((e: unknown) => e),
  );
  try {
    const t0 = performance.now();
    const result = await server;
    const seconds = (performance.now() - t0) / 1000;
    return { cfg, inputs, result, seconds };
  } finally {
    // Clients still waiting on a server that gave up stop here.
    network.closeAll();
    await Promise.all(clients);
  }
}

describe('secure aggregation: a client the server cannot reach', () => {
  for (const how of ['fails', 'hangs'] as const) {
    it(`a send that ${how}: the client drops out at the deadline, the sum is the survivors'`, async () => {
      const { cfg, inputs, result, seconds } = await run(how, 500);
      const survivors = cfg.clients.filter((c) => c !== UNREACHABLE);
      expect(result.included).toEqual(survivors);
      expect(result.dropped).toEqual([UNREACHABLE]);
      const expected = new Float64Array(LENGTH);
      cfg.clients.forEach((c, u) => {
        if (c !== UNREACHABLE) for (let i = 0; i < LENGTH; i++) expected[i]! += inputs[u]![i]!;
      });
      for (let i = 0; i < LENGTH; i++) {
        expect(Math.abs(result.sum[i]! - expected[i]!)).toBeLessThanOrEqual(survivors.length * 2 ** -25);
      }
      // At most the send's deadline and the next phase's: never waiting on the send for good.
      expect(seconds).toBeLessThan(5);
    });
  }

  it('without a deadline a failed send fails the run (typed)', async () => {
    await expect(run('fails', undefined)).rejects.toMatchObject({
      code: 'io',
      field: `peers.${UNREACHABLE}`,
    });
  });
});
