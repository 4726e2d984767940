/**
 * Round trips of every ready-made step and message, with reference bytes written by hand from the
 * protobuf encoding spec (https://protobuf.dev/programming-guides/encoding/: packed repeated fields,
 * little-endian IEEE 754 doubles, zigzag sint64 -- the spec's table gives -1 -> 1, 1 -> 2, -2 -> 3,
 * 2147483647 -> 4294967294, -2147483648 -> 4294967295). Exact equality (bit-exact for doubles).
 */
import { FedscoreError } from '@fedscore/core';
import {
  ABORT_STEP,
  abortFromError,
  abortStep,
  abortToError,
  bytesListStep,
  type CiphertextBatch,
  ciphertextBatchStep,
  fedscore,
  float64MatrixStep,
  float64VectorStep,
  idListStep,
  int64VectorStep,
  mappedProtoStep,
  messageName,
  protoStep,
  uint32VectorStep,
} from '@fedscore/wire';
import { describe, expect, it } from 'vitest';

const hex = (s: string): Uint8Array =>
  Uint8Array.from(
    s
      .replace(/ /g, '')
      .match(/[0-9a-f]{2}/g)!
      .map((h) => Number.parseInt(h, 16)),
  );
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function catchError(fn: () => unknown): FedscoreError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FedscoreError);
    return e as FedscoreError;
  }
  throw new Error('expected a FedscoreError, nothing was thrown');
}

/** Little-endian IEEE 754 bytes of doubles, by DataView (independent of protobufjs). */
function leDoubles(xs: readonly number[]): string {
  const dv = new DataView(new ArrayBuffer(8 * xs.length));
  for (let i = 0; i < xs.length; i++) dv.setFloat64(8 * i, xs[i]!, true);
  return toHex(new Uint8Array(dv.buffer));
}

describe('float64VectorStep', () => {
  const step = float64VectorStep('g');
  const values = [1.5, -0, 5e-324, -Number.MAX_VALUE, Math.PI, 2 ** -1074, 1e-300];

  it('encodes a packed field: tag 0a, byte length, little-endian doubles', () => {
    const bytes = step.encode(Float64Array.from(values));
    expect(toHex(bytes)).toBe(`0a${(8 * values.length).toString(16).padStart(2, '0')}${leDoubles(values)}`);
  });

  it('round-trips bit-exactly (including -0 and subnormals)', () => {
    const input = Float64Array.from(values);
    const back = step.decode(step.encode(input));
    expect(back).toBeInstanceOf(Float64Array);
    expect(toHex(new Uint8Array(back.buffer))).toBe(toHex(new Uint8Array(input.buffer)));
    expect(step.decode(step.encode(new Float64Array(0)))).toEqual(new Float64Array(0));
  });

  it('accepts the unpacked encoding too (proto2 senders)', () => {
    // two values as separate fixed64 fields: tag 09
    const bytes = hex(`09${leDoubles([2])}09${leDoubles([-3])}`);
    expect(step.decode(bytes)).toEqual(Float64Array.from([2, -3]));
  });

  it('refuses non-finite values and wrong lengths, naming the field', () => {
    const e = catchError(() => step.encode(Float64Array.from([1, Number.NaN])));
    expect(e.code).toBe('invalid_argument');
    expect(e.field).toBe('fedscore.common.Float64Vector.values[1]');
    const nanOnWire = hex(`0a10${leDoubles([1, Number.POSITIVE_INFINITY])}`);
    expect(catchError(() => step.decode(nanOnWire))).toMatchObject({
      code: 'wire_decode',
      field: 'fedscore.common.Float64Vector.values[1]',
    });
    const loose = float64VectorStep('g', { allowNonFinite: true });
    expect(loose.decode(nanOnWire)[1]).toBe(Number.POSITIVE_INFINITY);

    const fixed = float64VectorStep('g', { length: 3 });
    expect(catchError(() => fixed.encode(new Float64Array(2))).field).toBe(
      'fedscore.common.Float64Vector.values',
    );
    expect(catchError(() => fixed.decode(step.encode(new Float64Array(4)))).code).toBe('wire_decode');
    expect(catchError(() => step.encode([1, 2] as unknown as Float64Array)).field).toBe('values');
  });

  it('reports a packed field whose length is not a multiple of 8 as wire_decode', () => {
    const e = catchError(() => step.decode(hex('0a0301 0203')));
    expect(e.code).toBe('wire_decode');
  });
});

