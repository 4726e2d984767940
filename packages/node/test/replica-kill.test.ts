/**
 * Issue 18: the coordinator replica of a party is lost mid-job and a DIFFERENT replica of that party,
 * running as its own OS process on the same PostgreSQL store, takes the job's lease over and finishes it
 * from the checkpoints in that store, with the model of an uninterrupted run, bit for bit (scheme
 * 'none': exact arithmetic, float64 bytes compared with tolerance 0, the same party secrets).
 *
 * Every node of the two scenarios is a `fedscore node --config <yaml>` process (the real CLI entry):
 * government and arbiter, and two bank replicas A and B, each with its own state directory, gRPC and
 * HTTP ports, one PostgreSQL database and schema (`store: { kind: postgres }` in the YAML, `leaseMs:
 * 3000`). The peers reach "the bank" through a TCP switch on the bank's address that stands in for a
 * load balancer (TLS passes through it untouched): it sends new connections to the replica the test
 * routes to, as a readiness probe on `/healthz` would take a dead or stalled replica out.
 *
 * 1. Kill: A holds the job's lease (its /healthz says `holder`, B's `standby`). A's process is SIGKILLed
 *    mid-training, right after its epoch-1 checkpoint is committed (the test-only fault of fault.ts,
 *    `FEDSCORE_TEST_KILL_AFTER_EPOCH`: a fixed point whatever the machine's load, where a poll of the
 *    store from the test could land after training ended). B, which polled the store all along, takes
 *    the lease over once it expires (a `lease_taken_over` event, lease epoch 2), resumes training from
 *    the epoch checkpoint every party holds, and finishes the job.
 * 2. Stall (fencing): A freezes instead, just before it commits its epoch-2 checkpoint
 *    (`FEDSCORE_TEST_STOP_BEFORE_EPOCH`: SIGSTOP), for longer than its lease; B takes the job over and
 *    starts its own train attempt. A is then SIGCONTed while B runs the job: the first thing it does is
 *    that checkpoint write, which the store refuses with the typed `lease_lost` (the lease epoch fence,
 *    job-store.ts; every write path is covered in store-replicas.test.ts), and A stops coordinating the
 *    job. No train event of A's attempt is in the store after the takeover; the final state and model
 *    are B's.
 *
 * 3. CKKS: the kill of (1) with a small CKKS hetero-LR job (ckks-16384-release, 3 epochs of 2 batches):
 *    the model within 1e-3 of the reference, bit-identity printed (the tolerance is at `CKKS` below).
 * 4. Queue, a worker and a replica killed in one job: the kill of (3) with both bank replicas on
 *    `queue: pgboss` (every packed product a task on the bank's PostgreSQL, `minColumns: 1`,
 *    `expireSeconds: 60`) and a `fedscore worker` process serving it. The worker is SIGKILLed while it
 *    holds a bank product: at the first one pg-boss has `active`, it is frozen (SIGSTOP) so it can finish
 *    nothing more, and the tasks still active after its statements in flight have landed, and again
 *    after the SIGKILL, are the ones it died holding (the coordinator waits for their results, so the
 *    job cannot move past them: no race with the job's progress). A replacement worker is started; the
 *    held task expires, is delivered again (its pg-boss job's retry count >= 1) and completed by the
 *    replacement, and its result is stored once under the task's id (one row; a delivery that finds a
 *    stored row only counts itself). Then A is killed at its fault, B resumes training from the epoch
 *    checkpoint and sends its own products to the same queue (tasks finished after the takeover are
 *    counted), and the model is within the CKKS tolerance of the uninterrupted run without a queue
 *    (`split: 1` makes a queued product the same bytes as the node's own).
 *
 * The reference is an uninterrupted run of the same job (same id, seed, party secrets) on in-process
 * nodes, as in jobs-replica.test.ts; for scheme none it is checked against the single-process run (the
 * same stages, files, spec and party secrets through @fedscore/pipeline's `runStageInProcess`, every
 * party in this process with a memory store): bit-identical models. The arbiter's store is SQLite.
 * Skipped with the reason printed without PostgreSQL binaries (CI: a failure).
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCsvFile } from '@fedscore/core/node';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import {
  type HealthReport,
  JobStore,
  NodeStore,
  submitJob,
  TEST_KILL_AFTER_EPOCH_ENV,
  TEST_STOP_BEFORE_EPOCH_ENV,
  type TrainCheckpoint,
  validateJobSpec,
} from '@fedscore/node';
import {
  freePorts,
  NodeCluster,
  type NodeConfigOverrides,
  type NodeProcess,
  trainingConsents,
} from '@fedscore/node/testing';
import {
  HETERO_LR_PIPELINE,
  type JobPlan,
  memoryStore,
  planStages,
  runStageInProcess,
} from '@fedscore/pipeline';
import { type PgCluster, postgresUnavailable, startPgCluster, startWorker } from '@fedscore/queue/testing';
import pgDriver from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { creditLineJob, modelHex as f64 } from './replica-fixtures.ts';

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../cli/src/main.ts');
const PARTIES = ['bank', 'government', 'arbiter'] as const;
type Party = (typeof PARTIES)[number];
const JOB = 'credit-line-kill';
/** The bank replicas' lease (config `store.leaseMs`), renewed every 250 ms. */
const LEASE_MS = 3000;

