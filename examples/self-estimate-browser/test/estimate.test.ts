/**
 * The page's client code in Node: the estimate equals the plaintext decision (band and line exact).
 * Compact protocol (default): score within 0.05 (flooding sd 2^-7, CKKS error max 1.4e-3) and at most
 * 1 MiB exchanged. Full protocol: score within 2e-3 (the bank's bits check adds r b (b - 1) terms with
 * |r| up to 2^16, whose CKKS error measured RMS 1.8e-4 points; see DEFAULT_BIT_CHECK_BITS).
 */
import { decideCredit, scoreApplicant } from '@fedscore/scoring';
import { describe, expect, it } from 'vitest';
import { selfEstimate } from '../src/estimate.ts';
import { RULES, SCORECARD } from '../src/product.ts';

describe('self-estimate page client', () => {
  it('matches the plaintext decision', async () => {
    const inputs = {
      annual_revenue: 9_000_000,
      tax_paid_12m: 300_000,
      existing_debt: 1_000_000,
      overdue_count_24m: 0,
      admin_penalty_count_3y: 0,
    };
    const s = scoreApplicant(SCORECARD, inputs);
    const d = decideCredit(RULES, s, inputs);
    for (const full of [false, true]) {
      const r = await selfEstimate(inputs, { full });
      expect(r.band).toBe(d.band);
      expect(r.line).toBe(d.line);
      expect(Math.abs(r.score! - s)).toBeLessThan(full ? 2e-3 : 0.05);
      if (!full) expect(r.bytes).toBeLessThanOrEqual(1024 * 1024);
      console.log(
        `self-estimate (${full ? 'full' : 'compact'}): ${r.bytes} bytes exchanged, band ${r.band}, line ${r.line}`,
      );
    }
  });
});
