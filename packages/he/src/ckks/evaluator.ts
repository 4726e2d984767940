/**
 * The CKKS evaluator: sums, products, rescaling, rotations, slot sums and polynomials of encrypted
 * vectors, with the level and scale conventions of the layer (see keys.ts): operands are brought to a
 * common level on copies, plaintext operands of a product are encoded at the prime the rescale drops, and
 * a product with a zero plaintext is a fresh encryption of zero. Functions of the context they evaluate
 * under (`EvalContext`); a vector's methods reach them through its context.
 */
import { FedscoreError } from '@fedscore/core';
import type { Ciphertext, Plaintext } from 'node-seal';
import { sealCall } from '../seal.ts';
import type { CkksPlaintext, CkksVector, PlainValues } from '../types.ts';
import { release } from './handles.ts';
import { CkksPlaintextImpl, CkksVectorImpl, type VectorContext } from './vector.ts';

/** Relative scale difference tolerated (and absorbed) when adding two ciphertexts. */
const SCALE_TOLERANCE = 1e-3;

/** What the evaluator needs of a context (implemented by the context classes of keys.ts). */
export interface EvalContext extends VectorContext {
  readonly rotationSet: ReadonlySet<number>;
  /** 2^scaleBits: the scale of fresh encryptions and of polynomial terms. */
  readonly defaultScale: number;
  encodeRaw(values: PlainValues | number, level: number, scale: number, length: number): CkksPlaintextImpl;
  encryptZeroAt(level: number, scale: number, length: number): CkksVectorImpl;
}

function own(ctx: EvalContext, v: CkksVector): CkksVectorImpl {
  if (!(v instanceof CkksVectorImpl) || v.context.fingerprint !== ctx.fingerprint) {
    throw new FedscoreError('he_context_mismatch', 'vector belongs to another HE context', {
      field: 'other',
    });
  }
  if (v.disposed) throw new FedscoreError('invalid_argument', 'vector was disposed', { field: 'other' });
  return v;
}

/** `ct` (a copy if it must change) at `level`. The caller deletes the result if it differs from `ct`. */
function atLevel(ctx: EvalContext, ct: Ciphertext, from: number, level: number): Ciphertext {
  if (from === level) return ct;
  const out = new ctx.keys.seal.Ciphertext();
  try {
    sealCall('mod switch', () =>
      ctx.keys.evaluator.cipherModSwitchTo(ct, ctx.keys.parmsByLevel[level]!, out),
    );
  } catch (e) {
    release(out);
    throw e;
  }
  return out;
}

function checkScales(a: number, b: number): void {
  if (Math.abs(a - b) > SCALE_TOLERANCE * a) {
    throw new FedscoreError(
      'out_of_range',
      `operand scales 2^${Math.log2(a).toFixed(2)} and 2^${Math.log2(b).toFixed(2)} differ; rescale first`,
      { field: 'scale' },
    );
  }
}