describe('float64MatrixStep', () => {
  const step = float64MatrixStep('m');
  it('round-trips and checks rows * cols', () => {
    const m = { rows: 2, cols: 3, values: Float64Array.from([1, 2, 3, 4, 5, 6]) };
    expect(step.decode(step.encode(m))).toEqual(m);
    expect(toHex(step.encode(m))).toBe(`0802 1003 1a30${leDoubles([1, 2, 3, 4, 5, 6])}`.replace(/ /g, ''));
    expect(catchError(() => step.encode({ ...m, cols: 2 })).field).toBe(
      'fedscore.common.Float64Matrix.values',
    );
    const bad = hex(`0802 1002 1a08${leDoubles([1])}`);
    expect(catchError(() => step.decode(bad))).toMatchObject({
      code: 'wire_decode',
      field: 'fedscore.common.Float64Matrix.values',
    });
    expect(catchError(() => float64MatrixStep('m', { rows: 3 }).decode(step.encode(m))).field).toBe(
      'fedscore.common.Float64Matrix.rows',
    );
  });
});

describe('int64VectorStep', () => {
  const step = int64VectorStep('i');
  it('zigzag-encodes per the spec table', () => {
    const v = BigInt64Array.from([0n, -1n, 1n, -2n, 2147483647n, -2147483648n]);
    // 0 -> 00, -1 -> 01, 1 -> 02, -2 -> 03, 4294967294 -> fe ff ff ff 0f, 4294967295 -> ff ff ff ff 0f
    expect(toHex(step.encode(v))).toBe('0a0e' + '00010203' + 'feffffff0f' + 'ffffffff0f');
    expect(step.decode(step.encode(v))).toEqual(v);
  });

  it('round-trips the 64-bit extremes', () => {
    const v = BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n, 2n ** 53n + 1n, -(2n ** 40n) - 7n]);
    const bytes = step.encode(v);
    // zigzag(-2^63) = 2^64 - 1: a ten-byte varint ff x9 01
    expect(toHex(bytes).slice(4, 24)).toBe('ffffffffffffffffff01');
    expect(step.decode(bytes)).toEqual(v);
  });
});

describe('uint32VectorStep', () => {
  const step = uint32VectorStep('u');
  it('round-trips varints up to 2^32 - 1', () => {
    const v = Uint32Array.from([0, 1, 127, 128, 300, 2 ** 32 - 1]);
    expect(toHex(step.encode(v))).toBe('0a0c' + '00017f8001ac02ffffffff0f');
    expect(step.decode(step.encode(v))).toEqual(v);
    expect(catchError(() => uint32VectorStep('u', { length: 2 }).decode(step.encode(v))).code).toBe(
      'wire_decode',
    );
  });
});

describe('bytesListStep and idListStep', () => {
  it('round-trip byte strings, with optional fixed item size and count', () => {
    const step = bytesListStep('b');
    const items = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(200).fill(9)];
    expect(toHex(step.encode(items.slice(0, 2)))).toBe('0a03010203' + '0a00');
    const back = step.decode(step.encode(items));
    expect(back).toEqual(items);
    for (const b of back) expect(Object.getPrototypeOf(b)).toBe(Uint8Array.prototype);

    const points = bytesListStep('p', { itemBytes: 32, count: 2 });
    const ok = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)];
    expect(points.decode(points.encode(ok))).toEqual(ok);
    expect(catchError(() => points.encode([ok[0]!, new Uint8Array(31)])).field).toBe(
      'fedscore.common.BytesList.items[1]',
    );
    expect(catchError(() => points.decode(step.encode([ok[0]!])))).toMatchObject({
      code: 'wire_decode',
      field: 'fedscore.common.BytesList.items',
    });
    expect(catchError(() => step.encode([new Uint8Array(1), 'x' as unknown as Uint8Array])).field).toBe(
      'items[1]',
    );
  });

  it('round-trip ids (USCCs, any Unicode), refusing empty ids and, on request, duplicates', () => {
    const step = idListStep('ids');
    const ids = ['91350100M000100Y43', '统一社会信用代码', 'x'];
    expect(step.decode(step.encode(ids))).toEqual(ids);
    expect(toHex(step.encode(['ab']))).toBe('0a026162');
    expect(catchError(() => step.encode(['a', ''])).field).toBe('fedscore.common.IdList.ids[1]');
    const unique = idListStep('ids', { unique: true });
    expect(catchError(() => unique.decode(step.encode(['a', 'a']))).field).toBe('fedscore.common.IdList.ids');
  });
});

