/**
 * A platform node's store for console tests: two banks' jobs (with the checkpoints a finished job holds),
 * their models, consents and audit entries, console accounts of each role, and the console served by the
 * node's real HTTP endpoint on loopback. Passwords are hashed at a low scrypt cost (2^10) to keep tests
 * fast; the default cost is tested separately.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTable, generateUniqueUsccs, normal, numericColumn, seededRng, uniform } from '@fedscore/core';
import {
  AlertBook,
  AlertInbox,
  AuditLog,
  alertDeliveries,
  ConsentRegistry,
  type ConsoleAccess,
  ConsoleAccounts,
  type ConsoleChartAssets,
  type ConsoleHandler,
  type ConsoleOidc,
  cancelJob,
  createConsoleHandler,
  enterpriseSetFingerprint,
  FeatureCatalogue,
  type HttpEndpoint,
  JobStore,
  MONITORING_GOV_MIGRATIONS,
  ModelRegistry,
  NodeStore,
  ProductPool,
  profileAlignedSets,
  profileDatasets,
  queueWatchChanges,
  retryJob,
  ScoringQuota,
  scoringPolicyUsage,
  scoringUsage,
  startHttpEndpoint,
  submitJob,
  validateJobSpec,
} from '@fedscore/node';
import { evaluationCurves } from '@fedscore/pipeline';

/** The report's chart assets as the CLI passes them to its node (uPlot and client.js of packages/cli). */
export function reportChartAssets(): ConsoleChartAssets {
  const cli = new URL('../../cli/', import.meta.url);
  const require = createRequire(new URL('package.json', cli));
  return {
    uplotJs: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    uplotCss: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
    clientJs: readFileSync(new URL('src/report/client.js', cli), 'utf8'),
  };
}

/** A held-out set of 800 scored rows (seeded), as bank-a's publish would store its curves. */
export function heldOutCurves() {
  const rng = seededRng(17);
  const n = 800;
  const y = new Float64Array(n);
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = uniform(rng) < 0.15 ? 1 : 0;
    // Normal scores, the bads' shifted by 0.7 sd-units of 0.8: AUC about 0.73, like the metrics above.
    z[i] = normal(rng, y[i] === 1 ? -1.3 : -2.0, 0.8);
  }
  return evaluationCurves(y, z);
}

export const PASSWORD = 'correct horse battery staple';
export const USERS = {
  operator: { username: 'olga', role: 'platform-operator' },
  analystA: { username: 'anna', role: 'bank-analyst', bank: 'bank-a' },
  analystB: { username: 'bert', role: 'bank-analyst', bank: 'bank-b' },
  auditor: { username: 'aldo', role: 'auditor' },
} as const;

export interface ConsoleFixture {
  readonly base: string;
  readonly dir: string;
  readonly store: NodeStore;
  readonly jobs: JobStore;
  readonly models: ModelRegistry;
  readonly audit: AuditLog;
  readonly consents: ConsentRegistry;
  readonly accounts: ConsoleAccounts;
  readonly products: ProductPool;
  /** bank-a's post-loan alerts (its borrowers' ids are `alerted`). */
  readonly alerts: AlertBook;
  readonly alerted: readonly string[];
  /** The ids of the node's 'credit-history' dataset (60 rows; no value where row % 4 === 3). */
  readonly historyIds: readonly string[];
  readonly refused: { code: string; field?: string }[];
  close(): Promise<void>;
}

export interface Planted {
  /** A raw feature value of an enterprise of bank-a's job. */
  readonly featureValue?: string;
  /** The label vector of bank-a's aligned rows, as a JSON array text. */
  readonly labels?: string;
  /** A score of one enterprise. */
  readonly score?: string;
}