/** A job of the test: its id, train settings, and how a resumed model is compared with the reference. */
interface Case {
  readonly id: string;
  readonly train: { scheme: 'none' | 'ckks'; maxEpochs: number; batchSize: number };
  /** The bank replicas' lease (config `store.leaseMs`). */
  readonly leaseMs: number;
  readonly compare: (t: TrainCheckpoint, ref: TrainCheckpoint, party: string) => void;
  /** The bank replicas' pg-boss queue (config `queue`), served by a worker process; absent: no queue. */
  readonly queue?: string;
  /** The queue's `expireSeconds`: a task a killed worker held is delivered again this long after its start. */
  readonly expireSeconds?: number;
}
/** Exact arithmetic: bit-identical (float64 bytes, tolerance 0). */
const NONE: Case = {
  id: JOB,
  // Several batches per epoch and enough epochs that the disruption lands mid-training.
  train: { scheme: 'none', maxEpochs: 8, batchSize: 72 },
  leaseMs: LEASE_MS,
  compare: (t, ref, party) => expect(f64(t), party).toBe(f64(ref)),
};
/**
 * CKKS (the default ckks-16384-release preset), small: 3 epochs of 2 batches. The same job id, seed and
 * party secrets derive the same masks and the same flooding noise of every release, so the resumed
 * epochs release what the uninterrupted run released; what differs is the CKKS decryption error of
 * fresh encryptions (<= 2^-32.7 measured), which the release grid (2^-15) absorbs unless a flooded value
 * lies within it of a grid boundary (packages/vfl/test/hetero-lr-resume.test.ts). Tolerance: every
 * weight and the intercept within 1e-3 of the reference (a few grid steps times the learning rate);
 * whether the model came out bit-identical is printed.
 */
const CKKS: Case = {
  id: `${JOB}-ckks`,
  train: { scheme: 'ckks', maxEpochs: 3, batchSize: 256 },
  // The default 15 s: making the CKKS context blocks the holder's event loop (and its lease renewal)
  // for seconds on a loaded 2-core machine, and a 3 s lease then moves to B while A is alive and well.
  leaseMs: 15_000,
  compare: (t, ref, party) => {
    const got = [...t.model!.weights, t.model!.intercept];
    const want = [...ref.model!.weights, ref.model!.intercept];
    expect(got.length, party).toBe(want.length);
    const worst = Math.max(...got.map((w, i) => Math.abs(w - want[i]!)));
    console.log(`ckks ${party}: max |weight - reference| = ${worst} (bit-identical: ${f64(t) === f64(ref)})`);
    expect(worst, party).toBeLessThanOrEqual(1e-3);
  },
};

/**
 * The CKKS job of `CKKS` with the bank replicas on `queue: pgboss` (scenario 4): the same job id, so the
 * same reference and tolerance.
 */
// `expireSeconds: 60` (a killed worker's task is delivered again this long after its start, plus up to
// pg-boss's 60 s supervision pass): with 20 s, one run of the whole file on the loaded 2-core machine
// never reached A's fault in 400 s (not diagnosed; a fresh worker's first task also loads the job's public
// context), so the value the queue case ran with before is kept.
const QUEUED: Case = { ...CKKS, queue: 'he-replica-kill', expireSeconds: 60 };

/** A TCP switch in front of the bank replicas (the load balancer of a real deployment). */
class TcpSwitch {
  readonly #server: Server;
  readonly #open = new Set<Socket>();
  #target: number;

