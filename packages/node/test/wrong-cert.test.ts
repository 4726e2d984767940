/**
 * Peers presenting the wrong certificate (issue 8, reliability): a certificate of another CA, a valid
 * certificate naming a party that is not a peer, and no certificate at all. Each call gets a typed
 * `peer_identity` refusal (gRPC PERMISSION_DENIED with the code in the trailers) whose text says nothing
 * about the node (issue 12: not its party, CA or peers), is counted in the node's window of refused calls
 * and, at the flush, leaves exactly one `security_event` audit entry per source naming the presented
 * certificate by its SHA-256 fingerprint (the reference: Node's own `X509Certificate.fingerprint256` of
 * the PEM the client used) with the number of calls, reaches no handler
 * (nothing is queued for a granted session), the node stays up, a legitimate peer still works, and the
 * audit chain verifies. Plus the certificate check itself against injected clocks and chains.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFedscoreError } from '@fedscore/core';
import {
  createDevCa,
  GrpcTransport,
  issuePartyCert,
  MAX_UNAUTHENTICATED_CALLS,
  PartyNode,
  parseCaBundle,
  UNAUTHENTICATED_REFUSAL,
  validateNodeConfig,
  verifyPeerCertificate,
} from '@fedscore/node';
import { envelopeCodec, fedscore } from '@fedscore/wire';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ca = createDevCa();
const other = createDevCa({ name: 'not the federation CA' });
const identity = (b: Buffer): Buffer => b;
const GRANT = 'wrongcert/psi/0';

interface Outcome {
  readonly grpcStatus: number | undefined;
  readonly code: string | undefined;
  readonly text?: string;
}

function client(port: number, pair?: { cert: string; key: string }): grpc.Client {
  const creds =
    pair === undefined
      ? grpc.credentials.createSsl(Buffer.from(ca.cert), null, null, { checkServerIdentity: () => undefined })
      : grpc.credentials.createSsl(Buffer.from(ca.cert), Buffer.from(pair.key), Buffer.from(pair.cert), {
          checkServerIdentity: () => undefined,
        });
  return new grpc.Client(`127.0.0.1:${port}`, creds, { 'grpc.ssl_target_name_override': 'government' });
}

function outcome(err: grpc.ServiceError | null): Outcome {
  const c = err?.metadata?.get('fedscore-code')[0];
  return {
    grpcStatus: err?.code,
    code: typeof c === 'string' ? c : undefined,
    ...(err?.details !== undefined && { text: err.details }),
  };
}

function health(c: grpc.Client): Promise<Outcome> {
  return new Promise((resolve) => {
    c.makeUnaryRequest<Buffer, Buffer>(
      '/fedscore.node.PartyNode/Health',
      identity,
      identity,
      Buffer.alloc(0),
      new grpc.Metadata(),
      { deadline: Date.now() + 5000 },
      (err) => resolve(outcome(err)),
    );
  });
}

/** A well-formed envelope for the granted session, as one Deliver call. */
function deliver(c: grpc.Client, seq: number): Promise<Outcome> {
  const bytes = envelopeCodec.encode({
    protocol: 'wrongcert.proto',
    version: 1,
    session: `${GRANT}/s`,
    step: 'hello',
    sender: 'bank',
    receiver: 'government',
    seq,
    payload: Uint8Array.of(7, 7, 7),
  });
  const chunk = fedscore.node.DeliverChunk.encode({
    data: bytes,
    totalBytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest(),
    attempt: 0,
  }).finish();
  return new Promise((resolve) => {
    const call = c.makeClientStreamRequest<Buffer, Buffer>(
      '/fedscore.node.PartyNode/Deliver',
      identity,
      identity,
      new grpc.Metadata(),
      { deadline: Date.now() + 5000 },
      (err) => resolve(outcome(err)),
    );
    call.on('error', () => {});
    call.write(Buffer.from(chunk));
    call.end();
  });
}

