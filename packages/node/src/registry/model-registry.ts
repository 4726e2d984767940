/**
 * The model registry (the platforms' "model library"): every trained joint model a party took part in,
 * by name and version, with its metrics, hyperparameters, the parties and their roles, fingerprints of
 * the data it was trained on, and lineage (the binning run and IV feature selection it used, the job that
 * trained it, the model it replaces). Each party keeps its own registry: its entry holds its own part of
 * the model (`artifact`, never sent) and the joint descriptor every party may hold.
 *
 * Lifecycle: `candidate` on registration -> `production` by `promote` (the name's previous production
 * version becomes `archived`; an archived version may be promoted again, a rollback) -> `retired` by
 * `retire` (final: a retired version is never served again). Every transition is kept in the version's
 * history and, when an audit log is attached, in the audit log.
 *
 * Evaluation curves (`evaluation`, optional): the held-out set as aggregate groups of >= the release
 * floor of rows (pipeline `evaluationCurves`), for the ROC/KS/lift/calibration charts; the registry
 * refuses groups below the floor. Kept by the party that computed them (the guest, the label holder).
 *
 * References: `name@3` (a version), `name@production` (the serving version), `name` (the newest version).
 */
import { FedscoreError } from '@fedscore/core';
import { checkEvaluationCurves, type EvaluationCurves } from '@fedscore/pipeline';
import { type FeatureSelectionLineage, parseJointModel, parsePartyModel } from '@fedscore/vfl';
import type { AuditLog } from '../audit/index.ts';
import { type NodeStore, type StoreMigrations, sha256Hex } from '../store/index.ts';

export const MODEL_STATUSES = ['candidate', 'production', 'archived', 'retired'] as const;
export type ModelStatus = (typeof MODEL_STATUSES)[number];

export type ScalarMap = Readonly<Record<string, string | number | boolean>>;

export interface ModelParty {
  readonly id: string;
  readonly role: string;
  readonly featureNames?: readonly string[];
}

export interface ModelLineage {
  /** The job that trained the model. */
  readonly job?: string;
  /** A reference to the binning run (e.g. its job id or the WOE table's file digest). */
  readonly binning?: string;
  /** The IV feature selection the model was trained on. */
  readonly selection?: FeatureSelectionLineage;
  /** The registry reference of the model this one was derived from or replaces. */
  readonly parent?: string;
}

export interface ModelRegistration {
  /** Product-level name, e.g. 'sme-credit-line'. */
  readonly name: string;
  /** e.g. 'hetero-lr'. */
  readonly algorithm: string;
  /** The training run's own model id (e.g. the joint descriptor's modelId). */
  readonly modelId: string;
  readonly parties: readonly ModelParty[];
  /** Evaluation metrics, e.g. { auc: 0.78, ks: 0.41 }. */
  readonly metrics: Readonly<Record<string, number>>;
  /** Hyperparameters and training settings. */
  readonly parameters: ScalarMap;
  /** Fingerprints of the training data, e.g. { trainingSet: enterpriseSetFingerprint(...) }. */
  readonly dataFingerprints: Readonly<Record<string, string>>;
  readonly lineage?: ModelLineage;
  /** This party's own part of the model (JSON text); stays on this node. */
  readonly artifact?: string;
  /** The joint descriptor every party may hold (JSON text). */
  readonly descriptor?: string;
  /** The held-out evaluation as aggregate curve points (groups of >= the release floor of rows). */
  readonly evaluation?: EvaluationCurves;
}

export interface ModelVersion {
  readonly ref: string;
  readonly name: string;
  readonly version: number;
  readonly status: ModelStatus;
  readonly createdAt: number;
  readonly algorithm: string;
  readonly modelId: string;
  readonly parties: readonly ModelParty[];
  readonly metrics: Readonly<Record<string, number>>;
  readonly parameters: ScalarMap;
  readonly dataFingerprints: Readonly<Record<string, string>>;
  readonly lineage: ModelLineage;
  /** SHA-256 of the artifact text, when one is stored. */
  readonly artifactSha256?: string;
  readonly evaluation?: EvaluationCurves;
}

export interface ModelEvent {
  readonly at: number;
  readonly action: 'register' | 'promote' | 'archive' | 'retire';
  readonly from?: ModelStatus;
  readonly to: ModelStatus;
  readonly actor: string;
  readonly reason?: string;
}

