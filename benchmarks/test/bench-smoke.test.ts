/**
 * CI smoke of the benchmark commands, so they cannot rot: `pnpm bench all --smoke --network lan` in a
 * child process (the real entry, benchmarks/run.ts) into a temporary results directory: every entry of
 * the suite (src/suite.ts) at its smoke size, seconds each. The net entry's smoke (`net --smoke
 * --smoke-kinds`) starts the three `fedscore node` processes (bank, government, arbiter) with mutual TLS
 * behind the shaping proxies once and runs four jobs on them one after another: the hetero-LR job (PSI,
 * binning, hetero-LR under CKKS -- the NOT SECURE smoke preset ckks-2048-smoke-insecure, which the
 * result must say -- evaluate, publish), SecureBoost (bank and government only), HFL (the
 * arbiter coordinating, the bank and the government as its two banks: two FedAvg rounds of LR under
 * secure aggregation) and PSI-only (run in the order HFL, hetero-LR, SecureBoost, PSI-only: net.bench.ts
 * `smokeKinds` says why); each kind also in memory. Checks:
 *   - the run exits 0 and every suite entry wrote its JSON and markdown (net-psi too);
 *   - hetero-LR: every stage for both profiles with bytes for every party, the wire bytes of each stage
 *     at least the in-memory payload bytes (TLS and HTTP/2 only add) and within 1.5x of them plus 16 KiB,
 *     bytes per party per training epoch inside the train stage's;
 *   - SecureBoost: its four stages (no binning), no byte from the arbiter, seconds per tree;
 *   - HFL: the in-process AUC within 1e-9 across processes, a time per round, and per round for every
 *     party wire bytes at least the in-memory payload;
 *   - PSI-only (over wan: the proxies reshaped on the same processes): stops after psi, finds the intersection the generator planted (the bank's customers it
 *     drew from the government's enterprises, not its bank-only ones), bytes of the two PSI parties only
 *     (wire >= payload, within 1.5x + 16 KiB), CPU seconds of each and the 10M x 10M extrapolation;
 *   - the cost model's issue 18 and 20 predictions (per-op times measured, no queue or tree run);
 *   - the in-process entries that ask for weak parameters to save key generations (`bench hetero-lr`'s
 *     scale run on ckks-2048-smoke-insecure, `bench secureboost`'s 1024-bit Paillier key) ran them and
 *     say NOT SECURE;
 *   - index.html is self-contained (a CSP forbidding fetches, uPlot inlined, the chart data embedded);
 *     where Chromium is installed it is opened headless and every chart figure must be drawn with no
 *     error text.
 * Its wall time, before and after one start of the node processes served every kind: benchmarks/README.md,
 * "CI smoke".
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { SUITE } from '../src/suite.ts';

const RUNNER = join(dirname(fileURLToPath(import.meta.url)), '..', 'run.ts');
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (CHROMIUM === undefined) {
  console.log('bench smoke: the page is not opened in a browser (no Chromium at /usr/bin/chromium)');
}
const out = mkdtempSync(join(tmpdir(), 'fedscore-bench-smoke-'));

afterAll(() => rmSync(out, { recursive: true, force: true }));

function run(file: string, args: string[], timeout: number): Promise<{ stdout: string; stderr: string }> {
  return new Promise((ok, fail) => {
    execFile(file, args, { timeout, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) fail(new Error(`${err.message}\n${stderr.slice(-3000)}`));
      else ok({ stdout, stderr });
    });
  });
}

interface Stage {
  seconds: number;
  bytesSent: Record<string, number>;
}

/**
 * A party that takes no part in a stage sends it no protocol message. In memory that is 0 bytes; through
 * the proxies the wire may still carry its connections' HTTP/2 keepalive frames in the stage's window (a
 * 17-byte PING in a 22-byte TLS record: 39 bytes each, seen as 39 and 78 on this loaded machine), which are
 * not the protocol's: under 1 KiB in all, while taking part in a stage means several gRPC calls (each
 * with its headers, TLS records and an envelope), above that.
 */
function expectNoProtocolBytes(bytes: number, profile: string): void {
  if (profile === 'memory') expect(bytes, profile).toBe(0);
  else expect(bytes, profile).toBeLessThan(1024);
}

