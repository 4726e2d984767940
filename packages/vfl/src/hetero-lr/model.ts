/**
 * What a hetero-LR run leaves behind, in a versioned JSON format.
 *
 * - `PartyModel`: one party's own part -- its feature names, the standardization it fitted, its weights,
 *   and (guest only) the intercept. It never leaves that party.
 * - `JointModelDescriptor`: what every party may hold -- model id, party ids and roles, published feature
 *   names per party, training metadata. It holds no weights and no standardization parameters, so the
 *   scoring protocol can plan a joint score from it while each party keeps its part.
 *
 * Both are serialized as JSON text with `format` and `version` fields; parsing checks them and every
 * field, and refuses unknown versions (`protocol_version`). The caller writes the text to disk.
 */
import { FedscoreError } from '@fedscore/core';
import { applyStandardization, type Standardization } from './features.ts';
import type { HeteroLrMode, HeteroLrScheme, ResolvedHyperparams } from './options.ts';

export const PARTY_MODEL_FORMAT = 'fedscore.hetero-lr.party-model';
export const JOINT_MODEL_FORMAT = 'fedscore.hetero-lr.joint-model';
export const MODEL_FORMAT_VERSION = 1;

export type HeteroLrRole = 'guest' | 'host';

export interface PartyModel {
  readonly format: typeof PARTY_MODEL_FORMAT;
  readonly version: typeof MODEL_FORMAT_VERSION;
  readonly modelId: string;
  readonly party: string;
  readonly role: HeteroLrRole;
  readonly featureNames: readonly string[];
  readonly standardization: Standardization;
  /** One weight per feature, on the standardized scale. */
  readonly weights: readonly number[];
  /** The guest's intercept; 0 for hosts (they hold none). */
  readonly intercept: number;
}

export interface JointModelParty {
  readonly id: string;
  readonly role: HeteroLrRole;
  /** Names as the party published them (hosts may publish pseudonyms). */
  readonly featureNames: readonly string[];
}

export interface JointModelDescriptor {
  readonly format: typeof JOINT_MODEL_FORMAT;
  readonly version: typeof MODEL_FORMAT_VERSION;
  readonly modelId: string;
  readonly createdAt: string;
  /** The score is sigmoid(intercept + sum over parties of x_p . w_p); the guest holds the intercept. */
  readonly link: 'logit';
  readonly interceptHolder: string;
  readonly parties: readonly JointModelParty[];
  readonly training: {
    readonly mode: HeteroLrMode;
    readonly scheme: HeteroLrScheme;
    /** True when trained without encryption (`none`): a debug model. */
    readonly insecure: boolean;
    readonly rows: number;
    readonly validationRows: number;
    readonly epochs: number;
    /** The epoch whose weights were kept (1-based). */
    readonly keptEpoch: number;
    readonly sigmoid: 'taylor-1: 0.5 + z/4';
    readonly hyperparams: Omit<ResolvedHyperparams, 'classWeight'> & { readonly classWeighted: boolean };
  };
}

/** x . w (+ intercept) per row of a party's raw columns (standardized with its own fitted parameters). */
export function partyPartialScores(model: PartyModel, columns: readonly Float64Array[]): Float64Array {
  if (columns.length !== model.weights.length) {
    throw new FedscoreError(
      'invalid_argument',
      `expected ${model.weights.length} columns, got ${columns.length}`,
      {
        field: 'columns',
      },
    );
  }
  const z = applyStandardization(columns, model.standardization);
  const rows = z[0]?.length ?? 0;
  const out = new Float64Array(rows).fill(model.intercept);
  z.forEach((c, j) => {
    const w = model.weights[j]!;
    for (let i = 0; i < rows; i++) out[i]! += c[i]! * w;
  });
  return out;
}

export function serializePartyModel(model: PartyModel): string {
  return `${JSON.stringify(model, null, 2)}\n`;
}

export function serializeJointModel(descriptor: JointModelDescriptor): string {
  return `${JSON.stringify(descriptor, null, 2)}\n`;
}

function parseJson(text: string, field: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new FedscoreError('invalid_config', 'not JSON', { field, cause: e });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new FedscoreError('invalid_config', 'expected a JSON object', { field });
  }
  return v as Record<string, unknown>;
}

