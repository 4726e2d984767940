/**
 * The envelope codec against the protobuf encoding spec (https://protobuf.dev/programming-guides/encoding/):
 * the reference bytes below are written by hand from the spec's rules (tag = field << 3 | wire type,
 * varints little-endian base 128 -- the spec's own example 300 = `ac 02`), not produced by protobufjs.
 * Exact equality throughout: the wire format has no tolerance.
 */
import {
  createInMemoryNetwork,
  type Envelope,
  FedscoreError,
  isFedscoreError,
  ProtocolSession,
  runParties,
} from '@fedscore/core';
import {
  ciphertextBatchStep,
  createEnvelopeCodec,
  DEFAULT_MAX_MESSAGE_BYTES,
  envelopeCodec,
  float64VectorStep,
} from '@fedscore/wire';
import { describe, expect, it } from 'vitest';

const hex = (s: string): Uint8Array =>
  Uint8Array.from(s.match(/[0-9a-f]{2}/g)!.map((h) => Number.parseInt(h, 16)));

const SMALL: Envelope = {
  protocol: 'p',
  version: 1,
  session: 's',
  step: 't',
  sender: 'a',
  receiver: 'b',
  seq: 300,
  payload: new Uint8Array([1, 2]),
};
// field 1 (protocol) len 1 'p' | field 2 varint 1 | field 3 'r' | field 4 't' | field 5 'a' | field 6 'b'
// | field 7 varint 300 | field 8 bytes [1, 2]
const SMALL_BYTES = hex('0a0170 1001 1a0173 220174 2a0161 320162 38ac02 42020102');

function catchError(fn: () => unknown): FedscoreError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FedscoreError);
    return e as FedscoreError;
  }
  throw new Error('expected a FedscoreError, nothing was thrown');
}

describe('envelope codec: wire format', () => {
  it('encodes to the bytes the protobuf spec prescribes', () => {
    expect(envelopeCodec.encode(SMALL)).toEqual(SMALL_BYTES);
  });

  it('decodes the spec bytes, with fields in any order', () => {
    expect(envelopeCodec.decode(SMALL_BYTES)).toEqual(SMALL);
    // Same fields, reversed order: protobuf parsers must accept any field order.
    const reversed = hex('42020102 38ac02 320162 2a0161 220174 1a0173 1001 0a0170');
    expect(envelopeCodec.decode(reversed)).toEqual(SMALL);
  });

  it('round-trips large sequence numbers, long names and empty payloads', () => {
    const cases: Envelope[] = [
      { ...SMALL, seq: 0, payload: new Uint8Array(0) },
      { ...SMALL, seq: Number.MAX_SAFE_INTEGER, version: 2 ** 32 - 1 },
      {
        ...SMALL,
        protocol: 'vfl.hetero-lr',
        session: 'é会话-🔐'.repeat(50),
        sender: 'gov',
        receiver: 'bank-1',
      },
      // A CKKS N=8192 ciphertext's worth of payload (compared below as bytes: deep equality is slow).
      { ...SMALL, payload: new Uint8Array(384 * 1024).fill(0xab) },
      // Over 2^21 bytes: a four-byte length varint.
      { ...SMALL, payload: new Uint8Array(3 * 1024 * 1024).fill(0xcd) },
    ];
    for (const env of cases) {
      const bytes = envelopeCodec.encode(env);
      const back = envelopeCodec.decode(bytes);
      expect(Buffer.from(back.payload).equals(Buffer.from(env.payload))).toBe(true);
      expect({ ...back, payload: null }).toEqual({ ...env, payload: null });
      expect(Object.getPrototypeOf(back.payload)).toBe(Uint8Array.prototype);
    }
  });

  it('writes an empty payload explicitly, so that a cut between fields is detected', () => {
    const bytes = envelopeCodec.encode({ ...SMALL, payload: new Uint8Array(0) });
    expect(Buffer.from(bytes).toString('hex')).toBe(
      '0a017010011a0173220174 2a0161320162 38ac02 4200'.replace(/ /g, ''),
    );
    // The same bytes cut just before the payload field: every field whole, yet refused.
    const e = catchError(() => envelopeCodec.decode(bytes.subarray(0, bytes.length - 2)));
    expect(e.field).toBe('fedscore.Envelope.payload');
  });

  it('skips unknown fields from a newer sender', () => {
    // + field 15 varint 7, + field 16 length-delimited 'xy', + field 9 fixed64
    const extended = new Uint8Array([
      ...SMALL_BYTES,
      ...hex('7807 82010278 79 490102030405060708'.replace(/ /g, '')),
    ]);
    expect(envelopeCodec.decode(extended)).toEqual(SMALL);
  });
});

