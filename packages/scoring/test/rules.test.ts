/** Credit rules: validation errors name the rule and field; decisions follow the written rules (exact). */
import { FedscoreError } from '@fedscore/core';
import { bandIndexOf, creditLines, decideCredit, parseCreditRules } from '@fedscore/scoring';
import { describe, expect, it } from 'vitest';
import { RULES_YAML, rules } from './fixtures.ts';

describe('credit rules', () => {
  const r = rules();

  it('bands from scores', () => {
    expect(bandIndexOf(r, 700)).toBe(0);
    expect(bandIndexOf(r, 640)).toBe(0);
    expect(bandIndexOf(r, 639.99)).toBe(1);
    expect(bandIndexOf(r, 100)).toBe(3);
  });

  it('the line is the smallest cap, rounded down; declined bands get none', () => {
    const d = decideCredit(r, 650, { turnover: 8_000_000, tax_paid: 150_000, loans: 1_000_000 });
    // caps: revenue 2.4M, tax 1.2M, leverage 0.5*8M-1M = 3M, max 5M -> 1.2M
    expect(d.line).toBe(1_200_000);
    expect(d.bindingCap).toBe('taxPaid');
    expect(d.rateBp).toBe(415);
    const c = decideCredit(r, 590, { turnover: 3_333_333, tax_paid: 1, loans: 0 });
    expect(c.line).toBe(330_000);
    expect(decideCredit(r, 500, { turnover: 1e9, tax_paid: 1e9, loans: 0 })).toMatchObject({
      band: 'D',
      approved: false,
      line: 0,
    });
    const lines = creditLines(r, ['a', 'b'], [650, 500], {
      turnover: [8e6, 1e6],
      tax_paid: [150_000, 1],
      loans: [1e6, 0],
    });
    expect(lines.map((l) => l.line)).toEqual([1_200_000, 0]);
  });

  it('errors name the rule and the field', () => {
    const bad = RULES_YAML.replace('revenueMultiple: 0.2', 'revenueMultiple: -0.2');
    expect(() => parseCreditRules(bad, 'rules.yaml')).toThrow(/band 'B'.*|bands\[1\]\.revenueMultiple/);
    try {
      parseCreditRules(bad, 'rules.yaml');
    } catch (e) {
      expect(e).toBeInstanceOf(FedscoreError);
      expect(e).toMatchObject({
        code: 'invalid_config',
        field: 'bands[1].revenueMultiple',
        file: 'rules.yaml',
      });
    }
    const order = RULES_YAML.replace('minScore: 610', 'minScore: 660');
    expect(() => parseCreditRules(order)).toThrow(/band 'B'.*decreasing/);
    expect(() => parseCreditRules(RULES_YAML.replace('version: 1', 'version: 2'))).toThrow(/version/);
    expect(() => parseCreditRules('bands: [')).toThrow(/YAML/);
  });
});