export function addSub(
  ctx: EvalContext,
  a: CkksVectorImpl,
  other: CkksVector | CkksPlaintext | PlainValues | number,
  subtract: boolean,
): CkksVector {
  const k = ctx.keys;
  const ev = k.evaluator;
  const out = new k.seal.Ciphertext();
  let length = a.length;
  let level = a.level;
  try {
    if (other instanceof CkksVectorImpl || (typeof other === 'object' && other !== null && 'ct' in other)) {
      const b = own(ctx, other as CkksVector);
      checkScales(a.scale, b.scale);
      level = Math.min(a.level, b.level);
      length = Math.max(a.length, b.length);
      const ca = atLevel(ctx, a.ct, a.level, level);
      const cb = atLevel(ctx, b.ct, b.level, level);
      try {
        let restore: number | undefined;
        if (cb.scale() !== ca.scale()) {
          // Absorb a tiny scale difference (documented error); restore b's scale if it is b's own object.
          if (cb === b.ct) restore = cb.scale();
          cb.setScale(ca.scale());
        }
        try {
          sealCall(subtract ? 'sub' : 'add', () => (subtract ? ev.sub(ca, cb, out) : ev.add(ca, cb, out)));
        } finally {
          if (restore !== undefined) cb.setScale(restore);
        }
      } finally {
        if (ca !== a.ct) release(ca);
        if (cb !== b.ct) release(cb);
      }
    } else if (other instanceof CkksPlaintextImpl) {
      if (other.level < a.level) {
        throw new FedscoreError(
          'out_of_range',
          `plaintext level ${other.level} is below the vector's ${a.level}`,
          {
            field: 'other',
          },
        );
      }
      checkScales(a.scale, other.scale);
      const pt = other.level === a.level && other.scale === a.scale ? other.pt : other.pt.copy();
      try {
        sealCall(subtract ? 'sub plain' : 'add plain', () => {
          if (pt !== other.pt) {
            if (other.level !== a.level) ev.plainModSwitchToInplace(pt, k.parmsByLevel[a.level]!);
            pt.setScale(a.scale);
          }
          if (subtract) ev.subPlain(a.ct, pt, out);
          else ev.addPlain(a.ct, pt, out);
        });
      } finally {
        if (pt !== other.pt) release(pt);
      }
      length = Math.max(a.length, other.length);
    } else {
      // Encode at the ciphertext's own level and exact scale: no scale error at all.
      const p = ctx.encodeRaw(other as PlainValues | number, a.level, a.scale, a.length);
      try {
        sealCall(subtract ? 'sub plain' : 'add plain', () =>
          subtract ? ev.subPlain(a.ct, p.pt, out) : ev.addPlain(a.ct, p.pt, out),
        );
        length = Math.max(a.length, p.length);
      } finally {
        p.dispose();
      }
    }
  } catch (e) {
    release(out);
    throw e;
  }
  return new CkksVectorImpl(ctx, out, length, level, out.scale());
}

export function mul(
  ctx: EvalContext,
  a: CkksVectorImpl,
  other: CkksVector | CkksPlaintext | PlainValues | number,
  rescale: boolean,
): CkksVector {
  const k = ctx.keys;
  const ev = k.evaluator;
  if (rescale && a.level === 0) {
    throw new FedscoreError('out_of_range', 'no multiplicative levels left (level 0)', { field: 'level' });
  }
  if (other instanceof CkksVectorImpl || (typeof other === 'object' && other !== null && 'ct' in other)) {
    const b = own(ctx, other as CkksVector);
    if (k.relinKeys === undefined) {
      throw new FedscoreError('unsupported', 'ciphertext products need relinearization keys', {
        field: 'relinearization',
      });
    }
    const level = Math.min(a.level, b.level);
    if (rescale && level === 0) {
      throw new FedscoreError('out_of_range', 'no multiplicative levels left (level 0)', {
        field: 'level',
      });
    }
    const ca = atLevel(ctx, a.ct, a.level, level);
    const cb = atLevel(ctx, b.ct, b.level, level);
    const out = new k.seal.Ciphertext();
    try {
      sealCall('multiply', () => {
        if (ca === cb) ev.square(ca, out);
        else ev.multiply(ca, cb, out);
        ev.relinearizeInplace(out, k.relinKeys!);
        if (rescale) ev.rescaleToNextInplace(out);
      });
    } catch (e) {
      release(out);
      throw e;
    } finally {
      if (ca !== a.ct) release(ca);
      if (cb !== b.ct && cb !== ca) release(cb);
    }
    return new CkksVectorImpl(
      ctx,
      out,
      Math.min(a.length, b.length),
      rescale ? level - 1 : level,
      out.scale(),
    );
  }
  let pt: CkksPlaintextImpl;
  let ownPt = false;
  if (other instanceof CkksPlaintextImpl) {
    if (other.level < a.level) {
      throw new FedscoreError(
        'out_of_range',
        `plaintext level ${other.level} is below the vector's ${a.level}`,
        {
          field: 'other',
        },
      );
    }
    pt = other;
  } else {
    // Scale q_level: after the rescale the product has exactly a's scale.
    const scale = rescale ? k.primeByLevel[a.level]! : ctx.defaultScale;
    pt = ctx.encodeRaw(other as PlainValues | number, a.level, scale, a.length);
    ownPt = true;
  }
  try {
    const length = Math.min(a.length, pt.length);
    const outLevel = rescale ? a.level - 1 : a.level;
    const outScale = rescale ? (a.scale * pt.scale) / k.primeByLevel[a.level]! : a.scale * pt.scale;
    if (pt.isZero) return ctx.encryptZeroAt(outLevel, outScale, length);
    const out = new k.seal.Ciphertext();
    let tmp: Plaintext | undefined;
    try {
      sealCall('multiply plain', () => {
        let p = pt.pt;
        if (pt.level !== a.level) {
          tmp = pt.pt.copy();
          ev.plainModSwitchToInplace(tmp, k.parmsByLevel[a.level]!);
          p = tmp;
        }
        ev.multiplyPlain(a.ct, p, out);
        if (rescale) ev.rescaleToNextInplace(out);
      });
    } catch (e) {
      release(out);
      throw e;
    } finally {
      if (tmp !== undefined) release(tmp);
    }
    return new CkksVectorImpl(ctx, out, length, outLevel, out.scale());
  } finally {
    if (ownPt) pt.dispose();
  }
}