describe('envelope codec: typed errors', () => {
  it('refuses to encode an invalid envelope, naming the field', () => {
    const bad: [Partial<Record<keyof Envelope, unknown>>, string][] = [
      [{ protocol: '' }, 'protocol'],
      [{ version: 0 }, 'version'],
      [{ version: 1.5 }, 'version'],
      [{ session: '' }, 'session'],
      [{ step: '' }, 'step'],
      [{ sender: '' }, 'sender'],
      [{ receiver: 7 }, 'receiver'],
      [{ seq: -1 }, 'seq'],
      [{ seq: 2 ** 53 }, 'seq'],
      [{ payload: [1, 2] }, 'payload'],
    ];
    for (const [patch, field] of bad) {
      const e = catchError(() => envelopeCodec.encode({ ...SMALL, ...patch } as Envelope));
      expect(['invalid_argument', 'out_of_range']).toContain(e.code);
      expect(e.field).toBe(field);
    }
  });

  it('names each absent required field on decode', () => {
    const withoutField: [string, string][] = [
      ['0a0170', 'protocol'],
      ['1001', 'protocol_version'],
      ['1a0173', 'session_id'],
      ['220174', 'step'],
      ['2a0161', 'sender'],
      ['320162', 'receiver'],
      ['42020102', 'payload'],
    ];
    for (const [chunk, field] of withoutField) {
      const bytes = hex('0a0170 1001 1a0173 220174 2a0161 320162 38ac02 42020102'.replace(chunk, ''));
      const e = catchError(() => envelopeCodec.decode(bytes));
      expect(e.code).toBe('wire_decode');
      expect(e.field).toBe(`fedscore.Envelope.${field}`);
    }
  });

  it('treats a known field with the wrong wire type as absent', () => {
    // protocol (field 1) sent as a varint: skipped as unknown, so the required protocol is missing.
    const bytes = hex('0807 1001 1a0173 220174 2a0161 320162 38ac02 42020102');
    expect(catchError(() => envelopeCodec.decode(bytes)).field).toBe('fedscore.Envelope.protocol');
  });

  it('reports truncation, invalid UTF-8 and oversized sequence numbers as wire_decode', () => {
    const truncated = catchError(() => envelopeCodec.decode(SMALL_BYTES.subarray(0, SMALL_BYTES.length - 1)));
    expect(truncated.code).toBe('wire_decode');
    expect(truncated.field).toBe('fedscore.Envelope.payload');

    const badUtf8 = SMALL_BYTES.slice();
    badUtf8[2] = 0xff; // the 'p' of protocol
    const e = catchError(() => envelopeCodec.decode(badUtf8));
    expect(e.code).toBe('wire_decode');
    expect(e.field).toBe('fedscore.Envelope.protocol');

    // seq = 2^53 (varint 80 80 80 80 80 80 80 10)
    const bigSeq = hex('0a0170 1001 1a0173 220174 2a0161 320162 38 8080808080808010');
    const s = catchError(() => envelopeCodec.decode(bigSeq));
    expect(s.code).toBe('wire_decode');
    expect(s.field).toBe('fedscore.Envelope.seq');

    expect(catchError(() => envelopeCodec.decode('bytes' as unknown as Uint8Array)).code).toBe('wire_decode');
  });
});

