/**
 * `pnpm bench hetero-lr [--data DIR] [--cache-sweep MIB,MIB|none] [fedscore bench hetero-lr flags]`:
 * runs `fedscore bench hetero-lr --json` in a child process (its own heap, so its peak RSS is the run's)
 * and writes the results with the ../shared/ANCHORS.md figures beside ours. `--data` defaults to
 * ../shared/data when present.
 *
 * The defaults measure the optimized protocol (docs/protocols/hetero-lr.md): per-set batch sizes
 * (default_credit 4096, german 64, breast 128), workers 'auto', the 100,000 x (30 + 300) population at
 * batch 4096 for 2 epochs with the diagonal-cache budget chosen to keep the whole process under 2 GB,
 * and CKKS (4096-row batch) vs Paillier-1024 (16- and 64-row batches) per row. default_credit is also
 * run with the defaults of `fedscore train hetero-lr` (packages/pipeline `HETERO_LR_DEFAULTS`), the run
 * a user gets without flags, and the speed table shows it beside the tuned run.
 *
 * Cache sweep (wrapper-only flag, default `0,1024`): the scale run again with each other budget, each in
 * its own child process so that each peak RSS is that budget's; the table puts cache size, seconds per
 * epoch and peak RSS side by side. `--cache-sweep none` skips it.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult, BenchTable } from './report.ts';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '..', '..');
const DEFAULT_SWEEP = [0, 1024];
/** fedscore flags (with a value) that shape the scale run and are passed on to the sweep runs. */
const SCALE_FLAGS = [
  '--scale-rows',
  '--scale-epochs',
  '--scale-batch-size',
  '--workers',
  '--scale-ckks-preset',
];
const RSS_TARGET_MB = 2048;

interface WorkersResolved {
  guest: number;
  host: number;
}

interface PublicRun {
  test_auc: number;
  test_ks: number;
  train_auc: number;
  seconds_per_epoch: number;
  first_epoch_seconds: number;
  later_epochs_median_seconds: number | null;
  epochs: number;
  batch_size: number;
  learning_rate: number;
  workers_resolved: WorkersResolved;
}

interface ScaleRun {
  rows: number;
  bank_features: number;
  government_features: number;
  epochs: number;
  batch_size: number;
  batches_per_epoch: number;
  workers_resolved: WorkersResolved;
  diagonal_cache_mib: number;
  cache_needed_mib: { guest: number; host: number };
  seconds_per_epoch: number;
  first_epoch_seconds: number;
  later_epochs_median_seconds: number | null;
  rss_before_training_mb: number;
  peak_rss_mb: number;
}

interface SchemeBatch {
  scheme: string;
  security_bits: number;
  rows: number;
  seconds_per_batch: number;
  ms_per_row: number;
}

/** What the previously committed results/hetero-lr.json said (shown beside the new figures). */
interface Previous {
  machine?: { date?: string; commit?: string };
  summary?: {
    default_credit?: { test_auc: number; seconds_per_epoch: number };
    scale_100k_330?: { seconds_per_epoch: number; peak_rss_mb: number };
    ckks_vs_paillier_speedup?: number;
  };
  raw?: {
    default_credit?: { two_party_test_auc?: number; two_party_seconds_per_epoch?: number };
    accuracy?: Record<string, { arbiter?: { test_auc: number }; 'two-party'?: { test_auc: number } }>;
  };
  previous?: Previous;
}

interface Summary {
  default_credit?: {
    test_auc: number;
    seconds_per_epoch: number;
    first_epoch_seconds: number;
    later_epochs_median_seconds: number | null;
    two_party_test_auc: number;
    two_party_seconds_per_epoch: number;
    /** The run with the pipeline's defaults, as `fedscore train hetero-lr` with default flags. */
    default_flags?: PublicRun;
  };
  accuracy: Record<
    string,
    { target: number; sklearn_pooled_lr: number; arbiter: PublicRun; 'two-party': PublicRun }
  >;
  ckks_vs_paillier_speedup?: number;
  ckks_vs_paillier?: {
    features: { bank: number; government: number };
    rows: number;
    runs: SchemeBatch[];
    ckksFullBatch: SchemeBatch | null;
    speedupSameRows2048: number;
    speedupSameRows1024: number;
  };
  scale_100k_330?: ScaleRun;
  peak_rss_mb: number;
  parameters: Record<string, unknown>;
  skipped?: string[];
}

