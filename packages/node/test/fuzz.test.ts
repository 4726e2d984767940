/**
 * Fuzzing every network entry point of a running node (fast-check): Deliver (client-streaming chunks),
 * Control and Health, with random, malformed, truncated and oversized bytes, and with well-formed
 * envelopes that are replayed, out of order, of an unknown version or protocol, at the wrong step, for
 * sessions nobody granted, or sent with a spoofed sender; and peers presenting the wrong certificate.
 * Each refusal must be a typed error (the fedscore error code travels in the gRPC trailers), leave one
 * `security_event` entry in the node's audit log, keep the node up (health answers after every run), and
 * leave job state as it was (a job and its checkpoint recorded before are byte-identical after).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineStep, type Envelope, ERROR_CODES, isFedscoreError, ProtocolSession } from '@fedscore/core';
import { createDevCa, GrpcTransport, issuePartyCert, PartyNode, validateNodeConfig } from '@fedscore/node';
import { envelopeCodec, fedscore } from '@fedscore/wire';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ca = createDevCa();
const pem = (party: string, issuer = ca) => ({ ca: ca.cert, ...issuePartyCert({ ca: issuer, party }) });
const LIMIT = 64 * 1024;
const identity = (b: Buffer): Buffer => b;

interface RawResult {
  readonly code: string | undefined;
  readonly grpcStatus: number | undefined;
}

function rawClient(port: number, tls: { ca: string; cert: string; key: string }): grpc.Client {
  return new grpc.Client(
    `127.0.0.1:${port}`,
    grpc.credentials.createSsl(Buffer.from(tls.ca), Buffer.from(tls.key), Buffer.from(tls.cert), {
      checkServerIdentity: () => undefined,
    }),
    { 'grpc.ssl_target_name_override': 'government' },
  );
}

function outcome(err: grpc.ServiceError | null): RawResult {
  if (err === null) return { code: undefined, grpcStatus: undefined };
  const c = err.metadata?.get('fedscore-code')[0];
  return { code: typeof c === 'string' ? c : undefined, grpcStatus: err.code };
}

function deliverRaw(client: grpc.Client, chunks: readonly Uint8Array[]): Promise<RawResult> {
  return new Promise((resolve) => {
    const call = client.makeClientStreamRequest<Buffer, Buffer>(
      '/fedscore.node.PartyNode/Deliver',
      identity,
      identity,
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      (err) => resolve(outcome(err)),
    );
    call.on('error', () => {});
    for (const c of chunks) call.write(Buffer.from(c));
    call.end();
  });
}

function unaryRaw(client: grpc.Client, method: 'Control' | 'Health', body: Uint8Array): Promise<RawResult> {
  return new Promise((resolve) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      `/fedscore.node.PartyNode/${method}`,
      identity,
      identity,
      Buffer.from(body),
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      (err) => resolve(outcome(err)),
    );
  });
}

/** An envelope as chunks: first chunk with total and digest; `cut` bytes dropped from the end. */
function chunksOf(
  bytes: Uint8Array,
  options: { total?: number; digest?: Uint8Array; attempt?: number; cut?: number } = {},
) {
  const data = bytes.subarray(0, bytes.length - (options.cut ?? 0));
  return [
    fedscore.node.DeliverChunk.encode({
      totalBytes: options.total ?? bytes.length,
      sha256: options.digest ?? createHash('sha256').update(bytes).digest(),
      attempt: options.attempt ?? 0,
      data,
    }).finish(),
  ];
}

const GRANT = 'fuzz-job/train/0';
const envelope = (over: Partial<Envelope> = {}): Envelope => ({
  protocol: 'fuzz.proto',
  version: 1,
  session: `${GRANT}/s`,
  step: 'hello',
  sender: 'bank',
  receiver: 'government',
  seq: 0,
  payload: new Uint8Array([1, 2, 3]),
  ...over,
});