function checkHeader(o: Record<string, unknown>, format: string): void {
  if (o.format !== format) {
    throw new FedscoreError('invalid_config', `expected format '${format}'`, { field: 'format' });
  }
  if (o.version !== MODEL_FORMAT_VERSION) {
    throw new FedscoreError('protocol_version', `unsupported model version ${String(o.version)}`, {
      field: 'version',
    });
  }
}

function str(o: Record<string, unknown>, k: string): string {
  const v = o[k];
  if (typeof v !== 'string' || v.length === 0) {
    throw new FedscoreError('invalid_config', 'expected a non-empty string', { field: k });
  }
  return v;
}

function num(o: Record<string, unknown>, k: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new FedscoreError('invalid_config', 'expected a finite number', { field: k });
  }
  return v;
}

function numbers(v: unknown, field: string, length?: number): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new FedscoreError('invalid_config', 'expected an array of finite numbers', { field });
  }
  if (length !== undefined && v.length !== length) {
    throw new FedscoreError('invalid_config', `expected ${length} numbers, got ${v.length}`, { field });
  }
  return v as number[];
}

function strings(v: unknown, field: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x.length > 0)) {
    throw new FedscoreError('invalid_config', 'expected an array of non-empty strings', { field });
  }
  return v as string[];
}

function role(v: unknown, field: string): HeteroLrRole {
  if (v !== 'guest' && v !== 'host')
    throw new FedscoreError('invalid_config', "expected 'guest' or 'host'", { field });
  return v;
}

export function parsePartyModel(text: string): PartyModel {
  const o = parseJson(text, 'partyModel');
  checkHeader(o, PARTY_MODEL_FORMAT);
  const featureNames = strings(o.featureNames, 'featureNames');
  const p = featureNames.length;
  const s = o.standardization as Record<string, unknown> | undefined;
  if (typeof s !== 'object' || s === null) {
    throw new FedscoreError('invalid_config', 'expected { mean, scale }', { field: 'standardization' });
  }
  const scale = numbers(s.scale, 'standardization.scale', p);
  if (scale.some((x) => x <= 0)) {
    throw new FedscoreError('invalid_config', 'scales must be > 0', { field: 'standardization.scale' });
  }
  const r = role(o.role, 'role');
  const intercept = num(o, 'intercept');
  if (r === 'host' && intercept !== 0) {
    throw new FedscoreError('invalid_config', 'a host holds no intercept', { field: 'intercept' });
  }
  return {
    format: PARTY_MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    modelId: str(o, 'modelId'),
    party: str(o, 'party'),
    role: r,
    featureNames,
    standardization: { mean: numbers(s.mean, 'standardization.mean', p), scale },
    weights: numbers(o.weights, 'weights', p),
    intercept,
  };
}

export function parseJointModel(text: string): JointModelDescriptor {
  const o = parseJson(text, 'jointModel');
  checkHeader(o, JOINT_MODEL_FORMAT);
  if (o.link !== 'logit') throw new FedscoreError('invalid_config', "expected 'logit'", { field: 'link' });
  if (!Array.isArray(o.parties) || o.parties.length < 2) {
    throw new FedscoreError('invalid_config', 'expected a guest and at least one host', { field: 'parties' });
  }
  const parties = o.parties.map((p: unknown, i: number): JointModelParty => {
    if (typeof p !== 'object' || p === null) {
      throw new FedscoreError('invalid_config', 'expected an object', { field: `parties[${i}]` });
    }
    const q = p as Record<string, unknown>;
    return {
      id: str(q, 'id'),
      role: role(q.role, `parties[${i}].role`),
      featureNames: strings(q.featureNames, `parties[${i}].featureNames`),
    };
  });
  if (parties.filter((p) => p.role === 'guest').length !== 1) {
    throw new FedscoreError('invalid_config', 'expected exactly one guest', { field: 'parties' });
  }
  const interceptHolder = str(o, 'interceptHolder');
  if (parties.find((p) => p.role === 'guest')!.id !== interceptHolder) {
    throw new FedscoreError('invalid_config', 'the guest holds the intercept', { field: 'interceptHolder' });
  }
  const t = o.training;
  if (typeof t !== 'object' || t === null) {
    throw new FedscoreError('invalid_config', 'expected an object', { field: 'training' });
  }
  return {
    format: JOINT_MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    modelId: str(o, 'modelId'),
    createdAt: str(o, 'createdAt'),
    link: 'logit',
    interceptHolder,
    parties,
    training: t as JointModelDescriptor['training'],
  };
}
