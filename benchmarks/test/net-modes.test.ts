/**
 * `bench net`'s modes without running them (the PSI-only and SecureBoost runs across processes are
 * asserted by the CI smoke, bench-smoke.test.ts, where `bench net --smoke-kinds` runs them on the same
 * node processes as the hetero-LR and HFL jobs):
 *   - the 10M x 10M extrapolation is the measured time scaled linearly in ids and inversely in cores,
 *     checked against the arithmetic done here;
 *   - `--fate-shape` is FATE's 100k x (30 + 300) with every aligned row trained on (`--test-fraction 0`)
 *     at batch 8192, each flag beside it wins, and `--test-fraction` outside [0, 1) is refused;
 *   - the page builder picks the named net results up: FATE's shape from every profile's file, the
 *     PSI-only runs as their own charts, and SecureBoost at FATE's shape as "not run" (unless
 *     secureboost-scale ran at it); the anchor row from the newest commit's quietest run; an hfl run
 *     (`--kind hfl`) as its per-round seconds and bytes, never as the hetero-LR job's results/net.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { anchorRunOrder, buildCharts, writeIndexHtml } from '../src/html.ts';
import { FATE_SHAPE, jobShapeFrom, psiExtrapolation, steadyEpochBytes } from '../src/net.bench.ts';
import { SUITE } from '../src/suite.ts';

const out = mkdtempSync(join(tmpdir(), 'fedscore-bench-net-modes-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('bench net job flags', () => {
  it('--fate-shape: FATE 2.0 shape, no hold-out, batch 8192; flags beside it win', () => {
    expect(jobShapeFrom(['--fate-shape'])).toEqual({
      kind: 'hetero-lr',
      enterprises: 100_000,
      bankCustomers: 100_000,
      govExtraFeatures: 276,
      bankExtraFeatures: 16,
      bins: 10,
      minIv: 0,
      maxEpochs: 2,
      batchSize: 8192,
      seed: 7,
      testFraction: 0,
    });
    expect(FATE_SHAPE.batchSize).toBe(8192);
    const s = jobShapeFrom(['--fate-shape', '--batch', '4096', '--test-fraction', '0.3', '--network', 'lan']);
    expect(s.batchSize).toBe(4096);
    expect(s.testFraction).toBe(0.3);
    // Without either flag the job keeps the node's default hold-out (no testFraction in the spec).
    expect(jobShapeFrom([]).testFraction).toBeUndefined();
    expect(jobShapeFrom(['--test-fraction', '0']).testFraction).toBe(0);
    expect(() => jobShapeFrom(['--test-fraction', '1'])).toThrow(/test-fraction/);
    expect(() => jobShapeFrom(['--test-fraction', '-0.2'])).toThrow(/test-fraction/);
    expect(() => jobShapeFrom(['--fate-shape'], 'secureboost')).toThrow(/fate-shape/);
  });

  it('the NOT SECURE smoke preset only in a smoke run, which then asks for weak parameters', () => {
    const smokePreset = ['--ckks-preset', 'ckks-2048-smoke-insecure'];
    expect(() => jobShapeFrom(smokePreset)).toThrow(/NOT SECURE/);
    const s = jobShapeFrom(smokePreset, 'hetero-lr', true);
    expect(s.ckksPreset).toBe('ckks-2048-smoke-insecure');
    expect(s.allowWeakParameters).toBe(true);
    // A real preset asks for nothing weak, smoke or not; no flag: the pipeline's default preset.
    expect(
      jobShapeFrom(['--ckks-preset', 'ckks-8192'], 'hetero-lr', true).allowWeakParameters,
    ).toBeUndefined();
    expect(jobShapeFrom([], 'hetero-lr', true).ckksPreset).toBeUndefined();
  });
});

describe('psiExtrapolation', () => {
  it('scales linearly in ids and inversely in cores from the 2-core measurement', () => {
    const { summary, table } = psiExtrapolation(250, 2_000_000, 2_000_000, 300);
    // 10M / 2M = 5 times the ids; 2 cores measured.
    expect(summary['extrapolated10MSecondsOn2Cores']).toBeCloseTo(250 * 5, 9);
    expect(summary['extrapolated10MSecondsOn32Cores']).toBeCloseTo((250 * 5 * 2) / 32, 9);
    expect(summary['idsPerSecPerCore']).toBe(Math.round(4_000_000 / 250 / 2));
    expect(summary['secretflow10MSecondsOn32Cores']).toBe(110);
    // CPU-bound: 300 CPU seconds over 2 cores = 150 s, then the same scaling.
    expect(summary['cpuBoundSeconds']).toBe(150);
    expect(summary['extrapolated10MSecondsOn32CoresCpuBound']).toBeCloseTo((150 * 5 * 2) / 32, 9);
    expect(table.note).toContain('Assumed');
  });
});

describe('buildCharts over the named net results', () => {
  const stage = (seconds: number, bytes: Record<string, number>) => ({ seconds, bytesSent: bytes });
  const run = (epochs: number[]) => ({
    stages: {
      psi: stage(30, { bank: 5, government: 4, arbiter: 0 }),
      binning: stage(16, { bank: 20, government: 5, arbiter: 0 }),
      train: stage(50, { bank: 50, government: 80, arbiter: 120 }),
    },
    epochSeconds: epochs,
  });
  const fateParams = { enterprises: 100_000, govExtraFeatures: 276, bankExtraFeatures: 16, minIv: 0 };
  const results = new Map([
    [
      'net-fate-shape',
      {
        name: 'net',
        summary: { aligned: 100_000 },
        parameters: fateParams,
        raw: { memory: run([19, 18]), lan: run([19, 18.5]) },
      },
    ],
    ['net-fate-shape-wan', { name: 'net', summary: {}, parameters: fateParams, raw: { wan: run([40, 30]) } }],
    [
      'net-psi-1m',
      {
        name: 'net',
        summary: { kind: 'psi-only', guestIds: 1_000_000, hostIds: 1_000_000, lanPsiSeconds: 300 },
        parameters: { enterprises: 1_000_000, psiOnly: true },
        raw: {
          lan: {
            stages: { psi: stage(300, { bank: 46e6, government: 47e6, arbiter: 0 }) },
            epochSeconds: [],
          },
        },
      },
    ],
  ]);

  it('draws FATE-shape profiles from every file and the PSI runs, and reads the anchors from them', () => {
    const { charts, speedups } = buildCharts(results);
    const fate = charts.find((c) => c.id === 'fate-shape')!;
    expect(fate.series.map((s) => s.label)).toEqual([
      'memory (net-fate-shape)',
      'lan (net-fate-shape)',
      'wan (net-fate-shape-wan)',
    ]);
    // Steady-state epoch: epochs 2.. only.
    const epochAt = fate.groups.indexOf('train epoch');
    expect(fate.series.map((s) => s.values[epochAt])).toEqual([18, 18.5, 30]);
    const bytes = charts.find((c) => c.id === 'psi-bytes')!;
    expect(bytes.series.map((s) => s.label)).toEqual(['bank', 'government']);
    expect(bytes.groups).toEqual(['1M x 1M lan']);
    const row = (label: string) => speedups.find((r) => r[0] === label)!;
    expect(row('hetero-LR epoch, 100k x (30+300), lan')[2]).toBe('18.50 s on 2 cores (net-fate-shape (lan))');
    expect(row('ECDH-PSI, per 1M ids, parties as processes (lan)')[2]).toBe(
      '300.00 s on 2 cores (net-psi-1m (lan))',
    );
    expect(row('SecureBoost tree, 100k x (30+300)')[2]).toBe('not run at this shape');
    // Every row says where it is not like for like; the lan epoch names the rows this run trained (the
    // node's job holds out 30 % of the aligned rows) and both security levels.
    for (const r of speedups) expect(r[5], r[0]).toMatch(/ours: .+; (FATE|SecretFlow): /);
    const lanRow = row('hetero-LR epoch, 100k x (30+300), lan')[5]!;
    expect(lanRow).toContain('this run: 100000 aligned, about 70000 trained per epoch');
    expect(lanRow).toContain('128-bit');
    expect(lanRow).toContain('Paillier (1024-bit default, ~80-bit)');
  });

  it("the anchor row takes the newest commit's quietest run; SecureBoost falls back to secureboost-scale", () => {
    const run = (date: string, commit: string, load: number, epoch: number) => ({
      name: 'net',
      machine: { date, commit },
      summary: { aligned: 100_000, testFraction: 0 },
      parameters: {
        enterprises: 100_000,
        govExtraFeatures: 276,
        bankExtraFeatures: 16,
        minIv: 0,
        loadAverage: { before: [load, 1, 1], after: [load / 2, 1, 1] },
      },
      raw: { lan: { epochSeconds: [40, epoch], stages: {} } },
    });
    const r = new Map<string, Parameters<typeof anchorRunOrder>[0][number][1]>([
      ['net-a-disturbed', run('2026-12-06T03:35:00Z', 'c2', 4.8, 21.66)],
      ['net-b-quiet', run('2026-12-06T03:38:00Z', 'c2', 2.8, 12.69)],
      ['net-c-older-quieter', run('2026-12-05T18:00:00Z', 'c1', 0.1, 30)],
      [
        'secureboost-scale',
        {
          name: 'secureboost-scale',
          summary: { rows: 100_000, seconds_first_tree: 3588.7 },
          parameters: { load_average: [{ load: [7.05, 1, 1] }, { load: [24.44, 1, 1] }] },
        },
      ],
    ]);
    // The newest commit's runs by load, then the older commit's.
    expect(anchorRunOrder([...r.entries()].slice(0, 3)).map(([n]) => n)).toEqual([
      'net-b-quiet',
      'net-a-disturbed',
      'net-c-older-quieter',
    ]);
    const { speedups } = buildCharts(r);
    const row = (label: string) => speedups.find((x) => x[0] === label)!;
    expect(row('hetero-LR epoch, 100k x (30+300), lan')[2]).toBe(
      '12.69 s on 2 cores (net-b-quiet (lan, load <= 2.8))',
    );
    expect(row('SecureBoost tree, 100k x (30+300)')[2]).toBe(
      '3588.70 s on 2 cores (secureboost-scale (two processes over a pipe, not the shaper; load 7-24))',
    );
  });

  it('the SecureBoost row takes a node-process run that trains 100,000 rows over lan, with its load and CPU', () => {
    const sb = (enterprises: number, train: number) => ({
      name: 'net',
      machine: { date: '2026-12-06T10:00:00Z', commit: 'c3', cpu: 'AMD EPYC' },
      summary: { kind: 'secureboost', aligned: enterprises, trees: 1 },
      parameters: {
        enterprises,
        govExtraFeatures: 276,
        bankExtraFeatures: 16,
        loadAverage: { before: [3.2, 1, 1], after: [5.5, 1, 1] },
      },
      raw: { lan: { epochSeconds: [], stages: { train: { seconds: train, bytesSent: {} } } } },
    });
    const scale = {
      name: 'secureboost-scale',
      summary: { rows: 100_000, seconds_first_tree: 3588.7 },
      parameters: {},
    };
    type Stored = Parameters<typeof anchorRunOrder>[0][number][1];
    const row = (r: Map<string, Stored>) =>
      buildCharts(r).speedups.find((x) => x[0] === 'SecureBoost tree, 100k x (30+300)')![2];
    // 142,858 aligned less the job's 30 % hold-out: 100,000 training rows, FATE's shape.
    expect(
      row(
        new Map<string, Stored>([
          ['net-secureboost-100k', sb(142_858, 900)],
          ['secureboost-scale', scale],
        ]),
      ),
    ).toBe('900.00 s on 2 cores (net-secureboost-100k (lan, load <= 5.5, AMD EPYC))');
    // 100,000 aligned trains 70,000: not the anchor's shape, so the pipe run stands.
    expect(
      row(
        new Map<string, Stored>([
          ['net-sb-70k', sb(100_000, 600)],
          ['secureboost-scale', scale],
        ]),
      ),
    ).toBe('3588.70 s on 2 cores (secureboost-scale (two processes over a pipe, not the shaper))');
  });

  it('draws bytes per party per steady training epoch where a run has them', () => {
    const withEpochs = {
      name: 'net',
      summary: { aligned: 6000 },
      parameters: { enterprises: 10_000 },
      raw: {
        memory: {
          ...run([1, 1, 1]),
          epochBytes: [
            { bank: 9, arbiter: 900 },
            { bank: 4, arbiter: 1 },
            { bank: 6, arbiter: 3 },
          ],
        },
      },
    };
    const { charts } = buildCharts(new Map([['net', withEpochs]]));
    const c = charts.find((x) => x.id === 'epoch-bytes')!;
    expect(c.groups).toEqual(['memory (net, 6000 aligned)']);
    expect(c.series.map((x) => [x.label, ...x.values])).toEqual([
      ['bank', 5],
      ['arbiter', 2],
    ]);
    // Runs without per-epoch bytes (the committed ones before the audit) draw no such chart.
    expect(buildCharts(results).charts.some((x) => x.id === 'epoch-bytes')).toBe(false);
  });

  it('draws SecureBoost across processes: seconds per tree and train bytes per party, per profile', () => {
    const sbtRun = (psi: number, train: number, bank: number) => ({
      stages: {
        psi: stage(psi, { bank: 2, government: 2, arbiter: 0 }),
        train: stage(train, { bank, government: bank / 10, arbiter: 0 }),
      },
      epochSeconds: [],
    });
    const sbt = {
      name: 'net',
      summary: { kind: 'secureboost', trees: 2, aligned: 5000 },
      parameters: { enterprises: 5000, kind: 'secureboost' },
      raw: { memory: sbtRun(20, 200, 70e6), lan: sbtRun(30, 140, 72e6) },
    };
    const { charts } = buildCharts(new Map([['net-secureboost', sbt]]));
    expect(charts.map((c) => c.id)).toEqual(['secureboost-processes', 'secureboost-bytes']);
    const time = charts[0]!;
    expect(time.groups).toEqual(['memory (net-secureboost, 5000 rows)', 'lan (net-secureboost, 5000 rows)']);
    expect(time.series.map((x) => [x.label, ...x.values])).toEqual([
      ['psi', 20, 30],
      ['train per tree', 100, 70],
    ]);
    // The arbiter sends nothing in SecureBoost and is left out.
    expect(charts[1]!.series.map((x) => [x.label, ...x.values])).toEqual([
      ['bank', 70e6, 72e6],
      ['government', 7e6, 7.2e6],
    ]);
  });

  it('draws the hfl runs (per round seconds and bytes), also when one was written as results/net', () => {
    const hflRun = (rounds: number[], bank: number) => ({
      stages: { train: stage(9, { platform: 1, 'bank-1': 1 }) },
      roundSeconds: rounds,
      roundBytes: { platform: rounds.map(() => 3 * bank), 'bank-1': rounds.map(() => bank) },
      auc: 0.7,
    });
    const hfl = {
      name: 'net',
      summary: { kind: 'hfl' },
      parameters: { banks: 1 },
      raw: { memory: hflRun([2, 1, 1], 100), lan: hflRun([3, 1.5, 2.5], 120) },
    };
    const { charts } = buildCharts(new Map([['net', hfl]]));
    // Not read as the hetero-LR job's results/net.json.
    expect(charts.map((c) => c.id)).toEqual(['hfl-rounds', 'hfl-bytes']);
    const rounds = charts[0]!;
    expect(rounds.groups).toEqual(['memory (net)', 'lan (net)']);
    expect(rounds.series.map((x) => x.values)).toEqual([
      [2, 3],
      [1, 2],
    ]);
    const bytes = charts[1]!;
    expect(bytes.series.map((x) => [x.label, ...x.values])).toEqual([
      ['platform', 300, 360],
      ['bank-1', 100, 120],
    ]);
  });
});

describe('buildCharts over the scoring API through the shaper', () => {
  it('draws p50 / p99 at 8 concurrent and bytes per party per score, per profile', () => {
    const at = (connections: number, p50Ms: number, bank: number) => ({
      connections,
      p50Ms,
      p99Ms: 2 * p50Ms,
      bankBytesPerScore: bank,
      govBytesPerScore: bank + 1,
    });
    const profile = (p50: number, bank: number) => ({
      runs: [at(1, 1, 9), at(8, p50, bank), at(32, 99, 9)],
      long: at(32, 99, 9),
    });
    const results = new Map([
      [
        'scoring-api-net',
        {
          name: 'scoring-api',
          summary: {},
          parameters: {},
          raw: { memory: profile(10, 20_000), wan: profile(150, 25_000) },
        },
      ],
      // The loopback run without --network has no bytes: not drawn.
      ['scoring-api', { name: 'scoring-api', summary: {}, parameters: {}, raw: { runs: [] } }],
    ]);
    const { charts } = buildCharts(results);
    expect(charts.map((c) => c.id)).toEqual(['scoring-latency', 'scoring-bytes']);
    expect(charts[0]!.groups).toEqual(['memory (scoring-api-net)', 'wan (scoring-api-net)']);
    expect(charts[0]!.series.map((x) => [x.label, ...x.values])).toEqual([
      ['p50', 10, 150],
      ['p99', 20, 300],
    ]);
    expect(charts[1]!.series.map((x) => [x.label, ...x.values])).toEqual([
      ['bank', 20_000, 25_000],
      ['government', 20_001, 25_001],
    ]);
  });
});

describe('bench all: the suite and its page', () => {
  it('runs every protocol kind of bench net, and the scoring API, across processes under --network', () => {
    // Encrypted online scoring: bench scoring-api's nodes through the shaper, its own entry and smoke.
    const scoring = SUITE.filter((e) => e.network === true && e.name === 'scoring-api');
    expect(scoring.map((e) => e.as)).toEqual(['scoring-api-net']);
    expect(Array.isArray(scoring[0]!.smoke)).toBe(true);
    const networked = SUITE.filter((e) => e.network === true && e.name !== 'scoring-api');
    const kindOf = (flags: readonly string[]) => {
      const i = flags.indexOf('--kind');
      return i < 0 ? 'hetero-lr' : flags[i + 1];
    };
    // hetero-lr's job holds PSI, binning and hetero-LR; secureboost and hfl are their own jobs.
    expect(networked.map((e) => kindOf(e.full)).sort()).toEqual(['hetero-lr', 'hfl', 'secureboost']);
    // The smoke: the hetero-LR entry's `--smoke-kinds` runs every kind; the others are run by it.
    for (const e of networked) {
      expect(e.name).toBe('net');
      if (kindOf(e.full) === 'hetero-lr') expect(e.smoke).toContain('--smoke-kinds');
      else expect(e.smoke, e.as).toEqual({ with: 'net' });
    }
    // Every entry of the suite has a smoke: none is skipped.
    for (const e of SUITE) expect('skip' in e.smoke, e.as ?? e.name).toBe(false);
    const names = SUITE.map((e) => e.as ?? e.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('says when the page was only rewritten over results made by other commands', () => {
    const dir = join(out, 'page');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'csv.json'),
      JSON.stringify({ name: 'csv', summary: { rows: 1 }, parameters: {}, machine: { cores: 2 } }),
    );
    const only = readFileSync(
      writeIndexHtml(dir, { network: 'lan', smoke: false, outcomes: [], htmlOnly: true }),
      'utf8',
    );
    expect(only).toContain(
      '<code>pnpm bench all --html-only</code> over the results already in this directory',
    );
    const ran = readFileSync(writeIndexHtml(dir, { network: 'wan', smoke: false, outcomes: [] }), 'utf8');
    expect(ran).toContain('<code>pnpm bench all --network wan</code>.');
  });
});

describe('steadyEpochBytes', () => {
  it('is the mean over epochs 2.. per party (epoch 1 carries the key setup); one epoch is itself', () => {
    const e = (bank: number, government: number, arbiter: number) => ({ bank, government, arbiter });
    const run = (epochBytes?: ReturnType<typeof e>[]) => ({
      mode: 'memory' as const,
      stages: {},
      epochSeconds: [],
      alignedRows: 0,
      totalSeconds: 0,
      ...(epochBytes !== undefined && { epochBytes }),
    });
    const parties = ['bank', 'government', 'arbiter'];
    expect(steadyEpochBytes(run([e(10, 20, 1000), e(4, 8, 1), e(6, 9, 2)]), parties)).toEqual({
      bank: 5,
      government: 9,
      arbiter: 2,
    });
    expect(steadyEpochBytes(run([e(10, 20, 1000)]), parties)).toEqual({
      bank: 10,
      government: 20,
      arbiter: 1000,
    });
    expect(steadyEpochBytes(run(), parties)).toBeUndefined();
  });
});
