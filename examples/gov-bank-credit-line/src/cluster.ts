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
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCsvFile } from '@fedscore/core/node';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import {
  type EvaluateCheckpoint,
  JobStore,
  ModelRegistry,
  NodeStore,
  type PsiCheckpoint,
  type PublishCheckpoint,
  submitJob,
} from '@fedscore/node';
import { NodeCluster, type NodeConfigOverrides, type NodeProcess } from '@fedscore/node/testing';

export const PARTIES = ['bank', 'government', 'arbiter'] as const;
export type Party = (typeof PARTIES)[number];

/** The CLI entry (run by path: the example starts real `fedscore node` processes). */
export const CLI_MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../../packages/cli/src/main.ts');

export interface ClusterLayout {
  readonly dir: string;
  /** The nodes' certificates, config files and processes (`@fedscore/node/testing`). */
  readonly cluster: NodeCluster<Party>;
  readonly configs: Record<Party, string>;
  readonly stateDirs: Record<Party, string>;
  readonly httpPorts: Record<Party, number>;
  readonly grpcPorts: Record<Party, number>;
}

/** The run under `dir` that state and configs go to: `<dir>/state/<party>`, `<dir>/state/<party>.yaml`. */
const RUN = 'state';

/**
 * Steps 1-3: data, certificates and config files under `dir`. Certificates (`<dir>/certs/`), ports and
 * config files come from the node's test cluster, `NodeCluster` of `@fedscore/node/testing`: a
 * development CA and one certificate per party, and for each node its listen and HTTP addresses, its
 * peers' addresses, the TLS files and its state directory; the example adds each node's data and limits.
 */
export async function prepareCluster(
  dir: string,
  population: { enterprises: number; bankCustomers: number; seed: number },
): Promise<ClusterLayout> {
  mkdirSync(dir, { recursive: true });
  const data = await writePopulation(population, join(dir, 'data'));
  const cluster = await NodeCluster.create({
    parties: PARTIES,
    dir,
    http: true,
    cliMain: CLI_MAIN,
    config: (p): NodeConfigOverrides => ({
      data:
        p === 'bank'
          ? { loans: { path: data.bank.path, id: ID_COLUMN, label: DEFAULT_LABEL_COLUMN } }
          : p === 'government'
            ? { 'public-credit': { path: data.government.path, id: ID_COLUMN } }
            : {},
      limits: { peerDownSeconds: 120, retries: 3 },
    }),
  });
  const byParty = <T>(f: (p: Party) => T) =>
    Object.fromEntries(PARTIES.map((p) => [p, f(p)])) as Record<Party, T>;
  const configs = byParty((p) => cluster.writeConfigFile(p, { run: RUN }));
  const stateDirs = byParty((p) => cluster.stateDir(p, RUN));
  // The enterprises' authorizations, held by the government node (the data owner): every twentieth
  // enterprise has none.
  const govIds = (await readCsvFile(data.government.path, { idColumn: ID_COLUMN, impute: 'keep' })).ids;
  const now = Date.now();
  cluster.grantConsents(
    'government',
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
    RUN,
  );
  return {
    dir,
    cluster,
    configs,
    stateDirs,
    httpPorts: { ...cluster.httpPorts },
    grpcPorts: { ...cluster.ports },
  };
}

/** Step 4: start `fedscore node --config <party>.yaml` and wait until it says it is ready. */
export function startNode(layout: ClusterLayout, party: Party, timeoutMs = 60_000): Promise<NodeProcess> {
  return layout.cluster.startProcess(party, { run: RUN, readyTimeoutMs: timeoutMs });
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
