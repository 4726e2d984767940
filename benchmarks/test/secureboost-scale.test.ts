/**
 * The pieces of `bench secureboost --scale` (benchmarks/src/secureboost-scale*.ts) that its figures rest on:
 *
 * - `streamChannel`, the pipe between the two party processes: envelopes of every size (one larger
 *   than a socket's buffers, as the 68 MB public context is) arrive whole, in order, per session, and
 *   each party's byte and message counts equal the in-memory network's for the same envelopes (the
 *   reference: `createInMemoryNetwork` with the same wire codec), so the per-tree bytes mean the same.
 * - `writePartyData` / `readPartyData`: each party's features and labels round-trip bit for bit.
 * - `stageSplit`: a trace with known gaps splits into setup and trees with exactly those seconds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInMemoryNetwork, type Envelope } from '@fedscore/core';
import { envelopeCodec } from '@fedscore/wire';
import { afterAll, describe, expect, it } from 'vitest';
import { stageSplit } from '../src/secureboost-scale.ts';
import { readPartyData, streamChannel, writePartyData } from '../src/secureboost-scale-party.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedscore-sb-scale-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function socketPair(): Promise<[Socket, Socket, () => void]> {
  const server = createServer();
  const accepted = new Promise<Socket>((ok) => server.once('connection', ok));
  const path = join(dir, `s-${Math.random().toString(36).slice(2)}.sock`);
  await new Promise<void>((ok) => server.listen(path, ok));
  const { connect } = await import('node:net');
  const a = connect(path);
  await new Promise<void>((ok) => a.once('connect', () => ok()));
  const b = await accepted;
  return [a, b, () => server.close()];
}

function envelope(i: number, bytes: number, session: string, sender: string, receiver: string): Envelope {
  const payload = new Uint8Array(bytes);
  for (let k = 0; k < bytes; k += 997) payload[k] = (i * 31 + k) & 255;
  return { protocol: 'p', version: 1, session, step: `step-${i}`, sender, receiver, seq: i, payload };
}

describe('streamChannel', () => {
  it('delivers whole envelopes in order per session, counting bytes as the in-memory network does', async () => {
    const [a, b, close] = await socketPair();
    const guest = streamChannel('guest', a, []);
    const host = streamChannel('host', b, []);
    const sizes = [0, 5, 70_000, 9 * 2 ** 20, 3, 200_000];
    const sent = sizes.map((n, i) => envelope(i, n, i % 2 === 0 ? 's1' : 's2', 'guest', 'host'));
    const back = [envelope(0, 1234, 's1', 'host', 'guest')];
    await Promise.all(sent.map((e) => guest.send(e)));
    await host.send(back[0]!);
    const got: Envelope[] = [];
    // Receive the second session first: the first session's envelopes must wait in their own queue.
    const order = [...sent.filter((x) => x.session === 's2'), ...sent.filter((x) => x.session === 's1')];
    for (const e of order) got.push(await host.receive('guest', e.session));
    const reply = await guest.receive('host', 's1');
    expect(got.map((e) => e.step)).toEqual(order.map((e) => e.step));
    for (const [k, e] of got.entries()) expect(Buffer.compare(e.payload, order[k]!.payload)).toBe(0);
    expect(reply.step).toBe('step-0');

    const net = createInMemoryNetwork(['guest', 'host'], envelopeCodec);
    for (const e of sent) await net.channel('guest').send(e);
    await net.channel('host').send(back[0]!);
    for (const e of sent) await net.channel('host').receive('guest', e.session);
    await net.channel('guest').receive('host', 's1');
    expect(guest.stats()).toEqual(net.channel('guest').stats());
    expect(host.stats()).toEqual(net.channel('host').stats());
    guest.close();
    host.close();
    close();
  });

  it('fails a pending receive when the other end goes away', async () => {
    const [a, b, close] = await socketPair();
    const host = streamChannel('host', b, []);
    const pending = host.receive('guest', 's');
    a.destroy();
    await expect(pending).rejects.toMatchObject({ code: 'channel_closed' });
    close();
  });
});

describe('party data files', () => {
  it('round-trip features and labels bit for bit', () => {
    const columns = [Float64Array.from([1.5, Number.NaN, -0]), Float64Array.from([3, 2 ** -40, 1e300])];
    const labels = Float64Array.from([0, 1, 1]);
    const path = join(dir, 'g.bin');
    writePartyData(path, { names: ['a', 'ünïcode'], columns }, labels);
    const back = readPartyData(path);
    expect(back.features.names).toEqual(['a', 'ünïcode']);
    expect(back.features.columns.map((c) => [...c])).toEqual(columns.map((c) => [...c]));
    expect(Object.is(back.features.columns[0]![2], -0)).toBe(true);
    expect([...back.labels!]).toEqual([0, 1, 1]);
    writePartyData(join(dir, 'h.bin'), { names: ['x'], columns: [columns[0]!] });
    expect(readPartyData(join(dir, 'h.bin')).labels).toBeUndefined();
  });
});

describe('stageSplit', () => {
  it('splits a trace at the tree starts into busy and waiting seconds', () => {
    const ev = (kind: 'send' | 'receive', step: string, t: number, done: number, bytes = 0) => ({
      kind,
      step,
      t,
      done,
      bytes,
    });
    const trace = [
      ev('send', 'public-context', 0, 100, 50),
      ev('send', 'tree-start', 400, 401, 5),
      ev('send', 'gradients', 1401, 1501, 1000),
      ev('receive', 'histograms', 1501, 9501),
      ev('send', 'split-decisions', 9801, 9802, 7),
      ev('send', 'tree-start', 10_002, 10_003, 5),
    ];
    const s = stageSplit(trace);
    expect(s.setupBytes).toBe(50);
    expect(s.setup).toEqual({ 'send public-context': 0.1, 'after sending public-context': 0.3 });
    expect(s.bytesSent).toEqual([1012, 5]);
    expect(s.trees[0]).toEqual({
      'send tree-start': 0.001,
      'after sending tree-start': 1,
      'send gradients': 0.1,
      'wait histograms': 8,
      'after receiving histograms': 0.3,
      'send split-decisions': 0.001,
      'after sending split-decisions': 0.2,
    });
  });
});