describe('pnpm bench all --smoke --network lan', () => {
  it('runs the suite and writes the results and the page', async () => {
    await run(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', RUNNER, 'all', '--smoke', '--network', 'lan', '--out', out],
      // A guard against a hang, not the smoke's expected time (benchmarks/README.md, "CI smoke").
      900_000,
    );
    const names = [...SUITE.map((e) => e.as ?? e.name), 'net-psi'];
    expect(names).toContain('hetero-lr');
    for (const name of names) {
      expect(existsSync(join(out, `${name}.json`)), name).toBe(true);
      expect(existsSync(join(out, `${name}.md`)), name).toBe(true);
    }
    const net = JSON.parse(readFileSync(join(out, 'net.json'), 'utf8')) as {
      summary: Record<string, unknown>;
      parameters: Record<string, unknown>;
      notes: string[];
      raw: Record<
        string,
        { stages: Record<string, Stage>; epochSeconds: number[]; epochBytes?: Record<string, number>[] }
      >;
    };
    expect(Object.keys(net.raw).sort()).toEqual(['lan', 'memory']);
    // Trained on the smoke's NOT SECURE preset (weak parameters asked for and accepted), and it says so.
    expect(net.parameters['ckksPreset']).toBe('ckks-2048-smoke-insecure');
    expect(net.parameters['allowWeakParameters']).toBe(true);
    expect(String(net.parameters['scheme'])).toContain('NOT SECURE');
    expect(net.notes.some((n) => n.startsWith('NOT SECURE'))).toBe(true);
    for (const stage of ['psi', 'binning', 'train']) {
      for (const profile of ['memory', 'lan']) {
        const s = net.raw[profile]!.stages[stage]!;
        expect(s.seconds, `${profile} ${stage}`).toBeGreaterThan(0);
        expect(Object.keys(s.bytesSent).sort()).toEqual(['arbiter', 'bank', 'government']);
      }
      for (const party of ['bank', 'government', 'arbiter']) {
        const payload = net.raw['memory']!.stages[stage]!.bytesSent[party]!;
        const wire = net.raw['lan']!.stages[stage]!.bytesSent[party]!;
        expect(wire, `${stage} ${party}`).toBeGreaterThanOrEqual(payload);
        expect(wire, `${stage} ${party}`).toBeLessThanOrEqual(1.5 * payload + 16 * 1024);
      }
    }
    expect(net.raw['lan']!.epochSeconds.length).toBe(2);
    // Bytes per party per training epoch (issue 20): one record per timed epoch, inside the train
    // stage's bytes; epoch 1 carries the arbiter's keys, so it sends more then than in epoch 2.
    for (const profile of ['memory', 'lan']) {
      const r = net.raw[profile]!;
      expect(r.epochBytes?.length, profile).toBe(r.epochSeconds.length);
      for (const party of ['bank', 'government', 'arbiter']) {
        const sum = r.epochBytes!.reduce((a, e) => a + e[party]!, 0);
        expect(sum, `${profile} ${party}`).toBeLessThanOrEqual(r.stages['train']!.bytesSent[party]!);
        expect(r.epochBytes![1]![party], `${profile} ${party} epoch 2`).toBeGreaterThan(0);
      }
      expect(r.epochBytes![0]!['arbiter']!, profile).toBeGreaterThan(r.epochBytes![1]!['arbiter']!);
    }
    expect(Object.keys(net.summary['lanEpochBytes'] as object).sort()).toEqual([
      'arbiter',
      'bank',
      'government',
    ]);
    const hfl = JSON.parse(readFileSync(join(out, 'net-hfl.json'), 'utf8')) as {
      name: string;
      summary: Record<string, unknown>;
      raw: Record<string, { roundSeconds: number[]; roundBytes: Record<string, number[]>; auc: number }>;
    };
    expect(hfl.name).toBe('net');
    expect(hfl.summary['kind']).toBe('hfl');
    expect(Object.keys(hfl.raw).sort()).toEqual(['lan', 'memory']);
    expect(Math.abs(hfl.raw['lan']!.auc - hfl.raw['memory']!.auc)).toBeLessThanOrEqual(1e-9);
    expect(hfl.summary['aucWithinTolerance']).toBe(true);
    for (const profile of ['memory', 'lan']) {
      expect(hfl.raw[profile]!.roundSeconds.length, profile).toBe(2);
      // The arbiter's process coordinates; the bank's and the government's are the two banks.
      expect(Object.keys(hfl.raw[profile]!.roundBytes).sort()).toEqual(['arbiter', 'bank', 'government']);
    }
    for (const party of ['arbiter', 'bank', 'government']) {
      for (const r of [0, 1]) {
        const payload = hfl.raw['memory']!.roundBytes[party]![r]!;
        expect(payload, `${party} round ${r + 1}`).toBeGreaterThan(0);
        expect(hfl.raw['lan']!.roundBytes[party]![r]!, `${party} round ${r + 1}`).toBeGreaterThanOrEqual(
          payload,
        );
      }
    }
    // SecureBoost across processes: four stages (no binning), two parties (the arbiter sends nothing).
    const sbt = JSON.parse(readFileSync(join(out, 'net-secureboost.json'), 'utf8')) as {
      summary: Record<string, unknown>;
      raw: Record<string, { stages: Record<string, Stage> }>;
    };
    expect(sbt.summary['kind']).toBe('secureboost');
    for (const profile of ['memory', 'lan']) {
      const run = sbt.raw[profile]!;
      expect(Object.keys(run.stages).sort(), profile).toEqual(['evaluate', 'psi', 'publish', 'train']);
      expectNoProtocolBytes(run.stages['train']!.bytesSent['arbiter']!, profile);
      expect(run.stages['train']!.bytesSent['bank'], profile).toBeGreaterThan(0);
      expect(run.stages['train']!.bytesSent['government'], profile).toBeGreaterThan(0);
      expect(sbt.summary[`${profile}TreeSeconds`], profile).toBeCloseTo(run.stages['train']!.seconds, 3);
    }
    // PSI-only across processes: the psi stage alone, on the hetero-LR job's population, over wan (the
    // same processes, the proxies reshaped): the smoke's run of the wan profile.
    const psi = JSON.parse(readFileSync(join(out, 'net-psi.json'), 'utf8')) as {
      summary: Record<string, unknown>;
      parameters: Record<string, unknown>;
      raw: Record<
        string,
        { stages: Record<string, Stage>; alignedRows: number; cpuSeconds?: Record<string, number> }
      >;
    };
    expect(psi.summary['kind']).toBe('psi-only');
    const customers = psi.parameters['bankCustomers'] as number;
    expect(psi.summary['hostIds']).toBe(psi.parameters['enterprises']);
    // The generator adds bank-only customers (3 %) the government does not hold.
    expect(psi.summary['guestIds']).toBeGreaterThan(customers);
    expect(Object.keys(psi.raw).sort()).toEqual(['memory', 'wan']);
    for (const profile of ['memory', 'wan']) {
      const run = psi.raw[profile]!;
      expect(Object.keys(run.stages), profile).toEqual(['psi']);
      expect(run.alignedRows, profile).toBe(customers);
      expectNoProtocolBytes(run.stages['psi']!.bytesSent['arbiter']!, profile);
    }
    for (const party of ['bank', 'government']) {
      const payload = psi.raw['memory']!.stages['psi']!.bytesSent[party]!;
      const wire = psi.raw['wan']!.stages['psi']!.bytesSent[party]!;
      expect(payload, party).toBeGreaterThan(0);
      expect(wire, party).toBeGreaterThanOrEqual(payload);
      expect(wire, party).toBeLessThanOrEqual(1.5 * payload + 16 * 1024);
    }
    // At least the round trips of wan's 50 ms each way: the PSI messages and the stage's handshakes.
    expect(psi.raw['wan']!.stages['psi']!.seconds).toBeGreaterThan(0.1);
    expect(psi.summary['wanPsiSeconds']).toBe(
      Math.round(psi.raw['wan']!.stages['psi']!.seconds * 1000) / 1000,
    );
    expect(psi.summary['extrapolated10MSecondsOn32Cores']).toBeGreaterThan(0);
    // The node processes' CPU seconds from /proc (this is Linux), counted from the job's submission.
    const cpu = psi.raw['wan']!.cpuSeconds!;
    expect(cpu['bank']).toBeGreaterThan(0);
    expect(cpu['government']).toBeGreaterThan(0);
    expect(psi.summary['wanPsiCpuSeconds']).toBeCloseTo(cpu['bank']! + cpu['government']!, 2);
    // The in-process entries on weak parameters (the smoke's opt-in) ran on them and say NOT SECURE.
    const lr = JSON.parse(readFileSync(join(out, 'hetero-lr.json'), 'utf8')) as {
      parameters: { scale?: { ckks_preset?: string; allow_weak_parameters?: boolean } };
      notes: string[];
      raw: { scale_100k_330?: { seconds_per_epoch: number; bytes_sent: Record<string, number> } };
    };
    expect(lr.parameters.scale?.ckks_preset).toBe('ckks-2048-smoke-insecure');
    expect(lr.parameters.scale?.allow_weak_parameters).toBe(true);
    expect(lr.notes.some((n) => n.startsWith('NOT SECURE'))).toBe(true);
    expect(lr.raw.scale_100k_330?.seconds_per_epoch).toBeGreaterThan(0);
    expect(lr.raw.scale_100k_330?.bytes_sent['arbiter']).toBeGreaterThan(0);
    const sb = JSON.parse(readFileSync(join(out, 'secureboost.json'), 'utf8')) as {
      summary: Record<string, unknown>;
      parameters: Record<string, unknown>;
      notes: string[];
    };
    expect(String(sb.parameters['paillier'])).toContain('NOT SECURE');
    expect(sb.notes.some((n) => n.startsWith('NOT SECURE'))).toBe(true);
    expect(Number(sb.summary['ckks_seconds_per_tree'])).toBeGreaterThan(0);
    expect(Number(sb.summary['ckks_vs_paillier_speedup'])).toBeGreaterThan(0);
    // The cost model's issue 18 (10M x 330 on N workers) and issue 20 (SecureBoost per tree) parts.
    const cm = JSON.parse(readFileSync(join(out, 'cost-model.json'), 'utf8')) as {
      summary: Record<string, unknown>;
      tables: { title: string; rows: unknown[][] }[];
    };
    const titled = (t: string) => cm.tables.find((x) => x.title.startsWith(t));
    expect(titled('Issue 18')?.rows.length).toBe(6);
    // The check shape, FATE's 100k x (30 + 300) and SecretFlow's 800k x (750 + 750).
    expect(titled('Issue 20')?.rows.map((r) => String(r[0]).split(' ')[0])).toEqual([
      'check',
      'FATE',
      'SecretFlow',
    ]);
    expect(Number(cm.summary['secureboost_100k_330_predicted_s_per_tree'])).toBeGreaterThan(0);
    // 8x the rows and 2.5x the host features: more work per tree than FATE's shape.
    expect(Number(cm.summary['secureboost_800k_1500_predicted_s_per_tree'])).toBeGreaterThan(
      Number(cm.summary['secureboost_100k_330_predicted_s_per_tree']),
    );
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).toContain(`content="default-src 'none'`);
    expect(html).toMatch(/uPlot/);
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).toContain('"id":"time-per-profile"');
    expect(html).toContain('"id":"bytes-lan"');
    expect(html).toContain('"id":"epoch-bytes"');
    expect(html).toContain('"id":"hfl-rounds"');
    expect(html).toContain('"id":"psi-processes"');
    expect(html).toContain('"id":"secureboost-processes"');
    expect(html).toContain('"id":"cost-model-distributed"');
    if (CHROMIUM !== undefined) {
      const profile = mkdtempSync(join(tmpdir(), 'fedscore-bench-chromium-'));
      try {
        const dom = await run(
          CHROMIUM,
          [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--no-first-run',
            '--disable-background-networking',
            `--user-data-dir=${profile}`,
            '--virtual-time-budget=5000',
            '--dump-dom',
            pathToFileURL(join(out, 'index.html')).href,
          ],
          60_000,
        );
        const figures = [...dom.stdout.matchAll(/<figure class="chart" id="([^"]+)"([^>]*)>/g)];
        expect(figures.map((f) => f[1])).toEqual([
          'time-per-profile',
          'bytes-memory',
          'bytes-lan',
          'epoch-bytes',
          'psi-processes',
          'psi-bytes',
          'secureboost-processes',
          'secureboost-bytes',
          'hfl-rounds',
          'hfl-bytes',
          'scoring-latency',
          'scoring-bytes',
          'cost-model-distributed',
          'speedup',
        ]);
        for (const f of figures) expect(f[2], f[1]).toContain('data-drawn="yes"');
        expect(dom.stdout).toMatch(/<div id="bench-errors" role="alert"><\/div>/);
      } finally {
        rmSync(profile, { recursive: true, force: true });
      }
    }
  }, 960_000);
});