export function rescale(ctx: EvalContext, a: CkksVectorImpl): CkksVector {
  if (a.level === 0) throw new FedscoreError('out_of_range', 'no level left to rescale', { field: 'level' });
  const out = new ctx.keys.seal.Ciphertext();
  try {
    sealCall('rescale', () => ctx.keys.evaluator.rescaleToNext(a.ct, out));
  } catch (e) {
    release(out);
    throw e;
  }
  return new CkksVectorImpl(ctx, out, a.length, a.level - 1, out.scale());
}

export function rotate(ctx: EvalContext, a: CkksVectorImpl, steps: number): CkksVector {
  if (!Number.isInteger(steps)) {
    throw new FedscoreError('invalid_argument', `rotation steps must be an integer, got ${steps}`, {
      field: 'steps',
    });
  }
  const s = ((steps % ctx.slotCount) + ctx.slotCount) % ctx.slotCount;
  const out = new ctx.keys.seal.Ciphertext();
  try {
    if (s === 0) {
      out.assign(a.ct);
    } else {
      const step = s > ctx.slotCount / 2 ? s - ctx.slotCount : s;
      const use = ctx.rotationSet.has(step) ? step : ctx.rotationSet.has(s) ? s : undefined;
      if (use === undefined || ctx.keys.galoisKeys === undefined) {
        throw new FedscoreError(
          'invalid_argument',
          `no Galois key for rotation by ${steps}; declare it in 'rotations' when creating the context`,
          { field: 'steps' },
        );
      }
      sealCall('rotate', () => ctx.keys.evaluator.rotateVector(a.ct, use, ctx.keys.galoisKeys!, out));
    }
  } catch (e) {
    release(out);
    throw e;
  }
  return new CkksVectorImpl(ctx, out, a.length, a.level, a.scale);
}

