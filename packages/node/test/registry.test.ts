/**
 * The model registry: versions, lifecycle (one production version per name, archive on promote, retire
 * is final), history, comparison, and registration from the hetero-LR files `train hetero-lr` writes
 * (built here with vfl's own serializers, so the registry reads exactly what training emits).
 */
import {
  AuditLog,
  enterpriseSetFingerprint,
  type ModelRegistration,
  ModelRegistry,
  parseRef,
} from '@fedscore/node';
import {
  JOINT_MODEL_FORMAT,
  type JointModelDescriptor,
  MODEL_FORMAT_VERSION,
  PARTY_MODEL_FORMAT,
  serializeJointModel,
  serializePartyModel,
} from '@fedscore/vfl';
import { expect, it } from 'vitest';
import { describeStores } from './store-backends.ts';

const FP = enterpriseSetFingerprint(['A', 'B', 'C']);

function base(over: Partial<ModelRegistration> = {}): ModelRegistration {
  return {
    name: 'sme-credit-line',
    algorithm: 'hetero-lr',
    modelId: 'run-1',
    parties: [
      { id: 'bank-a', role: 'guest', featureNames: ['revenue', 'debt_ratio'] },
      { id: 'gov', role: 'host', featureNames: ['tax_paid', 'penalties'] },
    ],
    metrics: { auc: 0.75, ks: 0.38 },
    parameters: { learningRate: 0.15, l2: 0.01, scheme: 'ckks' },
    dataFingerprints: { trainingSet: FP },
    lineage: { job: 'job-1', binning: 'binning-job-1' },
    ...over,
  };
}

function descriptor(modelId: string, lr: number): JointModelDescriptor {
  return {
    format: JOINT_MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    modelId,
    createdAt: '2025-01-01T00:00:00.000Z',
    link: 'logit',
    interceptHolder: 'bank-a',
    parties: [
      { id: 'bank-a', role: 'guest', featureNames: ['revenue'] },
      { id: 'gov', role: 'host', featureNames: ['h0', 'h1'] },
    ],
    training: {
      mode: 'arbiter',
      scheme: 'ckks',
      insecure: false,
      rows: 1000,
      validationRows: 100,
      epochs: 5,
      keptEpoch: 4,
      sigmoid: 'taylor-1: 0.5 + z/4',
      hyperparams: {
        batchSize: 256,
        maxEpochs: 5,
        learningRate: lr,
        lrSchedule: 'constant',
        lrDecay: 0,
        l2: 0.01,
        validationFraction: 0.1,
        patience: 3,
        tolerance: 1e-4,
        validationEvery: 1,
        maskBits: 40,
        seed: 7,
        classWeighted: true,
      },
    },
  } as JointModelDescriptor;
}

