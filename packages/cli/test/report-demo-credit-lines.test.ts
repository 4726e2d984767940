/**
 * The demo's closing step: pre-approved credit lines for the enterprises it scored. Run small (1,500
 * enterprises, 800 bank customers, 2 epochs, about 6 s); every line in credit-lines.csv is recomputed
 * here by hand from the shipped rules file (read with the yaml parser, not scoring's rules code) and the
 * bank's own figures in its CSV: band by score threshold, line = min of the caps, floored at 0, rounded
 * down to the rounding unit; exact in CNY. A rule naming a government column is refused.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { lastJson, runCli } from './score-fixtures.ts';

interface Band {
  name: string;
  minScore?: number;
  approve?: boolean;
  revenueMultiple?: number;
  maxLine?: number;
  rateDiscountBp?: number;
}

function csvRows(path: string): Record<string, string>[] {
  const [head, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const names = head!.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [names[i]!, v])));
}

describe('fedscore demo: credit lines for the scored enterprises', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedscore-demo-lines-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const args = ['demo', '--enterprises', '1500', '--bank-customers', '800', '--epochs', '2', '--seed', '3'];

  it('ends with lines that follow the shipped rules and the bank figures', async () => {
    const out = join(dir, 'run');
    const r = await runCli([...args, '--out', out, '--json', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout) as {
      split: { test: number };
      credit_lines: {
        rules: string;
        file: string;
        enterprises: number;
        approved: number;
        total_line: number;
        bands: { band: string; enterprises: number; total_line: number; rate_bp: number }[];
      };
    };
    const cl = j.credit_lines;
    expect(cl.rules).toMatch(/cli\/src\/rules\/credit-lines\.yaml$/);
    expect(cl.enterprises).toBe(j.split.test);

    const rules = parse(readFileSync(cl.rules, 'utf8')) as {
      figures: { revenue: string };
      leverage: { maxRatio: number; base: string; debt: string };
      rounding: number;
      baseRateBp: number;
      bands: Band[];
    };
    const bank = new Map(csvRows(join(out, 'data', 'bank.csv')).map((row) => [row['uscc']!, row]));
    const lines = csvRows(cl.file);
    expect(lines).toHaveLength(cl.enterprises);
    let total = 0;
    let approved = 0;
    const thresholds = rules.bands.flatMap((b) => (b.minScore === undefined ? [] : [b.minScore]));
    for (const l of lines) {
      const figures = bank.get(l['uscc']!);
      expect(figures, `${l['uscc']} is not a bank customer`).toBeDefined();
      const score = Number(l['score']);
      // the CSV rounds scores to 0.01: leave out rows that sit on a band boundary
      if (thresholds.some((t) => Math.abs(score - t) < 0.01)) continue;
      const band = rules.bands.find((b) => b.minScore === undefined || score >= b.minScore)!;
      expect(l['band'], l['uscc']).toBe(band.name);
      expect(Number(l['rate_bp'])).toBe(
        rules.baseRateBp - (band.approve === false ? 0 : (band.rateDiscountBp ?? 0)),
      );
      let line = 0;
      if (band.approve !== false) {
        const num = (c: string) => (figures![c] === '' ? 0 : Number(figures![c]));
        const caps = [
          band.revenueMultiple! * num(rules.figures.revenue),
          rules.leverage.maxRatio * num(rules.leverage.base) - num(rules.leverage.debt),
          band.maxLine!,
        ];
        line = Math.max(0, Math.floor(Math.min(...caps) / rules.rounding) * rules.rounding);
      }
      expect(Number(l['line']), l['uscc']).toBe(line);
    }
    for (const l of lines) {
      total += Number(l['line']);
      if (Number(l['line']) > 0) approved++;
    }
    expect(cl.total_line).toBe(total);
    expect(cl.approved).toBe(approved);
    expect(cl.bands.reduce((a, b) => a + b.enterprises, 0)).toBe(cl.enterprises);
    // a working model puts enterprises in more than one band, and some get a line
    expect(cl.bands.filter((b) => b.enterprises > 0).length).toBeGreaterThan(1);
    expect(approved).toBeGreaterThan(0);
  });

  it('prints the credit-line step, and refuses rules whose figures are not the bank columns', async () => {
    const text = await runCli([...args, '--out', join(dir, 'text'), '--quiet']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('Pre-approved credit lines for the');
    expect(text.stdout).toContain("line figures from the bank's own columns only");

    const rules = join(dir, 'gov-figure.yaml');
    writeFileSync(
      rules,
      `format: fedscore.credit-rules
version: 1
figures: { taxPaid: tax_paid_12m }
bands:
  - { name: A, minScore: 600, taxMultiple: 5 }
  - { name: B, approve: false }
`,
    );
    const bad = await runCli([...args, '--out', join(dir, 'bad'), '--rules', rules, '--json', '--quiet']);
    expect(bad.code).toBe(1);
    expect(lastJson(bad.stdout)).toMatchObject({
      error: { code: 'invalid_config', field: 'tax_paid_12m', file: rules },
    });
  });
});
