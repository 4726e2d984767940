/**
 * The page's client code in Node: the estimate equals the plaintext decision (band and line exact,
 * score within 2e-3: the bank's bits check adds r b (b - 1) terms with |r| up to 2^16, whose CKKS error
 * measured RMS 1.8e-4 points; see DEFAULT_BIT_CHECK_BITS).
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
    const r = await selfEstimate(inputs);
    const s = scoreApplicant(SCORECARD, inputs);
    const d = decideCredit(RULES, s, inputs);
    expect(r.band).toBe(d.band);
    expect(r.line).toBe(d.line);
    expect(Math.abs(r.score! - s)).toBeLessThan(2e-3);
    console.log(`self-estimate: ${r.bytes} bytes exchanged, band ${r.band}, line ${r.line}`);
  });
});