export interface ModelComparison {
  readonly a: string;
  readonly b: string;
  /** Per metric present in either: a, b and b - a (null where one side lacks it). */
  readonly metrics: readonly {
    readonly name: string;
    readonly a: number | null;
    readonly b: number | null;
    readonly delta: number | null;
  }[];
  /** Parameters whose values differ (null where absent). */
  readonly parameters: readonly {
    readonly name: string;
    readonly a: string | number | boolean | null;
    readonly b: string | number | boolean | null;
  }[];
  /** Features (party/name) used by only one of the two. */
  readonly features: { readonly onlyA: readonly string[]; readonly onlyB: readonly string[] };
  readonly sameParties: boolean;
  /** Data fingerprints present in both with equal values, and those that differ. */
  readonly sameData: readonly string[];
  readonly differentData: readonly string[];
}

export const REGISTRY_MIGRATIONS: StoreMigrations = {
  module: 'registry',
  steps: [
    `CREATE TABLE models (
       name TEXT NOT NULL,
       version INTEGER NOT NULL,
       status TEXT NOT NULL,
       created_at INTEGER NOT NULL,
       algorithm TEXT NOT NULL,
       model_id TEXT NOT NULL,
       parties TEXT NOT NULL,
       metrics TEXT NOT NULL,
       parameters TEXT NOT NULL,
       data_fingerprints TEXT NOT NULL,
       lineage TEXT NOT NULL,
       artifact TEXT,
       artifact_sha256 TEXT,
       descriptor TEXT,
       PRIMARY KEY (name, version)
     ) STRICT;
     CREATE UNIQUE INDEX models_one_production ON models (name) WHERE status = 'production';
     CREATE TABLE model_events (
       id INTEGER PRIMARY KEY,
       name TEXT NOT NULL,
       version INTEGER NOT NULL,
       at INTEGER NOT NULL,
       action TEXT NOT NULL,
       from_status TEXT,
       to_status TEXT NOT NULL,
       actor TEXT NOT NULL,
       reason TEXT,
       FOREIGN KEY (name, version) REFERENCES models (name, version)
     ) STRICT;`,
    'ALTER TABLE models ADD COLUMN evaluation TEXT;',
  ],
};

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

interface ModelRow {
  name: string;
  version: number;
  status: string;
  created_at: number;
  algorithm: string;
  model_id: string;
  parties: string;
  metrics: string;
  parameters: string;
  data_fingerprints: string;
  lineage: string;
  artifact_sha256: string | null;
  evaluation: string | null;
}

export interface ModelRegistryOptions {
  readonly audit?: AuditLog;
  /** This node's party id (actor of history and audit entries). */
  readonly party?: string;
  readonly now?: () => number;
}

export class ModelRegistry {
  readonly store: NodeStore;
  readonly #audit: AuditLog | undefined;
  readonly #party: string;
  readonly #now: () => number;

  constructor(store: NodeStore, options: ModelRegistryOptions = {}) {
    this.store = store;
    this.#audit = options.audit;
    this.#party = options.party ?? 'local';
    this.#now = options.now ?? Date.now;
    store.migrate(REGISTRY_MIGRATIONS);
  }