function runCli(args: string[]): Promise<Summary> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', join(ROOT, 'packages/cli/src/main.ts'), ...args],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`fedscore bench hetero-lr exited with ${code}: ${last}`));
      resolve(JSON.parse(last) as Summary);
    });
  });
}

/** The wrapper-only `--cache-sweep` value (removed from `args`), or the default. */
function takeSweep(args: string[]): number[] {
  const i = args.indexOf('--cache-sweep');
  if (i < 0) return DEFAULT_SWEEP;
  const raw = args[i + 1];
  args.splice(i, 2);
  if (raw === undefined || raw === 'none') return [];
  const mibs = raw.split(',').map(Number);
  if (mibs.some((m) => !Number.isInteger(m) || m < 0)) {
    throw new Error(
      `--cache-sweep: expected 'none' or non-negative integers separated by commas, got '${raw}'`,
    );
  }
  return mibs;
}

/** The scale-shaping flags of `args` (flag and value), for the sweep runs. */
function scaleFlags(args: readonly string[], flags: readonly string[] = SCALE_FLAGS): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf('=');
    const name = eq < 0 ? a : a.slice(0, eq);
    if (!flags.includes(name)) continue;
    if (eq >= 0) out.push(a);
    else if (args[i + 1] !== undefined) out.push(a, args[++i]!);
  }
  return out;
}

const pass = (ok: boolean): string => (ok ? 'met' : 'MISSED');
const orDash = (x: number | null | undefined): number | string => (x === null || x === undefined ? '-' : x);