describe('fuzzing the node entry points', () => {
  let node: PartyNode;
  let bank: grpc.Client;
  let securityBefore = 0;
  let jobSnapshot = '';
  const dir = mkdtempSync(join(tmpdir(), 'fedscore-fuzz-'));

  const security = () => [...node.audit.entries({ kind: 'security_event' })].length;
  const snapshot = () =>
    JSON.stringify([
      node.jobs.get('kept-job'),
      node.jobs.checkpoint('kept-job', 'psi'),
      node.jobs.events('kept-job'),
    ]);

  beforeAll(async () => {
    node = await PartyNode.start({
      config: validateNodeConfig({
        party: 'government',
        listen: '127.0.0.1:0',
        stateDir: join(dir, 'government'),
        tls: { ca: 'x', cert: 'x', key: 'x' },
        peers: { bank: { address: '127.0.0.1:1' }, arbiter: { address: '127.0.0.1:1' } },
        limits: { maxMessageBytes: LIMIT, chunkBytes: 16 * 1024 },
      }),
      tls: pem('government'),
    });
    // Job state that no refused input may touch.
    node.jobs.put(
      {
        id: 'kept-job',
        guest: 'bank',
        hosts: ['government'],
        data: { bank: 'loans', government: 'credit' },
        seed: 1,
        testFraction: 0.3,
        binning: { enabled: false, method: 'quantile', bins: 10, minIv: 0.02, scheme: 'ckks' },
        train: { scheme: 'ckks', maxEpochs: 1 },
        consent: { purpose: 'training', categories: ['*'] },
        insecure: false,
      },
      'bank',
      'running',
    );
    node.jobs.saveCheckpoint('kept-job', 'psi', 0, { rows: [0, 1, 2], test: [1] });
    jobSnapshot = snapshot();
    node.transport.grant({ key: GRANT, parties: ['bank', 'government'], protocols: { 'fuzz.proto': 1 } });
    bank = rawClient(node.grpcPort, pem('bank'));
    securityBefore = security();
  });

  afterAll(async () => {
    bank.close();
    await node.stop();
  });

  // A refusal is a typed code other than `internal`: `internal` means an invariant of our own code
  // failed (a bug), never a considered refusal of bad input.
  const typed = (r: RawResult): void => {
    expect(r.grpcStatus).toBeDefined();
    expect(ERROR_CODES as readonly string[]).toContain(r.code);
    expect(r.code, 'internal is a bug, not a refusal').not.toBe('internal');
  };
  const stillUp = async (): Promise<void> => {
    const r = await unaryRaw(bank, 'Health', new Uint8Array());
    expect(r.grpcStatus).toBeUndefined();
  };

  it('random bytes on Deliver: typed refusal, audit entry, node up', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 3 }),
        async (chunks) => {
          const before = security();
          const r = await deliverRaw(bank, chunks);
          typed(r);
          expect(security()).toBe(before + 1);
        },
      ),
      { numRuns: 40 },
    );
    await stillUp();
  });

  it('random bytes on Control and Health', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 200 }), async (body) => {
        const r = await unaryRaw(bank, 'Control', body);
        typed(r);
      }),
      { numRuns: 40 },
    );
    // Health ignores its (empty) request body.
    await stillUp();
  });

  it('oversized, truncated, digest-mismatched and garbage envelopes', async () => {
    const good = envelopeCodec.encode(envelope());
    expect((await deliverRaw(bank, chunksOf(good, { total: LIMIT + 1 }))).code).toBe('wire_too_large');
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: good.length - 1 }), async (cut) => {
        expect((await deliverRaw(bank, chunksOf(good, { cut }))).code).toBe('wire_decode');
      }),
      { numRuns: 20 },
    );
    expect((await deliverRaw(bank, chunksOf(good, { digest: new Uint8Array(32) }))).code).toBe('wire_decode');
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 400 }), async (garbage) => {
        const r = await deliverRaw(bank, chunksOf(garbage));
        typed(r);
        expect(['wire_decode', 'job_state', 'peer_identity', 'protocol_step', 'protocol_version']).toContain(
          r.code,
        );
      }),
      { numRuns: 40 },
    );
    await stillUp();
  });

  it('replayed, out-of-order, unknown-version, unknown-protocol, ungranted and spoofed envelopes', async () => {
    const send = (e: Envelope, attempt = 0) =>
      deliverRaw(bank, chunksOf(envelopeCodec.encode(e), { attempt }));
    expect((await send(envelope({ seq: 0 }))).code).toBeUndefined(); // accepted
    expect((await send(envelope({ seq: 0 }), 1)).code).toBeUndefined(); // identical retry: duplicate, ok
    expect((await send(envelope({ seq: 0, payload: Uint8Array.of(9) }), 1)).code).toBe('protocol_sequence');
    expect((await send(envelope({ seq: 0 }))).code).toBe('protocol_sequence'); // replay
    expect((await send(envelope({ seq: 5 }))).code).toBe('protocol_sequence'); // out of order
    expect((await send(envelope({ seq: 1, version: 2 }))).code).toBe('protocol_version');
    expect((await send(envelope({ seq: 1, protocol: 'psi.other' }))).code).toBe('protocol_step');
    expect((await send(envelope({ seq: 0, session: 'someone-else/0/x' }))).code).toBe('job_state');
    expect((await send(envelope({ seq: 1, sender: 'arbiter' }))).code).toBe('peer_identity');
    expect((await send(envelope({ seq: 1, receiver: 'arbiter' }))).code).toBe('peer_identity');
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 1_000_000 }),
        fc.integer({ min: 2, max: 50 }),
        async (seq, version) => {
          expect((await send(envelope({ seq }))).code).toBe('protocol_sequence');
          expect((await send(envelope({ seq: 1, version }))).code).toBe('protocol_version');
        },
      ),
      { numRuns: 15 },
    );
    await stillUp();
  });

  it('a message at the wrong step fails the waiting role with protocol_step, nothing else', async () => {
    const hello = defineStep<Uint8Array>('hello', { encode: (v) => v, decode: (b) => b });
    const keys = defineStep<Uint8Array>('keys', { encode: (v) => v, decode: (b) => b });
    const s = new ProtocolSession(node.transport.channel(), {
      protocol: 'fuzz.proto',
      version: 1,
      session: `${GRANT}/s`,
    });
    expect(await s.receive('bank', hello)).toEqual(Uint8Array.of(1, 2, 3)); // the seq-0 message from above
    const waiting = s.receive('bank', keys).catch((e: unknown) => e);
    expect(
      (await deliverRaw(bank, chunksOf(envelopeCodec.encode(envelope({ seq: 1, step: 'hello' }))))).code,
    ).toBeUndefined();
    const e = await waiting;
    expect(isFedscoreError(e, 'protocol_step')).toBe(true);
  });

  it('wrong certificates: an unknown party is refused and audited; another CA cannot connect', async () => {
    node.refusals.flush();
    const before = security();
    const mallory = rawClient(node.grpcPort, pem('mallory'));
    const r = await unaryRaw(mallory, 'Health', new Uint8Array());
    expect(r.code).toBe('peer_identity');
    // Unauthenticated refusals are counted per source and window (issue 12), written at the flush.
    expect(security()).toBe(before);
    node.refusals.flush();
    expect(security()).toBe(before + 1);
    const last = [...node.audit.entries({ kind: 'security_event' })].at(-1)!;
    expect(last.actor).toBe('unauthenticated');
    mallory.close();
    const other = createDevCa({ name: 'not the federation CA' });
    const impostor = await GrpcTransport.start({
      party: 'bank',
      listen: '127.0.0.1:0',
      tls: { ca: ca.cert, ...issuePartyCert({ ca: other, party: 'bank' }) },
      peers: { government: `127.0.0.1:${node.grpcPort}` },
      limits: { retries: 0 },
    });
    const err = await impostor.health('government', 3000).catch((x: unknown) => x);
    expect(isFedscoreError(err)).toBe(true);
    await impostor.close();
    await stillUp();
    node.refusals.flush();
  });

  it('left the audit chain valid, one entry per refusal (unauthenticated: per window, with the count), and job state untouched', () => {
    expect(security()).toBeGreaterThan(securityBefore + 100);
    expect(node.audit.verify().ok).toBe(true);
    expect(snapshot()).toBe(jobSnapshot);
    const m = node.metrics();
    const refused = m
      .filter((s) => s.name === 'fedscore_rejected_calls_total')
      .reduce((a, s) => a + s.value, 0);
    const rows = [...node.audit.entries({ kind: 'security_event', fromSeq: 1 })].slice(securityBefore);
    const calls = rows.reduce(
      (a, e) => a + (typeof e.details?.['count'] === 'number' ? e.details['count'] : 1),
      0,
    );
    expect(refused).toBe(calls);
  });
});
