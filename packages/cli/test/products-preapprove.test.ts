/**
 * `fedscore products preapprove`: a bank's credit-lines CSV (both forms the CLI writes: `train fedavg
 * --rules`'s with `approved`, the demo's with `uscc` and no `approved`) becomes pre-approvals in the
 * console's loan-product pool, which a product then matches by its rules; rows without a band, with a
 * zero line or not approved are skipped; a later run replaces an enterprise's line; bad files are typed
 * errors naming the column or the line.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeStore, ProductPool } from '@fedscore/node';
import { afterEach, describe, expect, it } from 'vitest';
import { lastJson, runCli } from './run-cli.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** `fedscore products preapprove --store S --bank B --lines F [more flags]`. */
function preapprove(state: string, bank: string, lines: string, ...more: string[]) {
  return runCli(['products', 'preapprove', '--store', state, '--bank', bank, '--lines', lines, ...more]);
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fedscore-preapprove-'));
  dirs.push(dir);
  return dir;
}

const PRODUCT = {
  id: 'wc-1',
  name: 'Working capital',
  bank: 'bank-a',
  rateBp: 385,
  termMonths: 12,
  lineMin: 100_000,
  lineMax: 2_000_000,
  bands: 'A,B',
  minLine: 200_000,
};

describe('fedscore products preapprove', () => {
  it("records a bank's approved lines, which a product's rules then match", async () => {
    const dir = tempDir();
    const state = join(dir, 'state');
    const fedavg = join(dir, 'fedavg-lines.csv');
    writeFileSync(
      fedavg,
      [
        'id,pd,score,band,approved,line,rate_bp',
        'e1,0.010000,720.1,A,true,500000,385',
        'e2,0.050000,650.0,B,true,250000,420',
        'e3,0.080000,630.0,B,true,150000,420',
        'e4,0.300000,560.0,D,false,0,0',
        'e5,0.060000,640.0,,false,0,0',
        'e6,0.020000,700.0,A,false,400000,385',
        '',
      ].join('\n'),
    );
    const run = await preapprove(state, 'bank-a', fedavg, '--json');
    expect(run.code).toBe(0);
    expect(lastJson(run.stdout)).toEqual({ bank: 'bank-a', recorded: 3, skipped: 3 });

    // The demo's form: uscc ids, no approved column; a second bank.
    const demo = join(dir, 'demo-lines.csv');
    writeFileSync(
      demo,
      ['uscc,score,band,line,rate_bp,binding_cap', 'e7,700,A,300000,385,', 'e8,540,E,0,0,', ''].join('\n'),
    );
    const second = await preapprove(state, 'bank-b', demo, '--json');
    expect(lastJson(second.stdout)).toEqual({ bank: 'bank-b', recorded: 1, skipped: 1 });

    // A later run replaces an enterprise's line: e3 rises from 150,000 to 260,000.
    const later = join(dir, 'later.csv');
    writeFileSync(later, 'id,band,line\ne3,B,260000\n');
    const third = await preapprove(state, 'bank-a', later, '--json');
    expect(lastJson(third.stdout)).toEqual({ bank: 'bank-a', recorded: 1, skipped: 0 });

    const store = NodeStore.open(state);
    try {
      const pool = new ProductPool(store);
      const product = pool.save(PRODUCT);
      // Rules: band A or B and a line of at least max(minLine, lineMin) = 200,000.
      const matched = pool.matches(product).map((m) => [m.enterprise, m.bank, m.band, m.amount]);
      expect(matched).toEqual([
        ['e1', 'bank-a', 'A', 500_000],
        ['e7', 'bank-b', 'A', 300_000],
        ['e3', 'bank-a', 'B', 260_000],
        ['e2', 'bank-a', 'B', 250_000],
      ]);
    } finally {
      store.close();
    }
  });

  it('refuses a file without band or line, and a bad id, naming the column or the line', async () => {
    const dir = tempDir();
    const state = join(dir, 'state');
    const noBand = join(dir, 'no-band.csv');
    writeFileSync(noBand, 'id,score,line\ne1,700,100000\n');
    const a = await preapprove(state, 'bank-a', noBand);
    expect(a.code).not.toBe(0);
    expect(a.stderr).toContain("no 'band' column");
    const badLine = join(dir, 'bad-line.csv');
    writeFileSync(badLine, 'id,band,line\ne1,A,lots\n');
    const b = await preapprove(state, 'bank-a', badLine);
    expect(b.code).not.toBe(0);
    expect(b.stderr).toContain('bad-line.csv:2');
    const badBank = join(dir, 'ok.csv');
    writeFileSync(badBank, 'id,band,line\ne1,A,100000\n');
    const c = await preapprove(state, 'Bank A!', badBank);
    expect(c.code).not.toBe(0);
    expect(c.stderr).toContain('bank');
  });
});
