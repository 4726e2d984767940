/**
 * Three party nodes as OS processes on loopback, and one job across them. Used by `src/main.ts`; the
 * steps are what an operator does on three machines (docs/deploy.md), compressed onto one:
 *   1. each party's data (here: a generated population, the government's and the bank's CSV files);
 *   2. certificates: a development CA and one certificate per party (`fedscore certs init` does the same);
 *   3. one config file per node: its party id, listen address, peers' addresses, TLS files, data, state;
 *   4. `fedscore node --config <party>.yaml` per party, each its own process;
 *   5. the job is submitted to the bank's node (`fedscore node submit`), which coordinates it.
 * Governance: before the nodes start, the government's consent registry receives the enterprises'
 * training authorizations for the bank (`fedscore consent import` does the same from a file): every
 * twentieth enterprise has none, so the job reports exclusions; each node registers the trained model
 * and records the bank's use of the government's data in its audit log.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCsvFile } from '@fedscore/core/node';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import {
  ConsentRegistry,
  createDevCa,
  type EvaluateCheckpoint,
  issuePartyCert,
  JobStore,
  ModelRegistry,
  NodeStore,
  type PsiCheckpoint,
  type PublishCheckpoint,
  submitJob,
} from '@fedscore/node';
import { stringify } from 'yaml';

export const PARTIES = ['bank', 'government', 'arbiter'] as const;
export type Party = (typeof PARTIES)[number];

/** The CLI entry (run by path: the example starts real `fedscore node` processes). */
export const CLI_MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../../packages/cli/src/main.ts');

export async function freePorts(n: number): Promise<number[]> {
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

export interface ClusterLayout {
  readonly dir: string;
  readonly configs: Record<Party, string>;
  readonly stateDirs: Record<Party, string>;
  readonly httpPorts: Record<Party, number>;
  readonly grpcPorts: Record<Party, number>;
}

/** Steps 1-3: data, certificates and config files under `dir`. */
export async function prepareCluster(
  dir: string,
  population: { enterprises: number; bankCustomers: number; seed: number },
): Promise<ClusterLayout> {
  mkdirSync(dir, { recursive: true });
  const data = await writePopulation(population, join(dir, 'data'));
  const certDir = join(dir, 'certs');
  mkdirSync(certDir, { recursive: true });
  const ca = createDevCa();
  writeFileSync(join(certDir, 'ca.pem'), ca.cert);
  writeFileSync(join(certDir, 'ca-key.pem'), ca.key, { mode: 0o600 });
  for (const p of PARTIES) {
    const pair = issuePartyCert({ ca, party: p });
    writeFileSync(join(certDir, `${p}.pem`), pair.cert);
    writeFileSync(join(certDir, `${p}-key.pem`), pair.key, { mode: 0o600 });
  }
  const ports = await freePorts(6);
  const grpcPorts = { bank: ports[0]!, government: ports[1]!, arbiter: ports[2]! };
  const httpPorts = { bank: ports[3]!, government: ports[4]!, arbiter: ports[5]! };
  const configs = {} as Record<Party, string>;
  const stateDirs = {} as Record<Party, string>;
  for (const p of PARTIES) {
    stateDirs[p] = join(dir, 'state', p);
    const config = {
      party: p,
      listen: `127.0.0.1:${grpcPorts[p]}`,
      http: `127.0.0.1:${httpPorts[p]}`,
      stateDir: `state/${p}`,
      tls: { ca: 'certs/ca.pem', cert: `certs/${p}.pem`, key: `certs/${p}-key.pem` },
      peers: Object.fromEntries(
        PARTIES.filter((q) => q !== p).map((q) => [q, { address: `127.0.0.1:${grpcPorts[q]}` }]),
      ),
      data:
        p === 'bank'
          ? { loans: { path: data.bank.path, id: ID_COLUMN, label: DEFAULT_LABEL_COLUMN } }
          : p === 'government'
            ? { 'public-credit': { path: data.government.path, id: ID_COLUMN } }
            : {},
      limits: { peerDownSeconds: 120, retries: 3 },
    };
    configs[p] = join(dir, `${p}.yaml`);
    writeFileSync(configs[p], stringify(config));
  }
  // The enterprises' authorizations, held by the government node (the data owner).
  const govIds = (await readCsvFile(data.government.path, { idColumn: ID_COLUMN, impute: 'keep' })).ids;
  const govStore = NodeStore.open(stateDirs.government);
  try {
    const now = Date.now();
    new ConsentRegistry(govStore, { party: 'government' }).grantAll(
      govIds
        .filter((_, i) => i % 20 !== 19)
        .map((enterprise) => ({
          enterprise,
          grantee: 'bank',
          purpose: 'training' as const,
          scope: ['*'],
          grantedAt: now - 86_400_000,
          expiresAt: now + 365 * 86_400_000,
        })),
    );
  } finally {
    govStore.close();
  }
  return { dir, configs, stateDirs, httpPorts, grpcPorts };
}

/** A running node process. */
export interface NodeProcess {
  readonly party: Party;
  readonly child: ChildProcess;
  /** Everything it wrote to stderr (structured logs). */
  readonly log: string[];
  readonly exited: Promise<number | null>;
}

/** Step 4: start `fedscore node --config <party>.yaml` and wait until it says it is ready. */
export async function startNode(
  layout: ClusterLayout,
  party: Party,
  timeoutMs = 60_000,
): Promise<NodeProcess> {
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', CLI_MAIN, 'node', '--config', layout.configs[party]],
    { cwd: layout.dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const log: string[] = [];
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await new Promise<void>((resolveReady, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${party} node not ready within ${timeoutMs} ms`)),
      timeoutMs,
    );
    let buf = '';
    child.stderr!.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        log.push(l);
        if (l.startsWith('fedscore node ready')) {
          clearTimeout(timer);
          resolveReady();
        }
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${party} node exited with ${code} before it was ready:\n${log.join('\n')}`));
    });
  });
  return { party, child, log, exited };
}

