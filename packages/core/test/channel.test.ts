import {
  createInMemoryNetwork,
  defineStep,
  type Envelope,
  type EnvelopeCodec,
  FedscoreError,
  ProtocolSession,
  runParties,
} from '@fedscore/core';
import { describe, expect, it } from 'vitest';

// A JSON envelope codec: core must work with any codec (the real one lives in packages/wire).
const jsonCodec: EnvelopeCodec = {
  encode: (e: Envelope) => new TextEncoder().encode(JSON.stringify({ ...e, payload: Array.from(e.payload) })),
  decode: (b: Uint8Array) => {
    const o = JSON.parse(new TextDecoder().decode(b));
    return { ...o, payload: Uint8Array.from(o.payload) } as Envelope;
  },
};
const numberStep = (name: string) =>
  defineStep<number>(name, {
    encode: (v) => new Uint8Array(new Float64Array([v]).buffer),
    decode: (b) => new Float64Array(b.slice().buffer)[0]!,
  });
const PING = numberStep('ping');
const PONG = numberStep('pong');
const spec = { protocol: 'test', version: 1, session: 's1' };

describe('in-memory channel', () => {
  it('delivers typed messages in order and counts encoded bytes both ways', async () => {
    const net = createInMemoryNetwork(['a', 'b'], jsonCodec, { capture: true });
    const a = new ProtocolSession(net.channel('a'), spec);
    const b = new ProtocolSession(net.channel('b'), spec);
    const out = await runParties(net, {
      a: async () => {
        await a.send('b', PING, 1.5);
        await a.send('b', PING, 2.5);
        return a.receive('b', PONG);
      },
      b: async () => {
        const x = await b.receive('a', PING);
        const y = await b.receive('a', PING);
        await b.send('a', PONG, x + y);
        return x;
      },
    });
    expect(out).toEqual({ a: 4, b: 1.5 });
    const sa = net.channel('a').stats();
    const sb = net.channel('b').stats();
    expect(sa.messagesSent['b']).toBe(2);
    expect(sa.bytesSent['b']).toBe(sb.bytesReceived['a']);
    expect(sb.bytesSent['a']).toBe(sa.bytesReceived['b']);
    expect(net.receivedBy('b').map((m) => m.step)).toEqual(['ping', 'ping']);
    expect(net.captured.reduce((s, m) => s + m.bytes.length, 0)).toBe(
      sa.bytesSent['b']! + sb.bytesSent['a']!,
    );
  });

  it('rejects a message at the wrong step with a typed error', async () => {
    const net = createInMemoryNetwork(['a', 'b'], jsonCodec);
    const a = new ProtocolSession(net.channel('a'), spec);
    const b = new ProtocolSession(net.channel('b'), spec);
    await a.send('b', PONG, 1);
    await expect(b.receive('a', PING)).rejects.toMatchObject({ code: 'protocol_step', field: 'step' });
  });

  it('rejects replayed messages and other versions', async () => {
    const net = createInMemoryNetwork(['a', 'b'], jsonCodec);
    const chan = net.channel('a');
    const b = new ProtocolSession(net.channel('b'), spec);
    const env: Envelope = {
      ...spec,
      step: 'ping',
      sender: 'a',
      receiver: 'b',
      seq: 0,
      payload: PING.encode(1),
    };
    await chan.send(env);
    await chan.send(env); // replay
    await expect(b.receive('a', PING)).resolves.toBe(1);
    await expect(b.receive('a', PING)).rejects.toMatchObject({ code: 'protocol_sequence' });
    const b2 = new ProtocolSession(net.channel('b'), { ...spec, session: 's2' });
    await chan.send({ ...env, session: 's2', version: 9 });
    await expect(b2.receive('a', PING)).rejects.toMatchObject({ code: 'protocol_version' });
  });

  it('unblocks waiting parties when one role fails', async () => {
    const net = createInMemoryNetwork(['a', 'b'], jsonCodec);
    const b = new ProtocolSession(net.channel('b'), spec);
    await expect(
      runParties(net, {
        a: async () => {
          throw new FedscoreError('invalid_argument', 'boom', { field: 'x' });
        },
        b: () => b.receive('a', PING),
      }),
    ).rejects.toMatchObject({ code: 'invalid_argument', field: 'x' });
  });

  it('times out a receive when asked to', async () => {
    const net = createInMemoryNetwork(['a', 'b'], jsonCodec, { receiveTimeoutMs: 20 });
    const b = new ProtocolSession(net.channel('b'), spec);
    await expect(b.receive('a', PING)).rejects.toMatchObject({ code: 'timeout' });
  });
});
