/**
 * Values out of the range CKKS parameters hold (issue 12): 1e308 used to reach SEAL's encoder, overflow
 * its integer conversion and fault inside the WASM module ("null function or function signature
 * mismatch"), after which freeing the temporaries faulted too and hid the cause. Now every encode path
 * checks the bound derived from the parameters (ckksEncodeBound) first, with a typed error, and the
 * context stays usable. ckksValueBound is checked against the formula it documents, and against a real
 * encryption: values just inside decrypt within the stated tolerance.
 */
import { isFedscoreError } from '@fedscore/core';
import {
  CKKS_PRESETS,
  checkCkksRange,
  ckksEncodeBound,
  ckksValueBound,
  createCkksContext,
} from '@fedscore/he';
import { describe, expect, it } from 'vitest';

function refusal(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a refusal');
}

describe('CKKS value range', () => {
  it('bounds follow from the parameters: q_0 bits - 2 - scale bits, divided by the circuit growth', () => {
    expect(ckksValueBound(CKKS_PRESETS['ckks-8192'])).toBe(2 ** 18);
    expect(ckksValueBound(CKKS_PRESETS['ckks-8192-deep'])).toBe(2 ** 8);
    expect(ckksValueBound(CKKS_PRESETS['ckks-16384'])).toBe(2 ** 18);
    expect(ckksValueBound(CKKS_PRESETS['ckks-8192'], { multiplications: 1, factorBound: 4, terms: 8 })).toBe(
      2 ** 18 / 32,
    );
    // Fresh encodings: the data primes at the top level, 59 + 39 + 39 guaranteed bits, half of it, / scale.
    expect(ckksEncodeBound(CKKS_PRESETS['ckks-8192'], 2, 2 ** 40)).toBe(2 ** (137 - 1 - 40));
    expect(ckksEncodeBound(CKKS_PRESETS['ckks-8192'], 0, 2 ** 40)).toBe(2 ** (59 - 1 - 40));
    const e = refusal(() => checkCkksRange(Float64Array.of(1, -3e5, 2), 2 ** 18, 'revenue'));
    expect(isFedscoreError(e, 'out_of_range')).toBe(true);
    expect((e as { field: string }).field).toBe('revenue');
    expect((e as { details: { row: number } }).details.row).toBe(1);
    expect(String(e)).not.toContain('300000');
  });

  it('1e308 and friends are refused before SEAL on every encode path; the context keeps working', async () => {
    const ctx = await createCkksContext({});
    try {
      for (const v of [1e308, -1e308, 1e30, Number.MAX_VALUE]) {
        for (const call of [
          () => ctx.encrypt([1, v]),
          () => ctx.encode([v]),
          () => ctx.encryptSymmetric([v]),
          () => ctx.encryptSymmetricSerialized([0, v]),
          () => ctx.encryptBatch([v]),
        ]) {
          const e = refusal(call);
          expect(isFedscoreError(e, 'out_of_range'), String(e)).toBe(true);
        }
        const x = ctx.encrypt([1, 2]);
        expect(() => x.mul(v)).toThrow(/outside/);
        x.dispose();
      }
      // Still usable: a value inside the value bound round-trips.
      const b = ckksValueBound(ctx.params);
      const x = ctx.encrypt([b * 0.999, -b * 0.999, 1.5]);
      const y = ctx.decrypt(x.mul(0.5));
      expect(Math.abs(y[0]! - b * 0.4995)).toBeLessThan(1e-3);
      expect(Math.abs(y[2]! - 0.75)).toBeLessThan(1e-6);
      x.dispose();
    } finally {
      expect(() => ctx.dispose()).not.toThrow();
    }
  });
});