function seedJob(
  jobs: JobStore,
  audit: AuditLog,
  id: string,
  bank: string,
  planted: Planted,
  ids: readonly string[],
): void {
  const spec = validateJobSpec({
    id,
    guest: bank,
    hosts: ['government'],
    data: { [bank]: `${bank}-loans`, government: 'credit' },
  });
  jobs.put({ ...spec, id }, bank);
  jobs.setAttempt(id, 'psi', 1);
  jobs.saveCheckpoint(id, 'psi', 1, {
    rows: ids.map((_, i) => i),
    test: [0, 3],
    consent: {
      government: { enforced: true, purpose: 'training', aligned: ids.length, consentRef: 'c'.repeat(64) },
    },
    consentedSet: {
      offered: ids.length,
      excluded: { invalidId: 0, noConsent: 2, outOfScope: 0, revoked: 1, expired: 0, notYetValid: 0 },
      excludedTotal: 3,
    },
    ...(planted.labels !== undefined && { labels: JSON.parse(planted.labels) }),
  });
  jobs.setAttempt(id, 'binning', 1);
  jobs.saveCheckpoint(id, 'binning', 1, {
    selected: ['revenue'],
    ...(planted.featureValue !== undefined && { edges: { revenue: [Number(planted.featureValue)] } }),
    lineage: {
      kind: 'feature-selection',
      method: 'information-value',
      minIv: 0.02,
      topK: null,
      correlationThreshold: null,
      selected: [
        { party: bank, name: 'revenue', iv: 0.31 },
        { party: 'government', name: 'tax_arrears', iv: 0.18 },
      ],
      dropped: [{ party: 'government', name: 'court_cases', iv: 0.004, reason: 'iv_below_threshold' }],
    },
  });
  jobs.setAttempt(id, 'train', 1);
  jobs.saveCheckpoint(id, 'train', 1, {
    model: { weights: [0.5, Number(planted.featureValue ?? '0.25')] },
    epochs: 3,
    keptEpoch: 3,
    insecure: false,
    resumedFrom: 0,
  });
  jobs.setAttempt(id, 'evaluate', 1);
  jobs.saveCheckpoint(id, 'evaluate', 1, {
    testRows: 2,
    auc: 0.74,
    ks: 0.41,
    ...(planted.score !== undefined && { scores: [Number(planted.score)] }),
  });
  if (planted.featureValue !== undefined) {
    jobs.event(id, 'debug', 'evaluate', 1, `value=${planted.featureValue}`);
  }
  jobs.setAttempt(id, 'publish', 1);
  jobs.saveCheckpoint(id, 'publish', 1, { files: ['model.json'], model: `${bank}-credit@1` });
  jobs.finish(id);
  audit.append({
    kind: 'data_use',
    actor: bank,
    dataOwner: 'government',
    purpose: 'training',
    job: id,
    consentRef: 'c'.repeat(64),
    enterpriseFingerprint: enterpriseSetFingerprint(ids),
    enterpriseCount: ids.length,
    details: { stage: 'psi', consentChecked: true },
  });
}