  /** Register a new version of `reg.name` (version = previous + 1) as a candidate. */
  register(reg: ModelRegistration): ModelVersion {
    validateRegistration(reg);
    return this.store.transaction(() => {
      const last = this.store.get<{ v: number | null }>(
        'SELECT max(version) AS v FROM models WHERE name = ?',
        reg.name,
      );
      const version = (last?.v ?? 0) + 1;
      const at = this.#now();
      if (reg.lineage?.parent !== undefined) this.get(reg.lineage.parent); // must exist
      this.store.run(
        `INSERT INTO models (name, version, status, created_at, algorithm, model_id, parties, metrics,
           parameters, data_fingerprints, lineage, artifact, artifact_sha256, descriptor, evaluation)
         VALUES (?, ?, 'candidate', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        reg.name,
        version,
        at,
        reg.algorithm,
        reg.modelId,
        JSON.stringify(reg.parties),
        JSON.stringify(reg.metrics),
        JSON.stringify(reg.parameters),
        JSON.stringify(reg.dataFingerprints),
        JSON.stringify(reg.lineage ?? {}),
        reg.artifact ?? null,
        reg.artifact === undefined ? null : sha256Hex(reg.artifact),
        reg.descriptor ?? null,
        reg.evaluation === undefined ? null : JSON.stringify(reg.evaluation),
      );
      this.#event(reg.name, version, 'register', undefined, 'candidate');
      return this.get(`${reg.name}@${version}`);
    });
  }

  /**
   * Register a hetero-LR model from the files `fedscore train hetero-lr --out` writes: the joint
   * descriptor (parties, features, hyperparameters) and, optionally, this party's own model file.
   */
  registerHeteroLr(input: {
    readonly name: string;
    readonly jointModel: string;
    readonly partyModel?: string;
    readonly metrics: Readonly<Record<string, number>>;
    readonly dataFingerprints: Readonly<Record<string, string>>;
    readonly lineage?: ModelLineage;
    readonly evaluation?: EvaluationCurves;
  }): ModelVersion {
    const joint = parseJointModel(input.jointModel);
    if (input.partyModel !== undefined) {
      const own = parsePartyModel(input.partyModel);
      if (own.modelId !== joint.modelId) {
        throw new FedscoreError('invalid_argument', 'the party model belongs to another training run', {
          field: 'partyModel.modelId',
        });
      }
    }
    const { hyperparams, ...training } = joint.training;
    const parameters: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries({ ...training, ...hyperparams })) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') parameters[k] = v;
      else if (v !== null && v !== undefined) parameters[k] = JSON.stringify(v);
    }
    return this.register({
      name: input.name,
      algorithm: 'hetero-lr',
      modelId: joint.modelId,
      parties: joint.parties.map((p) => ({ id: p.id, role: p.role, featureNames: [...p.featureNames] })),
      metrics: input.metrics,
      parameters,
      dataFingerprints: input.dataFingerprints,
      ...(input.lineage !== undefined && { lineage: input.lineage }),
      ...(input.partyModel !== undefined && { artifact: input.partyModel }),
      descriptor: input.jointModel,
      ...(input.evaluation !== undefined && { evaluation: input.evaluation }),
    });
  }

  /** One version by reference (`not_found` if none). */
  get(ref: string): ModelVersion {
    const row = this.#row(ref);
    return fromRow(row);
  }

  /** This party's stored part of the model and the joint descriptor. */
  artifacts(ref: string): { artifact?: string; descriptor?: string } {
    const row = this.#row(ref);
    const r = this.store.get<{ artifact: string | null; descriptor: string | null }>(
      'SELECT artifact, descriptor FROM models WHERE name = ? AND version = ?',
      row.name,
      row.version,
    );
    return {
      ...(r?.artifact != null && { artifact: r.artifact }),
      ...(r?.descriptor != null && { descriptor: r.descriptor }),
    };
  }

  /** Versions, newest first, optionally of one name and/or status. */
  list(filter: { name?: string; status?: ModelStatus } = {}): ModelVersion[] {
    if (filter.status !== undefined && !(MODEL_STATUSES as readonly string[]).includes(filter.status)) {
      throw new FedscoreError('invalid_argument', `expected one of ${MODEL_STATUSES.join(', ')}`, {
        field: 'status',
      });
    }
    return this.store
      .all<ModelRow>(
        `SELECT * FROM models WHERE (?1 IS NULL OR name = ?1) AND (?2 IS NULL OR status = ?2)
         ORDER BY name, version DESC`,
        filter.name ?? null,
        filter.status ?? null,
      )
      .map(fromRow);
  }

  /** Transitions of one version, oldest first. */
  history(ref: string): ModelEvent[] {
    const row = this.#row(ref);
    return this.store
      .all<{
        at: number;
        action: ModelEvent['action'];
        from_status: ModelStatus | null;
        to_status: ModelStatus;
        actor: string;
        reason: string | null;
      }>('SELECT * FROM model_events WHERE name = ? AND version = ? ORDER BY id', row.name, row.version)
      .map((e) => ({
        at: e.at,
        action: e.action,
        ...(e.from_status !== null && { from: e.from_status }),
        to: e.to_status,
        actor: e.actor,
        ...(e.reason !== null && { reason: e.reason }),
      }));
  }

  /** Make a version the one that serves; the previous production version is archived. */
  promote(ref: string, options: { reason?: string } = {}): ModelVersion {
    return this.store.transaction(() => {
      const target = this.#row(ref);
      if (target.status === 'retired') {
        throw new FedscoreError('invalid_state', `${target.name}@${target.version} is retired`, {
          field: 'ref',
        });
      }
      if (target.status === 'production') return fromRow(target);
      const current = this.store.get<ModelRow>(
        "SELECT * FROM models WHERE name = ? AND status = 'production'",
        target.name,
      );
      if (current !== undefined) {
        this.#setStatus(current, 'archived', 'archive', `replaced by version ${target.version}`);
      }
      this.#setStatus(target, 'production', 'promote', options.reason);
      return this.get(`${target.name}@${target.version}`);
    });
  }

  /** Withdraw a version for good. */
  retire(ref: string, options: { reason?: string } = {}): ModelVersion {
    return this.store.transaction(() => {
      const target = this.#row(ref);
      if (target.status === 'retired') {
        throw new FedscoreError('invalid_state', `${target.name}@${target.version} is already retired`, {
          field: 'ref',
        });
      }
      this.#setStatus(target, 'retired', 'retire', options.reason);
      return this.get(`${target.name}@${target.version}`);
    });
  }

  /** Metric deltas (b - a), differing parameters, feature and data differences. */
  compare(refA: string, refB: string): ModelComparison {
    const a = this.get(refA);
    const b = this.get(refB);
    const metricNames = [...new Set([...Object.keys(a.metrics), ...Object.keys(b.metrics)])].sort();
    const metrics = metricNames.map((name) => {
      const va = a.metrics[name] ?? null;
      const vb = b.metrics[name] ?? null;
      return { name, a: va, b: vb, delta: va === null || vb === null ? null : vb - va };
    });
    const paramNames = [...new Set([...Object.keys(a.parameters), ...Object.keys(b.parameters)])].sort();
    const parameters = paramNames
      .map((name) => ({ name, a: a.parameters[name] ?? null, b: b.parameters[name] ?? null }))
      .filter((p) => p.a !== p.b);
    const fa = featureSet(a);
    const fb = featureSet(b);
    const dataKeys = [
      ...new Set([...Object.keys(a.dataFingerprints), ...Object.keys(b.dataFingerprints)]),
    ].sort();
    const partyKey = (m: ModelVersion) =>
      JSON.stringify(m.parties.map((p) => [p.id, p.role]).sort((x, y) => (x[0]! < y[0]! ? -1 : 1)));
    return {
      a: a.ref,
      b: b.ref,
      metrics,
      parameters,
      features: {
        onlyA: [...fa].filter((f) => !fb.has(f)).sort(),
        onlyB: [...fb].filter((f) => !fa.has(f)).sort(),
      },
      sameParties: partyKey(a) === partyKey(b),
      sameData: dataKeys.filter(
        (k) => a.dataFingerprints[k] !== undefined && a.dataFingerprints[k] === b.dataFingerprints[k],
      ),
      differentData: dataKeys.filter((k) => a.dataFingerprints[k] !== b.dataFingerprints[k]),
    };
  }

  #setStatus(row: ModelRow, to: ModelStatus, action: ModelEvent['action'], reason: string | undefined): void {
    this.store.run('UPDATE models SET status = ? WHERE name = ? AND version = ?', to, row.name, row.version);
    this.#event(row.name, row.version, action, row.status as ModelStatus, to, reason);
  }

  #event(
    name: string,
    version: number,
    action: ModelEvent['action'],
    from: ModelStatus | undefined,
    to: ModelStatus,
    reason?: string,
  ): void {
    if (reason !== undefined && (typeof reason !== 'string' || reason.length > 256)) {
      throw new FedscoreError('invalid_argument', 'expected a reason of at most 256 characters', {
        field: 'reason',
      });
    }
    this.store.run(
      `INSERT INTO model_events (name, version, at, action, from_status, to_status, actor, reason)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      name,
      version,
      this.#now(),
      action,
      from ?? null,
      to,
      this.#party,
      reason ?? null,
    );
    this.#audit?.append({
      kind: 'model_change',
      actor: this.#party,
      details: { model: `${name}@${version}`, action, to, ...(from !== undefined && { from }) },
    });
  }