describeStores('ModelRegistry', (backend) => {
  it('numbers versions per name and resolves references', () => {
    let t = 1000;
    const reg = new ModelRegistry(backend.newStore(), { party: 'bank-a', now: () => t++ });
    const v1 = reg.register(base());
    const v2 = reg.register(base({ modelId: 'run-2', lineage: { parent: 'sme-credit-line@1' } }));
    const other = reg.register(base({ name: 'micro-loan' }));
    expect([v1.ref, v2.ref, other.ref]).toEqual(['sme-credit-line@1', 'sme-credit-line@2', 'micro-loan@1']);
    expect(v1.status).toBe('candidate');
    expect(reg.get('sme-credit-line').version).toBe(2);
    expect(reg.get('sme-credit-line@1')).toEqual(v1);
    expect(reg.list({ name: 'sme-credit-line' }).map((m) => m.version)).toEqual([2, 1]);
    expect(() => reg.get('sme-credit-line@production')).toThrow(
      expect.objectContaining({ code: 'not_found' }),
    );
    expect(() => reg.get('sme-credit-line@9')).toThrow(
      expect.objectContaining({ code: 'not_found', field: 'ref' }),
    );
    expect(() => reg.register(base({ lineage: { parent: 'nope@1' } }))).toThrow(
      expect.objectContaining({ code: 'not_found' }),
    );
    expect(parseRef('a@production')).toEqual({ name: 'a', selector: 'production' });
    for (const bad of ['', 'A', 'a@0', 'a@x', 'a@1@2']) {
      expect(() => parseRef(bad)).toThrow(
        expect.objectContaining({ code: 'invalid_argument', field: 'ref' }),
      );
    }
  });

  it('keeps one production version per name; promote archives the previous; retire is final', () => {
    const store = backend.newStore();
    const audit = new AuditLog(store);
    const reg = new ModelRegistry(store, { audit, party: 'bank-a' });
    reg.register(base());
    reg.register(base({ modelId: 'run-2' }));
    expect(reg.promote('sme-credit-line@1', { reason: 'validated' }).status).toBe('production');
    expect(reg.promote('sme-credit-line@2').status).toBe('production');
    expect(reg.get('sme-credit-line@1').status).toBe('archived');
    expect(reg.get('sme-credit-line@production').version).toBe(2);
    // rollback: an archived version may serve again
    reg.promote('sme-credit-line@1');
    expect(reg.list({ status: 'production' }).map((m) => m.ref)).toEqual(['sme-credit-line@1']);
    reg.retire('sme-credit-line@1', { reason: 'drift' });
    expect(() => reg.get('sme-credit-line@production')).toThrow(
      expect.objectContaining({ code: 'not_found' }),
    );
    expect(() => reg.promote('sme-credit-line@1')).toThrow(
      expect.objectContaining({ code: 'invalid_state' }),
    );
    expect(() => reg.retire('sme-credit-line@1')).toThrow(expect.objectContaining({ code: 'invalid_state' }));
    expect(reg.history('sme-credit-line@1').map((e) => [e.action, e.from ?? null, e.to])).toEqual([
      ['register', null, 'candidate'],
      ['promote', 'candidate', 'production'],
      ['archive', 'production', 'archived'],
      ['promote', 'archived', 'production'],
      ['retire', 'production', 'retired'],
    ]);
    // the store itself refuses a second production row
    expect(() => store.run("UPDATE models SET status = 'production'")).toThrow(
      expect.objectContaining({ code: 'store' }),
    );
    const changes = [...audit.entries({ kind: 'model_change' })];
    expect(changes.length).toBe(2 + 6);
    expect(audit.verify().ok).toBe(true);
  });

  it('compares metrics, parameters, features and data', () => {
    const reg = new ModelRegistry(backend.newStore());
    reg.register(base());
    reg.register(
      base({
        modelId: 'run-2',
        metrics: { auc: 0.78, gini: 0.56 },
        parameters: { learningRate: 0.1, l2: 0.01, scheme: 'ckks' },
        parties: [
          { id: 'bank-a', role: 'guest', featureNames: ['revenue'] },
          { id: 'gov', role: 'host', featureNames: ['tax_paid', 'penalties', 'court_judgments'] },
        ],
        dataFingerprints: { trainingSet: enterpriseSetFingerprint(['A', 'B']) },
      }),
    );
    const c = reg.compare('sme-credit-line@1', 'sme-credit-line@2');
    expect(c.metrics).toEqual([
      { name: 'auc', a: 0.75, b: 0.78, delta: 0.78 - 0.75 },
      { name: 'gini', a: null, b: 0.56, delta: null },
      { name: 'ks', a: 0.38, b: null, delta: null },
    ]);
    expect(c.parameters).toEqual([{ name: 'learningRate', a: 0.15, b: 0.1 }]);
    expect(c.features).toEqual({ onlyA: ['bank-a/debt_ratio'], onlyB: ['gov/court_judgments'] });
    expect(c.sameParties).toBe(true);
    expect(c.sameData).toEqual([]);
    expect(c.differentData).toEqual(['trainingSet']);
  });

  it('registers hetero-LR training output and keeps this party part local', () => {
    const reg = new ModelRegistry(backend.newStore());
    const joint = serializeJointModel(descriptor('hlr-42', 0.15));
    const own = serializePartyModel({
      format: PARTY_MODEL_FORMAT,
      version: MODEL_FORMAT_VERSION,
      modelId: 'hlr-42',
      party: 'bank-a',
      role: 'guest',
      featureNames: ['revenue'],
      standardization: { mean: [10], scale: [2] },
      weights: [0.5],
      intercept: -1.2,
    });
    const m = reg.registerHeteroLr({
      name: 'sme-credit-line',
      jointModel: joint,
      partyModel: own,
      metrics: { auc: 0.77 },
      dataFingerprints: { trainingSet: FP },
      lineage: { job: 'job-9' },
    });
    expect(m).toMatchObject({ modelId: 'hlr-42', algorithm: 'hetero-lr', status: 'candidate' });
    expect(m.parties.map((p) => [p.id, p.role])).toEqual([
      ['bank-a', 'guest'],
      ['gov', 'host'],
    ]);
    expect(m.parameters).toMatchObject({
      learningRate: 0.15,
      scheme: 'ckks',
      keptEpoch: 4,
      classWeighted: true,
    });
    expect(reg.artifacts(m.ref)).toEqual({ artifact: own, descriptor: joint });
    expect(m.artifactSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(() =>
      reg.registerHeteroLr({
        name: 'sme-credit-line',
        jointModel: serializeJointModel(descriptor('other-run', 0.1)),
        partyModel: own,
        metrics: {},
        dataFingerprints: {},
      }),
    ).toThrow(expect.objectContaining({ field: 'partyModel.modelId' }));
    expect(() =>
      reg.registerHeteroLr({ name: 'x', jointModel: '{}', metrics: {}, dataFingerprints: {} }),
    ).toThrow(expect.objectContaining({ code: 'invalid_config' }));
  });

  it('validates registrations, naming the field', () => {
    const reg = new ModelRegistry(backend.newStore());
    const bad = (over: Record<string, unknown>, field: string) =>
      expect(() => reg.register({ ...base(), ...over } as ModelRegistration)).toThrow(
        expect.objectContaining({ code: 'invalid_argument', field }),
      );
    bad({ name: 'Has Space' }, 'model.name');
    bad({ modelId: '' }, 'model.modelId');
    bad({ parties: [] }, 'model.parties');
    bad({ parties: [{ id: 'x' }] }, 'model.parties[0]');
    bad({ metrics: { auc: Number.NaN } }, 'model.metrics.auc');
    bad({ parameters: { nested: { a: 1 } } }, 'model.parameters.nested');
    bad({ dataFingerprints: { t: 3 } }, 'model.dataFingerprints.t');
    expect(reg.list()).toEqual([]);
  });
});
