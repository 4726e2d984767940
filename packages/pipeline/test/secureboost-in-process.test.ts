/**
 * The `secureboost` pipeline (psi -> train -> evaluate -> publish) with every party in this process
 * (`runStageInProcess`: each party's role function over one in-memory network with the real wire codec,
 * each with its own store) -- the same functions a node runs over gRPC. Checked against independent
 * references: the aligned rows against a plain set intersection of the ids; the trained trees against
 * vfl's `trainSecureBoost` run directly on the same training rows with the same hyperparameters (scheme
 * `none` is deterministic: the trees must be identical, so the plan's hyperparameters reach the
 * protocol); the evaluate stage's AUC/KS against core's `auc`/`ks` over vfl's `predictSecureBoost` on
 * the held-out rows (tolerance 0: the same arithmetic); each party's published model and importance
 * against its own column names only (searched as text for every other party's names).
 */
import { auc, featureColumns, ks, type Table } from '@fedscore/core';
import {
  type EvaluateCheckpoint,
  type JobPlan,
  memoryStore,
  type PsiCheckpoint,
  pipelineFor,
  planStages,
  runSecureBoostInProcess,
  runStageInProcess,
  SECUREBOOST_MODEL_MESSAGE,
  SECUREBOOST_PIPELINE,
  type SecureBoostModelMessage,
  type SecureBoostPublishOutcome,
  type SecureBoostTrainCheckpoint,
} from '@fedscore/pipeline';
import { parseGuestModel, parseHostModel, predictSecureBoost, trainSecureBoost } from '@fedscore/vfl';
import { fedscore } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';
import { population } from './population.ts';

const HYPERPARAMS = { trees: 4, depth: 3, bins: 16, learningRate: 0.3, l2: 2, minChildWeight: 0.5 };

const PLAN: JobPlan = {
  id: 'job-secureboost',
  kind: 'secureboost',
  guest: 'bank',
  hosts: ['government'],
  seed: 5,
  testFraction: 0.3,
  binning: { enabled: false, method: 'quantile', bins: 10, minIv: 0, scheme: 'none' },
  train: { scheme: 'none', maxEpochs: 1 },
  consent: { purpose: 'training' },
  allowPlaintextScheme: true,
  secureboost: HYPERPARAMS,
};

const GUEST_NAMES = ['g0', 'g1', 'g2', 'sector'];
const HOST_NAMES = ['h0', 'h1', 'h2'];

function rowsOf(t: Table, rows: readonly number[]) {
  return featureColumns(t, rows);
}

