/**
 * `pnpm bench scoring-api [--seconds S] [--long-seconds L] [--long-connections C] [--sessions N]
 *  [--enterprises E] [--batch B] [--batch-window MS]`: the bank node's POST /v1/score under load (issue 14's targets).
 *
 * Setup, as an operator would do it: a generated SME population (E enterprises, default 5,000; the bank
 * holds 3,000 customers), a hetero-LR model trained on it in process (scheme 'none': the model's
 * values do not matter for speed, the online protocol is the same), registered in both nodes' stores
 * with the government's `scoring` consents granted, dev certificates, then the two nodes started as
 * separate OS processes (`fedscore node --config ...`) talking gRPC over mutual TLS on loopback, as in
 * production. The load generator is autocannon (as a library) in this process, with keep-alive
 * connections, each request a different applicant (cycling through the aligned customers).
 *
 * Runs: a warm-up (8 connections, 10 s), then S seconds (default 20) at 1, 8 and 32 concurrent
 * connections, then a long run of L seconds (default 60) at C connections (default 32) in which every
 * answer must be a 200. Before the load, 20 answers are checked against the plaintext model (0.01
 * points). Targets: p50 <= 25 ms and p99 <= 80 ms at 8 concurrent, >= 100 scores/s at 32.
 * CPU seconds of each node process per score come from /proc (load-independent cost figures).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Table } from '@fedscore/core';
import { readCsvFile } from '@fedscore/core/node';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import {
  AuditLog,
  ConsentRegistry,
  createApiToken,
  createDevCa,
  issuePartyCert,
  ModelRegistry,
  NodeStore,
  partyFeatures,
} from '@fedscore/node';
import { type PartyModel, serializeJointModel, serializePartyModel, trainHeteroLr } from '@fedscore/vfl';
import autocannon from 'autocannon';
import type { BenchResult } from './report.ts';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '..', '..');
const CLI = join(ROOT, 'packages', 'cli', 'src', 'main.ts');

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? undefined : args[i + 1];
}

const log = (line: string): void => {
  process.stderr.write(`[scoring-api bench] ${line}\n`);
};

async function freePorts(n: number): Promise<number[]> {
  const { createServer } = await import('node:net');
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<import('node:net').Server>((r) => {
          const s = createServer();
          s.listen(0, '127.0.0.1', () => r(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** user + system CPU seconds of a process so far (Linux /proc). */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of stat, i.e. 12 and 13 after the ') ' split.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

function rowOf(table: Table, index: number): Map<string, number> {
  const f = partyFeatures(
    table,
    table.columns.map((c) => c.name),
    [index],
  );
  return new Map(f.names.map((n, j) => [n, f.columns[j]![0]!]));
}

function partialOf(model: PartyModel, row: ReadonlyMap<string, number>): number {
  let z = model.intercept;
  model.featureNames.forEach((name, j) => {
    const x = row.get(name)!;
    if (!Number.isNaN(x)) {
      z += (model.weights[j]! * (x - model.standardization.mean[j]!)) / model.standardization.scale[j]!;
    }
  });
  return z;
}

interface NodeProcess {
  readonly child: ChildProcess;
  readonly scoringPort: number | undefined;
}

function startNode(configFile: string, party: string, profileDir?: string): Promise<NodeProcess> {
  return new Promise((resolve, reject) => {
    const profile =
      profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, party)}`];
    const child = spawn(
      process.execPath,
      [...profile, '--disable-warning=ExperimentalWarning', CLI, 'node', '--config', configFile],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    const timer = setTimeout(() => reject(new Error(`${party} did not start: ${err.slice(-2000)}`)), 60_000);
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      const m = /fedscore node ready party=\S+ grpc=\d+ http=\S* scoring=(\d*)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({ child, scoringPort: m[1] === '' ? undefined : Number(m[1]) });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${party} exited with ${code}: ${err.slice(-2000)}`));
    });
  });
}

function stopNode(p: NodeProcess): Promise<void> {
  return new Promise((resolve) => {
    if (p.child.exitCode !== null) {
      resolve();
      return;
    }
    const kill = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
    p.child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    p.child.kill('SIGTERM');
  });
}