  #row(ref: string): ModelRow {
    const { name, selector } = parseRef(ref);
    let row: ModelRow | undefined;
    if (selector === undefined) {
      row = this.store.get<ModelRow>(
        'SELECT * FROM models WHERE name = ? ORDER BY version DESC LIMIT 1',
        name,
      );
    } else if (selector === 'production') {
      row = this.store.get<ModelRow>("SELECT * FROM models WHERE name = ? AND status = 'production'", name);
    } else {
      row = this.store.get<ModelRow>('SELECT * FROM models WHERE name = ? AND version = ?', name, selector);
    }
    if (row === undefined) throw new FedscoreError('not_found', `no model '${ref}'`, { field: 'ref' });
    return row;
  }
}

/** Split 'name', 'name@3' or 'name@production'. */
export function parseRef(ref: string): { name: string; selector?: number | 'production' } {
  if (typeof ref !== 'string')
    throw new FedscoreError('invalid_argument', 'expected a model reference', { field: 'ref' });
  const [name, sel, extra] = ref.split('@');
  if (name === undefined || !NAME.test(name) || extra !== undefined) {
    throw new FedscoreError('invalid_argument', "expected 'name', 'name@VERSION' or 'name@production'", {
      field: 'ref',
    });
  }
  if (sel === undefined) return { name };
  if (sel === 'production') return { name, selector: 'production' };
  if (!/^[1-9][0-9]{0,8}$/.test(sel)) {
    throw new FedscoreError('invalid_argument', 'expected a positive version number or production', {
      field: 'ref',
    });
  }
  return { name, selector: Number(sel) };
}