/** Stop a node: SIGTERM (clean stop) or SIGKILL (a crash). Resolves with its exit code. */
export async function stopNode(
  n: NodeProcess,
  signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM',
): Promise<number | null> {
  if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill(signal);
  return n.exited;
}

export interface JobOutcome {
  readonly id: string;
  readonly status: string;
  readonly error?: { code: string; message: string };
  readonly test?: EvaluateCheckpoint;
  readonly files?: string[];
  /**
   * Aligned enterprises that took part, and the government's enterprises its consent check kept out of
   * PSI (read from the government's own store: the bank never learns that count).
   */
  readonly aligned?: number;
  readonly consentExcluded?: number;
  /** The model version publish registered in the bank's registry. */
  readonly model?: string;
  readonly failedAttempts: number;
  readonly seconds: number;
}

/** Step 5: submit a job to the bank's store; the running bank node picks it up. */
export function submitCreditLineJob(
  layout: ClusterLayout,
  id: string,
  options: { seed: number; epochs: number },
): void {
  const store = NodeStore.open(layout.stateDirs.bank);
  try {
    submitJob(new JobStore(store), 'bank', {
      id,
      guest: 'bank',
      hosts: ['government'],
      arbiter: 'arbiter',
      data: { bank: 'loans', government: 'public-credit' },
      seed: options.seed,
      binning: { bins: 5, minIv: 0.02, scheme: 'ckks' },
      train: { scheme: 'ckks', maxEpochs: options.epochs, batchSize: 256 },
      consent: { purpose: 'training', categories: ['*'] },
      model: 'sme-credit-line',
    });
  } finally {
    store.close();
  }
}

/** Read the job's state from a node's store (safe while the node runs). */
export function readJob<T>(stateDir: string, fn: (jobs: JobStore) => T): T {
  const store = NodeStore.open(stateDir);
  try {
    return fn(new JobStore(store));
  } finally {
    store.close();
  }
}