describe('ciphertextBatchStep', () => {
  const step = ciphertextBatchStep('ct');
  const ckks: CiphertextBatch = {
    scheme: 'ckks',
    paramsFingerprint: new Uint8Array(32).fill(0xee),
    items: [new Uint8Array(1000).fill(1), new Uint8Array(1000).fill(2), new Uint8Array(10).fill(3)],
    valueCount: 8193,
    slotsPerItem: 4096,
    scale: 2 ** 40,
    exponent: 0,
    compression: 'zstd',
    level: 1,
  };
  const paillier: CiphertextBatch = {
    scheme: 'paillier',
    paramsFingerprint: new Uint8Array([1, 2, 3, 4]),
    items: [new Uint8Array(512).fill(5), new Uint8Array(512).fill(6)],
    valueCount: 2,
    slotsPerItem: 1,
    scale: 0,
    exponent: -53,
    compression: 'none',
    level: 0,
  };
  const plain: CiphertextBatch = {
    scheme: 'none',
    paramsFingerprint: new Uint8Array(0),
    items: [new Uint8Array(16)],
    valueCount: 2,
    slotsPerItem: 2,
    scale: 0,
    exponent: 0,
    compression: 'none',
    level: 0,
  };

  it('round-trips every scheme', () => {
    for (const b of [ckks, paillier, plain]) expect(step.decode(step.encode(b))).toEqual(b);
  });

  it('fills defaults for the optional fields', () => {
    const minimal: CiphertextBatch = {
      scheme: 'paillier',
      paramsFingerprint: new Uint8Array([9]),
      items: [new Uint8Array([7])],
      valueCount: 1,
      slotsPerItem: 1,
    };
    expect(step.decode(step.encode(minimal))).toEqual({
      ...minimal,
      scale: 0,
      exponent: 0,
      compression: 'none',
      level: 0,
    });
    // scheme = 2 (08 02), fingerprint (12 01 09), one item (1a 01 07), value_count 1 (20 01),
    // slots_per_item 1 (28 01); zero-valued fields are not written in proto3.
    expect(toHex(step.encode(minimal))).toBe('0802' + '120109' + '1a0107' + '2001' + '2801');
  });

  it('enforces the batch rules on both sides, naming the field', () => {
    const cases: [Partial<CiphertextBatch>, string][] = [
      [{ valueCount: 4096 * 3 + 1 }, 'items'],
      [{ slotsPerItem: 0, valueCount: 0, items: [] }, 'slots_per_item'],
      [{ paramsFingerprint: new Uint8Array(0) }, 'params_fingerprint'],
      [{ scale: 0 }, 'scale'],
      [{ scale: Number.NaN }, 'scale'],
      [{ exponent: 3 }, 'exponent'],
      [{ items: [new Uint8Array(1), new Uint8Array(0), new Uint8Array(1)] }, 'items[1]'],
    ];
    for (const [patch, field] of cases) {
      const e = catchError(() => step.encode({ ...ckks, ...patch }));
      expect(e.code).toBe('invalid_argument');
      expect(e.field).toBe(`fedscore.he.CiphertextBatch.${field}`);
    }
    expect(catchError(() => step.encode({ ...ckks, scheme: 'bfv' as 'ckks' })).field).toBe('scheme');
    expect(catchError(() => step.encode({ ...ckks, compression: 'lz4' as 'none' })).field).toBe(
      'compression',
    );
    expect(catchError(() => step.encode({ ...ckks, valueCount: -1 })).field).toBe('valueCount');
  });

  it('refuses on decode an absent scheme, an unknown enum value and inconsistent counts', () => {
    const field = (bytes: Uint8Array) => {
      const e = catchError(() => step.decode(bytes));
      expect(e.code).toBe('wire_decode');
      return e.field;
    };
    // no scheme at all
    expect(field(hex('120109 1a0107 2001 2801'))).toBe('fedscore.he.CiphertextBatch.scheme');
    // scheme = 7: a value this build does not know
    expect(field(hex('0807 120109 1a0107 2001 2801'))).toBe('fedscore.he.CiphertextBatch.scheme');
    // compression = 9
    expect(field(hex('0802 120109 1a0107 2001 2801 4009'))).toBe('fedscore.he.CiphertextBatch.compression');
    // value_count 2 at one slot per item but only one item
    expect(field(hex('0802 120109 1a0107 2002 2801'))).toBe('fedscore.he.CiphertextBatch.items');
    // value_count 2^60: beyond a JS safe integer
    expect(field(hex('0802 120109 1a0107 2080808080808080 8010 2801'))).toMatch(
      /^fedscore\.he\.CiphertextBatch\.(value_count|items)$/,
    );
  });
});