describe('peers presenting the wrong certificate', () => {
  let node: PartyNode;
  let bank: grpc.Client;
  const dir = mkdtempSync(join(tmpdir(), 'fedscore-wrongcert-'));
  const bankPair = issuePartyCert({ ca, party: 'bank' });
  const security = () => [...node.audit.entries({ kind: 'security_event' })];

  beforeAll(async () => {
    node = await PartyNode.start({
      config: validateNodeConfig({
        party: 'government',
        listen: '127.0.0.1:0',
        stateDir: join(dir, 'government'),
        tls: { ca: 'x', cert: 'x', key: 'x' },
        peers: { bank: { address: '127.0.0.1:1' } },
      }),
      tls: { ca: ca.cert, ...issuePartyCert({ ca, party: 'government' }) },
    });
    node.transport.grant({
      key: GRANT,
      parties: ['bank', 'government'],
      protocols: { 'wrongcert.proto': 1 },
    });
    bank = client(node.grpcPort, bankPair);
  });

  afterAll(async () => {
    bank.close();
    await node.stop();
  });

  /**
   * One refused call: typed, generic text, nothing audited until the window is flushed, then exactly one
   * new audit entry with count 1, returned for further checks.
   */
  async function refusedOnce(call: () => Promise<Outcome>) {
    node.refusals.flush();
    const before = security().length;
    const r = await call();
    expect(r.grpcStatus).toBe(grpc.status.PERMISSION_DENIED);
    expect(r.code).toBe('peer_identity');
    // The caller learns nothing about the node: not its party, its CA or its peers.
    expect(r.text).toBe(`field 'certificate': ${UNAUTHENTICATED_REFUSAL}`);
    for (const secret of ['government', 'bank', 'fedscore development CA', 'federation']) {
      expect(r.text).not.toContain(secret);
    }
    expect(security().length).toBe(before);
    expect(node.refusals.pending).toBe(1);
    expect(node.refusals.flush()).toBe(1);
    const after = security();
    expect(after.length).toBe(before + 1);
    const entry = after.at(-1)!;
    expect(entry.actor).toBe('unauthenticated');
    expect(entry.details).toMatchObject({ code: 'peer_identity', field: 'certificate', count: 1 });
    expect(entry.details?.['remoteAddress']).toBe('127.0.0.1');
    return entry;
  }

  it('a certificate from another CA: refused with peer_identity and audited with its fingerprint', async () => {
    const pair = issuePartyCert({ ca: other, party: 'bank' });
    const c = client(node.grpcPort, pair);
    try {
      const e1 = await refusedOnce(() => health(c));
      expect(e1.details).toMatchObject({
        rpc: 'Health:1',
        certFingerprint256: new X509Certificate(pair.cert).fingerprint256,
        certIssuer: 'CN=not the federation CA',
        certSubject: 'CN=bank, O=fedscore party',
        certParty: 'bank',
      });
      // Deliver with a well-formed envelope for a granted session: refused before it is read.
      const e2 = await refusedOnce(() => deliver(c, 0));
      expect(e2.details).toMatchObject({ rpc: 'Deliver:1' });
    } finally {
      c.close();
    }
    expect(node.transport.stats().messagesReceived['bank']).toBeUndefined();
  });

  it('the transport client of an impostor gets a typed peer_identity error', async () => {
    const impostor = await GrpcTransport.start({
      party: 'bank',
      listen: '127.0.0.1:0',
      tls: { ca: ca.cert, ...issuePartyCert({ ca: other, party: 'bank' }) },
      peers: { government: `127.0.0.1:${node.grpcPort}` },
      limits: { retries: 0 },
    });
    try {
      node.refusals.flush();
      const before = security().length;
      const e = await impostor.health('government', 3000).catch((x: unknown) => x);
      expect(isFedscoreError(e, 'peer_identity')).toBe(true);
      expect(node.refusals.flush()).toBe(1);
      expect(security().length).toBe(before + 1);
    } finally {
      await impostor.close();
    }
  });

  it('a valid certificate naming a party that is not a peer (or this node itself): refused, audited', async () => {
    for (const party of ['mallory', 'government']) {
      const pair = issuePartyCert({ ca, party });
      const c = client(node.grpcPort, pair);
      try {
        const e = await refusedOnce(() => health(c));
        expect(e.details).toMatchObject({
          certParty: party,
          certFingerprint256: new X509Certificate(pair.cert).fingerprint256,
          certIssuer: 'CN=fedscore development CA',
        });
      } finally {
        c.close();
      }
    }
  });

  it('no certificate: refused with peer_identity, audited without certificate fields', async () => {
    const c = client(node.grpcPort);
    try {
      const e = await refusedOnce(() => health(c));
      expect(e.details?.['certFingerprint256']).toBeUndefined();
      await refusedOnce(() => deliver(c, 0));
    } finally {
      c.close();
    }
  });

  it(`an unauthenticated connection is refused on every call and cut off after ${MAX_UNAUTHENTICATED_CALLS}`, async () => {
    const c = client(node.grpcPort, issuePartyCert({ ca: other, party: 'bank' }));
    try {
      node.refusals.flush();
      const before = security().length;
      const results: Outcome[] = [];
      const channel = grpc.getClientChannel(c);
      for (let i = 0; i < MAX_UNAUTHENTICATED_CALLS; i++) {
        results.push(await health(c));
        if (i < MAX_UNAUTHENTICATED_CALLS - 1) {
          expect(channel.getConnectivityState(false)).toBe(grpc.connectivityState.READY);
        }
      }
      // Every call was refused and counted; the one that closes the connection may lose its answer.
      expect(node.refusals.pending).toBe(MAX_UNAUTHENTICATED_CALLS);
      expect(node.refusals.flush()).toBe(1);
      expect(security().length).toBe(before + 1);
      expect(security().at(-1)?.details).toMatchObject({
        count: MAX_UNAUTHENTICATED_CALLS,
        rpc: `Health:${MAX_UNAUTHENTICATED_CALLS}`,
        certificates: 1,
      });
      for (const r of results.slice(0, -1)) expect(r.code).toBe('peer_identity');
      for (const r of results) expect(r.grpcStatus).not.toBe(grpc.status.OK);
      // The node closed the connection: the client's channel leaves READY.
      const left = await new Promise<boolean>((resolve) => {
        const wait = (): void => {
          const st = channel.getConnectivityState(false);
          if (st !== grpc.connectivityState.READY) {
            resolve(true);
            return;
          }
          channel.watchConnectivityState(st, Date.now() + 2000, (err) => (err ? resolve(false) : wait()));
        };
        wait();
      });
      expect(left).toBe(true);
    } finally {
      c.close();
    }
  });

  it('the node stays up, the legitimate peer still works, the audit chain verifies', async () => {
    expect((await health(bank)).grpcStatus).toBeUndefined();
    expect(await deliver(bank, 0)).toEqual({ grpcStatus: undefined, code: undefined });
    expect(node.transport.stats().messagesReceived['bank']).toBe(1);
    const got = await node.transport.receive('bank', `${GRANT}/s`);
    expect(got.payload).toEqual(Uint8Array.of(7, 7, 7));
    expect(node.audit.verify().ok).toBe(true);
  });
});

