/**
 * The node job's own messages (packages/wire/proto/node_job.proto, docs/protocols/node-job.md):
 * `consent-summary` and `joint-model` round-trip, the joint descriptor every party stores is the same
 * canonical JSON text as `serializeJointModel` gives the guest's descriptor, and malformed or invalid
 * wire messages are typed `wire_decode` errors naming the field (a bad value to send is
 * `invalid_argument` at the sender).
 */
import { FedscoreError } from '@fedscore/core';
import {
  CONSENT_SUMMARY,
  type ConsentSummary,
  JOINT_MODEL,
  type JointModelMessage,
  publishedJointModel,
} from '@fedscore/pipeline';
import {
  JOINT_MODEL_FORMAT,
  type JointModelDescriptor,
  MODEL_FORMAT_VERSION,
  parseJointModel,
  serializeJointModel,
} from '@fedscore/vfl';
import { fedscore } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';

/** A descriptor with its keys in the order packages/vfl's guest builds it. */
const DESCRIPTOR: JointModelDescriptor = {
  format: JOINT_MODEL_FORMAT,
  version: MODEL_FORMAT_VERSION,
  modelId: 'job-7',
  createdAt: '2026-12-05T14:00:00.000Z',
  link: 'logit',
  interceptHolder: 'bank',
  parties: [
    { id: 'bank', role: 'guest', featureNames: ['age', 'limit'] },
    { id: 'gov', role: 'host', featureNames: ['f1', 'f2', 'f3'] },
  ],
  training: {
    mode: 'two-party',
    scheme: 'ckks',
    insecure: false,
    rows: 1200,
    validationRows: 0,
    epochs: 4,
    keptEpoch: 3,
    sigmoid: 'taylor-1: 0.5 + z/4',
    hyperparams: {
      batchSize: 256,
      maxEpochs: 4,
      learningRate: 0.3,
      lrSchedule: 'inverse-time',
      lrDecay: 0.2,
      l2: 0.001,
      validationFraction: 0,
      patience: 3,
      tolerance: 0.0001,
      validationEvery: 1,
      maskBits: 40,
      seed: 42,
      classWeighted: true,
    },
  },
};
const JOINT: JointModelMessage = {
  descriptor: DESCRIPTOR,
  metrics: { auc: 0.7512, ks: 0.3875, testRows: 300 },
};

/** The wire form of JOINT, to be broken one field at a time. */
function jointWire(): fedscore.nodejob.IJointModel {
  return fedscore.nodejob.JointModel.decode(JOINT_MODEL.encode(JOINT)).toJSON() as never;
}

function encodeJoint(m: unknown): Uint8Array {
  const message = fedscore.nodejob.JointModel.fromObject(m as Record<string, unknown>);
  return fedscore.nodejob.JointModel.encode(message).finish();
}

function decodeError(f: () => unknown): FedscoreError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(FedscoreError);
    return e as FedscoreError;
  }
  throw new Error('expected an error');
}

describe('consent-summary', () => {
  it('round-trips with and without the consent reference', () => {
    const enforced: ConsentSummary = {
      enforced: true,
      purpose: 'credit',
      aligned: 812,
      consentRef: `consents:${'ab'.repeat(32)}`,
      at: 1_764_900_000_123,
    };
    const open: ConsentSummary = { enforced: false, purpose: 'credit', aligned: 0 };
    expect(CONSENT_SUMMARY.decode(CONSENT_SUMMARY.encode(enforced))).toEqual(enforced);
    expect(CONSENT_SUMMARY.decode(CONSENT_SUMMARY.encode(open))).toStrictEqual(open);
  });

  it('refuses a bad purpose or consent reference, naming the field', () => {
    const badPurpose = fedscore.nodejob.ConsentSummary.encode({ purpose: 'Credit!', aligned: 3 }).finish();
    const e = decodeError(() => CONSENT_SUMMARY.decode(badPurpose));
    expect(e.code).toBe('wire_decode');
    expect(e.field).toBe('fedscore.nodejob.ConsentSummary.purpose');
    const badRef = fedscore.nodejob.ConsentSummary.encode({
      enforced: true,
      purpose: 'credit',
      consentRef: 'consents:xyz',
    }).finish();
    expect(decodeError(() => CONSENT_SUMMARY.decode(badRef)).field).toBe(
      'fedscore.nodejob.ConsentSummary.consent_ref',
    );
    // The sender refuses it before anything reaches the wire.
    const sent = decodeError(() => CONSENT_SUMMARY.encode({ enforced: false, purpose: '', aligned: 1 }));
    expect(sent.code).toBe('invalid_argument');
    expect(sent.field).toBe('fedscore.nodejob.ConsentSummary.purpose');
  });
});

