/**
 * Test support (exported by `@fedscore/core/testing`, never imported by library code).
 * Searching captured bytes for a planted secret: a sequence of known values (labels, residuals, class
 * weights) in every encoding a leak could plausibly use -- float64 / float32 / int32 / uint8 values,
 * contiguous or one per item with a fixed gap of up to 256 bytes (e.g. one serialized item per value:
 * framing, header and fingerprint between values), packed bits, ASCII --
 * so that a privacy test fails on a real leak, not only on a message of the wrong kind. Every test that
 * uses it also runs a positive control: the same search finds the secret where it is present.
 */

export type ValueEncoding = 'f64le' | 'f64be' | 'f32le' | 'i32le' | 'u8';

/** One value in one encoding. */
export function encodeValue(v: number, enc: ValueEncoding): Uint8Array {
  switch (enc) {
    case 'f64le':
    case 'f64be': {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setFloat64(0, v, enc === 'f64le');
      return b;
    }
    case 'f32le': {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setFloat32(0, v, true);
      return b;
    }
    case 'i32le': {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setInt32(0, v, true);
      return b;
    }
    case 'u8':
      return Uint8Array.of(v);
  }
}

/**
 * Whether `values`, each encoded as `enc`, occur in `hay` at a constant stride between the value width
 * and the width + `maxGap` bytes (stride = width: contiguous). Anchored on the first value whose
 * encoding is not all zero bytes (a needle of zeros only is refused: it would match any zero run).
 */
export function containsSequence(
  hay: Uint8Array,
  values: readonly number[],
  enc: ValueEncoding,
  maxGap = 256,
): boolean {
  const coded = values.map((v) => encodeValue(v, enc));
  const w = coded[0]!.length;
  const a = coded.findIndex((b) => b.some((x) => x !== 0));
  if (a < 0) throw new Error('a needle of zero bytes only matches any zero run');
  const buf = Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength);
  const anchor = Buffer.from(coded[a]!);
  for (let p = buf.indexOf(anchor); p >= 0; p = buf.indexOf(anchor, p + 1)) {
    for (let s = w; s <= w + maxGap; s++) {
      const start = p - a * s;
      if (start < 0 || start + (values.length - 1) * s + w > hay.length) continue;
      let ok = true;
      for (let k = 0; k < values.length && ok; k++) {
        const e = coded[k]!;
        const off = start + k * s;
        for (let t = 0; t < w; t++) {
          if (hay[off + t] !== e[t]) {
            ok = false;
            break;
          }
        }
      }
      if (ok) return true;
    }
  }
  return false;
}

/** 0/1 values packed 8 per byte, least or most significant bit first. */
export function packBits(bits: readonly number[], lsbFirst: boolean): Uint8Array {
  const out = new Uint8Array(Math.ceil(bits.length / 8));
  bits.forEach((b, i) => {
    if (b !== 0) out[i >> 3]! |= lsbFirst ? 1 << (i & 7) : 0x80 >> (i & 7);
  });
  return out;
}

export function containsBytes(hay: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength).indexOf(Buffer.from(needle)) >= 0;
}

/** Values one after another in one encoding (the contiguous form `containsSequence` finds). */
export function encodeValues(values: readonly number[], enc: ValueEncoding): Uint8Array {
  const parts = values.map((v) => encodeValue(v, enc));
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * A named secret and how to look for it in one byte string. `sample` is one form of the secret the
 * search must find (the contiguous encoding): a positive control plants it in noise.
 */
export interface Needle {
  readonly name: string;
  readonly sample: Uint8Array;
  readonly foundIn: (hay: Uint8Array) => boolean;
}

function bytesNeedle(name: string, bytes: Uint8Array): Needle {
  return { name, sample: bytes, foundIn: (h) => containsBytes(h, bytes) };
}

function sequenceNeedle(name: string, values: readonly number[], enc: ValueEncoding): Needle {
  return { name, sample: encodeValues(values, enc), foundIn: (h) => containsSequence(h, values, enc) };
}

/**
 * Needles for a 0/1 label sequence (>= 64 values, both classes): every value encoding above, packed
 * bits both ways, and ASCII ("1,0,..." and "10...").
 */
export function labelNeedles(name: string, labels: readonly number[]): Needle[] {
  const y = labels.map((v) => (v === 1 ? 1 : 0));
  const encodings: ValueEncoding[] = ['f64le', 'f64be', 'f32le', 'i32le', 'u8'];
  const text = new TextEncoder();
  return [
    ...encodings.map((enc) => sequenceNeedle(`${name} as ${enc}`, y, enc)),
    bytesNeedle(`${name} as bits (lsb first)`, packBits(y, true)),
    bytesNeedle(`${name} as bits (msb first)`, packBits(y, false)),
    bytesNeedle(`${name} as "1,0,..."`, text.encode(y.join(','))),
    bytesNeedle(`${name} as "10..."`, text.encode(y.join(''))),
  ];
}

/** Needles for a real-valued sequence (residuals, class weights): float64 both byte orders, float32. */
export function valueNeedles(name: string, values: readonly number[]): Needle[] {
  return (['f64le', 'f64be', 'f32le'] as const).map((enc) =>
    sequenceNeedle(`${name} as ${enc}`, values, enc),
  );
}

/**
 * Needles for ONE known value (a planted feature value, a gain, a score): float64 both byte orders and
 * its decimal text. No float32: a 4-byte pattern turns up by chance in the tens of MB of CKKS
 * ciphertext and keys a job captures with probability about bytes / 2^32 (it did in a CI run), so a
 * float32 search of one value cannot tell a leak from chance; the wire carries values as float64.
 */
export function pointNeedles(name: string, value: number): Needle[] {
  return [
    bytesNeedle(`${name} as f64le`, encodeValue(value, 'f64le')),
    bytesNeedle(`${name} as f64be`, encodeValue(value, 'f64be')),
    bytesNeedle(`${name} as text`, new TextEncoder().encode(String(value))),
  ];
}

/** The names of the needles found in any of `payloads`. */
export function needlesFound(needles: readonly Needle[], payloads: readonly Uint8Array[]): string[] {
  return needles.filter((n) => payloads.some((p) => n.foundIn(p))).map((n) => n.name);
}
