/**
 * `pnpm bench consent [--ids N] [--runs R]`: the government's consent filter before PSI
 * (`ConsentRegistry.filterByConsent` and `filterByConsentAsync`) on N enterprises, each with one training
 * consent for the bank, a tenth of them expired (a SQLite store in memory, as a node's file store reads
 * from its page cache). Reports CPU time per call and per id, and the event loop's longest stall during
 * the call, sampled by a chain of 1 ms timers: the one-call filter holds the loop for its whole run, the
 * stepped one for a step (issue 20: at 2M ids the one-call filter of commit 1d4a2b0 held the
 * government node's loop for ~20 CPU s and its gRPC keepalives starved).
 */
import { loadavg } from 'node:os';
import { FedscoreError, generateUniqueUsccs, seededRng } from '@fedscore/core';
import { ConsentRegistry, NodeStore } from '@fedscore/node';
import { trainingConsents } from '@fedscore/node/testing';
import type { BenchResult } from './report.ts';

/**
 * The filter of commit 1d4a2b0 (one call; every consent read as a record with its scope parsed, a Set
 * per id, fingerprints sorted in one call), measured with this benchmark's data on this machine before
 * the change (200k ids, 3 runs, load average ~13-15 on 2 cores shared with other sessions).
 */
const BEFORE_200K = { ids: 200_000, cpuMs: [1592, 1631, 1750], wallMs: [4348, 3999, 4562] };

function flag(args: readonly string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new FedscoreError('invalid_argument', 'expected a positive integer', { field: `--${name}` });
  }
  return v;
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function measure(call: () => unknown): Promise<{ cpuMs: number; wallMs: number; stallMs: number }> {
  const t0 = performance.now();
  const c0 = cpuMs();
  let last = t0;
  let stall = 0;
  let on = true;
  const sample = () => {
    const t = performance.now();
    stall = Math.max(stall, t - last);
    last = t;
    if (on) setTimeout(sample, 1);
  };
  setTimeout(sample, 1);
  await call();
  const wallMs = performance.now() - t0;
  const cpu = cpuMs() - c0;
  on = false;
  // The last stretch up to the call's end counts too (a one-call filter never lets the sampler run).
  stall = Math.max(stall, performance.now() - last);
  return { cpuMs: cpu, wallMs, stallMs: stall };
}

export default async function consent(args: string[]): Promise<BenchResult> {
  const n = flag(args, 'ids', 200_000);
  const runs = flag(args, 'runs', 3);
  const loadBefore = loadavg();
  const ids = generateUniqueUsccs(seededRng('bench-consent'), n);
  const store = NodeStore.inMemory();
  const registry = new ConsentRegistry(store, { party: 'government' });
  const now = Date.now();
  const grants = trainingConsents(ids, 'bank', now);
  // A tenth expired an hour ago: the filter's exclusion path is measured too.
  registry.grantAll(
    grants.map((g, i) =>
      i % 10 === 0 ? { ...g, grantedAt: now - 86_400_000, expiresAt: now - 3_600_000 } : g,
    ),
  );
  const query = { grantee: 'bank', purpose: 'training' as const, at: now };
  const oneCall: { cpuMs: number; wallMs: number; stallMs: number }[] = [];
  const stepped: { cpuMs: number; wallMs: number; stallMs: number }[] = [];
  let included = 0;
  for (let r = 0; r < runs; r++) {
    oneCall.push(await measure(() => registry.filterByConsent(ids, query)));
    stepped.push(
      await measure(async () => {
        included = (await registry.filterByConsentAsync(ids, query)).included.length;
      }),
    );
  }
  store.close();
  const loadAfter = loadavg();
  const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const perId = (ms: number) => Number(((ms * 1000) / n).toFixed(2));
  const row = (name: string, xs: readonly { cpuMs: number; wallMs: number; stallMs: number }[]) => [
    name,
    Math.round(median(xs.map((x) => x.cpuMs))),
    perId(median(xs.map((x) => x.cpuMs))),
    Math.round(median(xs.map((x) => x.wallMs))),
    Math.round(Math.max(...xs.map((x) => x.stallMs))),
  ];
  const beforeCpu = median(BEFORE_200K.cpuMs);
  return {
    summary: {
      ids: n,
      included,
      oneCallCpuMs: Math.round(median(oneCall.map((x) => x.cpuMs))),
      steppedCpuMs: Math.round(median(stepped.map((x) => x.cpuMs))),
      steppedLongestStallMs: Math.round(Math.max(...stepped.map((x) => x.stallMs))),
      beforeCpuUsPerId200k: perId(beforeCpu * (n / BEFORE_200K.ids)),
    },
    parameters: {
      ids: n,
      runs,
      consentsPerId: 1,
      expiredShare: 0.1,
      store: 'sqlite in memory',
      loadAverageBefore: loadBefore.map((x) => Number(x.toFixed(2))),
      loadAverageAfter: loadAfter.map((x) => Number(x.toFixed(2))),
    },
    tables: [
      {
        title: `Consent filter, ${n} ids (median of ${runs} runs; stall: the longest of the runs)`,
        columns: ['filter', 'CPU ms', 'CPU µs per id', 'wall ms', 'longest event-loop stall ms'],
        rows: [
          [
            'before (commit 1d4a2b0, one call; 200k ids)',
            beforeCpu,
            perId(beforeCpu * (n / BEFORE_200K.ids)),
            median(BEFORE_200K.wallMs),
            `${median(BEFORE_200K.wallMs)} (the whole call)`,
          ],
          row('filterByConsent (one call)', oneCall),
          row('filterByConsentAsync (steps)', stepped),
        ],
        note:
          'The before row was measured on 200k ids before the change, every consent valid (no expired ' +
          'tenth), at load average ~13-15; its per-id CPU figure is what the table compares. Wall time and ' +
          'stalls depend on the machine load given in the parameters.',
      },
    ],
    notes: [
      'The machine is shared: 2 cores, about 8 sessions running tests and benchmarks, load average ' +
        `${loadBefore[0]!.toFixed(1)} before and ${loadAfter[0]!.toFixed(1)} after this run. CPU time ` +
        '(process.cpuUsage) is the figure to compare; wall time and stalls grow with the load.',
      'Where the time went before (V8 CPU profile of 3 calls on 200k ids): reading every row through the ' +
        "store's row iterator (~37%), the filter's own loop (a Set and a record list per enterprise, " +
        '~20%), the two fingerprints sorting 200k strings each (~17%), building a record and parsing its ' +
        'scope per consent (~10%), garbage collection (~7%). Not per-id SQL, hashing or date parsing.',
      'Now: the consents are read in pages of 2,500 (one query each, ending at an enterprise boundary) ' +
        'and folded into one verdict per enterprise; whether a scope covers the categories is computed ' +
        'once per distinct scope text; each id costs a normalization, a checksum and a Map lookup; the ' +
        'fingerprints sort in runs of 8k and merge. The stepped filter yields to the event loop after each ' +
        'page, each 5k ids and each sort run or merge stretch.',
    ],
    raw: { oneCall, stepped, before200k: BEFORE_200K },
  };
}