export async function waitForJob(
  layout: ClusterLayout,
  id: string,
  timeoutMs: number,
  until: (stage: string | null, status: string) => boolean = (_s, status) =>
    status === 'done' || status === 'failed',
): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const j = readJob(layout.stateDirs.bank, (jobs) => jobs.get(id));
    if (j !== undefined && until(j.stage, j.status)) return;
    if (j?.status === 'failed') return;
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`job ${id} not there within ${timeoutMs} ms (status ${j?.status})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function jobOutcome(layout: ClusterLayout, id: string): JobOutcome {
  return readJob(layout.stateDirs.bank, (jobs) => {
    const j = jobs.require(id);
    const test = jobs.checkpoint<EvaluateCheckpoint>(id, 'evaluate')?.output;
    const pub = jobs.checkpoint<PublishCheckpoint>(id, 'publish')?.output;
    const psi = jobs.checkpoint<PsiCheckpoint>(id, 'psi')?.output;
    const consent = readJob(
      layout.stateDirs.government,
      (gov) => gov.checkpoint<PsiCheckpoint>(id, 'psi')?.output.consentedSet,
    );
    return {
      id,
      status: j.status,
      ...(j.error !== undefined && { error: j.error }),
      ...(test !== undefined && { test }),
      ...(pub !== undefined && { files: pub.files }),
      ...(pub?.model !== undefined && { model: pub.model }),
      ...(psi !== undefined && { aligned: psi.rows.length }),
      ...(consent !== undefined && { consentExcluded: consent.excludedTotal }),
      failedAttempts: jobs.events(id).filter((e) => e.kind === 'attempt_failed').length,
      seconds: (j.updatedAt - j.createdAt) / 1000,
    };
  });
}

export interface ExampleOptions {
  readonly dir: string;
  readonly enterprises: number;
  readonly bankCustomers: number;
  readonly epochs: number;
  readonly seed: number;
  readonly killGovernmentDuringTraining: boolean;
  readonly print: (line: string) => void;
}

/** The whole example: prepare, start three processes, run the job, print, stop. */
export async function runCreditLineExample(o: ExampleOptions): Promise<JobOutcome> {
  const { print } = o;
  print(`fedscore example: gov-bank-credit-line (files in ${o.dir})`);
  const layout = await prepareCluster(o.dir, {
    enterprises: o.enterprises,
    bankCustomers: o.bankCustomers,
    seed: o.seed,
  });
  print(`1. data, certificates and configs: ${PARTIES.map((p) => layout.configs[p]).join(', ')}`);
  const nodes = {} as Record<Party, NodeProcess>;
  try {
    for (const p of PARTIES) {
      nodes[p] = await startNode(layout, p);
      print(
        `2. ${p.padEnd(10)} node: pid ${nodes[p].child.pid}, gRPC 127.0.0.1:${layout.grpcPorts[p]}, health http://127.0.0.1:${layout.httpPorts[p]}/healthz`,
      );
    }
    const id = 'credit-line';
    submitCreditLineJob(layout, id, { seed: o.seed, epochs: o.epochs });
    print(
      `3. job '${id}' submitted to the bank's node: PSI -> binning -> hetero-LR (CKKS, arbiter) -> evaluate -> publish`,
    );
    if (o.killGovernmentDuringTraining) {
      await waitForJob(
        layout,
        id,
        600_000,
        (stage, status) => stage === 'train' || (status !== 'running' && status !== 'submitted'),
      );
      await new Promise((r) => setTimeout(r, 1500));
      await stopNode(nodes.government, 'SIGKILL');
      print(
        '   government node killed (SIGKILL) during training; starting it again on the same state directory',
      );
      nodes.government = await startNode(layout, 'government');
    }
    await waitForJob(layout, id, 1_800_000);
    const out = jobOutcome(layout, id);
    print(
      `4. job ${out.status} in ${out.seconds.toFixed(1)} s (${out.failedAttempts} failed attempt(s) retried)`,
    );
    if (out.error !== undefined) print(`   error [${out.error.code}] ${out.error.message}`);
    if (out.test?.auc !== undefined) {
      print(
        `   joint model on ${out.test.testRows} held-out customers: AUC ${out.test.auc.toFixed(4)}, KS ${out.test.ks!.toFixed(4)}`,
      );
    }
    if (out.aligned !== undefined) {
      print(
        `   ${out.aligned} aligned enterprises took part; the government's consent check kept ${out.consentExcluded ?? 0} of its enterprises out of PSI`,
      );
    }
    if (out.model !== undefined) {
      const gov = NodeStore.open(layout.stateDirs.government, { readOnly: true });
      try {
        const m = new ModelRegistry(gov).get(out.model);
        print(`   registered as ${out.model} on the bank and ${m.ref} (${m.status}) on the government`);
      } finally {
        gov.close();
      }
    }
    for (const p of PARTIES)
      print(`   ${p.padEnd(10)} store: ${join(layout.stateDirs[p], 'fedscore.sqlite')}`);
    print(
      `   check: fedscore audit verify --store ${layout.stateDirs.government} --json; fedscore models list --store ${layout.stateDirs.bank}`,
    );
    for (const f of out.files ?? []) print(`   bank file: ${f}`);
    print(
      `   the government's model part: ${join(layout.stateDirs.government, 'models', id, 'government.model.json')}`,
    );
    return out;
  } finally {
    for (const n of Object.values(nodes)) await stopNode(n, 'SIGTERM');
    print('5. nodes stopped');
  }
}
