/**
 * `fedscore train secureboost`.
 * - The generated population (`fedscore datasets generate`, always): bank.csv (labels, 14 features)
 *   and government.csv (34 feature columns after one-hot, a categorical industry and region), USCC ids
 *   in different orders with non-shared rows. Checked: the JSON fields the issue asks for, the progress
 *   bar advancing per tree on stderr, the aligned rows against a plain set intersection of the two
 *   files' ids (read with this test's own parser), CKKS against the plaintext debug run of the same
 *   split (the trees are chosen on decrypted sums, so the AUC must agree to 1e-3: the target),
 *   each party's model and importance file holding only its own column names (searched as text), and
 *   typed errors naming the flag.
 * - ../shared/data/default_credit with its fixed split (skipped with a printed reason when absent):
 *   30 trees, depth 3, 32 bins, learning rate 0.3 under `none`: test AUC >= 0.7726 (the issue's
 *   target; sklearn HistGradientBoosting with the same settings 0.7776; measured 0.7797 with the hosts'
 *   per-bin floor, 0.7802 before it, by vfl's own
 *   test).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastJson, runCli } from './run-cli.ts';

interface Scores {
  auc: number;
  ks: number;
}

/** One `per_tree` record of the JSON (trees numbered from 1). */
interface PerTree {
  tree: number;
  train_loss: number;
  validation?: number;
  splits: number;
  seconds: number;
}

/** The header and the first column of a CSV (this test's own parser: no quoted commas in these files). */
function csvIdsAndHeader(file: string): { header: string[]; ids: string[] } {
  const lines = readFileSync(file, 'utf8').trim().split(/\r?\n/);
  return { header: lines[0]!.split(','), ids: lines.slice(1).map((l) => l.split(',')[0]!) };
}