function featureSet(m: ModelVersion): Set<string> {
  const out = new Set<string>();
  for (const p of m.parties) for (const f of p.featureNames ?? []) out.add(`${p.id}/${f}`);
  return out;
}

function fromRow(row: ModelRow): ModelVersion {
  return {
    ref: `${row.name}@${row.version}`,
    name: row.name,
    version: row.version,
    status: row.status as ModelStatus,
    createdAt: row.created_at,
    algorithm: row.algorithm,
    modelId: row.model_id,
    parties: JSON.parse(row.parties) as ModelParty[],
    metrics: JSON.parse(row.metrics) as Record<string, number>,
    parameters: JSON.parse(row.parameters) as ScalarMap,
    dataFingerprints: JSON.parse(row.data_fingerprints) as Record<string, string>,
    lineage: JSON.parse(row.lineage) as ModelLineage,
    ...(row.artifact_sha256 !== null && { artifactSha256: row.artifact_sha256 }),
    ...(row.evaluation !== null && { evaluation: JSON.parse(row.evaluation) as EvaluationCurves }),
  };
}

function validateRegistration(reg: ModelRegistration): void {
  if (typeof reg !== 'object' || reg === null) {
    throw new FedscoreError('invalid_argument', 'expected a registration object', { field: 'model' });
  }
  if (typeof reg.name !== 'string' || !NAME.test(reg.name)) {
    throw new FedscoreError('invalid_argument', 'expected a lowercase name of letters, digits and ._-', {
      field: 'model.name',
    });
  }
  for (const f of ['algorithm', 'modelId'] as const) {
    if (typeof reg[f] !== 'string' || reg[f].length === 0 || reg[f].length > 128) {
      throw new FedscoreError('invalid_argument', 'expected a string of 1 to 128 characters', {
        field: `model.${f}`,
      });
    }
  }
  if (!Array.isArray(reg.parties) || reg.parties.length === 0) {
    throw new FedscoreError('invalid_argument', 'expected at least one party', { field: 'model.parties' });
  }
  for (const [i, p] of reg.parties.entries()) {
    if (typeof p?.id !== 'string' || p.id.length === 0 || typeof p.role !== 'string' || p.role.length === 0) {
      throw new FedscoreError('invalid_argument', 'expected { id, role }', { field: `model.parties[${i}]` });
    }
  }
  const record = (v: unknown, field: string, check: (x: unknown) => boolean, what: string) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      throw new FedscoreError('invalid_argument', 'expected an object', { field });
    }
    for (const [k, x] of Object.entries(v)) {
      if (!check(x))
        throw new FedscoreError('invalid_argument', `expected ${what}`, { field: `${field}.${k}` });
    }
  };
  record(reg.metrics, 'model.metrics', (x) => typeof x === 'number' && Number.isFinite(x), 'a finite number');
  record(
    reg.parameters,
    'model.parameters',
    (x) => typeof x === 'string' || typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x)),
    'a string, finite number or boolean',
  );
  record(
    reg.dataFingerprints,
    'model.dataFingerprints',
    (x) => typeof x === 'string' && x.length > 0,
    'a string',
  );
  if (reg.evaluation !== undefined) checkEvaluationCurves(reg.evaluation, 'model.evaluation');
  if (reg.artifact !== undefined && typeof reg.artifact !== 'string') {
    throw new FedscoreError('invalid_argument', 'expected JSON text', { field: 'model.artifact' });
  }
  if (reg.descriptor !== undefined && typeof reg.descriptor !== 'string') {
    throw new FedscoreError('invalid_argument', 'expected JSON text', { field: 'model.descriptor' });
  }
}