describe('abort', () => {
  const step = abortStep();
  it('round-trips and converts to and from errors', () => {
    expect(step.name).toBe(ABORT_STEP);
    const local = new FedscoreError('invalid_config', 'bad lr', { field: 'learningRate' });
    const info = abortFromError(local, 'train-plan');
    const back = step.decode(step.encode(info));
    expect(back).toEqual(info);
    const err = abortToError(back, 'bank');
    expect(err.code).toBe('protocol_abort');
    expect(err.field).toBe('learningRate');
    expect(err.details).toEqual({ peer: 'bank', peerCode: 'invalid_config' });
    expect(err.message).toContain("bank aborted at step 'train-plan'");
  });

  it('never forwards the text of an unexpected error', () => {
    const info = abortFromError(new TypeError('secret feature value 123.45'));
    expect(info).toEqual({ code: 'internal', message: 'internal error' });
    expect(step.decode(step.encode(info))).toEqual(info);
  });

  it('refuses malformed codes', () => {
    expect(catchError(() => step.encode({ code: 'Not A Code', message: '' })).field).toBe(
      'fedscore.common.Abort.code',
    );
    expect(catchError(() => step.decode(new Uint8Array(0))).code).toBe('wire_decode');
  });
});

describe('protoStep over a generated class', () => {
  it('verifies on encode and decode, naming the field', () => {
    const step = protoStep('abort-raw', fedscore.common.Abort);
    const msg = fedscore.common.Abort.create({ code: 'timeout', message: 'late' });
    const back = step.decode(step.encode(msg));
    expect(back.code).toBe('timeout');
    expect(back.message).toBe('late');
    const e = catchError(() => step.encode({ code: 5 } as unknown as fedscore.common.Abort));
    expect(e.code).toBe('invalid_argument');
    expect(e.field).toBe('fedscore.common.Abort.code');
    expect(catchError(() => step.decode(hex('0a05 6162'))).code).toBe('wire_decode');
  });

  it('runs a protocol check and maps to a domain type', () => {
    const step = mappedProtoStep('pair', fedscore.common.Uint32Vector, {
      check: (m) => ((m.values?.length ?? 0) === 2 ? null : 'values: expected a pair'),
      toWire: (p: readonly [number, number]) => ({ values: [p[0], p[1]] }),
      fromWire: (m) => [m.values[0]!, m.values[1]!] as const,
    });
    expect(step.decode(step.encode([3, 4]))).toEqual([3, 4]);
    const e = catchError(() => step.decode(uint32VectorStep('u').encode(Uint32Array.from([1]))));
    expect(e).toMatchObject({ code: 'wire_decode', field: 'fedscore.common.Uint32Vector.values' });
  });

  it('refuses an empty step name', () => {
    expect(catchError(() => protoStep('', fedscore.common.Abort)).field).toBe('name');
  });
});

describe('every generated message', () => {
  /** All message classes in the generated namespace (including other protocols' protos). */
  function messageClasses(ns: object, out: unknown[] = [], seen = new Set<unknown>()): unknown[] {
    for (const v of Object.values(ns)) {
      if (v === null || (typeof v !== 'object' && typeof v !== 'function') || seen.has(v)) continue;
      seen.add(v);
      if (typeof v === 'function' && 'getTypeUrl' in v) out.push(v);
      messageClasses(v, out, seen); // namespaces, and message classes holding nested types
    }
    return out;
  }

  it('round-trips its default instance and names itself', () => {
    const classes = messageClasses(fedscore) as (typeof fedscore.Envelope)[];
    expect(classes.length).toBeGreaterThanOrEqual(10);
    for (const type of classes) {
      const name = messageName(type);
      expect(name).toMatch(/^fedscore\./);
      const bytes = type.encode(type.create()).finish();
      const back = type.decode(bytes);
      expect(type.verify(back), name).toBeNull();
      expect(type.encode(back).finish(), name).toEqual(bytes);
    }
  });
});
