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
 * 1. Kill: A holds the job's lease (its /healthz says `holder`, B's `standby`); once A's train stage has
 *    committed an epoch checkpoint the test SIGKILLs A's process. B, which was polling the store all
 *    along, takes the lease over after it expires (a `lease_taken_over` event, epoch 2), resumes
 *    training from the last epoch checkpoint every party holds, and finishes the job.
 * 2. Stall (fencing): A is SIGSTOPped mid-training instead, for longer than its lease; B takes the job
 *    over. A is then SIGCONTed while B still runs it: A finds its lease lost and stops coordinating
 *    (logged with the typed code `lease_lost`); the store refuses any write of A's for the job (the
 *    lease epoch fence, job-store.ts; every write path is covered in store-replicas.test.ts), and no
 *    event of A's attempt is written after the takeover. The final state and model are B's.
 *
 * The reference is an uninterrupted run of the same job (same id, seed, party secrets) on in-process
 * nodes, as in jobs-replica.test.ts. The arbiter's store is SQLite. Skipped with the reason printed
 * without PostgreSQL binaries (CI: a failure).
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCsvFile } from '@fedscore/core/node';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import {
  type HealthReport,
  type JobSpecInput,
  JobStore,
  NodeStore,
  submitJob,
  type TrainCheckpoint,
} from '@fedscore/node';
import {
  freePorts,
  NodeCluster,
  type NodeConfigOverrides,
  type NodeProcess,
  trainingConsents,
} from '@fedscore/node/testing';
import { type PgCluster, postgresUnavailable, startPgCluster } from '@fedscore/queue/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../cli/src/main.ts');
const PARTIES = ['bank', 'government', 'arbiter'] as const;
type Party = (typeof PARTIES)[number];
const JOB = 'credit-line-kill';
/** The bank replicas' lease (config `store.leaseMs`), renewed every 250 ms. */
const LEASE_MS = 3000;

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
      await cluster?.close();
      pg?.stop();
    });

    const spec = (): JobSpecInput & { id: string } => ({
      id: JOB,
      guest: 'bank',
      hosts: ['government'],
      arbiter: 'arbiter',
      data: { bank: 'loans', government: 'credit' },
      seed: 11,
      allowPlaintextScheme: true,
      binning: { enabled: false },
      // Several batches per epoch and enough epochs that the test catches the run between checkpoints.
      train: { scheme: 'none', maxEpochs: 8, batchSize: 72 },
    });
    const f64 = (t: TrainCheckpoint): string =>
      Buffer.from(Float64Array.from([...t.model!.weights, t.model!.intercept]).buffer).toString('hex');
    let reference: Record<'bank' | 'government', TrainCheckpoint> | undefined;
    let referenceMs = 0;

    it('the uninterrupted reference run', async () => {
      cluster.grantConsents('government', trainingConsents(govIds, 'bank'), 'ref');
      const nodes = await cluster.startAll({ run: 'ref' });
      try {
        const t0 = Date.now();
        nodes.bank.submit(spec());
        const done = await nodes.bank.runner.waitFor(JOB, 180_000);
        referenceMs = Date.now() - t0;
        expect(done.error).toBeUndefined();
        reference = {
          bank: nodes.bank.jobs.requireCheckpoint<TrainCheckpoint>(JOB, 'train'),
          government: nodes.government.jobs.requireCheckpoint<TrainCheckpoint>(JOB, 'train'),
        };
        // Mid-training disruptions below need epochs to happen in.
        expect(reference.bank.epochs).toBeGreaterThanOrEqual(3);
        console.log(`reference run: ${referenceMs} ms, ${reference.bank.epochs} epochs`);
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
      s: string,
      disrupt: (a: NodeProcess, sw: TcpSwitch, portB: number, jobs: JobStore) => Promise<void>,
    ): Promise<{
      a: NodeProcess;
      b: NodeProcess;
      jobs: JobStore;
      gov: JobStore;
      stores: NodeStore[];
      sw: TcpSwitch;
      disruptedAtAttempt: number;
    }> => {
      expect(reference).toBeDefined();
      cluster.grantConsents('government', trainingConsents(govIds, 'bank'), s);
      cluster.copyPartySecrets('ref', `${s}a`, ['bank']);
      cluster.copyPartySecrets('ref', s, ['government']);
      const [portA, httpA, portB, httpB] = await freePorts(4);
      const replica = (r: 'a' | 'b', port: number, http: number) =>
        cluster.startProcess('bank', {
          run: `${s}${r}`,
          config: { listen: `127.0.0.1:${port}`, http: `127.0.0.1:${http}` },
        });
      const sw = await TcpSwitch.listen(cluster.ports.bank, portA!);
      const stores = [
        NodeStore.postgres(pg.url, { schema: schemaOf('bank', s) }),
        NodeStore.postgres(pg.url, { schema: schemaOf('government', s), readOnly: true }),
      ];
      const jobs = new JobStore(stores[0]!);
      const gov = new JobStore(stores[1]!);
      await cluster.startProcess('government', { run: s });
      await cluster.startProcess('arbiter', { run: s });
      const a = await replica('a', portA!, httpA!);
      submitJob(jobs, 'bank', spec());
      await until('replica A to take the lease', () => jobs.lease(JOB));
      const b = await replica('b', portB!, httpB!);
      const health = async (port: number): Promise<HealthReport> =>
        (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as HealthReport;
      expect((await health(httpA!)).lease?.role).toBe('holder');
      expect((await health(httpB!)).lease?.role).toBe('standby');
      expect(jobs.lease(JOB)?.epoch).toBe(1);
      // Mid-training: A's train stage has committed an epoch checkpoint.
      await until(
        'an epoch checkpoint of the train stage',
        () => {
          const j = jobs.require(JOB);
          if (j.status !== 'running') throw new Error(`job ${j.status} before the disruption`);
          return jobs.epochCheckpoints(JOB, 'train').length >= 1 ? true : undefined;
        },
        180_000,
        10,
      );
      const disruptedAtAttempt = jobs.require(JOB).attempt;
      await disrupt(a, sw, portB!, jobs);
      return { a, b, jobs, gov, stores, sw, disruptedAtAttempt };
    };

    const checkTakeover = async (
      r: Awaited<ReturnType<typeof scenario>>,
    ): Promise<{ takeoverSeq: number }> => {
      const done = await until(
        'the job to end',
        () => {
          const j = r.jobs.require(JOB);
          return j.status === 'done' || j.status === 'failed' ? j : undefined;
        },
        180_000,
        200,
      );
      expect(done.error).toBeUndefined();
      expect(done.status).toBe('done');
      const events = r.jobs.events(JOB);
      const takeovers = events.filter((e) => e.kind === 'lease_taken_over');
      expect(takeovers.map((e) => e.detail)).toEqual(['epoch=2']);
      expect(r.jobs.leaseEpoch(JOB)).toBe(2);
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
        const t = store.requireCheckpoint<TrainCheckpoint>(JOB, 'train');
        expect(t.resumedFrom, p).toBe(from);
        expect(t.epochs, p).toBe(reference![p].epochs);
        expect(f64(t), p).toBe(f64(reference![p]));
      }
      // Every event after the takeover belongs to B's attempts (above A's last one).
      const takeoverSeq = takeovers[0]!.seq;
      for (const e of events.filter((x) => x.seq > takeoverSeq && x.attempt !== null && x.stage !== null)) {
        if (e.stage === 'train' || e.stage === 'evaluate' || e.stage === 'publish') {
          expect(e.attempt!, `${e.kind} ${e.stage}`).toBeGreaterThan(
            e.stage === 'train' ? r.disruptedAtAttempt : -1,
          );
        }
      }
      return { takeoverSeq };
    };

    it('replica A (the lease holder) is SIGKILLed mid-training; replica B takes the lease over and the model is bit-identical', async () => {
      let killedAt = 0;
      const r = await scenario('k', async (a, sw, portB) => {
        a.child.kill('SIGKILL');
        killedAt = Date.now();
        sw.route(portB);
        await a.exited;
        expect(a.child.signalCode).toBe('SIGKILL');
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
      const r = await scenario('s', async (a, sw, portB, jobs) => {
        const stoppedAt = Date.now();
        a.child.kill('SIGSTOP');
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
      });
      try {
        const { takeoverSeq } = await checkTakeover(r);
        expect(stalledFor).toBeGreaterThan(LEASE_MS);
        // A woke up, found the job taken over and stopped coordinating it (typed: lease_lost).
        await until('A to log the lost lease', () =>
          r.a.log.some((l) => l.includes('job lease lost') && l.includes('lease_lost')) ? true : undefined,
        );
        expect(r.a.child.exitCode).toBeNull(); // still running: it lost one job, not the process
        // Nothing of A's after the takeover: the store's events after it are B's attempts only (above),
        // and the job's state is B's (done, bit-identical model, checked above).
        expect(takeoverSeq).toBeGreaterThan(0);
      } finally {
        for (const s of r.stores) s.close();
        await Promise.all(cluster.processes.map((p) => cluster.stopProcess(p)));
        await r.sw.close();
      }
    });
  },
);
