/**
 * The pipeline's own small protocols around the algorithm packages' (names and versions on the wire),
 * and their messages: the guest's alignment and hold-out (node.align), the feature selection
 * (node.select), the hosts' partial scores (node.evaluate) and the joint model (node.publish). Every
 * role file of a stage uses these definitions; none re-declares a step.
 */
import { defineStep, FedscoreError } from '@fedscore/core';
import { float64VectorStep, idListStep, uint32VectorStep } from '@fedscore/wire';

/** The node's own small protocols around the algorithm packages' (names and versions on the wire). */
export const ALIGN_PROTOCOL = 'node.align';
export const SELECT_PROTOCOL = 'node.select';
export const EVALUATE_PROTOCOL = 'node.evaluate';
export const PUBLISH_PROTOCOL = 'node.publish';
/**
 * 3: PSI on the host's consented set; node.align carries `consent-summary` (aligned count, reference)
 * and no consented positions. (2: consent filtering after PSI.)
 */
export const NODE_PROTOCOL_VERSION = 3;
export const CONSENT_SUMMARY = jsonStep('consent-summary', checkConsentSummary);
export const JOINT_MODEL = jsonStep('joint-model', checkJointModelMessage);
export const ALIGNED_POSITIONS = uint32VectorStep('aligned-positions');
export const TEST_POSITIONS = uint32VectorStep('test-positions');
export const SELECTED_FEATURES = idListStep('selected-features', { unique: true });
export const PARTIAL_SCORES = float64VectorStep('partial-scores');

/**
 * A host's consent check of a job, as the guest receives it: no identifiers and nothing about the host's
 * enterprises outside the intersection (PSI ran on the consented set only, so every aligned enterprise
 * is covered).
 */
export interface ConsentSummary {
  /** False when the host does not require consent (its config's governance.requireConsent). */
  readonly enforced: boolean;
  readonly purpose: string;
  /** Enterprises in the PSI intersection of the guest's ids with the host's consented set. */
  readonly aligned: number;
  /** `consentSetFingerprint` of the consents that cover the aligned set (absent when not enforced). */
  readonly consentRef?: string;
  /** The instant the consents were checked at (the host's acceptance of the job), ms since the epoch. */
  readonly at?: number;
}

/** What the guest tells each host at publish: the joint descriptor and the aggregate test metrics. */
export interface JointModelMessage {
  readonly descriptor: string;
  readonly metrics: Readonly<Record<string, number>>;
}

/** A JSON payload step validated by `check` (errors are `wire_decode` naming the field). */
function jsonStep<T>(name: string, check: (value: unknown, field: string) => T) {
  const enc = new TextEncoder();
  const dec = new TextDecoder('utf-8', { fatal: true });
  return defineStep<T>(name, {
    encode: (v) => enc.encode(JSON.stringify(v)),
    decode: (b) => {
      let value: unknown;
      try {
        value = JSON.parse(dec.decode(b));
      } catch (e) {
        throw new FedscoreError('wire_decode', 'not UTF-8 JSON', { field: name, cause: e });
      }
      return check(value, name);
    },
  });
}

function bad(field: string, what: string): FedscoreError {
  return new FedscoreError('wire_decode', `expected ${what}`, { field });
}

function objectWith(value: unknown, field: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(field, 'an object');
  for (const k of Object.keys(value)) if (!keys.includes(k)) throw bad(`${field}.${k}`, 'no such field');
  return value as Record<string, unknown>;
}

function count(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw bad(field, 'a non-negative integer');
  }
  return value;
}

function checkConsentSummary(value: unknown, field: string): ConsentSummary {
  const o = objectWith(value, field, ['enforced', 'purpose', 'aligned', 'consentRef', 'at']);
  if (typeof o['enforced'] !== 'boolean') throw bad(`${field}.enforced`, 'a boolean');
  if (typeof o['purpose'] !== 'string' || !/^[a-z]{1,32}$/.test(o['purpose'])) {
    throw bad(`${field}.purpose`, 'a purpose');
  }
  const aligned = count(o['aligned'], `${field}.aligned`);
  const ref = o['consentRef'];
  if (ref !== undefined && (typeof ref !== 'string' || !/^consents:[0-9a-f]{64}$/.test(ref))) {
    throw bad(`${field}.consentRef`, 'consents:<sha256>');
  }
  const at = o['at'];
  if (at !== undefined) count(at, `${field}.at`);
  return {
    enforced: o['enforced'],
    purpose: o['purpose'],
    aligned,
    ...(ref !== undefined && { consentRef: ref as string }),
    ...(at !== undefined && { at: at as number }),
  };
}

function checkJointModelMessage(value: unknown, field: string): JointModelMessage {
  const o = objectWith(value, field, ['descriptor', 'metrics']);
  if (typeof o['descriptor'] !== 'string' || o['descriptor'].length > 1_000_000) {
    throw bad(`${field}.descriptor`, 'the joint descriptor as JSON text');
  }
  const m = objectWith(o['metrics'], `${field}.metrics`, ['auc', 'ks', 'testRows']);
  const metrics: Record<string, number> = {};
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`${field}.metrics.${k}`, 'a finite number');
    metrics[k] = v;
  }
  return { descriptor: o['descriptor'], metrics };
}