/** Rotate-and-sum over the first `length` slots: ceil(log2(length)) rotations, result in slot 0. */
export function sumSlots(ctx: EvalContext, a: CkksVectorImpl): CkksVector {
  const k = ctx.keys;
  const acc = a.ct.copy();
  const tmp = new k.seal.Ciphertext();
  try {
    for (let step = 1; step < a.length; step *= 2) {
      if (!ctx.rotationSet.has(step) || k.galoisKeys === undefined) {
        throw new FedscoreError(
          'invalid_argument',
          `sum of ${a.length} slots needs a Galois key for step ${step}; use sumRotationSteps()`,
          { field: 'rotations' },
        );
      }
      sealCall('sum rotate', () => {
        k.evaluator.rotateVector(acc, step, k.galoisKeys!, tmp);
        k.evaluator.addInplace(acc, tmp);
      });
    }
  } catch (e) {
    release(acc);
    throw e;
  } finally {
    release(tmp);
  }
  return new CkksVectorImpl(ctx, acc, Math.min(1, a.length), a.level, a.scale);
}

export function polyval(ctx: EvalContext, x: CkksVectorImpl, coeffs: readonly number[]): CkksVector {
  if (!Array.isArray(coeffs) || coeffs.length === 0 || coeffs.some((c) => !Number.isFinite(c))) {
    throw new FedscoreError('invalid_argument', 'coeffs must be a non-empty array of finite numbers', {
      field: 'coeffs',
    });
  }
  let degree = coeffs.length - 1;
  while (degree > 0 && coeffs[degree] === 0) degree--;
  const depth = polynomialDepth(degree);
  if (depth > x.level) {
    throw new FedscoreError(
      'out_of_range',
      `degree ${degree} needs ${depth} levels, the vector has ${x.level}; use a deeper preset`,
      { field: 'coeffs' },
    );
  }
  return ctx.scope(() => {
    // powers[i] = x^i for the i the terms need (x^(i-1) for i >= 2), by repeated squaring / products.
    const powers = new Map<number, CkksVector>([[1, x]]);
    const power = (i: number): CkksVector => {
      const have = powers.get(i);
      if (have) return have;
      const hi = 2 ** Math.ceil(Math.log2(i)) / 2; // largest power of two < i (i >= 2)
      const p = power(hi).mul(power(i - hi));
      powers.set(i, p);
      return p;
    };
    let acc: CkksVector | undefined;
    for (let i = 1; i <= degree; i++) {
      const c = coeffs[i]!;
      if (c === 0) continue;
      const cx = x.mul(c); // c * x, one level
      const term = i === 1 ? cx : cx.mul(power(i - 1));
      if (acc === undefined) acc = term;
      else {
        const lo = Math.min(acc.level, term.level);
        acc = alignTo(ctx, acc, lo).add(alignTo(ctx, term, lo));
      }
    }
    const c0 = coeffs[0]!;
    if (acc === undefined) {
      // A constant polynomial: an encryption of the constant at x's level.
      const z = ctx.encryptZeroAt(x.level, x.scale, x.length);
      return c0 === 0 ? z : z.add(c0);
    }
    return c0 === 0 ? acc : acc.add(c0);
  });
}

/** `v` mod-switched down to `level` with its scale set to the default (for summing polynomial terms). */
function alignTo(ctx: EvalContext, v: CkksVector, level: number): CkksVector {
  const a = own(ctx, v);
  const ct = atLevel(ctx, a.ct, a.level, level);
  const out = ct === a.ct ? a.ct.copy() : ct;
  checkScales(ctx.defaultScale, a.scale);
  out.setScale(ctx.defaultScale);
  return new CkksVectorImpl(ctx, out, a.length, level, ctx.defaultScale);
}

/** Levels a polynomial of `degree` needs in `polyval` (c_i x^i computed as (c_i x) * x^(i-1)). */
export function polynomialDepth(degree: number): number {
  if (degree <= 0) return 0;
  if (degree === 1) return 1;
  return 1 + Math.max(1, Math.ceil(Math.log2(degree - 1)));
}

/** Rotation steps `sum()` needs for vectors of up to `length` slots: 1, 2, 4, ... < length. */
export function sumRotationSteps(length: number): number[] {
  const out: number[] = [];
  for (let s = 1; s < length; s *= 2) out.push(s);
  return out;
}