describe('fedscore train secureboost on the generated population', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedscore-sbt-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const bank = join(dir, 'bank.csv');
  const gov = join(dir, 'government.csv');
  const base = () => ['train', 'secureboost', '--guest', bank, '--host', gov, '--id', 'uscc', '--label', 'y'];

  beforeAll(async () => {
    const r = await runCli([
      'datasets',
      'generate',
      '--enterprises',
      '2500',
      '--seed',
      '3',
      '--out',
      dir,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
  });

  it("none (debug): the issue's JSON fields, one progress bar advancing per tree, PSI-aligned rows; files of own splits only", async () => {
    const out = join(dir, 'models');
    const r = await runCli([
      ...base(),
      '--he',
      'none',
      '--trees',
      '8',
      '--seed',
      '5',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('INSECURE');
    expect(r.stderr).toMatch(/secureboost: trees \[#+\] 8\/8 trees 100%/);
    const j = lastJson(r.stdout);
    const test = j['test'] as Scores;
    expect(test.auc).toBeGreaterThan(0.6);
    expect(test.ks).toBeGreaterThan(0);
    expect(j['trees']).toBe(8);
    expect(j['trees_grown']).toBe(8);
    for (const k of ['seconds_total', 'seconds_per_tree']) expect(j[k]).toBeGreaterThan(0);
    // one record per tree: the per-tree figures behind the progress bar; their mean is seconds_per_tree
    const perTree = j['per_tree'] as PerTree[];
    expect(perTree.map((t) => t.tree)).toEqual(perTree.map((_, k) => k + 1));
    expect(perTree).toHaveLength(8);
    const meanSeconds = perTree.reduce((a, t) => a + t.seconds, 0) / perTree.length;
    expect(Math.abs(meanSeconds - (j['seconds_per_tree'] as number))).toBeLessThan(1e-9);
    expect(perTree.at(-1)!.train_loss).toBeLessThan(perTree[0]!.train_loss);
    expect(perTree.every((t) => t.validation === undefined && t.splits >= 0)).toBe(true);
    const bytes = j['bytes_sent'] as Record<string, number>;
    expect(Object.keys(bytes).sort()).toEqual(['guest', 'host-1']);
    expect(bytes['guest']).toBeGreaterThan(0);
    expect(j['insecure']).toBe(true);

    // the aligned rows: the ids both files hold; the split 80/20 of them
    const b = csvIdsAndHeader(bank);
    const g = csvIdsAndHeader(gov);
    const govIds = new Set(g.ids);
    const aligned = b.ids.filter((id) => govIds.has(id)).length;
    const rows = j['rows'] as { aligned: number; train: number; test: number };
    expect(rows.aligned).toBe(aligned);
    expect(rows.train + rows.test).toBe(aligned);
    expect(Math.abs(rows.test - 0.2 * aligned)).toBeLessThanOrEqual(2);

    // each party's files hold its own column names only
    const guestFiles = ['guest.secureboost.json', 'guest.importance.json'].map((f) =>
      readFileSync(join(out, f), 'utf8'),
    );
    const hostFiles = ['host-1.secureboost.json', 'host-1.importance.json'].map((f) =>
      readFileSync(join(out, f), 'utf8'),
    );
    const guestCols = b.header.slice(2);
    const hostCols = g.header.slice(1);
    for (const c of hostCols) for (const t of guestFiles) expect(t).not.toContain(`"${c}`);
    for (const c of guestCols) for (const t of hostFiles) expect(t).not.toContain(`"${c}`);
    expect(guestFiles[0]).toContain(`"${guestCols[0]}"`);
    expect(hostFiles[0]).toContain(`"${hostCols[0]}"`);
    const model = JSON.parse(guestFiles[0]!) as {
      format: string;
      version: number;
      trees: { kind: string }[][];
    };
    expect(model.format).toBe('fedscore.secureboost.guest');
    expect(model.version).toBe(1);
    // importance: the guest's split counts over its own features and the host's, against the trees
    const imp = JSON.parse(guestFiles[1]!) as {
      features: Record<string, { splits: number }>;
      hosts: Record<string, { splits: number }>;
    };
    const nodes = model.trees.flat();
    const count = (o: Record<string, { splits: number }>) =>
      Object.values(o).reduce((a, x) => a + x.splits, 0);
    expect(count(imp.features)).toBe(nodes.filter((n) => n.kind === 'guest-split').length);
    expect(count(imp.hosts)).toBe(nodes.filter((n) => n.kind === 'host-split').length);
    const hostImp = JSON.parse(hostFiles[1]!) as { features: Record<string, { splits: number }> };
    const hostModel = JSON.parse(hostFiles[0]!) as { splits: unknown[] };
    expect(count(hostImp.features)).toBe(hostModel.splits.length);
  }, 300_000);

  it('CKKS (the default) agrees with the plaintext debug run of the same split to 1e-3 test AUC', async () => {
    const small = ['--trees', '1', '--depth', '2', '--seed', '5', '--json', '--quiet'];
    const plain = await runCli([...base(), ...small, '--he', 'none']);
    expect(plain.code, plain.stderr).toBe(0);
    const ckks = await runCli([...base(), ...small]);
    expect(ckks.code, ckks.stderr).toBe(0);
    const c = lastJson(ckks.stdout);
    const p = lastJson(plain.stdout);
    expect(c['insecure']).toBe(false);
    expect(String(c['security'])).toContain('CKKS');
    expect(Math.abs((c['test'] as Scores).auc - (p['test'] as Scores).auc)).toBeLessThanOrEqual(1e-3);
    expect((c['bytes_sent'] as Record<string, number>)['guest']).toBeGreaterThan(
      (p['bytes_sent'] as Record<string, number>)['guest']!,
    );
  }, 300_000);

  it('the option flags reach every role: early stopping, guest-only trees, colsample, split gains to the host', async () => {
    const out = join(dir, 'models-options');
    const r = await runCli([
      ...base(),
      '--he',
      'none',
      '--trees',
      '8',
      '--depth',
      '2',
      '--seed',
      '5',
      '--guest-only-trees',
      '1',
      '--layered',
      '1',
      '--share-split-gains',
      '--out',
      out,
      '--scores-out',
      join(out, 'test-scores.csv'),
      '--json',
      '--quiet',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    const h = j['hyperparams'] as Record<string, unknown>;
    expect(h).toMatchObject({
      guestOnlyTrees: 1,
      hostDepth: 1,
      shareSplitGains: true,
      acceptGossLabelLeakage: false,
    });
    const model = JSON.parse(readFileSync(join(out, 'guest.secureboost.json'), 'utf8')) as {
      trees: { kind: string; gain?: number }[][];
    };
    expect(model.trees.length).toBeLessThanOrEqual(8);
    // `trees` is what the model keeps; `trees_grown` and `per_tree` what early stopping looked at
    expect(j['trees']).toBe(model.trees.length);
    const grown = j['per_tree'] as PerTree[];
    expect(grown).toHaveLength(j['trees_grown'] as number);
    expect(grown.length).toBeGreaterThanOrEqual(model.trees.length);
    // guest-only first tree: no host split in it
    expect(model.trees[0]!.some((n) => n.kind === 'host-split')).toBe(false);
    const hostSplits = model.trees.flat().filter((n) => n.kind === 'host-split');
    expect(hostSplits.length).toBeGreaterThan(0);
    // --share-split-gains reached the host role: its importance has gains, summing to the host splits'
    // gains in the guest's trees (the guest's own per-host total), to 1e-9.
    const hostImp = JSON.parse(readFileSync(join(out, 'host-1.importance.json'), 'utf8')) as {
      features: Record<string, { splits: number; gain?: number }>;
    };
    const guestImp = JSON.parse(readFileSync(join(out, 'guest.importance.json'), 'utf8')) as {
      hosts: Record<string, { splits: number; gain: number }>;
    };
    const total = Object.values(hostImp.features).reduce((a, f) => a + f.gain!, 0);
    const splits = Object.values(hostImp.features).reduce((a, f) => a + f.splits, 0);
    const treeGain = hostSplits.reduce((a, n) => a + n.gain!, 0);
    expect(splits).toBe(hostSplits.length);
    expect(Math.abs(total - treeGain)).toBeLessThan(1e-9);
    expect(guestImp.hosts['host-1']!.splits).toBe(hostSplits.length);
    expect(Math.abs(guestImp.hosts['host-1']!.gain - treeGain)).toBeLessThan(1e-9);

    // the held-out scores and the importance go into `fedscore report`: the report's AUC and KS are the
    // training run's test AUC and KS (same scores, P(default) is monotone in the margin), to 1e-12
    const rows = readFileSync(join(out, 'test-scores.csv'), 'utf8').trim().split('\n');
    expect(rows[0]).toBe('id,label,margin,p_default');
    expect(rows.length - 1).toBe((j['rows'] as { test: number }).test);
    const html = join(out, 'report.html');
    const rep = await runCli([
      'report',
      '--scores',
      join(out, 'test-scores.csv'),
      '--label',
      'label',
      '--score',
      'p_default',
      '--importance',
      join(out, 'guest.importance.json'),
      '--importance',
      join(out, 'host-1.importance.json'),
      '--out',
      html,
      '--json',
      '--quiet',
    ]);
    expect(rep.code, rep.stderr).toBe(0);
    const rj = lastJson(rep.stdout);
    expect(Math.abs((rj['auc'] as number) - (j['test'] as Scores).auc)).toBeLessThan(1e-12);
    expect(Math.abs((rj['ks'] as number) - (j['test'] as Scores).ks)).toBeLessThan(1e-12);
    expect(rj['sections']).toContain('importance');
    expect(rj['sections']).toContain('lift');
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('Feature importance (tree models)');
    expect(page).toContain('host <code>host-1</code> (all its splits)');
    const topHost = Object.entries(hostImp.features).sort((a, b) => b[1].splits - a[1].splits)[0]!;
    expect(page).toContain(`<td>${topHost[0]}</td>`);
    // a file that is not an importance file is refused naming it
    const bad = await runCli([
      'report',
      '--scores',
      join(out, 'test-scores.csv'),
      '--label',
      'label',
      '--score',
      'p_default',
      '--importance',
      join(out, 'guest.secureboost.json'),
      '--out',
      html,
      '--quiet',
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('guest.secureboost.json');

    // `fedscore score trees`: the same models score every enterprise of both files; the private path
    // (the bank learns the scores only) agrees with the plain flow to the flooding noise (< 0.02 in
    // log-odds, ~6 sd), and bands and lines follow the rules written here (checked by hand below).
    const figure = csvIdsAndHeader(bank).header[2]!;
    const rulesFile = join(out, 'rules.yaml');
    writeFileSync(
      rulesFile,
      `format: fedscore.credit-rules\nversion: 1\nfigures: { revenue: ${figure} }\nbaseRateBp: 435\nrounding: 1\nmissingFigure: zero\nbands:\n  - { name: A, minScore: 560, revenueMultiple: 0.5, maxLine: 1000000 }\n  - { name: B, minScore: 500, revenueMultiple: 0.25, maxLine: 500000 }\n  - { name: C, approve: false }\n`,
    );
    const scoreTrees = async (flow: string) => {
      const file = join(out, `tree-${flow}.csv`);
      const res = await runCli([
        'score',
        'trees',
        '--guest-model',
        join(out, 'guest.secureboost.json'),
        '--host-model',
        join(out, 'host-1.secureboost.json'),
        '--bank',
        bank,
        '--government',
        gov,
        '--id-column',
        'uscc',
        '--rules',
        rulesFile,
        '--tree-flow',
        flow,
        '--out',
        file,
        '--json',
        '--quiet',
      ]);
      expect(res.code, res.stderr).toBe(0);
      const lines = readFileSync(file, 'utf8').trim().split(/\r?\n/);
      expect(lines[0]).toBe('id,p_default,score,band,line,rate_bp');
      return lines.slice(1).map((l) => l.split(','));
    };
    const plainRows = await scoreTrees('plain');
    const privateRows = await scoreTrees('private-path');
    const aligned = csvIdsAndHeader(bank).ids.filter((id) => new Set(csvIdsAndHeader(gov).ids).has(id));
    expect(plainRows.map((r) => r[0])).toEqual(aligned);
    expect(privateRows.map((r) => r[0])).toEqual(aligned);
    const logit = (p: number) => Math.log(p / (1 - p));
    let maxGap = 0;
    for (let i = 0; i < aligned.length; i++) {
      maxGap = Math.max(
        maxGap,
        Math.abs(logit(Number(plainRows[i]![1])) - logit(Number(privateRows[i]![1]))),
      );
    }
    expect(maxGap).toBeGreaterThan(0);
    expect(maxGap).toBeLessThan(0.02);
    const revenue = new Map(
      readFileSync(bank, 'utf8')
        .trim()
        .split(/\r?\n/)
        .slice(1)
        .map((l) => [l.split(',')[0]!, Number(l.split(',')[2])] as const),
    );
    for (const r of plainRows) {
      const points = Number(r[2]);
      const band = points >= 560 ? 'A' : points >= 500 ? 'B' : 'C';
      expect(r[3]).toBe(band);
      const rev = revenue.get(r[0]!)!;
      const want = band === 'A' ? Math.min(0.5 * rev, 1e6) : band === 'B' ? Math.min(0.25 * rev, 5e5) : 0;
      expect(Number(r[4])).toBe(Math.floor(Number.isFinite(want) ? want : 0));
    }

    // Early stopping and --colsample-by-tree reach every role. They are a run of their own: the guest
    // draws its validation rows and each party its features from a per-job secret key (not from --seed:
    // which rows and features were drawn is the drawing party's own), so these trees differ from run to
    // run, and early stopping then keeps anything from 1 tree (the guest-only one, with no host split)
    // to all: the host-split checks above need the deterministic run.
    const sampled = await runCli([
      ...base(),
      '--he',
      'none',
      '--trees',
      '4',
      '--depth',
      '2',
      '--early-stopping-rounds',
      '2',
      '--validation-fraction',
      '0.2',
      '--colsample-by-tree',
      '0.5',
      '--json',
      '--quiet',
    ]);
    expect(sampled.code, sampled.stderr).toBe(0);
    const sj = lastJson(sampled.stdout);
    expect(sj['hyperparams']).toMatchObject({
      earlyStoppingRounds: 2,
      validationFraction: 0.2,
      colsampleByTree: 0.5,
    });
    const sGrown = sj['per_tree'] as PerTree[];
    expect(sGrown).toHaveLength(sj['trees_grown'] as number);
    expect(sj['trees'] as number).toBeLessThanOrEqual(sGrown.length);
    expect(sGrown.every((t) => typeof t.validation === 'number' && Number.isFinite(t.validation))).toBe(true);
  }, 300_000);

  it('score trees: a model of two hosts, one --host-model and --government per host in the model order', async () => {
    // The government's columns split into two hosts (id + first half, id + second half).
    const lines = readFileSync(gov, 'utf8').trim().split(/\r?\n/);
    const width = lines[0]!.split(',').length;
    const half = Math.ceil(width / 2);
    const govA = join(dir, 'gov-a.csv');
    const govB = join(dir, 'gov-b.csv');
    const cols = (l: string, from: number, to: number) => {
      const c = l.split(',');
      return [c[0]!, ...c.slice(from, to)].join(',');
    };
    writeFileSync(govA, `${lines.map((l) => cols(l, 1, half)).join('\n')}\n`);
    writeFileSync(govB, `${lines.map((l) => cols(l, half, width)).join('\n')}\n`);
    const out = join(dir, 'models-two-hosts');
    const train = [...'train secureboost --id uscc --label y --he none'.split(' '), '--guest', bank];
    const r = await runCli([
      ...train,
      '--host',
      govA,
      '--host',
      govB,
      '--trees',
      '4',
      '--depth',
      '3',
      '--seed',
      '5',
      '--out',
      out,
      '--json',
      '--quiet',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const guestModel = JSON.parse(readFileSync(join(out, 'guest.secureboost.json'), 'utf8')) as {
      hosts: string[];
      trees: { kind: string; host?: number }[][];
    };
    expect(guestModel.hosts).toEqual(['host-1', 'host-2']);
    const hostsUsed = new Set(
      guestModel.trees.flat().flatMap((n) => (n.kind === 'host-split' ? [n.host] : [])),
    );
    const score = (flow: string, models: string[], govs: string[]) =>
      runCli([
        'score',
        'trees',
        '--guest-model',
        join(out, 'guest.secureboost.json'),
        ...models.flatMap((m) => ['--host-model', join(out, m)]),
        '--bank',
        bank,
        ...govs.flatMap((g) => ['--government', g]),
        '--id-column',
        'uscc',
        '--tree-flow',
        flow,
        '--out',
        join(out, `scores-${flow}.csv`),
        '--json',
        '--quiet',
      ]);
    const models = ['host-1.secureboost.json', 'host-2.secureboost.json'];
    const rows = async (flow: string) => {
      const res = await score(flow, models, [govA, govB]);
      expect(res.code, res.stderr).toBe(0);
      return readFileSync(join(out, `scores-${flow}.csv`), 'utf8')
        .trim()
        .split(/\r?\n/)
        .slice(1)
        .map((l) => l.split(','));
    };
    const plain = await rows('plain');
    const priv = await rows('private-path');
    // every enterprise held by the bank and both hosts, in the bank's order
    const inAll = [govA, govB].map((f) => new Set(csvIdsAndHeader(f).ids));
    const aligned = csvIdsAndHeader(bank).ids.filter((id) => inAll.every((s) => s.has(id)));
    expect(plain.map((x) => x[0])).toEqual(aligned);
    expect(priv.map((x) => x[0])).toEqual(aligned);
    // the private path's log-odds within 0.05 of the plain walk (flooding sd <= 2.4e-3 in log-odds,
    // docs/protocols/tree-scoring.md: 0.05 is > 20 sd), and the plain scores are not all one value
    const logit = (p: number) => Math.log(p / (1 - p));
    const gaps = plain.map((x, i) => Math.abs(logit(Number(x[1])) - logit(Number(priv[i]![1]))));
    expect(Math.max(...gaps)).toBeLessThan(0.05);
    expect(new Set(plain.map((x) => x[1])).size).toBeGreaterThan(4);
    // the model splits on both hosts; their files in the wrong order are named, not scored wrongly;
    // so are a missing --government and a missing --host-model
    expect(hostsUsed).toEqual(new Set([0, 1]));
    const swapped = await score('plain', [...models].reverse(), [govB, govA]);
    expect(swapped.code).not.toBe(0);
    expect(swapped.stderr).toContain('--host-model');
    const short = await score('plain', models, [govA]);
    expect(short.code).not.toBe(0);
    expect(short.stderr).toContain('--government');
    const one = await score('plain', models.slice(0, 1), [govA]);
    expect(one.code).not.toBe(0);
    expect(one.stderr).toContain('--host-model');
  }, 300_000);

  it('typed errors name the flag, before any file is read', async () => {
    const cases: [string[], string][] = [
      [['--trees', '0'], '--trees'],
      [['--depth', '40'], '--depth'],
      [['--learning-rate', '2'], '--learning-rate'],
      [['--bins', '1'], '--bins'],
      [['--subsample', '0'], '--subsample'],
      [['--paillier-bits', '100'], '--paillier-bits'],
      [['--goss-top-rate', '1'], '--goss-top-rate'],
      [['--goss-top-rate', '0.2', '--goss-other-rate', '0.9'], '--goss-other-rate'],
      [['--goss-top-rate', '0.2', '--goss-other-rate', '0.1'], '--accept-goss-label-leakage'],
      [['--colsample-by-tree', '0'], '--colsample-by-tree'],
      [['--colsample-by-tree', '1.5'], '--colsample-by-tree'],
      [['--early-stopping-rounds', '-1'], '--early-stopping-rounds'],
      [['--validation-fraction', '1'], '--validation-fraction'],
      [['--guest-only-trees', '31'], '--guest-only-trees'],
      [['--layered', '3'], '--layered'],
      [['--early-stopping-metric', 'gini'], '--early-stopping-metric'],
      [['--train-ids', join(dir, 'none.txt')], '--test-ids'],
    ];
    for (const [flags, flag] of cases) {
      const r = await runCli([...base(), ...flags, '--json', '--quiet']);
      expect(r.code, flags.join(' ')).not.toBe(0);
      expect(r.stderr, flags.join(' ')).toContain(flag);
    }
    const r = await runCli([...base(), '--he', 'bfv', '--json', '--quiet']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--he');
  }, 60_000);
});

const DATA = new URL('../../../../shared/data/', import.meta.url).pathname;
const CREDIT = join(DATA, 'default_credit');
const haveCredit = existsSync(join(CREDIT, 'default_credit_hetero_guest.csv'));
if (!haveCredit) console.log(`skipping train secureboost on default_credit: ${CREDIT} is absent`);

describe.skipIf(!haveCredit)(
  'fedscore train secureboost on ../shared/data/default_credit (fixed split)',
  () => {
    it('30 trees, depth 3, 32 bins, none: test AUC >= 0.7726 (sklearn HistGradientBoosting 0.7776)', async () => {
      const r = await runCli([
        'train',
        'secureboost',
        '--guest',
        join(CREDIT, 'default_credit_hetero_guest.csv'),
        '--host',
        join(CREDIT, 'default_credit_hetero_host.csv'),
        '--id',
        'id',
        '--label',
        'y',
        '--train-ids',
        join(CREDIT, 'default_credit_train_ids.txt'),
        '--test-ids',
        join(CREDIT, 'default_credit_test_ids.txt'),
        '--trees',
        '30',
        '--depth',
        '3',
        '--bins',
        '32',
        '--learning-rate',
        '0.3',
        '--he',
        'none',
        '--json',
        '--quiet',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const j = lastJson(r.stdout);
      const test = j['test'] as Scores;
      console.log(
        `default_credit: fedscore train secureboost (none) test AUC ${test.auc.toFixed(4)} KS ${test.ks.toFixed(4)}; ${Number(j['seconds_total']).toFixed(1)} s training`,
      );
      expect(j['rows']).toMatchObject({ aligned: 30000, train: 24000, test: 6000 });
      expect(j['trees']).toBe(30);
      expect(test.auc).toBeGreaterThanOrEqual(0.7726);
    }, 300_000);
  },
);