export async function startConsoleFixture(
  options: {
    planted?: Planted;
    access?: ConsoleAccess;
    loginsPerMinute?: number;
    maxFailedLogins?: number;
    /** OIDC login, built once the console's base URL (for its redirect URI) is known. */
    oidc?: (base: string) => ConsoleOidc;
    localAccounts?: boolean;
    /** The console's node (default 'government'); it cancels and retries the jobs it coordinates. */
    party?: string;
    /** Serve the report's chart assets (default true). */
    charts?: boolean;
    /** Seed bank-a's post-loan alerts and the government's deliveries (off: the inbox is empty). */
    alerts?: boolean;
  } = {},
): Promise<ConsoleFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'fedscore-console-'));
  const store = NodeStore.open(join(dir, 'state'));
  const audit = new AuditLog(store);
  const jobs = new JobStore(store);
  const models = new ModelRegistry(store, { audit, party: 'government' });
  const consents = new ConsentRegistry(store, { audit, party: 'government' });
  // bank-a's published feature profile, as this (government) node received it (catalogue/).
  const catalogue = new FeatureCatalogue(store);
  catalogue.save(
    {
      party: 'bank-a',
      publishedAt: Date.UTC(2026, 11, 1, 9, 0),
      datasets: [
        {
          dataset: 'loans',
          rows: 1200,
          rateStepBp: 100,
          features: [
            {
              name: 'revenue',
              description: 'Revenue of the last 12 months, CNY thousands',
              type: 'numeric',
              coverageBp: 9700,
              missingBp: 300,
            },
            { name: 'has_collateral', description: '', type: 'binary', coverageBp: 10_000, missingBp: 0 },
          ],
        },
      ],
    },
    'bank-a',
    Date.UTC(2026, 11, 1, 9, 30),
  );
  const ids = generateUniqueUsccs(seededRng(7), 6);
  const planted = options.planted ?? {};
  seedJob(jobs, audit, 'job-a1', 'bank-a', planted, ids);
  seedJob(jobs, audit, 'job-b1', 'bank-b', {}, ids.slice(0, 4));
  for (const bank of ['bank-a', 'bank-b']) {
    models.register({
      name: `${bank}-credit`,
      algorithm: 'hetero-lr',
      modelId: `${bank}-run-1`,
      parties: [
        { id: bank, role: 'guest', featureNames: ['revenue'] },
        { id: 'government', role: 'host', featureNames: ['tax_arrears'] },
      ],
      metrics: { auc: 0.74, ks: 0.41 },
      parameters: { epochs: 3 },
      dataFingerprints: { [bank]: 'f'.repeat(64) },
      lineage: { job: `job-${bank.slice(-1)}1` },
      ...(bank === 'bank-a' &&
        planted.featureValue !== undefined && {
          artifact: JSON.stringify({ weights: [Number(planted.featureValue)] }),
        }),
      // bank-a's version has held-out curves (groups of >= 50 rows); bank-b's has none.
      ...(bank === 'bank-a' && { evaluation: heldOutCurves() }),
    });
  }
  const day = 86_400_000;
  for (const [i, id] of ids.entries()) {
    consents.grant({
      enterprise: id,
      grantee: i % 2 === 0 ? 'bank-a' : 'bank-b',
      purpose: 'training',
      scope: ['*'],
      expiresAt: Date.now() + 365 * day,
    });
  }
  const credit = createTable({
    ids: [...ids],
    label: new Float64Array([1, 0, 0, 1, 1, 0]),
    columns: [
      numericColumn(
        'tax_arrears',
        new Float64Array([1, Number.NaN, 3, Number(planted.featureValue ?? '4'), 5, Number.NaN]),
      ),
    ],
  });
  // A second dataset above the privacy floor (60 rows, 15 of them without a value): its coverage is shown.
  const historyIds = generateUniqueUsccs(seededRng(8), 60);
  const history = createTable({
    ids: [...historyIds],
    columns: [
      numericColumn(
        'years_filed',
        Float64Array.from(historyIds, (_, i) => (i % 4 === 3 ? Number.NaN : i % 9)),
      ),
    ],
  });
  // Online scoring of both banks against a quota of 2 requests per enterprise and 30 days.
  const quota = { requests: 2, windowSeconds: 30 * 86_400 };
  const policyRate = { requests: 100, windowSeconds: 3_600 };
  const scoring = new ScoringQuota(store, { quota, rate: policyRate });
  for (const [bank, id] of [
    ['bank-a', ids[0]!],
    ['bank-a', ids[0]!],
    ['bank-a', ids[2]!],
    ['bank-b', ids[1]!],
  ] as const) {
    scoring.admit(bank, id);
  }
  // The loan-product pool: two products of bank-a, one of bank-b; pre-approved lines of five enterprises.
  const products = new ProductPool(store);
  for (const p of [
    {
      id: 'a-working-capital',
      name: 'Working capital',
      bank: 'bank-a',
      rateBp: 385,
      termMonths: 12,
      lineMin: 100000,
      lineMax: 2000000,
      bands: 'A, B',
      minLine: 200000,
    },
    {
      id: 'a-micro',
      name: 'Micro loan',
      bank: 'bank-a',
      rateBp: 450,
      termMonths: 6,
      lineMin: 10000,
      lineMax: 300000,
      bands: 'B, C',
      minLine: 0,
    },
    {
      id: 'b-tax-credit',
      name: 'Tax credit line',
      bank: 'bank-b',
      rateBp: 410,
      termMonths: 24,
      lineMin: 50000,
      lineMax: 1000000,
      bands: 'A',
      minLine: 100000,
    },
  ]) {
    products.save(p);
  }
  for (const [i, [bank, band, line]] of (
    [
      ['bank-a', 'A', 1500000],
      ['bank-a', 'B', 250000],
      ['bank-b', 'A', 3000000],
      ['bank-b', 'C', 40000],
      ['bank-a', 'D', 0],
    ] as const
  ).entries()) {
    products.recordPreapproval({ bank, enterprise: ids[i]!, band, line });
  }
  // Post-loan alerts bank-a received from the government about two of its borrowers (seq 3, 5, 8), with
  // the loan ends bank-a listed them with; and the government's side of the same deliveries (its
  // watchlist and the audit entry of each delivery), for the per-bank counts.
  const inbox = new AlertInbox(store, { party: 'bank-a' });
  const alerts = new AlertBook(inbox, { bank: 'bank-a', audit });
  const alerted = [ids[0]!, ids[2]!];
  if (options.alerts === true) {
    queueWatchChanges(store, 'government', {
      add: alerted.map((enterprise, i) => ({ enterprise, until: Date.UTC(2027, 5 + i, 30) })),
    });
    for (const [seq, enterprise, kind, severity, day0] of [
      [3, alerted[0]!, 'court_judgment', 'high', 10],
      [5, alerted[1]!, 'tax_arrears', 'medium', 12],
      [8, alerted[0]!, 'administrative_penalty', 'medium', 20],
    ] as const) {
      store.run(
        `INSERT INTO alerts (government, seq, enterprise, kind, severity, occurred_at, received_at)
       VALUES ('government', ?, ?, ?, ?, ?, ?)`,
        seq,
        enterprise,
        kind,
        severity,
        Date.UTC(2026, 10, day0),
        Date.UTC(2026, 10, day0 + 1),
      );
    }
    store.migrate(MONITORING_GOV_MIGRATIONS);
    for (const [bank, enterprise] of [
      ['bank-a', alerted[0]!],
      ['bank-a', alerted[1]!],
      ['bank-b', ids[1]!],
    ] as const) {
      store.run(
        'INSERT INTO watchlist (bank, enterprise, since, until) VALUES (?, ?, ?, ?)',
        bank,
        enterprise,
        Date.now() - day,
        Date.now() + 200 * day,
      );
    }
    audit.append({
      kind: 'data_use',
      actor: 'bank-a',
      dataOwner: 'government',
      purpose: 'monitoring',
      enterpriseFingerprint: enterpriseSetFingerprint(alerted),
      enterpriseCount: 2,
      details: { alerts: 3, high: 1, medium: 2, afterSeq: 0, throughSeq: 8 },
    });
  }
  const accounts = new ConsoleAccounts(store, {
    cost: { logN: 10, r: 8, p: 1 },
    maxFailedLogins: options.maxFailedLogins ?? 5,
    lockoutSeconds: 900,
  });
  for (const u of Object.values(USERS)) await accounts.create({ ...u, password: PASSWORD });
  const refused: { code: string; field?: string }[] = [];
  let base = '';
  const party = options.party ?? 'government';
  const handler = (): ConsoleHandler =>
    createConsoleHandler({
      source: {
        party,
        jobs,
        models,
        audit,
        consents,
        peers: ['bank-a', 'bank-b'],
        datasets: ['credit', 'credit-history'],
        scoringUsage: () => scoringUsage(store, quota),
        scoringPolicy: {
          quota,
          rate: policyRate,
          usage: () => scoringPolicyUsage(store, { quota, rate: policyRate }, ['bank-a', 'bank-b']),
        },
        alerts,
        alertDeliveries: () => alertDeliveries(store, audit, 'government'),
        // The node's own dataset (holding the planted feature value and labels, when planted).
        alignedProfiles: () =>
          profileAlignedSets({
            party,
            jobs,
            audit,
            models,
            names: ['credit', 'credit-history'],
            read: async (name) => (name === 'credit' ? credit : history),
          }),
        datasetProfiles: () =>
          profileDatasets(
            ['credit', 'credit-history'],
            async (name) => (name === 'credit' ? credit : history),
            undefined,
            { credit: { tax_arrears: 'Tax owed past its due date, CNY thousands' } },
          ),
        featureCatalogue: () => catalogue.list(),
        submit: (spec) => submitJob(jobs, party, spec),
        // No runner here: a cancel is recorded (the node's runner would act on it), a retry re-queues.
        cancel: (id, by) => cancelJob(jobs, audit, party, id, by),
        retry: (id, by) => retryJob(jobs, audit, party, id, by),
        products,
      },
      accounts,
      ...(options.access !== undefined && { access: options.access }),
      ...(options.oidc !== undefined && { oidc: options.oidc(base) }),
      ...(options.localAccounts !== undefined && { localAccounts: options.localAccounts }),
      loginsPerMinute: options.loginsPerMinute ?? 1000,
      ...(options.charts !== false && { charts: reportChartAssets() }),
      onRefused: (r) => refused.push({ code: r.code, ...(r.field !== undefined && { field: r.field }) }),
      liveSeconds: 0.05,
    });
  // The handler is built after the endpoint listens, so that an OIDC redirect URI can name its port.
  let serve: ConsoleHandler | undefined;
  const delegate = Object.assign((req: IncomingMessage, res: ServerResponse) => serve!(req, res), {
    close: () => serve?.close(),
  });
  const http: HttpEndpoint = await startHttpEndpoint({
    listen: '127.0.0.1:0',
    health: () => ({ status: 'ok', party: 'government', uptimeSeconds: 0, runningStages: 0 }),
    metrics: () => [],
    console: delegate,
  });
  base = `http://127.0.0.1:${http.port}`;
  serve = handler();
  return {
    base,
    dir,
    store,
    jobs,
    models,
    audit,
    consents,
    accounts,
    products,
    alerts,
    alerted,
    historyIds,
    refused,
    close: async () => {
      await http.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A browser-like client: keeps cookies, never follows redirects. */
export class ConsoleClient {
  readonly base: string;
  readonly cookies = new Map<string, string>();
  constructor(base: string) {
    this.base = base;
  }

  async request(
    path: string,
    init: {
      method?: string;
      /** Form fields (URLSearchParams: a field sent more than once, e.g. checked boxes). */
      form?: Record<string, string> | URLSearchParams;
      /** A JSON body (the console's API). */
      json?: unknown;
      headers?: Record<string, string>;
    } = {},
  ): Promise<{ status: number; headers: Headers; body: string }> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.cookies.size > 0) {
      headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    }
    let body: string | undefined;
    if (init.form !== undefined) {
      headers['content-type'] ??= 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    if (init.json !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = JSON.stringify(init.json);
    }
    const r = await fetch(this.base + path, {
      method: init.method ?? (body === undefined ? 'GET' : 'POST'),
      headers,
      ...(body !== undefined && { body }),
      redirect: 'manual',
    });
    for (const c of r.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i);
      const value = pair!.slice(i + 1);
      if (value === '' || /max-age=0/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return { status: r.status, headers: r.headers, body: await r.text() };
  }

  /** The hidden CSRF token of the last page. */
  static csrfOf(body: string): string {
    const m = /name="csrf" value="([^"]+)"/.exec(body);
    if (m === null) throw new Error('no CSRF token on the page');
    return m[1]!;
  }

  async login(username: string, password = PASSWORD): Promise<number> {
    const form = await this.request('/console/login');
    const r = await this.request('/console/login', {
      form: { csrf: ConsoleClient.csrfOf(form.body), username, password },
    });
    return r.status;
  }
}
