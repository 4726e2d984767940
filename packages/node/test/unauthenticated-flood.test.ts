/**
 * A flood of unauthenticated calls cannot fill the append-only audit log (issue 12: 300 calls wrote 267
 * permanent rows in 0.87 s). 300 calls without a certificate, over as many connections as the node's
 * per-connection cut-off needs, are all refused with the generic `peer_identity` answer, counted in the
 * node's window, and written as ONE `security_event` row for the one source address with their count;
 * calls refused after that flush are written at shutdown (`stop()`), not lost. The window itself is
 * checked on its own: its timer flushes, a source costs one row per window whatever it sends, and past
 * `maxSources` sources the rest share one overflow row.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuditLog,
  createDevCa,
  issuePartyCert,
  MAX_UNAUTHENTICATED_CALLS,
  NodeStore,
  PartyNode,
  RefusalWindow,
  validateNodeConfig,
} from '@fedscore/node';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

const ca = createDevCa();
const identity = (b: Buffer): Buffer => b;

function health(c: grpc.Client): Promise<string | undefined> {
  return new Promise((resolve) => {
    c.makeUnaryRequest<Buffer, Buffer>(
      '/fedscore.node.PartyNode/Health',
      identity,
      identity,
      Buffer.alloc(0),
      new grpc.Metadata(),
      { deadline: Date.now() + 5000 },
      (err) => {
        const code = err?.metadata?.get('fedscore-code')[0];
        resolve(typeof code === 'string' ? code : err === null ? 'ok' : `grpc-${err.code}`);
      },
    );
  });
}

/** `calls` Health calls without a client certificate, a new connection every MAX_UNAUTHENTICATED_CALLS. */
async function flood(port: number, calls: number): Promise<(string | undefined)[]> {
  const out: (string | undefined)[] = [];
  const connections = Math.ceil(calls / MAX_UNAUTHENTICATED_CALLS);
  const batches = await Promise.all(
    Array.from({ length: connections }, async (_, i) => {
      const c = new grpc.Client(
        `127.0.0.1:${port}`,
        grpc.credentials.createSsl(Buffer.from(ca.cert), null, null, {
          checkServerIdentity: () => undefined,
        }),
        { 'grpc.ssl_target_name_override': 'government' },
      );
      const mine: (string | undefined)[] = [];
      const n = Math.min(MAX_UNAUTHENTICATED_CALLS, calls - i * MAX_UNAUTHENTICATED_CALLS);
      for (let k = 0; k < n; k++) mine.push(await health(c));
      c.close();
      return mine;
    }),
  );
  for (const b of batches) out.push(...b);
  return out;
}

describe('a flood of unauthenticated calls', () => {
  it('300 calls: all refused, one audit row with their count; later ones written at shutdown', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'fedscore-flood-')), 'government');
    const node = await PartyNode.start({
      config: validateNodeConfig({
        party: 'government',
        listen: '127.0.0.1:0',
        stateDir: dir,
        tls: { ca: 'x', cert: 'x', key: 'x' },
        peers: { bank: { address: '127.0.0.1:1' } },
      }),
      tls: { ca: ca.cert, ...issuePartyCert({ ca, party: 'government' }) },
    });
    const rows = () => [...node.audit.entries({ kind: 'security_event' })];
    const before = rows().length;
    const t0 = performance.now();
    const answers = await flood(node.grpcPort, 300);
    const seconds = (performance.now() - t0) / 1000;
    // No call got through; the answers that arrived are the generic refusal (the call that closes a
    // connection may lose its answer).
    expect(answers.filter((a) => a === 'ok')).toEqual([]);
    const refused = answers.filter((a) => a === 'peer_identity').length;
    expect(refused).toBeGreaterThanOrEqual(300 - Math.ceil(300 / MAX_UNAUTHENTICATED_CALLS));
    // Nothing written during the flood.
    expect(rows().length).toBe(before);
    const counted = node.refusals.pending;
    expect(counted).toBeGreaterThanOrEqual(refused);
    expect(counted).toBeLessThanOrEqual(300);
    expect(node.refusals.flush()).toBe(1);
    const after = rows();
    expect(after.length).toBe(before + 1);
    expect(after.at(-1)).toMatchObject({
      actor: 'unauthenticated',
      details: { count: counted, code: 'peer_identity', remoteAddress: '127.0.0.1', certificates: 0 },
    });
    expect(seconds).toBeLessThan(60);

    // Refused after the flush, written by stop().
    await flood(node.grpcPort, 20);
    const late = node.refusals.pending;
    expect(late).toBeGreaterThan(0);
    await node.stop();
    const store = NodeStore.open(dir, { readOnly: true });
    try {
      const last = [...new AuditLog(store).entries({ kind: 'security_event' })].at(-1);
      expect(last?.details?.['count']).toBe(late);
      expect(new AuditLog(store).verify().ok).toBe(true);
    } finally {
      store.close();
    }
  });
});

describe('RefusalWindow', () => {
  it('its timer flushes one row per source per window', async () => {
    const audit = new AuditLog(NodeStore.inMemory());
    const w = new RefusalWindow({ audit, windowMs: 50 });
    try {
      for (let i = 0; i < 100; i++) {
        w.record({
          rpc: 'Health',
          code: 'peer_identity',
          reason: 'no certificate',
          remoteAddress: '10.0.0.1',
        });
      }
      w.record({
        rpc: 'Deliver',
        code: 'peer_identity',
        reason: 'no certificate',
        remoteAddress: '10.0.0.2',
      });
      await new Promise((r) => setTimeout(r, 200));
      const got = [...audit.entries()].map((e) => [e.details?.['remoteAddress'], e.details?.['count']]);
      expect(got).toEqual([
        ['10.0.0.1', 100],
        ['10.0.0.2', 1],
      ]);
      expect(w.pending).toBe(0);
    } finally {
      w.close();
    }
  });

  it('past maxSources, the other sources share one overflow row', () => {
    const audit = new AuditLog(NodeStore.inMemory());
    const w = new RefusalWindow({ audit, windowMs: 60_000, maxSources: 10 });
    for (let i = 0; i < 50; i++) {
      w.record({ rpc: 'Health', code: 'peer_identity', reason: 'x', remoteAddress: `10.0.1.${i}` });
    }
    expect(w.flush()).toBe(11);
    const last = [...audit.entries()].at(-1);
    expect(last?.details).toMatchObject({ remoteAddress: 'other sources', count: 40 });
    w.close();
  });
});