describe('envelope codec: size limit', () => {
  it('defaults to 64 MiB', () => {
    expect(DEFAULT_MAX_MESSAGE_BYTES).toBe(64 * 1024 * 1024);
    expect(envelopeCodec.maxMessageBytes).toBe(DEFAULT_MAX_MESSAGE_BYTES);
  });

  it('rejects an oversized message before decoding it', () => {
    const codec = createEnvelopeCodec({ maxMessageBytes: 1024 });
    // Garbage: were it decoded, this would be a wire_decode error; the size check must come first.
    const garbage = new Uint8Array(1025).fill(0xff);
    const e = catchError(() => codec.decode(garbage));
    expect(e.code).toBe('wire_too_large');
    expect(e.details).toEqual({ bytes: 1025, limit: 1024 });
    // At the limit, the same garbage is decoded (and refused as garbage).
    expect(catchError(() => codec.decode(garbage.subarray(0, 1024))).code).toBe('wire_decode');
  });

  it('refuses to encode an envelope the receiver would reject', () => {
    const codec = createEnvelopeCodec({ maxMessageBytes: 1024 });
    expect(catchError(() => codec.encode({ ...SMALL, payload: new Uint8Array(1025) })).code).toBe(
      'wire_too_large',
    );
    // Payload under the limit but envelope over it (headers count).
    expect(catchError(() => codec.encode({ ...SMALL, payload: new Uint8Array(1020) })).code).toBe(
      'wire_too_large',
    );
    const fits = codec.encode({ ...SMALL, payload: new Uint8Array(1000) });
    expect(fits.length).toBeLessThanOrEqual(1024);
  });

  it('validates the limit itself', () => {
    for (const maxMessageBytes of [0, -1, 1.5, 2 ** 31]) {
      expect(isFedscoreError(catchError(() => createEnvelopeCodec({ maxMessageBytes })))).toBe(true);
    }
  });
});

describe('envelope codec inside core in-memory network', () => {
  const gradient = float64VectorStep('gradient');
  const batch = ciphertextBatchStep('encrypted-residuals');

  it('carries typed steps; byte counts equal encoded sizes', async () => {
    const net = createInMemoryNetwork(['bank', 'gov'], envelopeCodec, { capture: true });
    const spec = { protocol: 'test.wire', version: 1, session: 'sess-1' };
    const residuals = {
      scheme: 'ckks' as const,
      paramsFingerprint: new Uint8Array(32).fill(7),
      items: [new Uint8Array(4096).fill(1), new Uint8Array(4096).fill(2)],
      valueCount: 6000,
      slotsPerItem: 4096,
      scale: 2 ** 40,
      exponent: 0,
      compression: 'zstd' as const,
      level: 2,
    };
    const g = Float64Array.from([0.5, -1.25, 3e-300, 1e300]);
    const out = await runParties(net, {
      bank: async () => {
        const s = new ProtocolSession(net.channel('bank'), spec);
        await s.send('gov', batch, residuals);
        return s.receive('gov', gradient);
      },
      gov: async () => {
        const s = new ProtocolSession(net.channel('gov'), spec);
        const got = await s.receive('bank', batch);
        await s.send('bank', gradient, g);
        return got;
      },
    });
    expect(out.gov).toEqual(residuals);
    expect(out.bank).toEqual(g);

    expect(net.captured).toHaveLength(2);
    const [first, second] = net.captured;
    // The captured bytes are exactly the encoding of the envelope that was sent.
    const sent: Envelope = {
      ...spec,
      session: spec.session,
      step: batch.name,
      sender: 'bank',
      receiver: 'gov',
      seq: 0,
      payload: batch.encode(residuals),
    };
    expect(first!.bytes).toEqual(envelopeCodec.encode(sent));
    expect(envelopeCodec.decode(first!.bytes)).toEqual(sent);

    const bankStats = net.channel('bank').stats();
    const govStats = net.channel('gov').stats();
    expect(bankStats.bytesSent['gov']).toBe(first!.bytes.length);
    expect(govStats.bytesReceived['bank']).toBe(first!.bytes.length);
    expect(govStats.bytesSent['bank']).toBe(second!.bytes.length);
    expect(bankStats.bytesReceived['gov']).toBe(second!.bytes.length);
    // Gradient payload: 4 doubles packed = tag + length + 32 bytes.
    expect(second!.payload.length).toBe(2 + 8 * g.length);
  });

  it('a session refuses an unknown protocol version as a typed error', async () => {
    const net = createInMemoryNetwork(['bank', 'gov'], envelopeCodec);
    const sender = new ProtocolSession(net.channel('bank'), {
      protocol: 'test.wire',
      version: 2,
      session: 's',
    });
    const receiver = new ProtocolSession(net.channel('gov'), {
      protocol: 'test.wire',
      version: 1,
      session: 's',
    });
    await sender.send('gov', gradient, new Float64Array([1]));
    await expect(receiver.receive('bank', gradient)).rejects.toMatchObject({ code: 'protocol_version' });
  });
});
