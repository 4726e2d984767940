/**
 * `fedscore demo` at small size (6,000 enterprises, 3,000 bank customers, 3 epochs): the whole story runs
 * from generated data (no ../shared data needed), writes its files under --out, and reports the same
 * structure in --json as it prints. The PSI intersection must equal the generator's ground truth (the
 * manifest's overlap), and the party listings must name features only, never values. The government's
 * features must lift the held-out AUC over the bank-only model by at least LIFT (0.074 measured at this
 * size and seed; docs/population.md reports 0.055-0.085 at full size): a joint model that ignored the
 * government's features would score like the bank-only one and fail.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.ts';

/** Minimum AUC lift of the joint model over the bank-only model on the held-out customers. */
const LIFT = 0.03;

interface Scores {
  auc: number;
  ks: number;
}

interface DemoResult {
  psi: { intersection: number; government_ids: number };
  parties: { bank: { features: string[] }; government: { features: string[] } };
  split: { train: number; test: number };
  bank_only: { test: Scores; train: Scores };
  joint: { he: string; security: string; epochs: number; bytes_sent: Record<string, number>; test: Scores };
}

describe('fedscore demo (small)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedscore-demo-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const args = ['demo', '--enterprises', '6000', '--bank-customers', '3000', '--epochs', '3', '--seed', '7'];

  it('runs PSI, bank-only LR and CKKS hetero-LR, prints the story, and writes its files under --out', async () => {
    const text = await runCli([...args, '--out', join(dir, 'a'), '--quiet']);
    expect(text.code, text.stderr).toBe(0);
    for (const heading of [
      'What each party holds',
      'PSI',
      'Hetero-LR under CKKS',
      'bank only',
      'What crossed the wire',
    ]) {
      expect(text.stdout).toContain(heading);
    }
    expect(text.stdout).toContain(join(dir, 'a'));

    const r = await runCli([...args, '--out', join(dir, 'b'), '--json', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const j = JSON.parse(lines[0]!) as DemoResult;
    const manifest = JSON.parse(readFileSync(join(dir, 'b', 'data', 'population.json'), 'utf8')) as {
      truth: { overlap: number };
    };
    expect(j.psi.intersection).toBe(manifest.truth.overlap);
    expect(j.psi.government_ids).toBe(6000);
    expect(j.parties.bank.features.length).toBeGreaterThan(5);
    expect(j.parties.government.features).toContain('tax_paid_12m');
    expect(j.split.train + j.split.test).toBe(j.psi.intersection);
    expect(j.joint.he).toBe('ckks');
    expect(j.joint.security).toContain('128-bit');
    expect(j.joint.epochs).toBe(3);
    expect(Object.keys(j.joint.bytes_sent).sort()).toEqual(['arbiter', 'bank', 'government']);
    for (const s of [j.bank_only.test, j.joint.test] as Scores[]) {
      expect(s.auc).toBeGreaterThan(0.5);
      expect(s.auc).toBeLessThanOrEqual(1);
    }
    expect(j.joint.test.auc - j.bank_only.test.auc).toBeGreaterThanOrEqual(LIFT);
    expect(existsSync(join(dir, 'b', 'models', 'bank.model.json'))).toBe(true);
    expect(existsSync(join(dir, 'b', 'models', 'government.model.json'))).toBe(true);
    expect(existsSync(join(dir, 'b', 'models', 'joint-model.json'))).toBe(true);
    const saved = JSON.parse(readFileSync(join(dir, 'b', 'demo-result.json'), 'utf8')) as DemoResult;
    expect(saved.joint.test).toEqual(j.joint.test);
    // the same seed gives the same population, split and bank-only model
    const again = JSON.parse(readFileSync(join(dir, 'a', 'demo-result.json'), 'utf8')) as DemoResult;
    expect(again.bank_only).toEqual(j.bank_only);
  }, 180_000);
});