export default async function run(args: string[]): Promise<BenchResult> {
  const forwarded = args.filter((a) => a !== '--no-write');
  const sweepMibs = takeSweep(forwarded);
  const defaultData = join(ROOT, '..', 'shared', 'data');
  if (!forwarded.includes('--data') && existsSync(defaultData)) forwarded.push('--data', defaultData);
  const loadBefore = loadavg()[1]!;
  // The committed figures before this run: kept beside the new ones (and for parts not rerun).
  const prevPath = join(ROOT, 'benchmarks', 'results', 'hetero-lr.json');
  const previous: Previous | undefined = existsSync(prevPath)
    ? (JSON.parse(readFileSync(prevPath, 'utf8')) as Previous)
    : undefined;
  // The public sets and the comparison in one child; every scale run in a child of its own, so that
  // each peak RSS is that run's alone (WASM heaps never shrink).
  const skipScale = forwarded.includes('--skip-scale');
  // A scale preset below 128-bit security (the smoke's NOT SECURE ckks-2048-smoke-insecure), asked for with
  // --allow-weak-parameters: the result says so.
  const weak = forwarded.includes('--allow-weak-parameters');
  const presetAt = forwarded.indexOf('--scale-ckks-preset');
  const scalePreset = presetAt < 0 ? undefined : forwarded[presetAt + 1];
  // With the public sets and the comparison both skipped (the smoke) that child would do nothing but
  // start (~1.6 CPU s): the scale run's child then gives the summary (its sets and comparison skipped too).
  const nothingButScale =
    !skipScale &&
    forwarded.includes('--skip-public') &&
    forwarded.includes('--skip-paillier') &&
    !forwarded.includes('--scale-compare-batch');
  let s: Summary | undefined = nothingButScale
    ? undefined
    : await runCli(['bench', 'hetero-lr', '--json', ...forwarded, ...(skipScale ? [] : ['--skip-scale'])]);
  const sweep: ScaleRun[] = [];
  const scaleCommands: string[] = [];
  const scaleOnly = (extra: string[]): string[] => [
    'bench',
    'hetero-lr',
    '--json',
    '--skip-public',
    '--skip-paillier',
    ...scaleFlags(forwarded),
    ...(weak ? ['--allow-weak-parameters'] : []),
    ...extra,
  ];
  let main: ScaleRun | undefined;
  if (!skipScale) {
    const chosen = scaleFlags(forwarded, ['--scale-cache-mib']);
    const a = scaleOnly(chosen);
    scaleCommands.push(`fedscore ${a.join(' ')}`);
    const scaleSummary = await runCli(a);
    s ??= scaleSummary;
    main = scaleSummary.scale_100k_330;
    if (main) sweep.push(main);
  }
  if (s === undefined) throw new Error('fedscore bench hetero-lr: no summary');
  if (main) {
    for (const mib of sweepMibs) {
      if (mib === main.diagonal_cache_mib) continue;
      const a = scaleOnly(['--scale-cache-mib', String(mib)]);
      scaleCommands.push(`fedscore ${a.join(' ')}`);
      const r = await runCli(a);
      if (r.scale_100k_330) sweep.push(r.scale_100k_330);
    }
  }
  sweep.sort((a, b) => a.diagonal_cache_mib - b.diagonal_cache_mib);
  const loadAfter = loadavg()[1]!;

  const tables: BenchTable[] = [];
  const accRows: (string | number)[][] = [];
  for (const [name, a] of Object.entries(s.accuracy)) {
    for (const mode of ['arbiter', 'two-party'] as const) {
      const r = a[mode];
      accRows.push([
        name,
        mode,
        r.test_auc,
        r.test_ks,
        a.target,
        pass(r.test_auc >= a.target),
        a.sklearn_pooled_lr,
        r.batch_size,
        r.learning_rate,
        r.epochs,
        `${r.workers_resolved.guest}/${r.workers_resolved.host}`,
        r.seconds_per_epoch,
        r.first_epoch_seconds,
        orDash(r.later_epochs_median_seconds),
      ]);
    }
  }
  tables.push({
    title: 'Accuracy: CKKS hetero-LR on the public sets (fixed splits of ../shared/data)',
    columns: [
      'data',
      'mode',
      'test AUC',
      'test KS',
      'target',
      '',
      'sklearn pooled LR',
      'batch',
      'lr',
      'epochs',
      'workers guest/host',
      's/epoch (mean)',
      'first epoch s',
      'later epochs median s',
    ],
    rows: accRows,
    note: 'sklearn: StandardScaler + LogisticRegression(C=1) on the pooled raw data (shared/data/baselines.csv). FATE quality gate: within 1% relative of sklearn, scored in-sample. The first epoch encodes and caches every plaintext diagonal (and starts the worker threads, when any); later epochs reuse them.',
  });

  const speed: (string | number)[][] = [];
  if (s.default_credit) {
    const d = s.default_credit;
    const r = s.accuracy['default_credit']!.arbiter;
    speed.push([
      `default_credit 24,000 x 23, CKKS, arbiter, batch ${r.batch_size}, workers ${r.workers_resolved.guest}/${r.workers_resolved.host}`,
      d.seconds_per_epoch,
      d.first_epoch_seconds,
      orDash(d.later_epochs_median_seconds),
      '<= 3 s per epoch',
      pass(d.seconds_per_epoch <= 3),
    ]);
    if (d.default_flags !== undefined) {
      const f = d.default_flags;
      speed.push([
        `default_credit, CKKS, arbiter, default flags of 'fedscore train hetero-lr' (batch ${f.batch_size}, lr ${f.learning_rate}, ${f.epochs} epochs, workers ${f.workers_resolved.guest}/${f.workers_resolved.host}; test AUC ${f.test_auc.toFixed(4)})`,
        f.seconds_per_epoch,
        f.first_epoch_seconds,
        orDash(f.later_epochs_median_seconds),
        '<= 3 s per epoch',
        pass(f.seconds_per_epoch <= 3),
      ]);
    }
    speed.push([
      'default_credit, CKKS, two-party',
      d.two_party_seconds_per_epoch,
      s.accuracy['default_credit']!['two-party'].first_epoch_seconds,
      orDash(s.accuracy['default_credit']!['two-party'].later_epochs_median_seconds),
      '-',
      '-',
    ]);
  }
  if (main) {
    const sc = main;
    speed.push([
      `generated ${sc.rows} x (${sc.bank_features} bank + ${sc.government_features} government), CKKS, arbiter, batch ${sc.batch_size}, workers ${sc.workers_resolved.guest}/${sc.workers_resolved.host}, cache ${sc.diagonal_cache_mib} MiB per party, 2 cores`,
      sc.seconds_per_epoch,
      sc.first_epoch_seconds,
      orDash(sc.later_epochs_median_seconds),
      '<= 60 s per epoch',
      pass(sc.seconds_per_epoch <= 60),
    ]);
  }
  speed.push([
    'FATE 2.0 coordinated-LR 100k x (30 + 300), Paillier, 2 hosts, 16 cores, 1 Gb LAN (ANCHORS.md)',
    136,
    '-',
    '-',
    'anchor',
    '-',
  ]);
  speed.push(['FATE 2.0 same, encryption mocked (ANCHORS.md: 19-20 s)', 19.5, '-', '-', 'anchor', '-']);
  speed.push(['TenSEAL tutorial CKKS LR training 780 x 9 (ANCHORS.md)', 160, '-', '-', 'anchor', '-']);
  tables.push({
    title: 'Speed (seconds per epoch)',
    columns: ['run', 's/epoch (mean)', 'first epoch', 'later epochs median', 'target', ''],
    rows: speed,
  });

  if (main) {
    tables.push({
      title: `Memory: diagonal-cache budget vs speed and peak RSS, ${main.rows} x (${main.bank_features} + ${main.government_features}), batch ${main.batch_size}, ${main.epochs} epochs (one process per row)`,
      columns: [
        'cache MiB per party',
        'workers guest/host',
        's/epoch (mean)',
        'first epoch s',
        'later epochs median s',
        'RSS before training MB',
        'peak RSS MB (all parties)',
        `<= ${RSS_TARGET_MB} MB`,
        '',
      ],
      rows: sweep.map((r) => [
        r.diagonal_cache_mib,
        `${r.workers_resolved.guest}/${r.workers_resolved.host}`,
        r.seconds_per_epoch,
        r.first_epoch_seconds,
        orDash(r.later_epochs_median_seconds),
        r.rss_before_training_mb,
        r.peak_rss_mb,
        pass(r.peak_rss_mb <= RSS_TARGET_MB),
        r === main ? 'the run above' : 'sweep',
      ]),
      note: `Caching every diagonal needs ${main.cache_needed_mib.host} MiB at the host and ${main.cache_needed_mib.guest} MiB at the guest (128 KiB per plaintext at N = 8192, level 1); the arbiter caches nothing. Peak RSS is VmHWM of the process holding the generated data and all three parties (and their worker threads).`,
    });
  }

  const c = s.ckks_vs_paillier;
  if (c && s.ckks_vs_paillier_speedup !== undefined) {
    const ckks = c.runs[0]!;
    tables.push({
      title: `CKKS vs Paillier on the SAME ${c.rows} rows, one mini-batch each, ${c.features.bank} bank + ${c.features.government} government features, arbiter, one thread (same run)`,
      columns: ['scheme', 'security (bits)', 'rows per batch', 's per batch', 'ms per row', 'time / CKKS'],
      rows: [
        ...c.runs.map((r) => [
          r.scheme,
          r.security_bits,
          r.rows,
          r.seconds_per_batch,
          r.ms_per_row,
          r.seconds_per_batch / ckks.seconds_per_batch,
        ]),
        ...(c.ckksFullBatch
          ? [
              [
                `${c.ckksFullBatch.scheme}, full batch (beside; not in the ratio)`,
                c.ckksFullBatch.security_bits,
                c.ckksFullBatch.rows,
                c.ckksFullBatch.seconds_per_batch,
                c.ckksFullBatch.ms_per_row,
                '-',
              ],
            ]
          : []),
      ],
      note: `Headline ckks_vs_paillier_speedup = ${c.speedupSameRows2048.toFixed(1)}x: Paillier-2048 (our default modulus, ~112-bit classical security, NIST SP 800-57) time / CKKS time on the same ${c.rows} rows; Paillier-1024 (FATE's default, ~80-bit: below our floor, run with the insecure flag) / CKKS = ${c.speedupSameRows1024.toFixed(1)}x. CKKS here is hetero-LR's default preset (128-bit, HomomorphicEncryption.org standard), masks of 2^40 and 30-bit flooding, diagonals encoded in this batch (nothing cached). A CKKS batch costs about the same at any size up to its slot count, a Paillier batch grows with its rows, so the ratio grows with the batch: the full CKKS batch row shows CKKS's per-row cost at its usual size. The previous headline (773x) divided Paillier-1024's ms per row at 64 rows by CKKS's at 4096 rows: not the same rows (issue 11).`,
    });
  }

  if (previous !== undefined) {
    const p = previous.summary ?? {};
    const rerun = (x: unknown): string =>
      x === undefined ? 'not rerun: previous figure stands' : 'rerun above';
    tables.push({
      title: `Before issue 11 (previously committed run: commit ${previous.machine?.commit ?? '?'}, ${previous.machine?.date ?? '?'}), beside this run`,
      columns: ['figure', 'before', 'this run', ''],
      rows: [
        [
          'default_credit test AUC, CKKS arbiter (before: ckks-8192, masks 2^16, flooding 2^-20)',
          orDash(p.default_credit?.test_auc),
          orDash(s.default_credit?.test_auc),
          rerun(s.default_credit),
        ],
        [
          'default_credit test AUC, CKKS two-party',
          orDash(previous.raw?.default_credit?.two_party_test_auc),
          orDash(s.default_credit?.two_party_test_auc),
          rerun(s.default_credit),
        ],
        [
          'default_credit s/epoch, CKKS arbiter',
          orDash(p.default_credit?.seconds_per_epoch),
          orDash(s.default_credit?.seconds_per_epoch),
          rerun(s.default_credit),
        ],
        [
          '100k x 330 s/epoch',
          orDash(p.scale_100k_330?.seconds_per_epoch),
          orDash(main?.seconds_per_epoch),
          rerun(main),
        ],
        [
          '100k x 330 peak RSS MB',
          orDash(p.scale_100k_330?.peak_rss_mb),
          orDash(main?.peak_rss_mb),
          rerun(main),
        ],
        [
          'CKKS vs Paillier headline (before: Paillier-1024 per row at 64 rows / CKKS per row at 4096 rows; now: Paillier-2048 / CKKS on the same rows)',
          orDash(p.ckks_vs_paillier_speedup),
          orDash(s.ckks_vs_paillier_speedup),
          rerun(s.ckks_vs_paillier_speedup),
        ],
        ...Object.entries(previous.raw?.accuracy ?? {})
          .filter(([name]) => name !== 'default_credit')
          .flatMap(([name, a]) =>
            (['arbiter', 'two-party'] as const).map((mode) => [
              `${name} test AUC, CKKS ${mode}`,
              orDash(a[mode]?.test_auc),
              orDash(s.accuracy[name]?.[mode]?.test_auc),
              rerun(s.accuracy[name]),
            ]),
          ),
      ],
      note: 'Parts of the benchmark not rerun here keep their previous figures (results of the previous run are in raw.previous of the JSON). The new figures include issue 11: CKKS preset ckks-16384-release (N = 16384) instead of ckks-8192, masks of 2^40, flooding sized for 30-bit statistical security.',
    });
  }

  const sc = main;
  const memoryNotes: string[] = [];
  if (sc) {
    const cacheHeld =
      Math.min(sc.diagonal_cache_mib, sc.cache_needed_mib.host) +
      Math.min(sc.diagonal_cache_mib, sc.cache_needed_mib.guest);
    memoryNotes.push(
      `Memory budget: the scale run holds the generated data, all three parties and their worker threads in ONE process, so its peak RSS (${sc.peak_rss_mb} MB) is an upper bound for the sum of the parties' and a fortiori for each party's (target <= ${RSS_TARGET_MB} MB per party: ${pass(sc.peak_rss_mb <= RSS_TARGET_MB)}). Before training the process held ${sc.rss_before_training_mb} MB (the generated data and each party's feature columns); the caches add at most min(budget, need) per party = ${cacheHeld} MiB at a budget of ${sc.diagonal_cache_mib} MiB per party (host needs ${sc.cache_needed_mib.host} MiB, guest ${sc.cache_needed_mib.guest} MiB to cache everything); the rest is the parties' standardized copies, the HE contexts and keys (per worker thread too) and ciphertexts in flight. The budget (bench-hetero-lr.ts, SCALE_CACHE_MIB) is chosen so the process stays under ${RSS_TARGET_MB} MB: when it was chosen (40,000-row runs, load ~6), each MiB cached cost ~1.4 MB of peak RSS (WASM heap growth in the worker threads), so the default 1,024 MiB (host 1,000 + guest 100 MiB cached) would take the 100,000-row run well past 2 GB; diagonals beyond it are re-encoded per use, which costs later epochs time (the first epoch encodes everything anyway): see the cache table.`,
    );
  }

  return {
    summary: {
      ...(s.default_credit && {
        default_credit: {
          test_auc: s.default_credit.test_auc,
          seconds_per_epoch: s.default_credit.seconds_per_epoch,
        },
      }),
      ...(sc && {
        scale_100k_330: {
          seconds_per_epoch: sc.seconds_per_epoch,
          peak_rss_mb: sc.peak_rss_mb,
        },
      }),
      ...(s.ckks_vs_paillier_speedup !== undefined && {
        ckks_vs_paillier_speedup: s.ckks_vs_paillier_speedup,
      }),
      ...(s.default_credit === undefined &&
        previous?.summary?.default_credit !== undefined && {
          default_credit_previous_not_rerun: previous.summary.default_credit,
        }),
      ...(main === undefined &&
        previous?.summary?.scale_100k_330 !== undefined && {
          scale_100k_330_previous_not_rerun: previous.summary.scale_100k_330,
        }),
    },
    parameters: {
      command: nothingButScale ? scaleCommands[0] : `fedscore bench hetero-lr --json ${forwarded.join(' ')}`,
      ...s.parameters,
      ...(main && {
        scale: {
          rows: main.rows,
          epochs: main.epochs,
          batch_size: main.batch_size,
          workers: s.parameters['workers'],
          workers_resolved: main.workers_resolved,
          diagonal_cache_mib: main.diagonal_cache_mib,
          ...(scalePreset !== undefined && { ckks_preset: scalePreset }),
          ...(weak && { allow_weak_parameters: true }),
        },
      }),
      ...(scaleCommands.length > 0 && { scale_commands: scaleCommands }),
    },
    tables,
    notes: [
      ...(weak
        ? [
            `NOT SECURE: the scale run asked for weak parameters (--allow-weak-parameters${scalePreset === undefined ? '' : `, --scale-ckks-preset ${scalePreset}`}), as the smoke does: its figures say nothing of a real run.`,
          ]
        : []),
      'Every party runs in one process over the in-memory network with the real wire codec; timings include encoding and decoding every message, not network latency.',
      `The machine is shared with other engineers (2 cores, ~8 engineers running tests and benchmarks at the same time): absolute timings are noisy and slower than on an idle machine. 5-minute load average ${loadBefore.toFixed(1)} at the start, ${loadAfter.toFixed(1)} at the end.`,
      "Batch sizes: default_credit and the scale run use 4096 rows, one full CKKS ciphertext: a packed product costs about the same at any batch up to 4096 (smaller batches are replicated to fill the slots), so an epoch costs ~4x less than at 1024. german (800 training rows) and breast (455) use 64 and 128: cheap, and more steps per epoch. Workers 'auto' resolve to 2 per party on runs with rows x columns x epochs >= 2^20, else 0 (the table shows the resolved counts).",
      ...memoryNotes,
      'The FATE figures are 16 cores and a LAN between parties; ours are 2 shared cores, one process. TenSEAL is a CKKS tutorial with a different (encrypted-data) protocol.',
      ...(s.skipped ?? []).map((x) => `skipped: ${x}`),
    ],
    raw: {
      ...(s as unknown as Record<string, unknown>),
      ...(main && { scale_100k_330: main }),
      cache_sweep: sweep,
      ...(previous !== undefined && {
        previous: {
          machine: previous.machine,
          summary: previous.summary,
          raw: { default_credit: previous.raw?.default_credit, accuracy: previous.raw?.accuracy },
        },
      }),
    },
  };
}