interface LoadRun {
  readonly connections: number;
  readonly seconds: number;
  readonly requests: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly scoresPerSecond: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly maxMs: number;
  readonly bankCpuMsPerScore: number;
  readonly govCpuMsPerScore: number;
  readonly loadAverage: number;
}

/** What the previously committed results/scoring-api.json said (shown beside the new figures). */
interface Previous {
  readonly machine?: { readonly commit?: string; readonly date?: string };
  readonly parameters?: { readonly loadAverageBefore?: number };
  readonly raw?: { readonly runs?: readonly LoadRun[]; readonly long?: LoadRun };
}

function readPrevious(): Previous | undefined {
  const path = join(ROOT, 'benchmarks', 'results', 'scoring-api.json');
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Previous;
  } catch {
    return undefined;
  }
}

export default async function run(args: string[]): Promise<BenchResult> {
  const seconds = Number(flag(args, 'seconds') ?? 20);
  const longSeconds = Number(flag(args, 'long-seconds') ?? 60);
  const longConnections = Number(flag(args, 'long-connections') ?? 32);
  const sessions = Number(flag(args, 'sessions') ?? 8);
  /** Micro-batching (scoring.api.batch): at most B applicants per protocol round, window MS. */
  const batch = Number(flag(args, 'batch') ?? 8);
  const batchWindowMs = Number(flag(args, 'batch-window') ?? 1);
  // `exact` (the government must allow it) or `band` (the default policy's mode: the bank learns the
  // rating band only, K = 3 thresholds here, K slots per applicant instead of 1).
  const mode = flag(args, 'mode') ?? 'exact';
  if (mode !== 'exact' && mode !== 'band') throw new Error(`--mode must be exact or band, not '${mode}'`);
  // The committed results are the exact-mode run: a band-mode run is not compared with them.
  const previous = mode === 'exact' ? readPrevious() : undefined;
  const enterprises = Number(flag(args, 'enterprises') ?? 5000);
  /** Write V8 CPU profiles of both node processes into this directory (analysis only). */
  const profileDir = flag(args, 'profile');
  const root = mkdtempSync(join(tmpdir(), 'fedscore-scoring-api-bench-'));
  const nodes: NodeProcess[] = [];
  try {
    // -- data and model ------------------------------------------------------------------------------
    const w = await writePopulation(
      { enterprises, bankCustomers: Math.round(enterprises * 0.6), seed: 41 },
      join(root, 'data'),
    );
    const bankTable = await readCsvFile(w.bank.path, {
      idColumn: ID_COLUMN,
      labelColumn: DEFAULT_LABEL_COLUMN,
      impute: 'keep',
    });
    const govTable = await readCsvFile(w.government.path, { idColumn: ID_COLUMN, impute: 'keep' });
    const govRows = new Map(govTable.ids.map((id, i) => [id, i]));
    const bankRows = bankTable.ids.map((_, i) => i).filter((i) => govRows.has(bankTable.ids[i]!));
    const aligned = bankRows.map((i) => bankTable.ids[i]!);
    const trained = await trainHeteroLr({
      guest: {
        id: 'bank',
        features: partyFeatures(
          bankTable,
          bankTable.columns.map((c) => c.name),
          bankRows,
        ),
        labels: Float64Array.from(bankRows, (i) => bankTable.label![i]!),
      },
      hosts: [
        {
          id: 'government',
          features: partyFeatures(
            govTable,
            govTable.columns.map((c) => c.name),
            aligned.map((id) => govRows.get(id)!),
          ),
        },
      ],
      mode: 'two-party',
      scheme: 'none',
      modelId: 'sme-bench-1',
      hyperparams: { batchSize: 256, maxEpochs: 3, learningRate: 0.3, seed: 5 },
    });
    const guest = trained.guest;
    const host = trained.hosts[0]!;
    log(
      `population ${enterprises}, aligned ${aligned.length}; model ${guest.featureNames.length} + ${host.featureNames.length} features`,
    );

    // -- certificates, configs, stores ---------------------------------------------------------------
    const ca = createDevCa();
    const certs = join(root, 'certs');
    mkdirSync(certs);
    writeFileSync(join(certs, 'ca.pem'), ca.cert);
    for (const p of ['bank', 'government']) {
      const pair = issuePartyCert({ ca, party: p });
      writeFileSync(join(certs, `${p}.pem`), pair.cert);
      writeFileSync(join(certs, `${p}-key.pem`), pair.key);
    }
    const [bankPort, govPort] = await freePorts(2);
    const { token, entry } = createApiToken('bench');
    writeFileSync(
      join(root, 'rules.yaml'),
      [
        'format: fedscore.credit-rules',
        'version: 1',
        'figures: { revenue: account_turnover_12m }',
        'leverage: { maxRatio: 0.6, base: account_turnover_12m, debt: existing_loans_balance }',
        'rounding: 10000',
        'baseRateBp: 435',
        'bands:',
        '  - { name: A, minScore: 600, revenueMultiple: 0.3, maxLine: 5000000, rateDiscountBp: 20 }',
        '  - { name: B, minScore: 570, revenueMultiple: 0.2, maxLine: 2000000 }',
        '  - { name: C, minScore: 540, revenueMultiple: 0.1, maxLine: 500000 }',
        '  - { name: D, approve: false }',
        '',
      ].join('\n'),
    );
    const common = (p: 'bank' | 'government') => ({
      party: p,
      listen: `127.0.0.1:${p === 'bank' ? bankPort : govPort}`,
      stateDir: join(root, 'state', p),
      tls: { ca: join(certs, 'ca.pem'), cert: join(certs, `${p}.pem`), key: join(certs, `${p}-key.pem`) },
      peers:
        p === 'bank'
          ? { government: { address: `127.0.0.1:${govPort}` } }
          : { bank: { address: `127.0.0.1:${bankPort}` } },
      log: { level: 'warn' },
    });
    const bankConfig = join(root, 'bank.json');
    const govConfig = join(root, 'government.json');
    writeFileSync(
      bankConfig,
      JSON.stringify({
        ...common('bank'),
        data: { loans: { path: w.bank.path, id: ID_COLUMN, label: DEFAULT_LABEL_COLUMN } },
        scoring: {
          api: {
            listen: '127.0.0.1:0',
            government: 'government',
            model: 'sme-credit-line@production',
            // Exact mode: the answers are checked against the plaintext model's points; band mode: the
            // bands against the plaintext model's band (one ciphertext each way, K slots instead of 1).
            mode,
            rules: join(root, 'rules.yaml'),
            sessions,
            batch: { maxApplicants: batch, windowMs: batchWindowMs },
            tokens: [entry],
          },
        },
      }),
    );
    writeFileSync(
      govConfig,
      JSON.stringify({
        ...common('government'),
        data: { credit: { path: w.government.path, id: ID_COLUMN } },
        // A government that allows exact mode (the default refuses it) and whose per-(bank, enterprise)
        // quota and rate do not bind: the load repeats applicants far more often than a bank would.
        scoring: {
          serve: true,
          data: 'credit',
          ...(mode === 'exact' && { allowExactMode: true }),
          quota: { requests: 1_000_000, windowSeconds: 86_400 },
          rate: { requests: 1_000_000, windowSeconds: 3600 },
        },
      }),
    );
    const joint = serializeJointModel(trained.descriptor);
    for (const p of ['bank', 'government'] as const) {
      mkdirSync(join(root, 'state', p), { recursive: true });
      const store = NodeStore.open(join(root, 'state', p));
      try {
        const audit = new AuditLog(store);
        const models = new ModelRegistry(store, { audit, party: p });
        const v = models.registerHeteroLr({
          name: 'sme-credit-line',
          jointModel: joint,
          partyModel: serializePartyModel(p === 'bank' ? guest : host),
          metrics: {},
          dataFingerprints: {},
        });
        models.promote(v.ref);
        if (p === 'government') {
          const consents = new ConsentRegistry(store, { audit, party: p });
          const now = Date.now();
          for (const id of aligned) {
            consents.grant({
              enterprise: id,
              grantee: 'bank',
              purpose: 'scoring',
              scope: ['*'],
              grantedAt: now - 60_000,
              expiresAt: now + 7 * 86_400_000,
            });
          }
        }
      } finally {
        store.close();
      }
    }

    // -- nodes -----------------------------------------------------------------------------------------
    const gov = await startNode(govConfig, 'government', profileDir);
    nodes.push(gov);
    const bank = await startNode(bankConfig, 'bank', profileDir);
    nodes.push(bank);
    const url = `http://127.0.0.1:${bank.scoringPort}`;
    log(`nodes up; scoring API at ${url}`);

    const bodies = bankRows.map((row) => {
      const values = rowOf(bankTable, row);
      return JSON.stringify({
        applicant: bankTable.ids[row],
        features: Object.fromEntries(
          guest.featureNames.map((n) => [n, Number.isNaN(values.get(n)!) ? null : values.get(n)!]),
        ),
      });
    });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

    // -- correctness sample ------------------------------------------------------------------------------
    const factor = 20 / Math.LN2;
    const offset = 600 - factor * Math.log(50);
    let maxPointsError = 0;
    const tCheck = performance.now();
    for (let k = 0; k < 20; k++) {
      const i = (k * 37) % bodies.length;
      const res = await fetch(`${url}/v1/score`, { method: 'POST', headers, body: bodies[i]! });
      const body = (await res.json()) as { score: number | null; band: { name: string | null } | null };
      if (res.status !== 200)
        throw new Error(`check request ${k}: HTTP ${res.status} ${JSON.stringify(body)}`);
      const z =
        partialOf(guest, rowOf(bankTable, bankRows[i]!)) +
        partialOf(host, rowOf(govTable, govRows.get(aligned[i]!)!));
      const points = offset - factor * z;
      if (mode === 'exact') {
        maxPointsError = Math.max(maxPointsError, Math.abs(body.score! - points));
      } else {
        // The rules' bands: A >= 600, B >= 570, C >= 540, D below (rules.yaml above). A score within
        // 0.01 points of a threshold may fall either side under the CKKS noise.
        const band = points >= 600 ? 'A' : points >= 570 ? 'B' : points >= 540 ? 'C' : 'D';
        const nearEdge = [600, 570, 540].some((t) => Math.abs(points - t) < 0.01);
        if (body.score !== null) throw new Error(`band mode answered a score (${body.score})`);
        if (body.band?.name !== band && !nearEdge)
          throw new Error(
            `check request ${k}: band ${body.band?.name} but the plaintext score ${points} is ${band}`,
          );
      }
    }
    if (!(maxPointsError < 0.01)) throw new Error(`scores differ from plaintext by ${maxPointsError} points`);
    log(
      `20 scores checked against plaintext in ${((performance.now() - tCheck) / 20).toFixed(1)} ms each (sequential): max |error| ${maxPointsError.toExponential(2)} points`,
    );

    // -- load ------------------------------------------------------------------------------------------
    let next = 0;
    const load = async (connections: number, duration: number): Promise<LoadRun> => {
      const cpu0 = [cpuSeconds(bank.child.pid!), cpuSeconds(gov.child.pid!)];
      const r = await autocannon({
        url: `${url}/v1/score`,
        connections,
        duration,
        method: 'POST',
        headers,
        timeout: 10,
        requests: [
          {
            method: 'POST',
            setupRequest: (req) => {
              const body = bodies[next++ % bodies.length]!;
              return { ...req, body };
            },
          },
        ],
      });
      const cpu1 = [cpuSeconds(bank.child.pid!), cpuSeconds(gov.child.pid!)];
      const ok = r['2xx'];
      const out: LoadRun = {
        connections,
        seconds: duration,
        requests: r.requests.total,
        ok,
        non2xx: r.non2xx,
        errors: r.errors,
        timeouts: r.timeouts,
        scoresPerSecond: ok / (r.duration || duration),
        p50Ms: r.latency.p50,
        p90Ms: r.latency.p90,
        p99Ms: r.latency.p99,
        meanMs: r.latency.average,
        maxMs: r.latency.max,
        bankCpuMsPerScore: ((cpu1[0]! - cpu0[0]!) * 1000) / Math.max(1, ok),
        govCpuMsPerScore: ((cpu1[1]! - cpu0[1]!) * 1000) / Math.max(1, ok),
        loadAverage: loadavg()[0]!,
      };
      log(
        `c=${connections} ${duration}s: ${out.scoresPerSecond.toFixed(1)} scores/s, p50 ${out.p50Ms} ms, p99 ${out.p99Ms} ms, non-2xx ${out.non2xx}, errors ${out.errors}, cpu ms/score bank ${out.bankCpuMsPerScore.toFixed(1)} gov ${out.govCpuMsPerScore.toFixed(1)}, load ${out.loadAverage.toFixed(1)}`,
      );
      return out;
    };
    const loadBefore = loadavg()[0]!;
    await load(8, 10); // warm-up: the 8 sessions opened (keys generated), JIT warm
    const runs = [await load(1, seconds), await load(8, seconds), await load(32, seconds)];
    const long = await load(longConnections, longSeconds);
    const at8 = runs[1]!;
    const at32 = runs[2]!;
    const targets = {
      p50_at_8_ms: { target: 25, got: at8.p50Ms, met: at8.p50Ms <= 25 },
      p99_at_8_ms: { target: 80, got: at8.p99Ms, met: at8.p99Ms <= 80 },
      scores_per_s_at_32: { target: 100, got: at32.scoresPerSecond, met: at32.scoresPerSecond >= 100 },
      long_run_errors: {
        target: 0,
        got: long.non2xx + long.errors + long.timeouts,
        met: long.non2xx + long.errors + long.timeouts === 0,
      },
    };
    const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
    return {
      summary: {
        p50_ms_at_8: at8.p50Ms,
        p99_ms_at_8: at8.p99Ms,
        scores_per_s_at_32: at32.scoresPerSecond,
        long_run_connections: longConnections,
        long_run_seconds: longSeconds,
        long_run_scores: long.ok,
        long_run_failures: long.non2xx + long.errors + long.timeouts,
        targets_met: Object.values(targets).every((t) => t.met),
        max_points_error: maxPointsError,
      },
      parameters: {
        population: `${enterprises} enterprises (seed 41), bank ${bankTable.ids.length} customers, aligned ${aligned.length}`,
        model: `hetero-LR, bank ${guest.featureNames.length} features, government ${host.featureNames.length} (one-hot included)`,
        protocol: `scoring.online v3 ${mode} mode${mode === 'band' ? ' (3 thresholds)' : ''}, CKKS N=4096 q=[50,30,29] scale 2^30, flooding sd 2^-20, micro-batched rounds`,
        transport: 'two node processes (fedscore node), gRPC over mutual TLS on 127.0.0.1',
        api: 'HTTP/1.1 keep-alive, bearer token, JSON; every request a different applicant; credit rules with 4 bands',
        sessionsPerBank: sessions,
        batch: `at most ${batch} applicants per scoring.online round, window ${batchWindowMs} ms`,
        loadTool: 'autocannon 9.0.0 (library), in the benchmark process',
        secondsPerConcurrency: seconds,
        longRun: `${longSeconds} s at ${longConnections} connections`,
        loadAverageBefore: loadBefore,
      },
      tables: [
        {
          title: 'POST /v1/score on loopback (bank and government nodes as separate processes)',
          columns: [
            'concurrent',
            'scores/s',
            'p50 ms',
            'p90 ms',
            'p99 ms',
            'max ms',
            'non-2xx + errors',
            'bank CPU ms/score',
            'gov CPU ms/score',
            'load avg (1 min)',
          ],
          rows: [...runs, long].map((r) => [
            r === long ? `${r.connections} (${r.seconds} s run)` : r.connections,
            fmt(r.scoresPerSecond),
            r.p50Ms,
            r.p90Ms,
            r.p99Ms,
            r.maxMs,
            r.non2xx + r.errors + r.timeouts,
            fmt(r.bankCpuMsPerScore, 2),
            fmt(r.govCpuMsPerScore, 2),
            fmt(r.loadAverage),
          ]),
          note: 'Targets: p50 <= 25 ms and p99 <= 80 ms at 8 concurrent; >= 100 scores/s at 32; no error in the long run.',
        },
        {
          title: 'Targets',
          columns: ['target', 'goal', 'measured', 'met'],
          rows: [
            ['p50 at 8 concurrent (ms)', '<= 25', at8.p50Ms, targets.p50_at_8_ms.met ? 'yes' : 'NO'],
            ['p99 at 8 concurrent (ms)', '<= 80', at8.p99Ms, targets.p99_at_8_ms.met ? 'yes' : 'NO'],
            [
              'scores/s at 32 concurrent',
              '>= 100',
              fmt(at32.scoresPerSecond),
              targets.scores_per_s_at_32.met ? 'yes' : 'NO',
            ],
            [
              `failures in ${longSeconds} s at ${longConnections}`,
              '0',
              targets.long_run_errors.got,
              targets.long_run_errors.met ? 'yes' : 'NO',
            ],
          ],
        },
        ...(previous?.raw?.runs !== undefined
          ? [
              {
                title: `The previously committed run (commit ${previous.machine?.commit ?? '?'}, ${previous.machine?.date ?? '?'}, load ${fmt(previous.parameters?.loadAverageBefore ?? Number.NaN)} before it) beside this one`,
                columns: [
                  'concurrent',
                  'scores/s before / now',
                  'p50 ms before / now',
                  'p99 ms before / now',
                  'bank CPU ms/score before / now',
                  'gov CPU ms/score before / now',
                  'load avg before / now',
                ],
                rows: [...previous.raw.runs, ...(previous.raw.long === undefined ? [] : [previous.raw.long])]
                  .map((b, i) => [b, [...runs, long][i]] as const)
                  .filter((pair): pair is readonly [LoadRun, LoadRun] => pair[1] !== undefined)
                  .map(([b, a]) => [
                    a === long ? `${a.connections} (long run)` : a.connections,
                    `${fmt(b.scoresPerSecond)} / ${fmt(a.scoresPerSecond)}`,
                    `${b.p50Ms} / ${a.p50Ms}`,
                    `${b.p99Ms} / ${a.p99Ms}`,
                    `${fmt(b.bankCpuMsPerScore, 2)} / ${fmt(a.bankCpuMsPerScore, 2)}`,
                    `${fmt(b.govCpuMsPerScore, 2)} / ${fmt(a.govCpuMsPerScore, 2)}`,
                    `${fmt(b.loadAverage)} / ${fmt(a.loadAverage)}`,
                  ]),
                note: 'Both runs on the shared 2-core box with other engineers working: latency and throughput follow the load (the last column); the CPU ms per score of each node is the comparable cost. Same-minute pairs of the two codes: docs/scoring-api.md.',
              },
            ]
          : []),
        {
          title: 'Published serving figures beside ours',
          columns: ['system', 'what', 'figure', 'source'],
          rows: [
            [
              'fedscore (this run)',
              'joint hetero-LR score under CKKS between two nodes over mTLS gRPC, via HTTP, 8 concurrent',
              `p50 ${at8.p50Ms} ms, p99 ${at8.p99Ms} ms; ${fmt(at32.scoresPerSecond)} scores/s at 32`,
              'this file',
            ],
            [
              'fedscore (in-process protocol only)',
              'scoring.online exact mode, one request at a time, no network, no HTTP',
              'p50 6.4 ms, p99 15.8 ms',
              'benchmarks/results/scoring.md',
            ],
            [
              'FATE-Serving',
              'federated (guest + host) online inference',
              'no published latency or throughput figure found; its documented default single-inference RPC timeout is 3,000 ms (a setting, not a measurement)',
              'FederatedAI/FATE-Serving FATE-SERVING-2.0.md (single.inference.rpc.timeout), README.md, TEST-2.0.md',
            ],
            [
              'Concrete-ML',
              'built-in linear models, FHE inference (one party, encrypted input, no network)',
              '~1 ms per inference',
              'zama-ai/concrete-ml docs/built-in-models/ml_examples.md ("very fast (~1ms FHE inference time)")',
            ],
            [
              'Concrete-ML',
              'FHE logistic regression, 2 features',
              '3.5 ms per sample',
              '../shared/ANCHORS.md (Federated training section)',
            ],
          ],
          note: 'Not like for like: Concrete-ML times one party evaluating on its own encrypted input (no second party, no network, no HTTP); ours is a two-party joint score with both nodes, TLS and the HTTP API in the path. FATE-Serving serves plaintext partial scores exchanged between parties (no HE at inference).',
        },
      ],
      notes: [
        `The machine (2 cores) is shared with other engineers working at the same time: the 1-minute load average was ${fmt(loadBefore)} before the runs and is listed per run. Both nodes, the load generator and other users' jobs share the 2 cores, so latencies include queueing behind other processes; the CPU ms per score of each node (from /proc) is the load-independent cost. Rerun on an idle box for anchor conditions.`,
        mode === 'exact'
          ? `Correctness before the load: 20 API scores equal the plaintext model within ${maxPointsError.toExponential(2)} points (tolerance 0.01).`
          : "Correctness before the load: 20 API answers give the plaintext model's band (none within 0.01 points of a threshold), and no score.",
        'Each request: bearer-token check (SHA-256), zod validation, the bank partial in the clear, one CKKS symmetric encryption (bank), one plaintext addition and a fresh public-key encryption of zero (government), one decryption, consent lookup and an audit row on each node (SQLite, hash-chained).',
        `The bank keeps ${sessions} scoring sessions open with the government (keys generated once, the government's context loaded once per session); requests wait for a free session.`,
        `Arithmetic, not a measurement: at 32 concurrent each node spent ${fmt(at32.bankCpuMsPerScore, 2)} (bank) and ${fmt(at32.govCpuMsPerScore, 2)} (government) CPU ms per score here; a node with one core of its own would serve at most ${fmt(1000 / Math.max(at32.bankCpuMsPerScore, at32.govCpuMsPerScore), 0)} scores/s at that cost (CPU time measured on a contended box is itself inflated by cache and frequency effects).`,
        'Profile (V8 CPU profiles of both nodes, --profile DIR; shares of the samples in which the node was not idle, docs/scoring-api.md): before this run the largest item on both nodes was the event loop blocked in the disk flush of each group commit under synchronous = FULL (25-34 %), then node-seal (25-35 %), GC (10 %), gRPC/HTTP2/TLS (8-9 %) and the blob CRC-32 in JavaScript (5-6 %). Now node-seal (33-46 %), GC (13-17 %) and gRPC (8-14 %) lead; the commit itself is 1 % and the CRC-32 under 1 %.',
        'Changes in the code of this run (issue 14, third round): micro-batching -- the bank node packs the requests that arrive within scoring.api.batch.windowMs (1 ms) of each other, up to maxApplicants (8), into ONE scoring.online v3 round: one ciphertext each way, applicant i in its own slot block, each applicant admitted, looked up, blinded, flooded and audited on its own. Second round: a group commit (audit entries and quota counters of concurrent requests) commits under synchronous = NORMAL and is answered only after an fdatasync of the -wal file on the thread pool -- as durable as FULL, but the event loop no longer waits for the disk, so requests on other sessions progress during the flush; the blob CRC-32 is node:zlib.crc32 (native) instead of a JavaScript table loop. Earlier in issue 14: scoring.online v2 (2 envelopes per score instead of 4), the quota counter in the same group commit as the audit entry.',
      ],
      raw: { runs, long, targets },
    };
  } finally {
    await Promise.all(nodes.reverse().map((n) => stopNode(n)));
    rmSync(root, { recursive: true, force: true });
  }
}
