/**
 * `fedscore scorecard`: points equal -PDO/ln2 * coefficient * WOE (computed here independently, 1e-9),
 * a party's view hides the other party's points, and bad input is an error naming file and field.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lastJson, runCli, WOE_MODEL } from './score-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedscore-scorecard-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const model = join(dir, 'model.json');
writeFileSync(model, JSON.stringify(WOE_MODEL));

describe('fedscore scorecard', () => {
  it('prints every bin with its points and writes the scorecard', async () => {
    const out = join(dir, 'card.json');
    const r = await runCli([
      'scorecard',
      '--model',
      model,
      '--pdo',
      '20',
      '--base-score',
      '600',
      '--base-odds',
      '50',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code).toBe(0);
    const j = lastJson(r.stdout) as {
      rows: { feature: string; bin: string; woe: number | null; points: number | null }[];
      basePoints: number;
    };
    const factor = 20 / Math.LN2;
    expect(j.basePoints).toBeCloseTo(600 - factor * Math.log(50) + factor * 4.1, 9);
    const turnover = j.rows.filter((x) => x.feature === 'turnover');
    expect(turnover.map((x) => x.bin)).toEqual([
      '(-inf, 1000000]',
      '(1000000, 5000000]',
      '(5000000, 20000000]',
      '(20000000, inf)',
      'missing',
    ]);
    turnover.forEach((x, i) => {
      expect(x.points!).toBeCloseTo(-factor * -0.9 * WOE_MODEL.features[0]!.woe[i]!, 9);
    });
    expect(JSON.parse(readFileSync(out, 'utf8')).format).toBe('fedscore.scorecard');
  });

  it("a party's view shows the other party's features by name only", async () => {
    const r = await runCli(['scorecard', '--model', model, '--party', 'gov', '--json']);
    const j = lastJson(r.stdout) as {
      rows: { party: string; points: number | null }[];
      basePoints: number | null;
    };
    expect(j.basePoints).toBeNull();
    expect(j.rows.filter((x) => x.party === 'bank').every((x) => x.points === null)).toBe(true);
    expect(j.rows.filter((x) => x.party === 'gov').every((x) => x.points !== null)).toBe(true);
  });

  it('names the file and field of bad input', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...WOE_MODEL, features: [{ ...WOE_MODEL.features[0], woe: [1] }] }));
    const r = await runCli(['scorecard', '--model', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.json.*features\[0\]\.woe/);
  });
});
