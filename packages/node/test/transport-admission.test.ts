/**
 * Admission of inbound envelopes without sockets (packages/node/src/transport/grpc/admission.ts): the
 * chunk reassembly's size and digest checks, then identity, grant, protocol, version, replay and sequence
 * checks, retries acknowledged as duplicates, standing grants' session hook, and backpressure. The same
 * checks run behind every gRPC Deliver call (transport.test.ts and wrong-cert.test.ts drive them over
 * real TLS sockets); here each refusal is provoked on its own and its code and field asserted, and each
 * accepted message is checked to be queued exactly once.
 */
import { createHash } from 'node:crypto';
import { type Envelope, FedscoreError, isFedscoreError } from '@fedscore/core';
import {
  DeliverAssembly,
  InboundAdmission,
  MAX_SESSIONS_PER_STANDING_GRANT,
  StandingSessions,
} from '@fedscore/node';
import { fedscore } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';

const GRANT = { key: 'job1/psi/0', parties: ['bank', 'government'], protocols: { psi: 2 } };

function env(over: Partial<Envelope> = {}): Envelope {
  return {
    protocol: 'psi',
    version: 2,
    session: 'job1/psi/0/a',
    step: 'hello',
    sender: 'bank',
    receiver: 'government',
    seq: 0,
    payload: Uint8Array.of(1, 2, 3),
    ...over,
  };
}

/** The refusal `fn` throws, checked to be a typed FedscoreError with `code` naming `field`. */
function refusal(fn: () => unknown, code: string, field: string): FedscoreError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(isFedscoreError(caught), `expected a FedscoreError, got ${String(caught)}`).toBe(true);
  const e = caught as FedscoreError;
  expect(e.code).toBe(code);
  expect(e.field).toBe(field);
  return e;
}

function admission(maxQueuedBytes = 1 << 20): InboundAdmission {
  const a = new InboundAdmission({ party: 'government', maxQueuedBytes });
  a.grant(GRANT);
  return a;
}

/** Whether a receive is already settled once pending callbacks have run (a queued message is). */
async function settled<T>(p: Promise<T>): Promise<boolean> {
  let done = false;
  p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await new Promise((r) => setImmediate(r));
  return done;
}

describe('DeliverAssembly (chunks of one Deliver call)', () => {
  const chunk = (m: fedscore.node.IDeliverChunk) =>
    fedscore.node.DeliverChunk.decode(fedscore.node.DeliverChunk.encode(m).finish());
  const data = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff);
  // Independent reference for the digest: node:crypto directly.
  const digest = createHash('sha256').update(data).digest();

  it('puts chunks back together and reports the digest and attempt', () => {
    const a = new DeliverAssembly(4096);
    a.add(chunk({ data: data.subarray(0, 1000), totalBytes: data.length, sha256: digest, attempt: 2 }));
    a.add(chunk({ data: data.subarray(1000) }));
    const out = a.finish();
    expect(Buffer.from(out.bytes).equals(Buffer.from(data))).toBe(true);
    expect(out.digest).toBe(digest.toString('hex'));
    expect(out.attempt).toBe(2);
  });

  it('refuses an announced size above the limit at the first chunk, before buffering', () => {
    const a = new DeliverAssembly(4096);
    refusal(
      () => a.add(chunk({ data: data.subarray(0, 10), totalBytes: 4097, sha256: digest })),
      'wire_too_large',
      'fedscore.node.DeliverChunk.total_bytes',
    );
    // At the limit is fine.
    new DeliverAssembly(4096).add(chunk({ data: data.subarray(0, 10), totalBytes: 4096, sha256: digest }));
  });

  it('refuses a first chunk without a 32-byte digest, more data than announced, a truncation, a wrong digest', () => {
    refusal(
      () =>
        new DeliverAssembly(4096).add(chunk({ data, totalBytes: data.length, sha256: digest.subarray(1) })),
      'wire_decode',
      'fedscore.node.DeliverChunk.sha256',
    );
    const more = new DeliverAssembly(4096);
    more.add(chunk({ data, totalBytes: data.length, sha256: digest }));
    refusal(
      () => more.add(chunk({ data: Uint8Array.of(0) })),
      'wire_decode',
      'fedscore.node.DeliverChunk.data',
    );
    const short = new DeliverAssembly(4096);
    short.add(chunk({ data: data.subarray(1), totalBytes: data.length, sha256: digest }));
    refusal(() => short.finish(), 'wire_decode', 'fedscore.node.DeliverChunk.data');
    const flipped = Uint8Array.from(data);
    flipped[1234]! ^= 1;
    const wrong = new DeliverAssembly(4096);
    wrong.add(chunk({ data: flipped, totalBytes: data.length, sha256: digest }));
    refusal(() => wrong.finish(), 'wire_decode', 'fedscore.node.DeliverChunk.sha256');
    refusal(() => new DeliverAssembly(4096).finish(), 'wire_decode', 'fedscore.node.DeliverChunk');
  });
});