  private constructor(server: Server, target: number) {
    this.#server = server;
    this.#target = target;
    server.on('connection', (down) => {
      const up = connect(this.#target, '127.0.0.1');
      this.#open.add(down).add(up);
      const close = (): void => {
        down.destroy();
        up.destroy();
        this.#open.delete(down);
        this.#open.delete(up);
      };
      down.on('error', close).on('close', close);
      up.on('error', close).on('close', close);
      down.pipe(up);
      up.pipe(down);
    });
  }

  static async listen(port: number, target: number): Promise<TcpSwitch> {
    const server = createServer();
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    return new TcpSwitch(server, target);
  }

  /** Send new connections to `target` and drop the current ones (their clients reconnect). */
  route(target: number): void {
    this.#target = target;
    for (const s of this.#open) s.destroy();
    this.#open.clear();
  }

  async close(): Promise<void> {
    for (const s of this.#open) s.destroy();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

/** A process's state letter in /proc (`T`: stopped by a signal). */
function processState(pid: number): string | undefined {
  try {
    return /\) (\S) /.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 120_000, stepMs = 20): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

const why = postgresUnavailable();
if (why !== undefined) console.log(`skipping the replica kill test: ${why}`);

describe.skipIf(why !== undefined)(
  'the coordinator replica process is killed or stalled; another replica process takes the job over',
  () => {
    let pg: PgCluster;
    let cluster: NodeCluster<Party>;
    let files: { bank: string; government: string };
    let govIds: readonly string[];
    /** Queue worker processes (killed in afterAll). */
    const workers: ChildProcess[] = [];
    /** Each party's schema: the reference's own, else one per scenario shared by its replicas. */
    const schemaOf = (party: Party, run: string): string => `${party}_${run === 'ref' ? 'ref' : run[0]}`;

    beforeAll(async () => {
      pg = await startPgCluster();
      cluster = await NodeCluster.create({
        parties: PARTIES,
        http: true,
        cliMain: CLI,
        config: (p, run): NodeConfigOverrides => ({
          data:
            p === 'bank'
              ? { loans: { path: files.bank, id: ID_COLUMN, label: DEFAULT_LABEL_COLUMN } }
              : p === 'government'
                ? { credit: { path: files.government, id: ID_COLUMN } }
                : {},
          accept: { plaintextScheme: true },
          limits: { peerDownSeconds: 60, retries: 4, retryBaseMs: 50 },
          ...(p !== 'arbiter' && {
            store: {
              kind: 'postgres',
              url: pg.url,
              schema: schemaOf(p, run),
              ...(p === 'bank' && { leaseMs: LEASE_MS, leaseRenewMs: 250 }),
            },
          }),
        }),
      });
      const w = await writePopulation(
        { enterprises: 1500, bankCustomers: 1000, seed: 17 },
        join(cluster.dir, 'data'),
      );
      files = { bank: w.bank.path, government: w.government.path };
      govIds = (await readCsvFile(files.government, { idColumn: ID_COLUMN, impute: 'keep' })).ids;
    });
    afterAll(async () => {
      for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
      await cluster?.close();
      pg?.stop();
    });

    const spec = (c: Case = NONE) => creditLineJob(c.id, { seed: 11, train: c.train });
    /** Each case's uninterrupted run: the bank's and the government's train checkpoints. */
    const references = new Map<string, Record<'bank' | 'government', TrainCheckpoint>>();

    it('the uninterrupted reference runs (scheme none and CKKS)', async () => {
      cluster.grantConsents('government', trainingConsents(govIds, 'bank'), 'ref');
      const nodes = await cluster.startAll({ run: 'ref' });
      try {
        for (const c of [NONE, CKKS]) {
          const t0 = Date.now();
          nodes.bank.submit(spec(c));
          const done = await nodes.bank.runner.waitFor(c.id, 240_000);
          expect(done.error).toBeUndefined();
          const ref = {
            bank: nodes.bank.jobs.requireCheckpoint<TrainCheckpoint>(c.id, 'train'),
            government: nodes.government.jobs.requireCheckpoint<TrainCheckpoint>(c.id, 'train'),
          };
          // Mid-training disruptions below need epochs to happen in.
          expect(ref.bank.epochs).toBe(c.train.maxEpochs);
          references.set(c.id, ref);
          console.log(`reference run ${c.train.scheme}: ${Date.now() - t0} ms, ${ref.bank.epochs} epochs`);
        }
        // The single-process run: the same stages (@fedscore/pipeline's `runStageInProcess`, every party in
        // this process over an in-memory network, each with a memory store), the same files, validated
        // spec and party secrets (they key the masks): the node reference's models, bit for bit (scheme
        // none: exact arithmetic; only the transport and the stores differ).
        const plan = { ...validateJobSpec(spec(NONE)) } as JobPlan;
        const read = (f: string, label?: string) =>
          readCsvFile(f, {
            file: f,
            idColumn: ID_COLUMN,
            ...(label !== undefined && { labelColumn: label }),
            impute: 'keep',
          });
        const ok = { allowPlaintextScheme: true, allowWeakParameters: false };
        const storeOf = (p: Party) => ({
          ...memoryStore(),
          partySecret: (name: string) => nodes[p].jobs.partySecret(name),
        });
        const parties = [
          { id: 'bank', table: await read(files.bank, DEFAULT_LABEL_COLUMN), store: storeOf('bank'), he: ok },
          { id: 'government', table: await read(files.government), store: storeOf('government'), he: ok },
          { id: 'arbiter', store: storeOf('arbiter'), he: ok },
        ];
        const t0 = Date.now();
        for (const stage of planStages(HETERO_LR_PIPELINE, plan).filter((x) =>
          ['psi', 'train'].includes(x.name),
        )) {
          await runStageInProcess(stage, { plan, parties });
        }
        const ref = references.get(NONE.id)!;
        for (const [i, p] of (['bank', 'government'] as const).entries()) {
          const local = parties[i]!.store.checkpoint<TrainCheckpoint>('train');
          expect(local.epochs, p).toBe(ref[p].epochs);
          expect(f64(local), p).toBe(f64(ref[p]));
        }
        console.log(`single-process run (scheme none): ${Date.now() - t0} ms, bit-identical to the node run`);
      } finally {
        await cluster.stopAll(nodes);
      }
    });

    /**
     * One scenario (`s`: the run prefix): government and arbiter processes, bank replica A (holding the
     * lease) and standby replica B behind the switch; `disrupt` acts on A once its train stage has
     * committed an epoch checkpoint. Returns what the test checks.
     */
    const scenario = async (
      c: Case,
      s: string,
      fault: Readonly<Record<string, string>>,
      disrupt: (a: NodeProcess, sw: TcpSwitch, portB: number, jobs: JobStore) => Promise<void>,
    ): Promise<{
      a: NodeProcess;
      b: NodeProcess;
      jobs: JobStore;
      gov: JobStore;
      stores: NodeStore[];
      sw: TcpSwitch;
    }> => {
      expect(references.has(c.id)).toBe(true);
      cluster.grantConsents('government', trainingConsents(govIds, 'bank'), s);
      cluster.copyPartySecrets('ref', `${s}a`, ['bank']);
      // The government's and the arbiter's too: the arbiter's key derives the flooding of its releases.
      cluster.copyPartySecrets('ref', s, ['government', 'arbiter']);
      const [portA, httpA, portB, httpB] = await freePorts(4);
      const replica = (r: 'a' | 'b', port: number, http: number, env: Record<string, string> = {}) =>
        cluster.startProcess('bank', {
          run: `${s}${r}`,
          config: {
            listen: `127.0.0.1:${port}`,
            http: `127.0.0.1:${http}`,
            store: {
              kind: 'postgres',
              url: pg.url,
              schema: schemaOf('bank', s),
              leaseMs: c.leaseMs,
              leaseRenewMs: 250,
            },
            ...(c.queue !== undefined && {
              queue: {
                kind: 'pgboss',
                url: pg.url,
                name: c.queue,
                minColumns: 1,
                expireSeconds: c.expireSeconds ?? 60,
              },
            }),
          },
          env,
        });
      const sw = await TcpSwitch.listen(cluster.ports.bank, portA!);
      const stores = [
        NodeStore.postgres(pg.url, { schema: schemaOf('bank', s) }),
        NodeStore.postgres(pg.url, { schema: schemaOf('government', s), readOnly: true }),
      ];
      const jobs = new JobStore(stores[0]!);
      const gov = new JobStore(stores[1]!);
      // A carries the test-only fault (fault.ts): it SIGKILLs or SIGSTOPs its own process after its
      // epoch-1 checkpoint is committed, so the disruption lands mid-training, after a checkpoint,
      // whatever the machine's load.
      const a = await replica('a', portA!, httpA!, { NODE_ENV: 'test', ...fault });
      submitJob(jobs, 'bank', spec(c));
      await until('replica A to take the lease', () => jobs.lease(c.id));
      const b = await replica('b', portB!, httpB!);
      const health = async (port: number): Promise<HealthReport> =>
        (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as HealthReport;
      expect((await health(httpA!)).lease?.role).toBe('holder');
      expect((await health(httpB!)).lease?.role).toBe('standby');
      expect(jobs.lease(c.id)?.epoch).toBe(1);
      // The peers start only now: until they answer, A holds the lease and waits for them (up to
      // peerDownSeconds), so A cannot reach its fault before both replicas' health was read above
      // (it once did under load, while B was starting, and the fetch from A failed).
      await cluster.startProcess('government', { run: s });
      await cluster.startProcess('arbiter', { run: s });
      await disrupt(a, sw, portB!, jobs);
      // Mid-training, after an epoch checkpoint of A's.
      const at = jobs.require(c.id);
      expect(at.stage).toBe('train');
      expect(jobs.epochCheckpoints(c.id, 'train').length).toBeGreaterThanOrEqual(1);
      return { a, b, jobs, gov, stores, sw };
    };

    const checkTakeover = async (
      r: Awaited<ReturnType<typeof scenario>>,
      c: Case = NONE,
    ): Promise<{ takeoverSeq: number }> => {
      const reference = references.get(c.id);
      const done = await until(
        'the job to end',
        () => {
          const j = r.jobs.require(c.id);
          return j.status === 'done' || j.status === 'failed' ? j : undefined;
        },
        180_000,
        200,
      );
      expect(done.error).toBeUndefined();
      expect(done.status).toBe('done');
      const events = r.jobs.events(c.id);
      const takeovers = events.filter((e) => e.kind === 'lease_taken_over');
      expect(takeovers.map((e) => e.detail)).toEqual(['epoch=2']);
      expect(r.jobs.leaseEpoch(c.id)).toBe(2);
      // PSI ran once (before the disruption); training resumed from an epoch checkpoint.
      expect(events.filter((e) => e.kind === 'stage_done' && e.stage === 'psi').length).toBe(1);
      const resumed = events.filter((e) => e.kind === 'train_resumed').map((e) => e.detail);
      expect(resumed).toHaveLength(1);
      const from = Number(resumed[0]!.replace('epoch=', ''));
      expect(from).toBeGreaterThanOrEqual(1);
      for (const [p, store] of [
        ['bank', r.jobs],
        ['government', r.gov],
      ] as const) {
        const t = store.requireCheckpoint<TrainCheckpoint>(c.id, 'train');
        expect(t.resumedFrom, p).toBe(from);
        expect(t.epochs, p).toBe(reference![p].epochs);
        c.compare(t, reference![p], p);
      }
      // Every train event after the takeover belongs to B's attempts (above A's last one).
      const takeoverSeq = takeovers[0]!.seq;
      const aLast = Math.max(
        ...events
          .filter((e) => e.seq < takeoverSeq && e.kind === 'attempt' && e.stage === 'train')
          .map((e) => e.attempt!),
      );
      const after = events.filter((e) => e.seq > takeoverSeq && e.stage === 'train' && e.attempt !== null);
      expect(after.length).toBeGreaterThan(0);
      for (const e of after) expect(e.attempt!, `${e.kind} ${e.detail}`).toBeGreaterThan(aLast);
      return { takeoverSeq };
    };

    it('replica A (the lease holder) is SIGKILLed mid-training; replica B takes the lease over and the model is bit-identical', async () => {
      let killedAt = 0;
      const r = await scenario(NONE, 'k', { [TEST_KILL_AFTER_EPOCH_ENV]: '1' }, async (a, sw, portB) => {
        await a.exited;
        killedAt = Date.now();
        expect(a.child.signalCode).toBe('SIGKILL');
        // The load balancer notices the dead replica.
        sw.route(portB);
      });
      try {
        const { takeoverSeq } = await checkTakeover(r);
        const takeover = r.jobs.events(JOB).find((e) => e.seq === takeoverSeq)!;
        // Not before A's lease (renewed every 0.25 s until the kill) had expired.
        expect(takeover.time - killedAt).toBeGreaterThan(LEASE_MS - 500);
        expect(r.jobs.lease(JOB)).toBeUndefined(); // B released it when the job ended
        expect(r.b.log.some((l) => l.includes('coordinating job'))).toBe(true);
      } finally {
        for (const s of r.stores) s.close();
        await Promise.all(cluster.processes.map((p) => cluster.stopProcess(p)));
        await r.sw.close();
      }
    });

    it("replica A is stalled (SIGSTOP) past its lease; B takes over; A resumes (SIGCONT), is fenced off and stops; the final state is B's", async () => {
      let stalledFor = 0;
      const r = await scenario(
        NONE,
        's',
        { [TEST_STOP_BEFORE_EPOCH_ENV]: '2' },
        async (a, sw, portB, jobs) => {
          await until('replica A to stop itself', () =>
            processState(a.child.pid!) === 'T' ? true : undefined,
          );
          const stoppedAt = Date.now();
          // A's readiness probe fails (it answers nothing): the switch takes it out.
          sw.route(portB);
          await until('replica B to take the job over', () =>
            jobs.events(JOB).some((e) => e.kind === 'lease_taken_over') ? true : undefined,
          );
          // B has started its attempt (a train attempt above A's) before A wakes up.
          await until('B to start its train attempt', () => {
            const j = jobs.require(JOB);
            return j.stage === 'train' && j.attempt > 0 ? true : undefined;
          });
          stalledFor = Date.now() - stoppedAt;
          a.child.kill('SIGCONT');
        },
      );
      try {
        const { takeoverSeq } = await checkTakeover(r);
        // A woke up where it had stopped: about to commit its epoch-2 checkpoint. The store refused that
        // write (typed: lease_lost, the lease epoch fence), A's attempt failed with it and A stopped
        // coordinating the job, writing nothing more for it.
        const refused = await until('A to log the refused write', () =>
          r.a.log.find((l) => l.includes('job write refused by the lease fence')),
        );
        expect(refused).toContain('error=lease_lost');
        expect(refused).toContain('epoch=1'); // A's epoch; the job's is 2
        const lost = r.a.log.find((l) => l.includes('job lease lost to another replica'));
        expect(lost).toContain('via=write');
        expect(r.a.child.exitCode).toBeNull(); // still running: it lost one job, not the process
        console.log(`replica A stalled ${stalledFor} ms; after SIGCONT:\n${refused}\n${lost}`);
        // Nothing of A's after the takeover: the store's events after it are B's attempts only (above),
        // and the job's state is B's (done, bit-identical model, checked above).
        expect(takeoverSeq).toBeGreaterThan(0);
      } finally {
        for (const s of r.stores) s.close();
        await Promise.all(cluster.processes.map((p) => cluster.stopProcess(p)));
        await r.sw.close();
      }
    });

    it('CKKS: replica A is SIGKILLed mid-training; replica B takes over; the model is within the CKKS tolerance', async () => {
      const r = await scenario(
        CKKS,
        'c',
        { [TEST_KILL_AFTER_EPOCH_ENV]: '1' },
        async (a, sw, portB, jobs) => {
          await until(
            'replica A to be killed',
            () => {
              if (a.child.signalCode !== null || a.child.exitCode !== null) return true;
              const j = jobs.require(CKKS.id);
              if (j.status !== 'running' && j.status !== 'submitted') {
                throw new Error(
                  `job ${j.status} (${j.error?.message}) before the kill:\n${a.log.slice(-20).join('\n')}`,
                );
              }
              return undefined;
            },
            240_000,
            200,
          ).catch((e: unknown) => {
            throw new Error(
              `${String(e)}\n${jobs
                .events(CKKS.id)
                .map((x) => `${x.kind} ${x.stage} ${x.attempt} ${x.detail}`)
                .join('\n')}\nA:\n${a.log.slice(-20).join('\n')}`,
            );
          });
          await a.exited;
          expect(a.child.signalCode).toBe('SIGKILL');
          sw.route(portB);
        },
      );
      try {
        await checkTakeover(r, CKKS);
      } catch (e) {
        // What happened, for the failure report (job events and the two replicas' last log lines).
        console.log(
          r.jobs
            .events(CKKS.id)
            .map((x) => `${x.kind} ${x.stage ?? ''} ${x.attempt ?? ''} ${x.detail ?? ''}`)
            .join('\n'),
        );
        console.log(`A:\n${r.a.log.slice(-15).join('\n')}\nB:\n${r.b.log.slice(-25).join('\n')}`);
        throw e;
      } finally {
        for (const s of r.stores) s.close();
        await Promise.all(cluster.processes.map((p) => cluster.stopProcess(p)));
        await r.sw.close();
      }
    }, 400_000);

    it('queue: pgboss: in one job a worker is SIGKILLed holding a task and replica A is SIGKILLed mid-training; a new worker and B finish it; the model is within the CKKS tolerance', async () => {
      const queue = QUEUED.queue!;
      const bankPrefix = `${QUEUED.id}.bank/%`;
      const db = new pgDriver.Client({ connectionString: pg.url });
      await db.connect();
      /**
       * The bank's packed products finished on the queue (after `since`, ms since the epoch): pg-boss's
       * completed jobs, which it keeps for days, where the node drops a run's result rows when the run ends.
       */
      const bankTasks = async (since = 0): Promise<number> =>
        (
          await db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pgboss.job
              WHERE name = $1 AND state = 'completed' AND data->>'taskId' LIKE $2
                AND completed_on > to_timestamp($3)`,
            [queue, bankPrefix, since / 1000],
          )
        ).rows[0]!.n;
      /** The bank's packed products a worker holds now (pg-boss state 'active'): job and task ids. */
      const held = async (): Promise<{ job: string; task: string }[]> =>
        (
          await db.query<{ job: string; task: string }>(
            `SELECT id::text AS job, data->>'taskId' AS task FROM pgboss.job
              WHERE name = $1 AND state = 'active' AND data->>'taskId' LIKE $2`,
            [queue, bankPrefix],
          )
        ).rows;
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
      const killNow = async (w: ChildProcess): Promise<void> => {
        if (w.exitCode !== null || w.signalCode !== null) return;
        const exited = once(w, 'exit');
        w.kill('SIGKILL');
        await exited;
      };
      /** What the worker kill left: the tasks the killed worker held, as they ended up. */
      interface WorkerKill {
        readonly at: number;
        readonly tasks: readonly { job: string; task: string }[];
        /** Per task, once it was done: pg-boss's retry count and its result rows (deliveries each). */
        readonly after: readonly {
          state: string;
          retries: number;
          rows: { ok: boolean; deliveries: number }[];
        }[];
        readonly misses: number;
      }
      /** The workers' stderr from their start on (for a failure report). */
      const workerLog: string[] = [];
      const startWatched = async (): Promise<ChildProcess> => {
        const w = await startWorker(pg.url, queue, workers);
        w.stderr!.on('data', (b: Buffer) => workerLog.push(`[${w.pid}] ${b.toString()}`));
        return w;
      };
      let victim = await startWatched();
      let jobOver = false;
      /**
       * Kill the worker while it holds a task of the job: once a bank product is active, the worker is
       * frozen (SIGSTOP) so it can finish nothing more, and what is still active after its statements in
       * flight have landed (0.5 s) is what it holds; it is SIGKILLed and, read once more after that, the
       * tasks still active are the ones it died holding (a frozen worker that held nothing is resumed and
       * watched again; one that finished its task in the window before the kill is replaced and the next
       * worker watched: `misses`). The coordinator waits for those tasks' results, so the job cannot move
       * past them before the kill: no race with the job's progress. A replacement worker is started.
       */
      const workerKill = (async (): Promise<WorkerKill | undefined> => {
        let misses = 0;
        while (!jobOver) {
          if ((await held()).length === 0) {
            await sleep(20);
            continue;
          }
          victim.kill('SIGSTOP');
          let frozen: { job: string; task: string }[] = [];
          try {
            await sleep(500);
            frozen = await held();
          } finally {
            // Never leave a frozen worker behind: the job would wait on its task forever.
            if (frozen.length === 0) victim.kill('SIGCONT');
          }
          if (frozen.length === 0) continue;
          await killNow(victim);
          await sleep(500);
          const still = new Set((await held()).map((h) => h.job));
          const tasks = frozen.filter((h) => still.has(h.job));
          const at = Date.now();
          victim = await startWatched();
          if (tasks.length === 0) {
            misses += 1;
            continue;
          }
          // Each is delivered again once it expires (expireSeconds after its start, found by pg-boss's
          // supervision pass) and the new worker completes it; read while the job still waits on it (the
          // node prunes a done job's results).
          const after = [];
          for (const t of tasks) {
            let state = '';
            let retries = 0;
            for (let i = 0; i < 1200 && state !== 'completed'; i++) {
              const r = await db.query<{ state: string; retries: number }>(
                'SELECT state::text AS state, retry_count AS retries FROM pgboss.job WHERE name = $1 AND id = $2',
                [queue, t.job],
              );
              state = r.rows[0]?.state ?? '';
              retries = r.rows[0]?.retries ?? 0;
              if (state !== 'completed') await sleep(200);
            }
            const rows = (
              await db.query<{ ok: boolean; deliveries: number }>(
                `SELECT output IS NOT NULL AND error IS NULL AS ok, deliveries FROM fedscore_task_result
                  WHERE queue = $1 AND task_id = $2`,
                [queue, t.task],
              )
            ).rows;
            after.push({ state, retries, rows });
          }
          return { at, tasks, after, misses };
        }
        return undefined;
      })();
      let killedAt = 0;
      let beforeKill = 0;
      let r: Awaited<ReturnType<typeof scenario>> | undefined;
      try {
        r = await scenario(QUEUED, 'q', { [TEST_KILL_AFTER_EPOCH_ENV]: '1' }, async (a, sw, portB, jobs) => {
          await until(
            'replica A to be killed',
            () => {
              if (a.child.signalCode !== null || a.child.exitCode !== null) return true;
              const j = jobs.require(QUEUED.id);
              if (j.status !== 'running' && j.status !== 'submitted') {
                throw new Error(`job ${j.status} (${j.error?.message}) before the kill`);
              }
              return undefined;
            },
            400_000,
            200,
          ).catch(async (e: unknown) => {
            // What happened, for the failure report: the job's events, the queue's jobs, A's and the
            // workers' last lines.
            const q = await db.query<{ task: string; state: string; retries: number }>(
              `SELECT data->>'taskId' AS task, state::text AS state, retry_count AS retries FROM pgboss.job
                WHERE name = $1 ORDER BY created_on`,
              [queue],
            );
            throw new Error(
              `${String(e)}\n${jobs
                .events(QUEUED.id)
                .map((x) => `${x.kind} ${x.stage} ${x.attempt} ${x.detail}`)
                .join(
                  '\n',
                )}\nqueue: ${JSON.stringify(q.rows)}\nA:\n${a.log.slice(-20).join('\n')}\nworkers:\n${workerLog.slice(-30).join('')}`,
            );
          });
          await a.exited;
          killedAt = Date.now();
          expect(a.child.signalCode).toBe('SIGKILL');
          sw.route(portB);
          // A's epoch-1 products went through the queue.
          beforeKill = await bankTasks();
          expect(beforeKill).toBeGreaterThan(0);
        });
        const { takeoverSeq } = await checkTakeover(r, QUEUED);
        jobOver = true;
        const kill = await workerKill;
        const takeoverAt = r.jobs.events(QUEUED.id).find((e) => e.seq === takeoverSeq)!.time;
        expect(takeoverAt).toBeGreaterThan(killedAt);
        // B's resumed epochs sent their products to the queue too: tasks finished after the takeover
        // (A's last tasks, if any were in flight when it died, were done long before: the lease is 15 s).
        const afterTakeover = await bankTasks(takeoverAt);
        console.log(
          `queue failover: bank tasks done before the kill ${beforeKill}, after the takeover ${afterTakeover}`,
        );
        expect(afterTakeover).toBeGreaterThan(0);
        expect(r.b.log.some((l) => l.includes('coordinating job'))).toBe(true);
        // The worker died holding a product of this job, which was delivered again (a retry of its
        // pg-boss job: it expired) and completed by the replacement; its result is stored once under the
        // task's id (one row: a second delivery that found a row the dead worker had stored only counts
        // itself), and the job's model is the uninterrupted run's within tolerance (checkTakeover).
        expect(kill, 'a worker SIGKILLed while it held a task of the job').toBeDefined();
        console.log(
          `queue failover: worker SIGKILLed holding ${kill!.tasks.length} task(s) ${
            kill!.at < killedAt ? 'while A held the lease' : 'after A died'
          } (${((killedAt - kill!.at) / 1000).toFixed(1)} s before A's kill; ${kill!.misses} misses): ${JSON.stringify(kill!.after)}`,
        );
        // In A's tenure: the first bank product a fresh worker takes includes loading the job's public
        // context (seconds), watched every ~20 ms, and A cannot reach its fault before that product is done.
        expect(kill!.at).toBeLessThan(killedAt);
        for (const t of kill!.after) {
          expect(t.state).toBe('completed');
          expect(t.retries).toBeGreaterThanOrEqual(1);
          expect(t.rows).toHaveLength(1);
          expect(t.rows[0]!.ok).toBe(true);
          expect(t.rows[0]!.deliveries).toBeGreaterThanOrEqual(1);
        }
      } catch (e) {
        if (r !== undefined) {
          console.log(
            r.jobs
              .events(QUEUED.id)
              .map((x) => `${x.kind} ${x.stage ?? ''} ${x.attempt ?? ''} ${x.detail ?? ''}`)
              .join('\n'),
          );
          console.log(`A:\n${r.a.log.slice(-15).join('\n')}\nB:\n${r.b.log.slice(-25).join('\n')}`);
        }
        throw e;
      } finally {
        jobOver = true;
        await workerKill.catch(() => undefined);
        await db.end();
        if (r !== undefined) for (const s of r.stores) s.close();
        await Promise.all(cluster.processes.map((p) => cluster.stopProcess(p)));
        await r?.sw.close();
      }
    }, 600_000);
  },
);
