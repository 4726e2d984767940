/**
 * The sending side's routing among a peer's replicas (outbox.ts, docs/deploy.md section 8), on real
 * sockets with mutual TLS: two transports speak for the bank (replicas A and B: the same party
 * certificate), the government lists both. B refuses a session it does not own the way a replica that
 * does not hold the job's lease does (`not_lease_holder`, through `setSessionRouter`), naming a holder.
 *
 *   - the named holder is listed: the envelope is resent there at once and later sends stay there;
 *   - an unreachable replica: the next listed address is tried;
 *   - the named holder is NOT listed (a replica, or anyone holding the party's certificate, naming an
 *     address of its choosing): nothing connects to it -- a listening socket at that address sees no
 *     connection -- and the send goes to the next listed address, or fails with the typed refusal;
 *   - a listed address whose server presents another party's certificate gets nothing (`peer_identity`):
 *     an address is only where to dial, the certificate says who answers;
 *   - no holder named (a takeover under way): retried with backoff, then `not_lease_holder`;
 *   - a large envelope is refused before its chunks travel (the session id is announced in the call's
 *     metadata), not after B has taken all of it.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { type Envelope, FedscoreError, isFedscoreError } from '@fedscore/core';
import { createDevCa, GrpcTransport, issuePartyCert } from '@fedscore/node';
import { freePorts } from '@fedscore/node/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ca = createDevCa();
const certs = {
  bank: issuePartyCert({ ca, party: 'bank' }),
  government: issuePartyCert({ ca, party: 'government' }),
  arbiter: issuePartyCert({ ca, party: 'arbiter' }),
};
const tls = (p: keyof typeof certs) => ({ ca: ca.cert, ...certs[p] });
const LIMITS = { retries: 2, retryBaseMs: 20, deadlineMs: 5000, chunkBytes: 64 * 1024 };

describe('a peer with several replicas: sends follow the lease holder within the listed addresses', () => {
  let a: GrpcTransport;
  let b: GrpcTransport;
  let other: GrpcTransport;
  let trap: Server;
  let trapPort: number;
  let deadPort: number;
  const trapped: Socket[] = [];
  /** Bytes of Deliver chunks that reached B (before any check). */
  let bytesAtB = 0;
  /** What B names as the holder (undefined: none; a takeover under way). */
  let named: string | undefined;
  const addr = (port: number): string => `127.0.0.1:${port}`;
  const open: GrpcTransport[] = [];

  beforeAll(async () => {
    const start = (party: keyof typeof certs, counted = false) =>
      GrpcTransport.start({
        party,
        listen: '127.0.0.1:0',
        tls: tls(party),
        peers: { government: 'pending:1' },
        limits: LIMITS,
        ...(counted && {
          onInbound: (e: { rpc: string; bytes: Uint8Array }) => {
            if (e.rpc === 'Deliver') bytesAtB += e.bytes.length;
          },
        }),
      });
    [a, b, other] = await Promise.all([start('bank'), start('bank', true), start('arbiter')]);
    b.setSessionRouter(
      (session) =>
        new FedscoreError('not_lease_holder', `not the holder of ${session}`, {
          field: 'lease',
          details: named === undefined ? {} : { holder: named },
        }),
    );
    trap = createServer((s) => {
      trapped.push(s);
      s.destroy();
    });
    await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
    trapPort = (trap.address() as { port: number }).port;
    [deadPort] = (await freePorts(1)) as [number];
  });
  afterAll(async () => {
    await Promise.all([a, b, other, ...open].map((t) => t?.close()));
    await new Promise((r) => trap?.close(r));
  });

  const government = async (bankAddresses: string[]): Promise<GrpcTransport> => {
    const t = await GrpcTransport.start({
      party: 'government',
      listen: '127.0.0.1:0',
      tls: tls('government'),
      peers: { bank: bankAddresses },
      limits: LIMITS,
    });
    open.push(t);
    return t;
  };
  let job = 0;
  /** A fresh granted session on A (the holder); `seq` envelopes from the government. */
  const session = (): string => {
    const key = `job${++job}/train/0`;
    a.grant({ key, parties: ['bank', 'government'], protocols: { test: 1 } });
    return `${key}/s`;
  };
  const envelope = (s: string, seq: number): Envelope => ({
    protocol: 'test',
    version: 1,
    session: s,
    step: 'blob',
    sender: 'government',
    receiver: 'bank',
    seq,
    payload: Uint8Array.of(seq, 7),
  });

  it('goes to the named holder when it is listed, then stays there', async () => {
    named = addr(a.port);
    const gov = await government([addr(b.port), addr(a.port)]);
    expect(gov.peerAddress('bank')).toBe(addr(b.port));
    const s = session();
    await gov.send(envelope(s, 0));
    // The job's messages go to A now; calls of no job still to the first listed address.
    expect(gov.peerAddress('bank', s)).toBe(addr(a.port));
    expect(gov.peerAddress('bank')).toBe(addr(b.port));
    await gov.send(envelope(s, 1));
    expect((await a.receive('government', s)).seq).toBe(0);
    expect((await a.receive('government', s)).seq).toBe(1);
    expect(gov.addressSwitches()).toEqual({ bank: 1 });
  });

  it('two jobs held by different replicas: each job goes to its own holder, with no back and forth', async () => {
    named = addr(a.port);
    // A job B holds (granted on B), beside one A holds.
    const onB = `jobb${++job}/train/0`;
    b.grant({ key: onB, parties: ['bank', 'government'], protocols: { test: 1 } });
    const gov = await government([addr(b.port), addr(a.port)]);
    const sa = session();
    const sb = `${onB}/s`;
    for (let seq = 0; seq < 3; seq++) {
      await gov.send(envelope(sa, seq));
      await gov.send(envelope(sb, seq));
    }
    for (let seq = 0; seq < 3; seq++) {
      expect((await a.receive('government', sa)).seq).toBe(seq);
      expect((await b.receive('government', sb)).seq).toBe(seq);
    }
    expect(gov.peerAddress('bank', sa)).toBe(addr(a.port));
    expect(gov.peerAddress('bank', sb)).toBe(addr(b.port));
    // One move in all: A's job, once.
    expect(gov.addressSwitches()).toEqual({ bank: 1 });
  });

  it('a large envelope is refused before it travels to the replica that does not own its session', async () => {
    named = addr(a.port);
    const gov = await government([addr(b.port), addr(a.port)]);
    const s = session();
    const big = envelope(s, 0);
    const payload = new Uint8Array(4 * 1024 * 1024).map((_, i) => (i * 13) & 0xff);
    bytesAtB = 0;
    await gov.send({ ...big, payload });
    const got = await a.receive('government', s);
    expect(Buffer.from(got.payload).equals(Buffer.from(payload))).toBe(true);
    // The session is announced ahead of the chunks: B refused at the call's start, and its Deliver
    // handler saw none of them here (0 bytes). Without the announcement it took the whole envelope
    // before refusing (measured: 4,194,654 bytes).
    expect(bytesAtB).toBeLessThan(payload.length / 4);
  });

  it('an unreachable replica: the next listed address', async () => {
    const gov = await government([addr(deadPort), addr(a.port)]);
    const s = session();
    await gov.send(envelope(s, 0));
    expect(gov.peerAddress('bank')).toBe(addr(a.port));
    expect((await a.receive('government', s)).payload).toEqual(Uint8Array.of(0, 7));
  });

  it('a named holder outside the list is never dialled', async () => {
    named = addr(trapPort);
    // Listed after B: the next listed address takes the message.
    const gov = await government([addr(b.port), addr(a.port)]);
    const s = session();
    await gov.send(envelope(s, 0));
    expect(gov.peerAddress('bank', s)).toBe(addr(a.port));
    expect((await a.receive('government', s)).seq).toBe(0);
    // B alone: the typed refusal, and still no connection at the named address.
    const only = await government([addr(b.port)]);
    const e = await only.send(envelope(session(), 0)).catch((x: unknown) => x);
    expect(isFedscoreError(e, 'not_lease_holder')).toBe(true);
    expect((e as FedscoreError).field).toBe('lease');
    expect((e as FedscoreError).details).toMatchObject({ peer: 'bank', holder: addr(trapPort) });
    expect(trapped.length).toBe(0);
    // The control: listed, the same address is dialled (so the zero above means "never dialled").
    const listed = await government([addr(b.port), addr(trapPort)]);
    await listed.send(envelope(session(), 0)).catch(() => {});
    expect(trapped.length).toBeGreaterThan(0);
  });

  it("a listed address answered by another party's certificate gets nothing", async () => {
    named = addr(other.port);
    const gov = await government([addr(b.port), addr(other.port)]);
    const e = await gov.send(envelope(session(), 0)).catch((x: unknown) => x);
    expect(isFedscoreError(e, 'peer_identity')).toBe(true);
    expect(other.stats().messagesReceived).toEqual({});
  });

  it('no holder named (a takeover under way): retried with backoff, then the typed refusal', async () => {
    named = undefined;
    const gov = await government([addr(b.port)]);
    const t0 = Date.now();
    const e = await gov.send(envelope(session(), 0)).catch((x: unknown) => x);
    expect(isFedscoreError(e, 'not_lease_holder')).toBe(true);
    // retries: 2 at 20 ms, doubled: at least 20 + 40 ms of backoff.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(60);
  });
});