describe('InboundAdmission (checks before anything is queued)', () => {
  it('queues a granted message once and hands it to the receiver', async () => {
    const a = admission();
    expect(a.admit('bank', env(), 'd0', 0)).toBe(false);
    expect(await a.receive('bank', 'job1/psi/0/a')).toEqual(env());
    // Nothing else is queued: a second receive stays pending.
    expect(await settled(a.receive('bank', 'job1/psi/0/a'))).toBe(false);
  });

  it('refuses an envelope whose sender is not the caller, or addressed to another party', () => {
    refusal(
      () => admission().admit('bank', env({ sender: 'government' }), 'd', 0),
      'peer_identity',
      'fedscore.Envelope.sender',
    );
    refusal(
      () => admission().admit('bank', env({ receiver: 'arbiter' }), 'd', 0),
      'peer_identity',
      'fedscore.Envelope.receiver',
    );
  });

  it('refuses sessions outside every grant (prefix is by path segment), closed grants, and non-parties', () => {
    const a = admission();
    refusal(
      () => a.admit('bank', env({ session: 'job1/psi/00' }), 'd', 0),
      'job_state',
      'fedscore.Envelope.session_id',
    );
    refusal(
      () => a.admit('bank', env({ session: 'job2/psi/0' }), 'd', 0),
      'job_state',
      'fedscore.Envelope.session_id',
    );
    expect(a.admit('bank', env({ session: 'job1/psi/0' }), 'd', 0)).toBe(false);
    const outsider = new InboundAdmission({ party: 'government', maxQueuedBytes: 1024 });
    outsider.grant({ ...GRANT, parties: ['government', 'arbiter'] });
    refusal(() => outsider.admit('bank', env(), 'd', 0), 'job_state', 'fedscore.Envelope.sender');
    a.revoke(GRANT.key);
    refusal(
      () => a.admit('bank', env({ seq: 0, session: 'job1/psi/0/b' }), 'd', 0),
      'job_state',
      'fedscore.Envelope.session_id',
    );
  });

  it('refuses a protocol the attempt does not speak, and another version of its own', () => {
    refusal(
      () => admission().admit('bank', env({ protocol: 'vfl' }), 'd', 0),
      'protocol_step',
      'fedscore.Envelope.protocol',
    );
    refusal(
      () => admission().admit('bank', env({ version: 1 }), 'd', 0),
      'protocol_version',
      'fedscore.Envelope.protocol_version',
    );
  });

  it('refuses a replay and a gap; acknowledges an identical retry of the last message as a duplicate', async () => {
    const a = admission();
    expect(a.admit('bank', env({ seq: 0 }), 'd0', 0)).toBe(false);
    expect(a.admit('bank', env({ seq: 1 }), 'd1', 0)).toBe(false);
    // A gap: seq 3 before 2.
    refusal(() => a.admit('bank', env({ seq: 3 }), 'd3', 0), 'protocol_sequence', 'fedscore.Envelope.seq');
    // seq 1 again as a first attempt: a replay, even with the same digest.
    refusal(() => a.admit('bank', env({ seq: 1 }), 'd1', 0), 'protocol_sequence', 'fedscore.Envelope.seq');
    // A retry of seq 1 with other bytes: a replay.
    refusal(() => a.admit('bank', env({ seq: 1 }), 'dX', 1), 'protocol_sequence', 'fedscore.Envelope.seq');
    // A retry of an older message (seq 0), same digest: a replay (only the last one can be in flight).
    refusal(() => a.admit('bank', env({ seq: 0 }), 'd0', 1), 'protocol_sequence', 'fedscore.Envelope.seq');
    // The identical retry of seq 1: a duplicate, not queued twice.
    expect(a.admit('bank', env({ seq: 1 }), 'd1', 1)).toBe(true);
    expect((await a.receive('bank', 'job1/psi/0/a')).seq).toBe(0);
    expect((await a.receive('bank', 'job1/psi/0/a')).seq).toBe(1);
    expect(await settled(a.receive('bank', 'job1/psi/0/a'))).toBe(false);
    // Sequences are per (session, sender): another session of the grant starts at 0.
    expect(a.admit('bank', env({ session: 'job1/psi/0/b', seq: 0 }), 'e0', 0)).toBe(false);
    // And the next message of the first session is 2.
    expect(a.admit('bank', env({ seq: 2 }), 'd2', 0)).toBe(false);
  });

  it("a standing grant's hook sees each new session once, before queueing; throwing refuses", async () => {
    const a = new InboundAdmission({ party: 'government', maxQueuedBytes: 1 << 20 });
    const opened: string[] = [];
    a.grant({
      key: 'score/bank',
      parties: ['government', 'bank'],
      protocols: { psi: 2 },
      onSession: (session, peer) => {
        if (session.endsWith('/bad'))
          throw new FedscoreError('wire_decode', 'not a session', { field: 'session' });
        opened.push(`${peer}:${session}`);
      },
    });
    a.admit('bank', env({ session: 'score/bank/n1', seq: 0 }), 'a', 0);
    a.admit('bank', env({ session: 'score/bank/n1', seq: 1 }), 'b', 0);
    expect(opened).toEqual(['bank:score/bank/n1']);
    refusal(
      () => a.admit('bank', env({ session: 'score/bank/bad', seq: 0 }), 'c', 0),
      'wire_decode',
      'session',
    );
    // Refused before queueing and before its sequence state: the same seq 0 is refused again the same way.
    refusal(
      () => a.admit('bank', env({ session: 'score/bank/bad', seq: 0 }), 'c', 0),
      'wire_decode',
      'session',
    );
    // An ended session's queues go, its sequence state stays: a replay of seq 0 is still refused.
    a.endSession('score/bank/n1');
    refusal(
      () => a.admit('bank', env({ session: 'score/bank/n1', seq: 0 }), 'a', 0),
      'protocol_sequence',
      'fedscore.Envelope.seq',
    );
  });

  it(`a standing grant remembers the newest ${MAX_SESSIONS_PER_STANDING_GRANT} sessions`, () => {
    const a = new InboundAdmission({ party: 'government', maxQueuedBytes: 2 ** 40 });
    a.grant({
      key: 'score/bank',
      parties: ['government', 'bank'],
      protocols: { psi: 2 },
      onSession: () => {},
    });
    const s = (i: number) => `score/bank/s${i}`;
    for (let i = 0; i <= MAX_SESSIONS_PER_STANDING_GRANT; i++) {
      a.admit('bank', env({ session: s(i) }), 'x', 0);
      a.endSession(s(i));
    }
    // The newest is remembered (a replay is refused); the oldest was forgotten (seq 0 passes again).
    refusal(
      () => a.admit('bank', env({ session: s(MAX_SESSIONS_PER_STANDING_GRANT) }), 'x', 0),
      'protocol_sequence',
      'fedscore.Envelope.seq',
    );
    expect(a.admit('bank', env({ session: s(0) }), 'x', 0)).toBe(false);
  });

  it('holds acknowledgements while a grant has more than maxQueuedBytes unread', async () => {
    const a = admission(1024);
    const acks: number[] = [];
    const big = new Uint8Array(1024);
    a.admit('bank', env({ seq: 0, payload: big }), 'd0', 0);
    a.whenRoom('job1/psi/0/a', false, () => acks.push(0));
    expect(acks).toEqual([]);
    // A duplicate is acknowledged at once (it adds nothing).
    a.whenRoom('job1/psi/0/a', true, () => acks.push(-1));
    expect(acks).toEqual([-1]);
    await a.receive('bank', 'job1/psi/0/a');
    expect(acks).toEqual([-1, 0]);
  });

  it('a revoke fails pending receives with channel_closed, and later receives too', async () => {
    const a = admission();
    const pending = a.receive('bank', 'job1/psi/0/a');
    a.revoke(GRANT.key, new Error('stage failed'));
    await expect(pending).rejects.toMatchObject({ code: 'channel_closed' });
    await expect(a.receive('bank', 'job1/psi/0/a')).rejects.toMatchObject({ code: 'channel_closed' });
  });

  it('counts admitted messages and payload bytes by sender', () => {
    const stats = { bytesSent: {}, bytesReceived: {}, messagesSent: {}, messagesReceived: {} };
    const a = new InboundAdmission({ party: 'government', maxQueuedBytes: 1 << 20, stats });
    a.grant(GRANT);
    a.admit('bank', env({ seq: 0 }), 'd0', 0);
    a.admit('bank', env({ seq: 1, payload: new Uint8Array(10) }), 'd1', 0);
    a.admit('bank', env({ seq: 1, payload: new Uint8Array(10) }), 'd1', 1); // duplicate: not counted
    expect(stats.bytesReceived).toEqual({ bank: 13 });
    expect(stats.messagesReceived).toEqual({ bank: 2 });
  });
});

