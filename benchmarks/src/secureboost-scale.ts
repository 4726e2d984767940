/**
 * `pnpm bench secureboost --scale [--rows 100000] [--host-features 300] [--guest-features 30]
 * [--trees 2] [--depth 3] [--bins 32] [--op-runs 7] --as secureboost-scale`: issue 15's scale target
 * (100,000 x (30 bank + 300 government), depth 3: <= 45 s per tree on 2 cores, peak RSS <= 2 GB per
 * party) run, not predicted. The generated population of `secureboostPopulation`; the guest (bank,
 * labels) and the host (government) each in its own child process (./secureboost-scale-party.ts: its
 * SecureBoost role on its main thread, as the library runs it), talking over a pipe this process relays,
 * every message encoded with the wire codec and counted as the in-memory network counts it. Each
 * process's own VmHWM is that party's peak RSS; this coordinator only generates the data and relays.
 *
 * Per tree: the guest's tree seconds (TreeRecord), the stage split from each party's message trace
 * (busy and waiting time between its sends and receives), the bytes each way. Beside it, the cost
 * model's prediction for the same shape (`histogramTreeOps` x `measureSecureBoostOps`, as
 * `bench cost-model` makes it), with per-operation times measured just before and just after the run
 * (`--smoke`: the committed results/cost-model.json's, which `bench cost-model --smoke` re-measures in the
 * same suite run). `--ckks-preset NAME` (a 128-bit preset; default SECUREBOOST_CKKS_PRESET) trains on
 * another preset: the smoke's ckks-8192, whose keys and public context are ~4x smaller and faster to make
 * (the prediction then still uses the default preset's per-operation times: no figure of a smoke means
 * anything).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { FedscoreError } from '@fedscore/core';
import { createCkksContext } from '@fedscore/he';
import { binFeatures, histogramTreeOps, SECUREBOOST_CKKS_PRESET, type TreeRecord } from '@fedscore/vfl';
import { measureSecureBoostOps } from './cost-model.bench.ts';
import { predictSecureBoostTree, relativeError, type SecureBoostOpTimes } from './cost-model.ts';
import type { BenchResult } from './report.ts';
import { secureboostPopulation, secureCkksPresetFlag } from './secureboost.bench.ts';
import { type PartyReport, type TraceEvent, writePartyData } from './secureboost-scale-party.ts';

const here = dirname(fileURLToPath(import.meta.url));
const PARTY = join(here, 'secureboost-scale-party.ts');

/** `bench cost-model`'s committed SecureBoost per-operation times and sizes (undefined if absent). */
function committedSecureBoostOps(): Awaited<ReturnType<typeof measureSecureBoostOps>> | undefined {
  try {
    const raw = (
      JSON.parse(readFileSync(join(here, '..', 'results', 'cost-model.json'), 'utf8')) as {
        raw?: { secureboostOps?: Awaited<ReturnType<typeof measureSecureBoostOps>> };
      }
    ).raw?.secureboostOps;
    return raw?.times !== undefined && raw.sizes !== undefined ? raw : undefined;
  } catch {
    return undefined;
  }
}

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * Seconds of one party between trace events, by what it was doing: `wait <step>` (a receive called and
 * not yet resolved), `send <step>` (encoding and writing), `after <dir> <step>` (working after that
 * event until its next one). Windows are split at the tree starts (`tree-start` sent by the guest,
 * received by the host); the window before the first is `setup`.
 */
export function stageSplit(trace: readonly TraceEvent[]): {
  setup: Record<string, number>;
  trees: Record<string, number>[];
  bytesSent: number[];
  setupBytes: number;
} {
  const starts = trace
    .map((e, i) => ({ e, i }))
    .filter(({ e }) => e.step === 'tree-start')
    .map(({ i }) => i);
  const windows: { from: number; to: number }[] = [];
  let prev = 0;
  for (const s of starts) {
    windows.push({ from: prev, to: s });
    prev = s;
  }
  windows.push({ from: prev, to: trace.length });
  const add = (m: Record<string, number>, k: string, ms: number) => {
    if (ms > 0) m[k] = (m[k] ?? 0) + ms / 1000;
  };
  const out = windows.map(({ from, to }) => {
    const m: Record<string, number> = {};
    let bytes = 0;
    for (let i = from; i < to; i++) {
      const e = trace[i]!;
      add(m, `${e.kind === 'receive' ? 'wait' : 'send'} ${e.step}`, e.done - e.t);
      bytes += e.bytes;
      const next = trace[i + 1];
      // The work after the window's last event, up to the next tree's start, is this window's.
      if (next !== undefined)
        add(m, `after ${e.kind === 'receive' ? 'receiving' : 'sending'} ${e.step}`, next.t - e.done);
    }
    for (const k of Object.keys(m)) m[k] = r3(m[k]!);
    return { m, bytes };
  });
  const [setup, ...trees] = out;
  return {
    setup: setup!.m,
    trees: trees.map((t) => t.m),
    bytesSent: trees.map((t) => t.bytes),
    setupBytes: setup!.bytes,
  };
}