describe('the SecureBoost pipeline with every party in one process', () => {
  it('trains the trees vfl trains directly, evaluates them jointly, and publishes each party only its own', async () => {
    expect(pipelineFor('secureboost')).toBe(SECUREBOOST_PIPELINE);
    const pop = population(2000, 13);
    const plaintextOk = { allowPlaintextScheme: true, allowWeakParameters: false };
    const parties = [
      { id: 'bank', table: pop.guest, store: memoryStore(), he: plaintextOk },
      { id: 'government', table: pop.host, store: memoryStore(), he: plaintextOk },
    ];
    const stages = planStages(SECUREBOOST_PIPELINE, PLAN);
    expect(stages.map((s) => s.name)).toEqual(['psi', 'train', 'evaluate', 'publish']);
    const out: Record<string, Record<string, unknown>> = {};
    for (const stage of stages) out[stage.name] = await runStageInProcess(stage, { plan: PLAN, parties });
    const [bank, gov] = parties.map((p) => p.store);

    // psi: exactly the ids both hold, the same rows on both sides.
    const psi = bank!.checkpoint<PsiCheckpoint>('psi');
    const gPsi = gov!.checkpoint<PsiCheckpoint>('psi');
    const hostIds = new Set(pop.host.ids);
    expect(psi.rows).toEqual(pop.guest.ids.flatMap((id, r) => (hostIds.has(id) ? [r] : [])));
    expect(gPsi.rows.map((r) => pop.host.ids[r])).toEqual(psi.rows.map((r) => pop.guest.ids[r]));
    const test = new Set(psi.test);
    const trainPos = psi.rows.map((_, p) => p).filter((p) => !test.has(p));

    // train: the same trees as vfl's own run on the same rows and hyperparameters.
    const gTrain = bank!.checkpoint<SecureBoostTrainCheckpoint>('train');
    const hTrain = gov!.checkpoint<SecureBoostTrainCheckpoint>('train');
    const guestModel = parseGuestModel(gTrain.model);
    const hostModel = parseHostModel(hTrain.model);
    const labels = pop.guest.label!;
    const direct = await trainSecureBoost({
      guest: {
        id: 'bank',
        features: rowsOf(
          pop.guest,
          trainPos.map((p) => psi.rows[p]!),
        ),
        labels: Float64Array.from(trainPos, (p) => labels[psi.rows[p]!]!),
      },
      hosts: [
        {
          id: 'government',
          features: rowsOf(
            pop.host,
            trainPos.map((p) => gPsi.rows[p]!),
          ),
        },
      ],
      scheme: 'none',
      hyperparams: HYPERPARAMS,
    });
    expect(guestModel.trees).toEqual(direct.guest.trees);
    expect(guestModel.trees).toHaveLength(HYPERPARAMS.trees);
    expect(hostModel.splits).toEqual(direct.hosts[0]!.splits);
    expect(guestModel.modelId).toBe(PLAN.id);
    expect(hostModel.modelId).toBe(PLAN.id);
    expect(gTrain.history).toHaveLength(HYPERPARAMS.trees);

    // evaluate: AUC/KS of vfl's joint prediction on the held-out rows.
    const ev = bank!.checkpoint<EvaluateCheckpoint>('evaluate');
    const pred = await predictSecureBoost({
      guest: {
        id: 'bank',
        model: direct.guest,
        features: rowsOf(
          pop.guest,
          psi.test.map((p) => psi.rows[p]!),
        ),
      },
      hosts: [
        {
          id: 'government',
          model: direct.hosts[0]!,
          features: rowsOf(
            pop.host,
            psi.test.map((p) => gPsi.rows[p]!),
          ),
        },
      ],
    });
    const yTest = Float64Array.from(psi.test, (p) => labels[psi.rows[p]!]!);
    expect(ev.testRows).toBe(psi.test.length);
    expect(ev.auc).toBe(auc(yTest, pred.scores));
    expect(ev.ks).toBe(ks(yTest, pred.scores).ks);
    expect(ev.auc!).toBeGreaterThan(0.7);

    // publish: each party's own model and importance, with its own feature names only.
    const gOut = out['publish']!['bank'] as SecureBoostPublishOutcome;
    const hOut = out['publish']!['government'] as SecureBoostPublishOutcome;
    expect([...bank!.artifacts.keys()].sort()).toEqual([
      'bank.importance.json',
      'bank.secureboost.json',
      'metrics.json',
    ]);
    expect([...gov!.artifacts.keys()].sort()).toEqual([
      'government.importance.json',
      'government.secureboost.json',
    ]);
    const guestFile = bank!.artifacts.get('bank.secureboost.json')!;
    const hostFile = gov!.artifacts.get('government.secureboost.json')!;
    expect(parseGuestModel(guestFile).format).toBe('fedscore.secureboost.guest');
    expect(parseHostModel(hostFile).format).toBe('fedscore.secureboost.host');
    for (const name of HOST_NAMES) {
      expect(guestFile).not.toContain(`"${name}"`);
      expect(bank!.artifacts.get('bank.importance.json')).not.toContain(`"${name}"`);
    }
    for (const name of GUEST_NAMES) {
      expect(hostFile).not.toContain(`"${name}`);
      expect(gov!.artifacts.get('government.importance.json')).not.toContain(`"${name}`);
    }
    // The guest holds a host split only as (host index, opaque split id): one per host split record.
    const hostSplits = guestModel.trees.flat().filter((n) => n.kind === 'host-split');
    const guestSplits = guestModel.trees.flat().filter((n) => n.kind === 'guest-split');
    expect(hostSplits.length).toBeGreaterThan(0);
    expect(guestSplits.length).toBeGreaterThan(0);
    expect(hostModel.splits.map((s) => s.splitId).sort((a, b) => a - b)).toEqual(
      hostSplits.map((n) => (n.kind === 'host-split' ? n.splitId : -1)).sort((a, b) => a - b),
    );
    expect(hostModel.features).toEqual(HOST_NAMES);

    // importance: split counts and gains recounted from the trees.
    const gi = gOut.importance;
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    expect(Object.keys(gi.features)).toEqual(guestModel.features);
    expect(sum(Object.values(gi.features).map((f) => f.splits))).toBe(guestSplits.length);
    expect(sum(Object.values(gi.features).map((f) => f.gain!))).toBeCloseTo(
      sum(guestSplits.map((n) => n.gain)),
      9,
    );
    expect(gi.hosts!['government']!.splits).toBe(hostSplits.length);
    expect(gi.hosts!['government']!.gain).toBeCloseTo(sum(hostSplits.map((n) => n.gain)), 9);
    const hi = hOut.importance;
    expect(Object.keys(hi.features)).toEqual(HOST_NAMES);
    for (const [k, name] of HOST_NAMES.entries()) {
      expect(hi.features[name]!.splits).toBe(hostModel.splits.filter((s) => s.feature === k).length);
      expect(hi.features[name]!.gain).toBeUndefined();
    }
    // the host learns the joint facts and the aggregate test metrics, not the trees
    expect(hOut.joint).toEqual(gOut.joint);
    expect(hOut.joint.metrics.auc).toBe(ev.auc);
    expect(hOut.joint.parameters['l2']).toBe(2);
  }, 180_000);

  it('runs the same stages through runSecureBoostInProcess (the CLI path), refusing `none` without the opt-in', async () => {
    const pop = population(1200, 17);
    const r = await runSecureBoostInProcess({
      guest: { id: 'guest', table: pop.guest },
      hosts: [{ id: 'host-1', table: pop.host }],
      he: { scheme: 'none' },
      hyperparams: { trees: 3, depth: 2 },
      seed: 3,
      testFraction: 0.25,
    });
    expect(r.trees).toBe(3);
    expect(r.guestModel.trees.every((t) => t.length <= 7)).toBe(true);
    expect(r.test.auc).toBeGreaterThan(0.65);
    expect(r.train.auc).toBeGreaterThan(r.test.auc - 0.1);
    expect(r.bytesSent['guest']).toBeGreaterThan(0);
    expect(r.bytesSent['host-1']).toBeGreaterThan(0);
    expect(r.insecure).toBe(true);
    expect(r.importance.map((i) => i.party)).toEqual(['guest', 'host-1']);
    expect([...r.files.get('host-1')!.keys()].sort()).toEqual([
      'host-1.importance.json',
      'host-1.secureboost.json',
    ]);

    // A guest whose own policy does not accept the plaintext scheme refuses it, whatever the plan asks.
    const parties = [
      { id: 'bank', table: pop.guest, store: memoryStore() },
      {
        id: 'government',
        table: pop.host,
        store: memoryStore(),
        he: { allowPlaintextScheme: true, allowWeakParameters: false },
      },
    ];
    await runStageInProcess(SECUREBOOST_PIPELINE.stages[0]!, { plan: PLAN, parties });
    await expect(
      runStageInProcess(SECUREBOOST_PIPELINE.stages[1]!, { plan: PLAN, parties }),
    ).rejects.toMatchObject({
      code: 'policy',
      field: 'scheme',
    });
  }, 120_000);

  it('`secureboost-model` (node_job.proto) round-trips; a malformed one is a wire_decode error naming the field', () => {
    const m: SecureBoostModelMessage = {
      modelId: 'job-1',
      guest: 'bank',
      hosts: ['government', 'utility'],
      scheme: 'ckks',
      trees: 30,
      parameters: { trees: 30, learningRate: 0.3, sampling: 'goss', warmStart: false },
      metrics: { auc: 0.78, ks: 0.43, testRows: 6000 },
    };
    expect(SECUREBOOST_MODEL_MESSAGE.decode(SECUREBOOST_MODEL_MESSAGE.encode(m))).toEqual(m);
    const wire = (patch: object) =>
      fedscore.nodejob.SecureBoostModel.encode({
        modelId: 'job-1',
        guest: 'bank',
        hosts: ['government'],
        scheme: fedscore.he.Scheme.SCHEME_CKKS,
        trees: 1,
        metrics: { testRows: 1 },
        ...patch,
      }).finish();
    for (const [patch, field] of [
      [{ modelId: '' }, 'model_id'],
      [{ hosts: [] }, 'hosts'],
      [{ scheme: 0 }, 'scheme'],
      [{ parameters: { trees: { number: Number.NaN } } }, 'parameters.trees'],
      [{ metrics: null }, 'metrics'],
    ] as const) {
      expect(() => SECUREBOOST_MODEL_MESSAGE.decode(wire(patch)), field).toThrow(
        expect.objectContaining({ code: 'wire_decode', message: expect.stringContaining(field) }),
      );
    }
  });
});
