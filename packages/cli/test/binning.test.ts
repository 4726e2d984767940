/**
 * `fedscore binning`: two generated CSV files with partly overlapping USCCs; the JSON lists every
 * feature of both parties with its bins, counts, WOE and IV, computed on the PSI intersection only, and
 * equal (counts exact, IV to 1e-9) to a centralized computation over the joined rows under the same
 * bins. --he ckks and --he none agree. The CLI runs in-process through `main()`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateUniqueUsccs, seededRng, uniform } from '@fedscore/core';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedscore-binning-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface BinJson {
  lower: number | null;
  upper: number | null;
  missing: boolean;
  count: number;
  good: number;
  bad: number;
  woe: number;
}
interface FeatureJson {
  party: string;
  name: string;
  iv: number;
  bins: BinJson[];
}

// 1,500 guest rows, 1,400 host rows, 1,100 shared.
const rng = seededRng('cli-binning');
const codes = generateUniqueUsccs(rng, 1800);
const guestIds = codes.slice(0, 1500);
const hostIds = codes.slice(400);
const risk = new Map(codes.map((c) => [c, uniform(rng)]));
const label = new Map(codes.map((c) => [c, uniform(rng) < 0.1 + 0.6 * risk.get(c)! ** 2 ? 1 : 0]));
const revenue = new Map(codes.map((c) => [c, Math.round(1000 * (uniform(rng) + risk.get(c)!))]));
const penalties = new Map(
  codes.map((c) => [c, uniform(rng) < 0.1 ? '' : String(Math.floor(risk.get(c)! * 4 + uniform(rng) * 2))]),
);
const guestCsv = join(dir, 'bank.csv');
const hostCsv = join(dir, 'gov.csv');
writeFileSync(
  guestCsv,
  `uscc,default,revenue\n${guestIds.map((c) => `${c},${label.get(c)},${revenue.get(c)}`).join('\n')}\n`,
);
writeFileSync(hostCsv, `uscc,penalties\n${hostIds.map((c) => `${c},${penalties.get(c)}`).join('\n')}\n`);
const shared = guestIds.filter((c) => hostIds.includes(c));

/** Centralized counts over the joined rows under the reported bins (right-closed intervals). */
function reference(values: Map<string, string | number>, bins: BinJson[]) {
  const good = bins.map(() => 0);
  const bad = bins.map(() => 0);
  for (const c of shared) {
    const raw = values.get(c)!;
    const v = raw === '' ? Number.NaN : Number(raw);
    const b = Number.isNaN(v)
      ? bins.findIndex((x) => x.missing)
      : bins.findIndex(
          (x) => !x.missing && (x.lower === null || v > x.lower) && (x.upper === null || v <= x.upper),
        );
    if (label.get(c) === 1) bad[b]!++;
    else good[b]!++;
  }
  const G = good.reduce((a, b) => a + b, 0);
  const B = bad.reduce((a, b) => a + b, 0);
  let iv = 0;
  good.forEach((g, i) => {
    const k = bad[i]!;
    if (g + k === 0) return;
    const pg = (g || 0.5) / G;
    const pb = (k || 0.5) / B;
    iv += (pg - pb) * Math.log(pg / pb);
  });
  return { good, bad, iv };
}

describe('fedscore binning', () => {
  const args = [
    'binning',
    '--guest',
    guestCsv,
    '--host',
    hostCsv,
    '--id',
    'uscc',
    '--label',
    'default',
    '--bins',
    '5',
  ];

  it('reports both parties on the PSI intersection, equal to the centralized computation', async () => {
    const r = await runCli([...args, '--json', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      features: FeatureJson[];
      aligned: number;
      selection: { kind: string; selected: unknown[] };
      he: string;
    };
    expect(out.aligned).toBe(shared.length);
    expect(out.he).toBe('ckks');
    expect(out.selection.kind).toBe('feature-selection');
    const byName = new Map(out.features.map((f) => [`${f.party}/${f.name}`, f]));
    for (const [key, values] of [
      ['guest/revenue', revenue],
      ['host/penalties', penalties],
    ] as const) {
      const f = byName.get(key)!;
      expect(f, key).toBeDefined();
      const ref = reference(values as Map<string, string | number>, f.bins);
      expect(f.bins.map((b) => b.good)).toEqual(ref.good);
      expect(f.bins.map((b) => b.bad)).toEqual(ref.bad);
      expect(Math.abs(f.iv - ref.iv)).toBeLessThan(1e-9);
      expect(f.bins.reduce((a, b) => a + b.count, 0)).toBe(shared.length);
    }
    expect(byName.get('host/penalties')!.bins.at(-1)!.missing).toBe(true);

    const none = await runCli([...args, '--he', 'none', '--json', '--quiet']);
    expect(none.code, none.stderr).toBe(0);
    const n = JSON.parse(none.stdout.trim().split('\n').pop()!) as { features: FeatureJson[] };
    expect(n.features.map((f) => [f.name, f.iv, f.bins.map((b) => b.bad)])).toEqual(
      out.features.map((f) => [f.name, f.iv, f.bins.map((b) => b.bad)]),
    );
  }, 240_000);

  it('a bad flag is a usage error naming it', async () => {
    const r = await runCli([...args, '--method', 'magic', '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('method');
  });
});