const sum = (m: Record<string, number>, pick: (k: string) => boolean) =>
  Object.entries(m)
    .filter(([k]) => pick(k))
    .reduce((a, [, v]) => a + v, 0);

function exitOf(c: ChildProcess): Promise<number> {
  return new Promise((resolve) => c.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

export async function secureboostScale(args: string[]): Promise<BenchResult> {
  const loadAtStart = loadavg();
  const rows = flag(args, 'rows', 100_000);
  const hostFeatures = flag(args, 'host-features', 300);
  const guestFeatures = flag(args, 'guest-features', 30);
  const trees = flag(args, 'trees', 2);
  const depth = flag(args, 'depth', 3);
  const bins = flag(args, 'bins', 32);
  const opRuns = flag(args, 'op-runs', 7);
  // `--smoke`: the per-operation loop at its short length (keeps the command from rotting; no figures).
  const smoke = args.includes('--smoke');
  const hp = { trees, depth, bins, learningRate: 0.3 };
  const ckksPreset = secureCkksPresetFlag(args);
  const log = (s: string) => process.stderr.write(`secureboost --scale: ${s}\n`);

  // The cost model's per-operation times, just before the run (as bench cost-model measures them). The
  // smoke takes them from the committed results/cost-model.json instead: `bench cost-model --smoke`
  // runs the same measurement in the same suite, and this smoke proves the command, not a figure.
  const committedOps = smoke ? committedSecureBoostOps() : undefined;
  const opsBefore = committedOps ?? (await measureSecureBoostOps(opRuns, smoke));
  log(`per-operation times ${committedOps === undefined ? 'measured' : 'from results/cost-model.json'}`);

  const dir = mkdtempSync(join(tmpdir(), 'fedscore-sb-scale-'));
  let cells = 0;
  let cellsPerFeature = 0;
  let positives = 0;
  {
    const { guestF, hostF, labels } = secureboostPopulation(rows, hostFeatures, guestFeatures);
    const counts = binFeatures(hostF, bins).counts;
    cells = counts.reduce((a, b) => a + b, 0);
    cellsPerFeature = cells / counts.length;
    positives = labels.reduce((a, b) => a + b, 0);
    writePartyData(join(dir, 'guest.bin'), guestF, labels);
    writePartyData(join(dir, 'host.bin'), hostF);
  }
  log(`data written (${cells} host cells)`);

  const ctx = await createCkksContext({
    params: ckksPreset,
    rotations: [1],
    relinearization: false,
  });
  const ops = histogramTreeOps(ctx, cells, rows, depth, undefined, true);
  ctx.dispose();
  const shape = { rows, cells, depth };
  const predict = (t: SecureBoostOpTimes, first: boolean) =>
    predictSecureBoostTree(shape, ops, t, opsBefore.sizes, first);
  const aheadFirst = predict(opsBefore.times, true);
  const ahead = predict(opsBefore.times, false);

  const session = `secureboost-scale-${Date.now().toString(36)}`;
  const loads: { atSeconds: number; load: number[] }[] = [];
  const t0 = performance.now();
  const sampleLoad = () =>
    loads.push({
      atSeconds: r1((performance.now() - t0) / 1000),
      load: loadavg().map((x) => Math.round(x * 100) / 100),
    });
  sampleLoad();
  const loadTimer = setInterval(sampleLoad, 60_000);
  const start = (role: 'guest' | 'host') =>
    spawn(
      process.execPath,
      [
        ...process.execArgv,
        PARTY,
        role,
        join(dir, `${role}.bin`),
        join(dir, `${role}.json`),
        JSON.stringify({ session, hyperparams: hp, ckksPreset }),
      ],
      { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] },
    );
  const guest = start('guest');
  const host = start('host');
  const gs = guest.stdio[3] as Duplex;
  const hs = host.stdio[3] as Duplex;
  gs.pipe(hs);
  hs.pipe(gs);
  // One party failing must not leave the other waiting for a message that will never come.
  const [gc, hc] = await Promise.all(
    [guest, host].map(async (c, i) => {
      const code = await exitOf(c);
      if (code !== 0) [host, guest][i]!.kill();
      return code;
    }),
  );
  clearInterval(loadTimer);
  sampleLoad();
  const wallSeconds = (performance.now() - t0) / 1000;
  const read = (role: string) => {
    const p = join(dir, `${role}.json`);
    return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as PartyReport) : undefined;
  };
  const g = read('guest');
  const h = read('host');
  // The party reports stay in `dir` until the result is built (a long run is not lost to a bug after it).
  log(`party reports in ${dir}`);
  rmSync(join(dir, 'guest.bin'), { force: true });
  rmSync(join(dir, 'host.bin'), { force: true });
  if (gc !== 0 || hc !== 0 || g === undefined || h === undefined) {
    throw new FedscoreError('internal', `a party failed: guest exit ${gc}, host exit ${hc}`);
  }
  log(`run done in ${wallSeconds.toFixed(0)} s`);

  // The smoke measures them once (the same code path again would only cost its seconds).
  const opsAfter = smoke ? opsBefore : await measureSecureBoostOps(opRuns, smoke);
  const around = Object.fromEntries(
    Object.entries(opsBefore.times).map(([k, v]) => [
      k,
      (v + opsAfter.times[k as keyof SecureBoostOpTimes]) / 2,
    ]),
  ) as unknown as SecureBoostOpTimes;
  const sameFirst = predict(around, true);
  const same = predict(around, false);

  const history = g.history as TreeRecord[];
  const treeSeconds = history.map((t) => t.seconds);
  const gSplit = stageSplit(g.trace);
  const hSplit = stageSplit(h.trace);
  const stages = history.map((t, i) => {
    const gm = gSplit.trees[i] ?? {};
    const hm = hSplit.trees[i] ?? {};
    const encrypt = sum(gm, (k) => k === 'after sending tree-start' || k === 'send gradients');
    const guestBusy = sum(gm, (k) => !k.startsWith('wait '));
    const guestWaiting = sum(gm, (k) => k.startsWith('wait '));
    const hostHistograms = sum(hm, (k) => k.startsWith('after receiving') || k === 'send histograms');
    const hostBusy = sum(hm, (k) => !k.startsWith('wait '));
    return {
      tree: t.tree,
      seconds: r3(t.seconds),
      splits: t.splits,
      guest_gradient_encryption_s: r3(encrypt),
      guest_decrypt_split_and_other_s: r3(guestBusy - encrypt),
      guest_waiting_for_host_s: r3(guestWaiting),
      host_busy_s: r3(hostBusy),
      host_after_gradients_and_level_tasks_s: r3(hostHistograms),
      bytes_guest_to_host: gSplit.bytesSent[i] ?? 0,
      bytes_host_to_guest: hSplit.bytesSent[i] ?? 0,
      guest_detail: gm,
      host_detail: hm,
    };
  });
  const first = treeSeconds[0] ?? Number.NaN;
  const steady =
    treeSeconds.length > 1
      ? treeSeconds.slice(1).reduce((a, b) => a + b, 0) / (treeSeconds.length - 1)
      : undefined;
  const costModel = (() => {
    const p = join(here, '..', 'results', 'cost-model.json');
    if (!existsSync(p)) return undefined;
    const s = (JSON.parse(readFileSync(p, 'utf8')) as { summary: Record<string, unknown> }).summary;
    return {
      predicted: Number(s['secureboost_100k_330_predicted_s_per_tree']),
      scaled: Number(s['secureboost_100k_330_scaled_s_per_tree']),
    };
  })();
  const peakPerParty = Math.max(g.memory.vmHwmMb, h.memory.vmHwmMb);
  const errFirst = relativeError(sameFirst.treeSeconds, first);
  const errSteady = steady === undefined ? undefined : relativeError(same.treeSeconds, steady);
  const pct = (x: number | undefined) => (x === undefined ? '-' : `${(x * 100).toFixed(1)} %`);
  const mb = (b: number) => r1(b / 1e6);

  const result: BenchResult = {
    summary: {
      rows,
      host_features: hostFeatures,
      guest_features: guestFeatures,
      depth,
      bins,
      trees: history.length,
      seconds_first_tree: r1(first),
      seconds_per_tree_steady: steady === undefined ? null : r1(steady),
      seconds_setup_guest: r1(sum(gSplit.setup, () => true)),
      target_seconds_per_tree: 45,
      meets_time_target: rows >= 100_000 && hostFeatures >= 300 && (steady ?? first) <= 45,
      cpu_seconds_guest: r1(g.cpuSeconds),
      cpu_seconds_host: r1(h.cpuSeconds),
      peak_rss_mb_guest: g.memory.vmHwmMb,
      peak_rss_mb_host: h.memory.vmHwmMb,
      target_peak_rss_mb_per_party: 2048,
      meets_memory_target: rows >= 100_000 && hostFeatures >= 300 && peakPerParty <= 2048,
      bytes_per_tree_guest_to_host: stages.map((s) => s.bytes_guest_to_host),
      bytes_per_tree_host_to_guest: stages.map((s) => s.bytes_host_to_guest),
      cost_model_same_session_first_tree_s: r1(sameFirst.treeSeconds),
      cost_model_same_session_steady_tree_s: r1(same.treeSeconds),
      cost_model_error_first_tree: pct(errFirst),
      cost_model_error_steady_tree: pct(errSteady),
      cost_model_committed_s_per_tree: costModel ?? null,
      load_average_at_start: loadAtStart.map((x) => Math.round(x * 100) / 100),
    },
    parameters: {
      rows,
      host_features: hostFeatures,
      guest_features: guestFeatures,
      trees,
      depth,
      bins,
      learning_rate: 0.3,
      scheme: `ckks, ${ckksPreset}${ckksPreset === SECUREBOOST_CKKS_PRESET ? ' (SECUREBOOST_CKKS_PRESET, the default)' : ` (--ckks-preset; the prediction uses ${SECUREBOOST_CKKS_PRESET}'s per-operation times)`}, flooded releases, per-bin floor on (defaults)`,
      population:
        'secureboostPopulation: generatePopulation(enterprises=rows, overlap=1, bankOnlyFraction=0), default seed',
      positives,
      host_cells: cells,
      host_cells_per_feature: r3(cellsPerFeature),
      processes:
        'guest and host each in its own child process (secureboost-scale-party.ts), its role on its main thread; messages over a pipe relayed by the coordinator, wire-encoded',
      memory:
        'per party: VmHWM of its own process at the end (includes loading its own data file); VmRSS sampled every 200 ms with process.memoryUsage() at the sampled peak',
      op_runs: opRuns,
      op_times:
        committedOps === undefined
          ? smoke
            ? 'measured once, before the run (smoke)'
            : 'measured before and after the run'
          : 'the committed results/cost-model.json (smoke: not measured)',
      load_average: loads,
    },
    tables: [
      {
        title: 'Seconds per tree, 100,000 x (30 + 300) generated population, depth 3, CKKS (this run)',
        columns: [
          'tree',
          'splits',
          'seconds',
          'guest: encrypt g, h',
          'host busy (histograms, releases)',
          'guest: decrypt, split, other',
          'guest waiting on host',
          'MB guest -> host',
          'MB host -> guest',
        ],
        rows: stages.map((s) => [
          s.tree,
          s.splits,
          s.seconds,
          s.guest_gradient_encryption_s,
          s.host_busy_s,
          s.guest_decrypt_split_and_other_s,
          s.guest_waiting_for_host_s,
          mb(s.bytes_guest_to_host),
          mb(s.bytes_host_to_guest),
        ]),
        note: `Tree seconds: the guest's TreeRecord (computing g, h to the last split). Stage split from each party's message trace: "encrypt g, h" is the guest from sending tree-start to having sent the gradients; "host busy" is the host's time not waiting on a receive inside the tree (its histograms, flooding and releases, recording splits); "guest waiting" includes the host's work and the pipe. Setup before the first tree (keys, public context): guest ${r1(sum(gSplit.setup, () => true))} s, ${mb(gSplit.setupBytes)} MB guest -> host.`,
      },
      {
        title: 'Peak RSS per party (own process)',
        columns: [
          'party',
          'VmHWM MB',
          'sampled peak VmRSS MB',
          'at s',
          'after step',
          'RSS after loading its data MB',
          'memoryUsage at peak (MB)',
        ],
        rows: [g, h].map((p) => [
          p.role,
          p.memory.vmHwmMb,
          p.memory.sampledPeakRssMb,
          r1(p.memory.peakAtSeconds),
          p.memory.peakAfterStep,
          p.memory.rssAfterLoadMb,
          JSON.stringify(p.memory.peakUsageMb),
        ]),
        note: 'Target: <= 2,048 MB per party. node-seal keys and ciphertexts live in the WebAssembly memory, counted in RSS (and in arrayBuffers).',
      },
      {
        title: 'Measured against the cost model (same shape, same session)',
        columns: ['figure', 'predicted s', 'measured s', 'error'],
        rows: [
          [
            'first tree (with the run-cached diagonal encodes), per-op times before + after',
            r1(sameFirst.treeSeconds),
            r1(first),
            pct(errFirst),
          ],
          [
            'steady tree, per-op times before + after',
            r1(same.treeSeconds),
            steady === undefined ? '-' : r1(steady),
            pct(errSteady),
          ],
          [
            'steady tree, per-op times before the run only',
            r1(ahead.treeSeconds),
            steady === undefined ? '-' : r1(steady),
            pct(steady === undefined ? undefined : relativeError(ahead.treeSeconds, steady)),
          ],
          [
            'first tree, per-op times before the run only',
            r1(aheadFirst.treeSeconds),
            r1(first),
            pct(relativeError(aheadFirst.treeSeconds, first)),
          ],
          ...(costModel
            ? [
                [
                  'committed results/cost-model.md (another session, its load), predicted',
                  costModel.predicted,
                  r1(steady ?? first),
                  pct(relativeError(costModel.predicted, steady ?? first)),
                ],
                [
                  'committed results/cost-model.md, scaled by its 8k check run',
                  costModel.scaled,
                  r1(steady ?? first),
                  pct(relativeError(costModel.scaled, steady ?? first)),
                ],
              ]
            : []),
        ],
        note: `histogramTreeOps at ${cells} cells, ${rows} rows, depth ${depth}: path ${ops.path}, ${ops.perTree.products} products, ${ops.perTree.encodes} encodes (+${ops.perRunEncodes} per run), ${ops.perTree.rotations} rotations, ${ops.perTree.releasedBlocks} released blocks per full tree. Predicted bytes per tree: ${mb(same.bytesPerTree.guest)} MB guest -> host, ${mb(same.bytesPerTree.host)} MB host -> guest. Error = (predicted - measured) / measured.`,
      },
      {
        title: 'Beside the anchors (../shared/ANCHORS.md)',
        columns: ['system', 'shape', 'cores', 'seconds per tree'],
        rows: [
          [
            'fedscore (this run), CKKS, guest and host one thread each',
            `${rows} x (${guestFeatures} + ${hostFeatures}), depth ${depth}`,
            2,
            r1(steady ?? first),
          ],
          ['FATE 2.0 SecureBoost, Paillier, 1 Gb LAN', '100,000 x (30 + 300), depth 3', 16, 114],
        ],
        note: 'FATE 2.0: 1 min 54 s per tree on 16 cores (Xeon 8255C).',
      },
    ],
    notes: [
      `Wall time of the two party processes: ${r1(wallSeconds)} s. Load average (1, 5, 15 min) at start ${loadAtStart.map((x) => x.toFixed(2)).join(', ')}; sampled every minute during the run (parameters.load_average). The machine is shared (2 cores, several engineers).`,
      `Per-operation times (ms) before: ${JSON.stringify(opsBefore.times)}; after: ${JSON.stringify(opsAfter.times)}.`,
    ],
    raw: {
      stages,
      guest_setup: gSplit.setup,
      host_setup: hSplit.setup,
      guest_stats: g.stats,
      host_stats: h.stats,
      memory: { guest: g.memory, host: h.memory },
      history,
      flooding_sd: h.floodingStdDev,
      ops_before: opsBefore,
      ops_after: opsAfter,
      prediction_same_session: { first: sameFirst, steady: same },
      prediction_before_only: { first: aheadFirst, steady: ahead },
      layout: ops.layout,
    },
  };
  rmSync(dir, { recursive: true, force: true });
  return result;
}