describe('StandingSessions (a standing service over admission)', () => {
  it('starts a session on its first message; refuses foreign ids and sessions past the per-peer cap', async () => {
    const a = new InboundAdmission({ party: 'government', maxQueuedBytes: 1 << 20 });
    const finish: (() => void)[] = [];
    const failures: string[] = [];
    const served: string[] = [];
    const svc = new StandingSessions<string>({
      transport: a,
      party: 'government',
      peers: ['bank'],
      prefix: 'score',
      protocols: { psi: 2 },
      name: 'scoring',
      maxSessionsPerPeer: 2,
      parse: (rest) => (/^[a-z0-9]{8}$/.test(rest) ? rest : undefined),
      serve: (_session, _peer, nonce) => {
        served.push(nonce);
        return new Promise<void>((ok, fail) => {
          finish.push(nonce === 'failfail' ? () => fail(new Error('boom')) : ok);
        });
      },
      onFailure: (session, peer) => failures.push(`${peer}:${session}`),
    });
    const open = (nonce: string, peer = 'bank') =>
      a.admit(peer, env({ sender: peer, session: `score/${peer}/${nonce}` }), 'd', 0);
    refusal(() => open('short'), 'wire_decode', 'fedscore.Envelope.session_id');
    refusal(() => open('aaaaaaaa/x'), 'wire_decode', 'fedscore.Envelope.session_id');
    open('aaaaaaaa');
    open('failfail');
    expect(svc.activeSessions).toBe(2);
    refusal(() => open('cccccccc'), 'invalid_state', 'fedscore.Envelope.session_id');
    // Another peer has no grant of its own here: refused by admission before the service is asked.
    refusal(() => open('dddddddd', 'arbiter'), 'job_state', 'fedscore.Envelope.session_id');
    for (const f of finish.splice(0)) f();
    await svc.drain();
    expect(svc.activeSessions).toBe(0);
    expect(served).toEqual(['aaaaaaaa', 'failfail']);
    expect(failures).toEqual(['bank:score/bank/failfail']);
    // Room again; an ended session stays ended (its replay is a sequence refusal).
    open('cccccccc');
    refusal(() => open('aaaaaaaa'), 'protocol_sequence', 'fedscore.Envelope.seq');
  });

  it("a relay (the previous host of a tree model's chain) sends into an open session only, never opens one", async () => {
    const a = new InboundAdmission({ party: 'tax', maxQueuedBytes: 1 << 20 });
    const finish: (() => void)[] = [];
    const served: string[] = [];
    const svc = new StandingSessions<string>({
      transport: a,
      party: 'tax',
      peers: ['bank', 'government', 'bank-2'],
      relays: ['government'],
      prefix: 'score-tree',
      protocols: { psi: 2 },
      name: 'tree scoring',
      maxSessionsPerPeer: 2,
      parse: (rest) => (/^[a-z0-9]{8}$/.test(rest) ? rest : undefined),
      serve: (_session, peer, nonce) => {
        served.push(`${peer}:${nonce}`);
        return new Promise<void>((ok) => {
          finish.push(ok);
        });
      },
      onFailure: () => {},
    });
    const send = (from: string, session: string, seq = 0) =>
      a.admit(from, env({ sender: from, receiver: 'tax', session, seq }), `d${seq}`, 0);
    // The government cannot open a session under the bank's name, nor send into one not open here.
    refusal(() => send('government', 'score-tree/bank/aaaaaaaa'), 'job_state', 'fedscore.Envelope.sender');
    // A peer that is no relay cannot send into another's open session.
    send('bank', 'score-tree/bank/aaaaaaaa');
    refusal(() => send('bank-2', 'score-tree/bank/aaaaaaaa'), 'job_state', 'fedscore.Envelope.sender');
    // The relay sends into the open session: queued for the role, no second session served.
    send('government', 'score-tree/bank/aaaaaaaa');
    send('government', 'score-tree/bank/aaaaaaaa', 1);
    expect(served).toEqual(['bank:aaaaaaaa']);
    expect(svc.activeSessions).toBe(1);
    expect((await a.receive('government', 'score-tree/bank/aaaaaaaa')).seq).toBe(0);
    // Once the session ends here, the relay's first message in a new one is refused again.
    for (const f of finish.splice(0)) f();
    await svc.drain();
    refusal(() => send('government', 'score-tree/bank/bbbbbbbb'), 'job_state', 'fedscore.Envelope.sender');
  });
});