describe('verifyPeerCertificate', () => {
  const anchors = parseCaBundle(ca.cert);
  const peers = new Set(['bank']);
  const der = (pem: string) => new Uint8Array(new X509Certificate(pem).raw);
  const bank = issuePartyCert({ ca, party: 'bank', days: 30 });
  const opts = { peers, self: 'government', tlsAuthorized: true };
  const code = (f: () => unknown): string | undefined => {
    try {
      f();
      return undefined;
    } catch (e) {
      return isFedscoreError(e) ? `${e.code}:${e.field}` : 'untyped';
    }
  };

  it('accepts a configured peer of the CA inside its validity and names its fingerprint', () => {
    const v = verifyPeerCertificate([der(bank.cert)], anchors, opts);
    expect(v.party).toBe('bank');
    expect(v.certificate.fingerprint256).toBe(new X509Certificate(bank.cert).fingerprint256);
  });

  it('refuses outside the validity dates (injected clock)', () => {
    const day = 86_400_000;
    expect(
      code(() => verifyPeerCertificate([der(bank.cert)], anchors, { ...opts, now: Date.now() + 31 * day })),
    ).toBe('peer_identity:certificate');
    expect(
      code(() => verifyPeerCertificate([der(bank.cert)], anchors, { ...opts, now: Date.now() - day })),
    ).toBe('peer_identity:certificate');
  });

  it('refuses no certificate, garbage, a CA certificate, another CA (even with its CA in the chain)', () => {
    expect(code(() => verifyPeerCertificate([], anchors, opts))).toBe('peer_identity:certificate');
    expect(code(() => verifyPeerCertificate([Uint8Array.of(0x30, 0x03, 1, 2, 3)], anchors, opts))).toBe(
      'peer_identity:certificate',
    );
    expect(code(() => verifyPeerCertificate([der(ca.cert)], anchors, opts))).toBe(
      'peer_identity:certificate',
    );
    const foreign = issuePartyCert({ ca: other, party: 'bank' });
    expect(code(() => verifyPeerCertificate([der(foreign.cert), der(other.cert)], anchors, opts))).toBe(
      'peer_identity:certificate',
    );
  });

  it("refuses when OpenSSL's verdict disagrees, and a party that is not a peer", () => {
    expect(
      code(() => verifyPeerCertificate([der(bank.cert)], anchors, { ...opts, tlsAuthorized: false })),
    ).toBe('peer_identity:certificate');
    const mallory = issuePartyCert({ ca, party: 'mallory' });
    expect(code(() => verifyPeerCertificate([der(mallory.cert)], anchors, opts))).toBe(
      'peer_identity:certificate',
    );
  });

  it('a CA bundle without a certificate is invalid_config', () => {
    expect(code(() => parseCaBundle('not a pem'))).toBe('invalid_config:tls.ca');
  });
});
