/**
 * The gRPC transport over mutual TLS between real sockets on loopback: identity from certificates,
 * chunked large envelopes, ordering, idempotent retries, typed refusals and the protocols' own sessions.
 */
import { defineStep, isFedscoreError, ProtocolSession } from '@fedscore/core';
import { createDevCa, GrpcTransport, issuePartyCert, type RejectionEvent } from '@fedscore/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ca = createDevCa();
const certs = {
  bank: issuePartyCert({ ca, party: 'bank' }),
  government: issuePartyCert({ ca, party: 'government' }),
};
const tls = (p: 'bank' | 'government') => ({ ca: ca.cert, ...certs[p] });
const bytesStep = defineStep<Uint8Array>('blob', { encode: (v) => v, decode: (b) => b });

describe('GrpcTransport', () => {
  let bank: GrpcTransport;
  let gov: GrpcTransport;
  const rejected: RejectionEvent[] = [];
  beforeAll(async () => {
    bank = await GrpcTransport.start({
      party: 'bank',
      listen: '127.0.0.1:0',
      tls: tls('bank'),
      peers: { government: 'pending' },
      limits: { chunkBytes: 64 * 1024, maxMessageBytes: 8 * 1024 * 1024 },
    });
    gov = await GrpcTransport.start({
      party: 'government',
      listen: '127.0.0.1:0',
      tls: tls('government'),
      peers: { bank: `127.0.0.1:${bank.port}` },
      limits: { chunkBytes: 64 * 1024, maxMessageBytes: 8 * 1024 * 1024 },
      onRejected: (e) => rejected.push(e),
    });
    bank.setPeer('government', `127.0.0.1:${gov.port}`);
  });
  afterAll(async () => {
    await bank.close();
    await gov.close();
  });

  it('moves envelopes of a granted session in order, chunked, and counts bytes', async () => {
    const grant = { key: 'job1/psi/0', parties: ['bank', 'government'], protocols: { test: 1 } };
    bank.grant(grant);
    gov.grant(grant);
    const spec = { protocol: 'test', version: 1, session: 'job1/psi/0/a' };
    const sb = new ProtocolSession(bank.channel(), spec);
    const sg = new ProtocolSession(gov.channel(), spec);
    const big = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => (i * 31) & 0xff);
    const small = Uint8Array.of(1, 2, 3);
    const sent = (async () => {
      await sb.send('government', bytesStep, big);
      await sb.send('government', bytesStep, small);
    })();
    const got1 = await sg.receive('bank', bytesStep);
    const got2 = await sg.receive('bank', bytesStep);
    await sent;
    // Buffer.equals: a deep equality over 3 million elements would take the test's whole budget.
    expect(got1.length).toBe(big.length);
    expect(Buffer.from(got1).equals(Buffer.from(big))).toBe(true);
    expect(got2).toEqual(small);
    expect(bank.stats().messagesSent['government']).toBeGreaterThanOrEqual(2);
    // And back.
    await sg.send('bank', bytesStep, small);
    expect(await sb.receive('government', bytesStep)).toEqual(small);
  });

  it('health names the party; control without a handler is a typed refusal', async () => {
    const h = await bank.health('government');
    expect(h.party).toBe('government');
    const e = await bank
      .control('government', { query: { jobId: 'x', stage: 'psi', attempt: 0 } })
      .catch((x) => x);
    expect(isFedscoreError(e, 'unsupported')).toBe(true);
  });

  it('refuses an ungranted session with job_state, records it, and stays up', async () => {
    const before = rejected.length;
    const e = await bank
      .send({
        protocol: 'test',
        version: 1,
        session: 'nobody/0',
        step: 'blob',
        sender: 'bank',
        receiver: 'government',
        seq: 0,
        payload: new Uint8Array(4),
      })
      .catch((x) => x);
    expect(isFedscoreError(e, 'job_state')).toBe(true);
    expect(rejected.length).toBe(before + 1);
    expect(rejected.at(-1)).toMatchObject({ rpc: 'Deliver', peer: 'bank', code: 'job_state' });
    expect((await bank.health('government')).party).toBe('government');
  });

  it('a client whose certificate is from another CA is refused with peer_identity and reported', async () => {
    const other = createDevCa({ name: 'other CA' });
    const before = rejected.length;
    const mallory = await GrpcTransport.start({
      party: 'bank',
      listen: '127.0.0.1:0',
      tls: { ca: ca.cert, ...issuePartyCert({ ca: other, party: 'bank' }) },
      peers: { government: `127.0.0.1:${gov.port}` },
      limits: { retries: 0 },
    });
    try {
      const e = await mallory.health('government', 3000).catch((x) => x);
      expect(isFedscoreError(e, 'peer_identity')).toBe(true);
      expect(rejected.length).toBe(before + 1);
      expect(rejected.at(-1)).toMatchObject({ rpc: 'Health', code: 'peer_identity', field: 'certificate' });
      expect(rejected.at(-1)?.peer).toBeUndefined();
      expect(rejected.at(-1)?.certificate?.issuer).toBe('CN=other CA');
    } finally {
      await mallory.close();
    }
    expect((await bank.health('government')).party).toBe('government');
  });
});