describe('joint-model', () => {
  it('round-trips, and every party stores the canonical JSON the guest serializes today', () => {
    const received = JOINT_MODEL.decode(JOINT_MODEL.encode(JOINT));
    expect(received).toStrictEqual(JOINT);
    const stored = publishedJointModel(received);
    // Byte-identical to what the registry stored before the descriptor became a protobuf message.
    expect(stored.descriptor).toBe(serializeJointModel(DESCRIPTOR));
    expect(publishedJointModel(JOINT).descriptor).toBe(stored.descriptor);
    expect(parseJointModel(stored.descriptor)).toStrictEqual(DESCRIPTOR);
    expect(stored.metrics).toStrictEqual({ auc: 0.7512, ks: 0.3875, testRows: 300 });
    // A key order other than the guest's gives the same stored text.
    const { training, parties, ...rest } = DESCRIPTOR;
    const reordered = { training, parties, ...rest } as JointModelDescriptor;
    expect(publishedJointModel({ ...JOINT, descriptor: reordered }).descriptor).toBe(stored.descriptor);
  });

  it('keeps absent metrics absent', () => {
    const noAuc: JointModelMessage = { descriptor: DESCRIPTOR, metrics: { testRows: 0 } };
    expect(JOINT_MODEL.decode(JOINT_MODEL.encode(noAuc)).metrics).toStrictEqual({ testRows: 0 });
  });

  it('refuses bytes that do not parse', () => {
    const e = decodeError(() => JOINT_MODEL.decode(Uint8Array.of(0x0a, 0xff, 0x01)));
    expect(e.code).toBe('wire_decode');
    expect(e.field).toBe('fedscore.nodejob.JointModel');
  });

  it.each([
    ['no descriptor', (m: Wire) => delete m.descriptor, 'descriptor'],
    ['no metrics', (m: Wire) => delete m.metrics, 'metrics'],
    ['two guests', (m: Wire) => (m.descriptor!.parties![1]!.role = 'PARTY_ROLE_GUEST'), 'descriptor.parties'],
    [
      'a host holds the intercept',
      (m: Wire) => (m.descriptor!.interceptHolder = 'gov'),
      'descriptor.intercept_holder',
    ],
    ['an unknown version', (m: Wire) => (m.descriptor!.version = 9), 'descriptor.version'],
    [
      'an empty feature name',
      (m: Wire) => (m.descriptor!.parties![0]!.featureNames = ['']),
      'descriptor.parties[0].feature_names',
    ],
    ['no link', (m: Wire) => delete m.descriptor!.link, 'descriptor.link'],
    ['no mode', (m: Wire) => delete m.descriptor!.training!.mode, 'descriptor.training.mode'],
    [
      'a kept epoch past the run',
      (m: Wire) => (m.descriptor!.training!.keptEpoch = 5),
      'descriptor.training.kept_epoch',
    ],
    [
      'a NaN learning rate',
      (m: Wire) => (m.descriptor!.training!.hyperparams!.learningRate = Number.NaN),
      'descriptor.training.hyperparams.learning_rate',
    ],
    ['an infinite AUC', (m: Wire) => (m.metrics!.auc = Number.POSITIVE_INFINITY), 'metrics.auc'],
  ])('refuses a message with %s, naming the field', (_what, breakIt, field) => {
    const m = jointWire() as Wire;
    breakIt(m);
    const e = decodeError(() => JOINT_MODEL.decode(encodeJoint(m)));
    expect(e.code).toBe('wire_decode');
    expect(e.field).toBe(`fedscore.nodejob.JointModel.${field}`);
  });

  it('refuses an enum value this build does not know, naming the field', () => {
    const m = jointWire() as Wire;
    const bytes = encodeJoint(m);
    // Re-encode with mode = 7 (no such Mode): pbjs keeps the number, verify refuses it.
    const decoded = fedscore.nodejob.JointModel.decode(bytes);
    (decoded.descriptor!.training as { mode: number }).mode = 7;
    const e = decodeError(() => JOINT_MODEL.decode(fedscore.nodejob.JointModel.encode(decoded).finish()));
    expect(e.code).toBe('wire_decode');
    expect(e.field).toBe('fedscore.nodejob.JointModel.descriptor.training.mode');
  });
});

type Wire = {
  descriptor?: {
    version?: number;
    link?: string;
    interceptHolder?: string;
    parties?: { role?: string; featureNames?: string[] }[];
    training?: { mode?: string; keptEpoch?: number; hyperparams?: { learningRate?: number } };
  };
  metrics?: { auc?: number };
};
