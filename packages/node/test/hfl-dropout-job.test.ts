/**
 * A bank drops out of an 'hfl' job mid-round, across four in-process party nodes over real gRPC + mutual
 * TLS on loopback (the platform coordinates, three banks train). bank-3 runs with the test-only fault
 * FEDSCORE_TEST_HFL_DROPOUT (jobs/fault.ts): in round 2 it completes key agreement and sends its
 * encrypted key shares, then stalls for good, before its masked input (Bonawitz et al. 2017: a client in
 * U2 \ U3). The job's `hfl.phaseDeadlineMs` makes the coordinator's secure-aggregation server drop it at
 * the masked-input deadline and unmask with the survivors' shares of its mask key.
 *
 * A second case stops bank-3 right after its masked input instead (a client in U3 \ U4): its input is in
 * round 2's sum, its self-mask seed rebuilt from the other banks' shares. A third runs bank-3 as its own
 * node process (the CLI entry) that SIGKILLs itself after its key shares: the coordinator's runner sees
 * it stop answering mid-stage and, the stage being dropout-tolerant, lets the round's deadlines decide.
 *
 * Checked against an independent reference: each survivor's update [n·w, n] is recomputed here from the
 * bank's own CSV rows, the round's global weights, the round's decayed learning rate (the job's
 * `learningRateDecay`, computed here from its formula) and the bank's batch-order seed (TensorFlow.js in this
 * process, the same float32 training as the node's), and their plain float64 sum must equal the round's
 * secure sum within the fixed-point precision (banks in the sum · 2^-25 per value, fixed-point.ts). Round 1's sum is
 * the plain sum of all three banks; later rounds ask only bank-1 and bank-2. The job completes (done on
 * the platform and the two survivors), the dropout is a `party_dropped` job event, a `party_dropout`
 * entry of the platform's verifying audit chain, and the registered model's `dropped` parameter; bank-3
 * is not a party of publish. A stalled (live) bank-3 hears the coordinator's `job.dropped` notice: it ends
 * its job as failed with code 'dropped' (not 'running' for ever) and its own verifying audit chain holds
 * the train stage's `data_use` of its 300 rows and a `party_dropout` entry. The killed bank-3 of the
 * third case hears nothing then; restarted after the job is done (same state directory), it gets the
 * notice from the coordinator's retry on its runner's tick and ends the same way.
 * Every case runs twice (issue 18): on each node's embedded SQLite store, and with every node's store
 * (the bank-3 process's too, from its YAML) in PostgreSQL (a throwaway loopback cluster, one schema per
 * party and run; store-backends.ts: skipped with the reason printed without PostgreSQL binaries, a
 * failure under CI=true).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRng, type Table } from '@fedscore/core';
import { readCsvFile, writeCsvFile } from '@fedscore/core/node';
import { DEFAULT_LABEL_COLUMN, generatePopulation, ID_COLUMN, splitHorizontal } from '@fedscore/datasets';
import {
  fitTfjs,
  initialModelWeights,
  initTfjsBackend,
  type LocalRows,
  type ModelSpec,
  secAggVector,
} from '@fedscore/hfl';
import { DROPPED_CODE, type JobSpecInput, type PartyNode, TEST_HFL_DROPOUT_ENV } from '@fedscore/node';
import { NodeCluster, trainingConsents } from '@fedscore/node/testing';
import { type HflTrainCheckpoint, hflRows } from '@fedscore/pipeline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeStores } from './store-backends.ts';

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../cli/src/main.ts');

const BANKS = ['bank-1', 'bank-2', 'bank-3'] as const;
const PARTIES = ['platform', ...BANKS] as const;
type Party = (typeof PARTIES)[number];
const SEED = 9;
const ROUNDS = 4;
const DROP_ROUND = 2;
// A decaying step (round r: 0.3 / (1 + 0.5 · (r − 1))): the reference below recomputes each round's rate.
const HFL = {
  model: 'lr',
  rounds: ROUNDS,
  secureAgg: true,
  learningRate: 0.3,
  learningRateDecay: 0.5,
  batchSize: 32,
} as const;
// Fixed point at 2^-24, each client's value rounded to nearest (fixed-point.ts): |error| <= n · 2^-25.
const fixedPointBound = (clients: number): number => clients * 2 ** -25;

describeStores('hfl job: one of three banks drops out mid-round', (backend) => {
  let cluster: NodeCluster<Party>;
  const files = {} as Record<Party, string>;

  const read = (f: string): Promise<Table> =>
    readCsvFile(f, { file: f, idColumn: ID_COLUMN, labelColumn: DEFAULT_LABEL_COLUMN, impute: 'keep' });

  beforeAll(async () => {
    cluster = await NodeCluster.create({
      parties: PARTIES,
      cliMain: CLI,
      config: (p, run) => ({
        data: {
          [p === 'platform' ? 'test' : 'loans']: {
            path: files[p],
            id: ID_COLUMN,
            label: DEFAULT_LABEL_COLUMN,
          },
        },
        limits: { peerDownSeconds: 30, retries: 2, retryBaseMs: 50, maxAttempts: 2 },
        ...(backend.name === 'postgres' && {
          store: { kind: 'postgres', url: backend.url(), schema: `${p}_${run}`.replaceAll('-', '_') },
        }),
      }),
    });
    const split = splitHorizontal(
      generatePopulation({ enterprises: 5000, overlap: 1, defaultRate: 0.1, seed: 21 }),
      { banks: 3, bankRows: 300, seed: 22 },
    );
    const dir = join(cluster.dir, 'data');
    mkdirSync(dir, { recursive: true });
    for (const [i, b] of split.banks.entries()) {
      files[BANKS[i]!] = join(dir, `${b.name}.csv`);
      await writeCsvFile(files[BANKS[i]!], b.table);
    }
    files.platform = join(dir, 'test.csv');
    await writeCsvFile(files.platform, split.test);
  });
  afterAll(async () => {
    await cluster.close();
  });

  const SHARES_SENT_ROUND2 = { included: ['bank-1', 'bank-2'], dropouts: ['bank-3'], lateDropped: undefined };
  const cases = [
    {
      id: 'hfl-drop-a',
      what: 'stalls after its key shares',
      step: 'shares-sent',
      how: 'stall',
      // Not in U3: the server rebuilds its mask key from the survivors' shares and cancels its pairwise
      // masks; the round's sum is the survivors' only.
      round2: SHARES_SENT_ROUND2,
    },
    {
      id: 'hfl-drop-b',
      what: 'stalls after its masked input',
      step: 'masked-input-sent',
      how: 'stall',
      // In U3, silent before unmasking: its input is in the sum, its self-mask seed is rebuilt from the
      // other two banks' shares (its own share never comes); it takes no part in later rounds.
      round2: { included: [...BANKS], dropouts: [], lateDropped: ['bank-3'] },
    },
    {
      id: 'hfl-drop-c',
      what: 'is killed (its node process, SIGKILL) after its key shares',
      step: 'shares-sent',
      how: 'kill',
      // The coordinator's runner sees it stop answering and lets the round's deadlines decide.
      round2: SHARES_SENT_ROUND2,
    },
  ] as const;

  const consentsOf = async (b: Party) =>
    trainingConsents((await readCsvFile(files[b], { idColumn: ID_COLUMN, impute: 'keep' })).ids, 'platform');

  /** bank-3 as its own node process (the real CLI entry), so that the fault can SIGKILL it. */
  const startChild = async (run: string, fault: string): Promise<ChildProcess> => {
    cluster.grantConsents('bank-3', await consentsOf('bank-3'), run);
    const proc = await cluster.startProcess('bank-3', {
      run,
      env: { NODE_ENV: 'test', [TEST_HFL_DROPOUT_ENV]: fault },
    });
    return proc.child;
  };

  it.each(cases)(
    'bank-3 $what in round 2: exact sum, later rounds without it',
    async (c) => {
      const id = c.id;
      const fault = `${DROP_ROUND}:${c.step}${c.how === 'kill' ? ':kill' : ''}`;
      const inProcess = c.how === 'kill' ? PARTIES.filter((p) => p !== 'bank-3') : [...PARTIES];
      const child = c.how === 'kill' ? await startChild(id, fault) : undefined;
      const exited =
        child && new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_c, sig) => r(sig)));
      const n = (await cluster.startAll(
        { run: id },
        { 'bank-3': { env: { NODE_ENV: 'test', [TEST_HFL_DROPOUT_ENV]: fault } } },
        inProcess,
      )) as Partial<Record<Party, PartyNode>> & {
        platform: PartyNode;
        'bank-1': PartyNode;
        'bank-2': PartyNode;
      };
      for (const b of inProcess) if (b !== 'platform') n[b]!.consents.grantAll(await consentsOf(b));
      for (const p of inProcess) expect(n[p]!.store.dialect, p).toBe(backend.name);
      const spec: JobSpecInput & { id: string } = {
        id,
        kind: 'hfl',
        guest: 'platform',
        hosts: [...BANKS],
        data: { platform: 'test', 'bank-1': 'loans', 'bank-2': 'loans', 'bank-3': 'loans' },
        seed: SEED,
        model: 'sme-hfl',
        hfl: { ...HFL, phaseDeadlineMs: 5000, fitDeadlineMs: 60_000 },
      };
      n.platform.submit(spec);
      const done = await n.platform.runner.waitFor(id, 240_000);
      expect(done.error).toBeUndefined();
      expect(done.status).toBe('done');

      // What the coordinator recorded: bank-3 is out of round 2 on, the others took part in every round.
      const t = n.platform.jobs.requireCheckpoint<HflTrainCheckpoint>(id, 'train');
      expect(t.dropped).toEqual(['bank-3']);
      expect(t.history.map((h) => [h.asked, h.included, h.dropouts, h.lateDropped])).toEqual([
        [[...BANKS], [...BANKS], [], undefined],
        [[...BANKS], c.round2.included, c.round2.dropouts, c.round2.lateDropped],
        [['bank-1', 'bank-2'], ['bank-1', 'bank-2'], [], undefined],
        [['bank-1', 'bank-2'], ['bank-1', 'bank-2'], [], undefined],
      ]);

      // The independent reference: each bank's update recomputed from its own rows and seeds.
      await initTfjsBackend();
      const test = await read(files.platform);
      const columns = test.columns.map((c) => c.name);
      const rows = {} as Record<string, LocalRows>;
      for (const b of BANKS) rows[b] = hflRows(await read(files[b]), columns, 'label');
      const spec0: ModelSpec = { kind: 'lr', features: rows['bank-1']!.features };
      // Each bank's batch order: seed + 1000 + its index in the job's hosts (the pipeline's, not secret).
      const batchRng = Object.fromEntries(BANKS.map((b, i) => [b, seededRng(SEED + 1000 + i)]));
      let global = initialModelWeights(spec0, seededRng(SEED));
      const d = global.length;
      for (const h of t.history) {
        const plain = new Float64Array(d + 1);
        for (const b of h.included) {
          const reply = await fitTfjs(
            spec0,
            {
              client: b,
              round: h.round,
              weights: global,
              localEpochs: 1,
              learningRate: HFL.learningRate / (1 + HFL.learningRateDecay * (h.round - 1)),
              batchSize: HFL.batchSize,
              proximalMu: 0,
            },
            rows[b]!,
            batchRng[b]!,
          );
          const v = secAggVector(reply);
          for (let i = 0; i <= d; i++) plain[i]! += v[i]!;
        }
        const secure = h.sum!;
        expect(secure.length).toBe(d + 1);
        let maxErr = 0;
        for (let i = 0; i <= d; i++) maxErr = Math.max(maxErr, Math.abs(secure[i]! - plain[i]!));
        expect(maxErr, `round ${h.round}`).toBeLessThanOrEqual(fixedPointBound(h.included.length));
        // The survivors' sample count is exact (integers are exact in fixed point).
        expect(secure[d], `round ${h.round}`).toBe(h.included.length * 300);
        // FedAvg's next global weights from the coordinator's sum (its only view of the updates).
        global = Float64Array.from(secure.slice(0, d), (x) => x / secure[d]!);
      }
      expect(Array.from(global)).toEqual(t.weights);

      // Reported: a job event, the platform's audit, the registered model; bank-3 is not in publish.
      const events = n.platform.jobs.events(id).filter((e) => e.kind === 'party_dropped');
      expect(events.map((e) => [e.stage, e.detail])).toEqual([['train', `bank-3 round=${DROP_ROUND}`]]);
      const audited = [...n.platform.audit.entries({ job: id, kind: 'party_dropout' })];
      expect(audited.map((a) => [a.actor, a.dataOwner, a.details?.['stage'], a.details?.['round']])).toEqual([
        ['platform', 'bank-3', 'train', DROP_ROUND],
      ]);
      expect(n.platform.audit.verify().ok).toBe(true);
      expect(n.platform.models.get('sme-hfl@1').parameters['dropped']).toBe('bank-3');
      for (const b of ['bank-1', 'bank-2'] as const) {
        expect(n[b].jobs.require(id).status).toBe('done');
        expect(n[b].models.get('sme-hfl@1').parameters['dropped']).toBe('bank-3');
      }
      if (child !== undefined) {
        expect(await exited).toBe('SIGKILL');
        // The runner went on although bank-3 stopped answering mid-stage (the dropout-tolerant train
        // stage: the job is done above). Whether the runner's poll saw it silent ('bank-3 io') before the
        // coordinator's role dropped it is a race (a dead peer's connection is refused at once, so the
        // role may drop it and finish before two failed polls): if it did, the event names bank-3 only.
        const silent = n.platform.jobs
          .events(id)
          .filter((e) => e.kind === 'party_silent')
          .map((e) => e.detail);
        for (const d of silent) expect(d).toMatch(/^bank-3 /);
        // The first notice found bank-3 dead: nothing acknowledged it.
        expect(n.platform.jobs.events(id).filter((e) => e.kind === 'dropout_notified')).toEqual([]);
        // bank-3 restarts (same state directory, no fault) holding the job as running; the
        // coordinator's tick sends the notice again and it learns the job went on without it.
        n['bank-3'] = await cluster.start('bank-3', { run: id });
        expect(n['bank-3'].jobs.require(id).status).toBe('running');
      }
      {
        // The coordinator's notice reached bank-3: it ends the job as dropped (not 'running' for ever)
        // and audits the use of its rows in the rounds it took part in, and the dropout itself.
        const b3 = n['bank-3']!;
        const t0 = Date.now();
        // The bank ends its job before it answers the notice; the coordinator records the answer after.
        const acknowledged = () => n.platform.jobs.events(id).some((e) => e.kind === 'dropout_notified');
        while ((b3.jobs.require(id).status === 'running' || !acknowledged()) && Date.now() - t0 < 30_000) {
          await new Promise((r) => setTimeout(r, 100));
        }
        const rec = b3.jobs.require(id);
        expect(rec.status).toBe('failed');
        expect(rec.error?.code).toBe(DROPPED_CODE);
        expect(rec.error?.message).toContain(`round ${DROP_ROUND}`);
        expect(
          n.platform.jobs
            .events(id)
            .filter((e) => e.kind === 'dropout_notified')
            .map((e) => e.detail),
        ).toEqual(['bank-3']);
        const uses = [...b3.audit.entries({ job: id, kind: 'data_use' })];
        expect(uses.map((u) => [u.actor, u.dataOwner, u.details?.['stage']])).toEqual([
          ['platform', 'bank-3', 'train'],
        ]);
        // Every one of its 300 customers consented: all its rows trained in rounds 1 (and 2).
        expect(uses[0]!.enterpriseCount).toBe(300);
        const own = [...b3.audit.entries({ job: id, kind: 'party_dropout' })];
        expect(own.map((a) => [a.actor, a.dataOwner, a.details?.['round']])).toEqual([
          ['platform', 'bank-3', DROP_ROUND],
        ]);
        expect(b3.audit.verify().ok).toBe(true);
        expect(b3.models.list({ name: 'sme-hfl' })).toEqual([]);
      }
      await cluster.stopAll(n);
      if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
    300_000,
  );
});
