/**
 * The publish stage of a portfolio scoring job (stages/tree-score.ts, `treeScorePublishStage`): the
 * guest's `scores.csv` from the evaluate checkpoint's flooded log-odds, in the psi checkpoint's row
 * order. Checked against independent references: P(default) = the logistic of the log-odds, points =
 * 600 - 20 / ln 2 (log-odds + ln 50) (the scorecard scale's defaults), and with credit rules each row's
 * band and line equal the scoring package's `decideCredit` on those points with the row's own figures
 * (the credit rules a scorecard uses); without rules, no band column. A host writes nothing; a
 * checkpoint whose scores do not match the aligned rows is a typed `checkpoint` error.
 */
import { createTable, FedscoreError, type Table } from '@fedscore/core';
import { memoryStore, type StageContext, treeScorePublishStage } from '@fedscore/pipeline';
import { decideCredit, parseCreditRules } from '@fedscore/scoring';
import { describe, expect, it } from 'vitest';

const RULES = `format: fedscore.credit-rules
version: 1
figures: { revenue: turnover }
rounding: 10000
baseRateBp: 435
bands:
  - { name: A, minScore: 600, revenueMultiple: 0.3, maxLine: 5000000 }
  - { name: B, minScore: 570, revenueMultiple: 0.2, maxLine: 2000000 }
  - { name: D, approve: false }
`;

function table(): Table {
  const ids = ['E1', 'E2', 'E3', 'E4', 'E5'];
  const turnover = Float64Array.of(1e6, 2.5e6, 4e5, 8e6, 3e6);
  return createTable({ ids, columns: [{ kind: 'numeric', name: 'turnover', values: turnover, missing: 0 }] });
}

function context(o: { margins?: number[]; rules?: boolean }): StageContext {
  const store = memoryStore();
  // Aligned rows 4, 0, 2 of the table (psi order), their log-odds.
  store.save('psi', { rows: [4, 0, 2], test: [] });
  store.save('evaluate', { rows: 3, margins: o.margins ?? [-4.2, -2.5, 0.7], modelId: 'm' });
  const t = table();
  return {
    store,
    table: async () => t,
    ...(o.rules === true && { creditRules: parseCreditRules(RULES) }),
  } as unknown as StageContext;
}

const FACTOR = 20 / Math.LN2;

describe('portfolio scoring job: publish', () => {
  it("writes the guest's scores, with bands and lines under credit rules", async () => {
    const ctx = context({ rules: true });
    const out = await treeScorePublishStage(ctx, 'guest');
    const text = (ctx.store as ReturnType<typeof memoryStore>).artifacts.get('scores.csv')!;
    const [header, ...lines] = text.trim().split('\n');
    expect(header).toBe('id,log_odds,pd,score,band,line');
    const rules = parseCreditRules(RULES);
    const t = table();
    const rows = [4, 0, 2];
    const margins = [-4.2, -2.5, 0.7];
    const bands: Record<string, number> = {};
    lines.forEach((l, i) => {
      const [id, z, pd, points, band, line] = l.split(',');
      expect(id).toBe(t.ids[rows[i]!]);
      expect(Number(z)).toBeCloseTo(margins[i]!, 6);
      expect(Number(pd)).toBeCloseTo(1 / (1 + Math.exp(-margins[i]!)), 6);
      const want = 600 - FACTOR * (margins[i]! + Math.log(50));
      expect(Number(points)).toBeCloseTo(want, 2);
      const col = t.columns[0]!;
      const d = decideCredit(rules, want, {
        turnover: col.kind === 'numeric' ? col.values[rows[i]!]! : null,
      });
      expect(band).toBe(d.band ?? '');
      expect(Number(line)).toBe(d.line);
      bands[d.band ?? ''] = (bands[d.band ?? ''] ?? 0) + 1;
    });
    expect(out.rows).toBe(3);
    expect(out.bands).toEqual(bands);
    // Several bands are exercised.
    expect(Object.keys(bands).length).toBeGreaterThan(1);
  });

  it('without rules: scores only; a host writes nothing; a mismatched checkpoint is refused', async () => {
    const ctx = context({});
    await treeScorePublishStage(ctx, 'guest');
    const text = (ctx.store as ReturnType<typeof memoryStore>).artifacts.get('scores.csv')!;
    expect(text.split('\n')[0]).toBe('id,log_odds,pd,score');
    const host = context({});
    expect(await treeScorePublishStage(host, 'host')).toEqual({ files: [], rows: 3 });
    expect((host.store as ReturnType<typeof memoryStore>).artifacts.size).toBe(0);
    const bad = context({ margins: [0.1] });
    const e = await treeScorePublishStage(bad, 'guest').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(FedscoreError);
    expect(e).toMatchObject({ code: 'checkpoint', field: 'evaluate.margins' });
  });
});
