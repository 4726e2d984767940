/**
 * The console's pages, rendered on the server from the node's store APIs (jobs, model registry, audit log,
 * consent registry). What a page shows is a projection chosen field by field: ids, party ids, statuses,
 * counts, fingerprints, IVs and model metrics -- never a checkpoint's rows, a model's weights or artifact,
 * a feature value, a label or a score. Job event details and job errors are shown only as codes and
 * whitelisted `key=value` pairs (docs/console.md; the leak attack test searches every served byte).
 */

import type { EvaluationCurves } from '@fedscore/pipeline';
import type { AuditEntry, AuditLog, AuditReconciliation } from '../audit/index.ts';
import type { StoredProfile } from '../catalogue/index.ts';
import { CONSENT_PURPOSES, type ConsentRecord, type ConsentRegistry } from '../consent/index.ts';
import type { JobRecord, JobStore } from '../jobs/job-store.ts';
import { parseProgressDetail, type StageProgress } from '../jobs/progress.ts';
import { type JobSpec, jobStages } from '../jobs/spec.ts';
import type { BinningCheckpoint, PsiCheckpoint } from '../jobs/stages.ts';
import type { ModelRegistry, ModelVersion } from '../registry/index.ts';
import type { RequestWindow } from '../scoring-policy/index.ts';
import { type ConsoleAccess, type ConsolePage, jobBank, modelBank } from './access.ts';
import type { ConsoleAccount } from './accounts.ts';
import type { AlertDelivery, ConsoleAlertSource } from './alerts.ts';
import { ALGORITHMS } from './algorithms.ts';
import { publishedDescriptions, publishedProfilesTable } from './catalogue.ts';
import { Html, html, num, table, time } from './html.ts';
import {
  defaultJobFormValues,
  JOB_KINDS,
  JOB_PRESETS,
  JOB_PURPOSES,
  JOB_SCHEMES,
  type JobFormField,
  jobFormFieldOf,
} from './job-form.ts';
import { type LoanProduct, PRODUCT_SORTS, type ProductPool, type ProductSort } from './products.ts';

/** The node's parts a console reads. */
export interface ConsoleSource {
  readonly party: string;
  /** The node's configured peers (the job form's host choices). */
  readonly peers?: readonly string[];
  /** The node's own dataset names (config `data`): the job form's choices of the guest's dataset. */
  readonly datasets?: readonly string[];
  readonly jobs: JobStore;
  readonly models: ModelRegistry;
  readonly audit: AuditLog;
  readonly consents: ConsentRegistry;
  /** Audit entries the operator acknowledged as broken (config `audit.acknowledgedBreaks`). */
  readonly acknowledgedBreaks?: readonly number[];
  /**
   * Online scoring against the quota (government nodes with `scoring.serve`): per bank, requests admitted
   * in the quota window, enterprises scored, and enterprises whose quota is used up.
   */
  readonly scoringUsage?: () => readonly ScoringUsage[];
  /** This node's own datasets (config `data`), profiled: feature names, types and coverage. */
  readonly datasetProfiles?: () => Promise<readonly DatasetProfile[]>;
  /** The same over the aligned set of each bank's last job on them (usage.ts `profileAlignedSets`). */
  readonly alignedProfiles?: () => Promise<readonly AlignedProfile[]>;
  /** Feature profiles published by the other parties (catalogue/catalogue.ts `FeatureCatalogue.list`). */
  readonly featureCatalogue?: () => readonly StoredProfile[];
  /** Record a job on this node (`PartyNode.submit`); absent: the console cannot submit. */
  readonly submit?: (spec: unknown) => JobRecord;
  /** Cancel a job this node coordinates, for `by` (`PartyNode.cancel`); absent: no cancel button. */
  readonly cancel?: (id: string, by: string) => JobRecord;
  /** Retry a failed or cancelled job this node coordinates (`PartyNode.retry`); absent: no retry. */
  readonly retry?: (id: string, by: string) => JobRecord;
  /** The loan-product pool and pre-approved lines (products.ts); absent: no Products page. */
  readonly products?: ProductPool;
  /** A bank node's post-loan alerts (alerts.ts `AlertBook`); absent: the node receives none. */
  readonly alerts?: ConsoleAlertSource;
  /** A government node's alert deliveries per bank (alerts.ts `alertDeliveries`), counts only. */
  readonly alertDeliveries?: () => readonly AlertDelivery[];
  /**
   * The government's scoring policy (`scoring.quota`, `scoring.rate`) and each bank's use of it in the
   * current windows (usage.ts `scoringPolicyUsage`); shown on the Usage page.
   */
  readonly scoringPolicy?: {
    readonly quota: RequestWindow;
    readonly rate: RequestWindow;
    usage(): readonly PolicyUsage[];
  };
}

/** One of this node's datasets, profiled for the indicator catalogue: counts and shares only. */
export interface DatasetProfile {
  readonly dataset: string;
  readonly rows: number;
  /** The privacy floor: coverage is withheld for a dataset of fewer rows. */
  readonly minRows?: number;
  readonly columns: readonly {
    readonly name: string;
    readonly type: 'numeric' | 'categorical';
    /** Share of rows with a value (1 - missing rate); absent when the dataset is below the floor. */
    readonly coverage?: number;
    /** What the feature means, from the node's config (`data.<name>.descriptions`). */
    readonly description?: string;
  }[];
}

/** A dataset profiled over the aligned set of one job (the rows PSI aligned on this node). */
export interface AlignedProfile extends DatasetProfile {
  readonly job: string;
  /** The job's bank (its guest): the page shows the profile to who may see the job. */
  readonly bank: string;
}

export interface ScoringUsage {
  readonly bank: string;
  readonly requests: number;
  readonly enterprises: number;
  readonly atQuota: number;
  /** The quota: requests per enterprise and window. */
  readonly quota: number;
  readonly windowSeconds: number;
}

/** One bank's online scoring against the government's policy, in the current windows (counts only). */
export interface PolicyUsage {
  readonly bank: string;
  /** Requests admitted in the quota window, enterprises they covered, enterprises whose quota is used up. */
  readonly quotaRequests: number;
  readonly enterprises: number;
  readonly atQuota: number;
  /** Requests admitted in the (short) rate window and enterprises at the rate limit now. */
  readonly rateRequests: number;
  readonly atRate: number;
}

export interface PageContext {
  readonly account: ConsoleAccount;
  readonly csrf: string;
  readonly access: ConsoleAccess;
  readonly source: ConsoleSource;
  readonly query: URLSearchParams;
  /** The report's chart assets (uPlot and its chart script) are served: pages may draw charts. */
  readonly charts?: boolean;
}

export const BASE = '/console';

const DETAIL_KEYS = new Set(['coordinator', 'by', 'code', 'epoch', 'unit', 'done', 'total']);
const COUNT_KEYS = new Set(['epoch', 'done', 'total']);
const TOKEN = /^[a-z][a-z0-9_-]{0,62}$/;

/** A job event's detail if it is only codes, party ids and epoch numbers; else withheld. */
export function safeDetail(detail: string | null): string {
  if (detail === null || detail === '') return '';
  if (TOKEN.test(detail)) return detail;
  const pairs = detail.split(' ');
  const ok = pairs.every((p) => {
    const [k, v, ...rest] = p.split('=');
    if (rest.length > 0 || k === undefined || v === undefined || !DETAIL_KEYS.has(k)) return false;
    return COUNT_KEYS.has(k) ? /^\d{1,6}$/.test(v) : TOKEN.test(v);
  });
  return ok ? detail : '(withheld)';
}

function csrfField(ctx: PageContext): Html {
  return html`<input type="hidden" name="csrf" value="${ctx.csrf}">`;
}

export function layout(title: string, body: Html, ctx?: PageContext): string {
  const nav =
    ctx === undefined
      ? html``
      : html`<nav aria-label="Console pages"><ul>${(
          [
            ['jobs', 'Jobs'],
            ['models', 'Models'],
            ['indicators', 'Indicators'],
            ['samples', 'Samples'],
            ['algorithms', 'Algorithms'],
            ['audit', 'Audit'],
            ['consent', 'Consent'],
            ['usage', 'Usage'],
            ['products', 'Products'],
            ['alerts', 'Alerts'],
          ] as [ConsolePage, string][]
        )
          .filter(([p]) => ctx.access.canOpen(ctx.account, p))
          .map(
            ([p, label]) => html`<li><a href="${BASE}/${p}">${label}</a></li>`,
          )}</ul><form method="post" action="${BASE}/logout" class="logout">${csrfField(ctx)}<span>${ctx.account.username} (${ctx.account.role}${ctx.account.bank === undefined ? '' : `, ${ctx.account.bank}`})</span> <button type="submit">Log out</button></form></nav>`;
  return `<!doctype html>${
    html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title} - fedscore console</title><link rel="icon" href="${BASE}/static/favicon.svg" type="image/svg+xml"><link rel="stylesheet" href="${BASE}/static/console.css"><script src="${BASE}/static/console.js" defer></script></head><body><header><a class="brand" href="${BASE}/">fedscore data-model lab</a>${
      ctx === undefined ? '' : html` <span class="party">node ${ctx.source.party}</span>`
    }</header>${nav}<main id="main"><h1>${title}</h1>${body}</main></body></html>`.text
  }`;
}

export function loginPage(
  token: string,
  message?: string,
  ways: { readonly local: boolean; readonly oidcName?: string } = { local: true },
): string {
  const local = ways.local
    ? html`<form method="post" action="${BASE}/login" class="login"><input type="hidden" name="csrf" value="${token}"><label for="username">Username</label><input id="username" name="username" autocomplete="username" required maxlength="64"><label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024"><button type="submit">Log in</button></form>`
    : '';
  // A link, not a form: the redirect to the provider must not fall under CSP form-action 'self'.
  const oidc =
    ways.oidcName === undefined
      ? ''
      : html`<p class="login-oidc"><a class="button" href="${BASE}/oidc/start">Sign in with ${ways.oidcName}</a></p>`;
  return layout(
    'Log in',
    html`${message === undefined ? '' : html`<p class="error" role="alert">${message}</p>`}${oidc}${local}`,
  );
}

export function homePage(ctx: PageContext): Html {
  const jobs = ctx.source.jobs.list().filter((j) => ctx.access.canSeeJob(ctx.account, j));
  const models = ctx.source.models.list().filter((m) => ctx.access.canSeeModel(ctx.account, m));
  const running = jobs.filter((j) => j.status === 'running').length;
  return html`<ul class="cards">${
    ctx.access.canOpen(ctx.account, 'jobs')
      ? html`<li><a href="${BASE}/jobs">${jobs.length} jobs</a> (${running} running)</li><li><a href="${BASE}/models">${models.length} model versions</a></li>`
      : ''
  }<li><a href="${BASE}/audit">Audit log</a>: ${ctx.source.audit.head().entries} entries</li></ul>`;
}

/** The cancel or retry button of a job, when this account may and this node coordinates it. */
function jobActions(ctx: PageContext, j: JobRecord): Html {
  if (j.coordinator !== ctx.source.party || !ctx.access.canControlJob(ctx.account, j)) return html``;
  const button = (verb: 'cancel' | 'retry', label: string): Html =>
    html`<form method="post" action="${BASE}/jobs/${encodeURIComponent(j.id)}/${verb}" class="inline">${csrfField(ctx)}<button type="submit" class="job-${verb}" aria-label="${label} job ${j.id}">${label}</button></form>`;
  if ((j.status === 'submitted' || j.status === 'running') && ctx.source.cancel !== undefined) {
    return j.cancelRequestedBy === undefined ? button('cancel', 'Cancel') : html`<span>cancelling</span>`;
  }
  if ((j.status === 'failed' || j.status === 'cancelled') && ctx.source.retry !== undefined) {
    return button('retry', 'Retry');
  }
  return html``;
}

/** A job's model kind, as its spec names it (specs stored before kinds existed are hetero-LR). */
function jobKind(s: JobSpec): string {
  return s.kind ?? 'hetero-lr';
}

/** The training settings of a job, by kind: what an analyst compares between two runs. */
function trainingSummary(s: JobSpec): string {
  switch (s.kind) {
    case 'secureboost': {
      const sb = (s.secureboost ?? {}) as Record<string, unknown>;
      const shown = ['trees', 'depth', 'bins', 'learningRate']
        .filter((k) => sb[k] !== undefined)
        .map((k) => `${k} ${String(sb[k])}`);
      return `SecureBoost, ${s.train.scheme}, ${shown.length === 0 ? 'default settings' : shown.join(', ')}`;
    }
    case 'hfl': {
      const h = s.hfl;
      if (h === undefined) return 'horizontal FL';
      return `horizontal FL, ${h.model.toUpperCase()}, ${h.rounds} rounds of ${h.localEpochs} local epoch${h.localEpochs === 1 ? '' : 's'}, ${
        h.secureAgg ? 'secure aggregation' : 'plain FedAvg'
      }${h.dp === undefined ? '' : `, DP epsilon ${h.dp.epsilon}`}`;
    }
    default:
      return `hetero-LR, ${s.train.scheme}, at most ${s.train.maxEpochs} epochs`;
  }
}

function jobRow(ctx: PageContext, j: JobRecord): Html[] {
  return [
    html`<a href="${BASE}/jobs/${encodeURIComponent(j.id)}">${j.id}</a>`,
    html`${jobKind(j.spec)}`,
    html`${jobBank(j)}`,
    html`${j.spec.hosts.join(', ')}`,
    html`<span class="status status-${j.status}">${j.status}</span>`,
    html`${j.stage ?? '-'}`,
    html`${j.attempt}`,
    html`${time(j.createdAt)}`,
    jobActions(ctx, j),
  ];
}

function exampleSpec(party: string, peers: readonly string[], datasets: readonly string[]): unknown {
  const host = peers[0] ?? 'government';
  return { guest: party, hosts: [host], data: { [party]: datasets[0] ?? 'loans', [host]: 'credit' } };
}

/**
 * The job form of fields (job-form.ts) and, folded under "Advanced", the JSON spec. The hosts are boxes of
 * the node's peers and the guest's dataset a choice of its own datasets (typed, on a node configured with
 * none); each kind's settings are a fieldset of their own, named for the kind, so the form works the same
 * without script (the settings of the kinds not chosen are not read). A refused submission comes back
 * here with the message, the field it names marked, and every field as the user typed it.
 */
function jobForms(ctx: PageContext, refused?: FormRefusal): Html {
  const json = refused !== undefined && 'spec' in refused.values;
  const typed = refused !== undefined && !json ? refused.values : undefined;
  const peers = ctx.source.peers ?? [];
  const datasets = ctx.source.datasets ?? [];
  // `?kind=` (a GET form, no script): the form of that kind only, the other kinds' settings left out.
  const only = (JOB_KINDS as readonly string[]).includes(ctx.query.get('kind') ?? '')
    ? (ctx.query.get('kind') as (typeof JOB_KINDS)[number])
    : undefined;
  const v: Readonly<Record<string, string>> = {
    ...defaultJobFormValues(ctx.source.party, peers, datasets),
    ...(only !== undefined && { kind: only }),
  };
  const value = (name: JobFormField) => typed?.[name] ?? (typed === undefined ? (v[name] ?? '') : '');
  const marked = json ? undefined : jobFormFieldOf(refused?.field, ctx.source.party);
  const err = (name: JobFormField) =>
    marked === name
      ? html`<span class="error field-error" id="j-${name}-error">${refused!.message}</span>`
      : html``;
  const aria = (name: JobFormField) =>
    marked === name ? html` aria-invalid="true" aria-describedby="j-${name}-error"` : html``;
  const text = (name: JobFormField, label: string, extra = html``) =>
    html`<label for="j-${name}">${label}</label><input id="j-${name}" name="${name}" value="${value(name)}"${extra}${aria(name)}>${err(name)}`;
  const select = (
    name: JobFormField,
    label: string,
    options: readonly string[],
    shown: (o: string) => string = (o) => o,
  ) =>
    html`<label for="j-${name}">${label}</label><select id="j-${name}" name="${name}"${aria(name)}>${options.map(
      (o) => html`<option value="${o}"${o === value(name) ? html` selected` : html``}>${shown(o)}</option>`,
    )}</select>${err(name)}`;
  const check = (name: JobFormField, label: string) =>
    html`<label for="j-${name}" class="check"><input type="checkbox" id="j-${name}" name="${name}" value="on"${
      value(name) === 'on' ? html` checked` : html``
    }${aria(name)}> ${label}</label>${err(name)}`;
  const number = html` inputmode="numeric" placeholder="default"`;
  const decimal = html` inputmode="decimal" placeholder="default"`;
  const kindSet = (kinds: readonly string[], legend: string, body: Html) =>
    only !== undefined && !kinds.includes(only)
      ? html``
      : html`<fieldset><legend>${legend}</legend>${body}</fieldset>`;
  const kindChoice = html`<form method="get" action="${BASE}/jobs" class="filters"><label for="k-only">Show the settings of</label><select id="k-only" name="kind">${[
    '',
    ...JOB_KINDS,
  ].map(
    (k) =>
      html`<option value="${k}"${(only ?? '') === k ? html` selected` : html``}>${k === '' ? 'every kind' : k}</option>`,
  )}</select><button type="submit">Show</button></form>`;
  // The peers as boxes (checked: the typed hosts); a node with no peers configured takes them typed.
  const chosen = new Set(
    value('hosts')
      .split(',')
      .map((h) => h.trim()),
  );
  const hosts =
    peers.length === 0
      ? text('hosts', 'Hosts (party ids, comma-separated)', html` required`)
      : html`<fieldset id="j-hosts"${
          marked === 'hosts' ? html` aria-describedby="j-hosts-error"` : html``
        }><legend>Hosts (this node's peers)</legend>${peers.map(
          (p) =>
            html`<label for="j-host-${p}" class="check"><input type="checkbox" id="j-host-${p}" name="hosts" value="${p}"${
              chosen.has(p) ? html` checked` : html``
            }${marked === 'hosts' ? html` aria-invalid="true"` : html``}> ${p}</label>`,
        )}${err('hosts')}</fieldset>`;
  const guestData =
    datasets.length === 0 ? html`` : select('guestData', `Dataset of ${ctx.source.party} (guest)`, datasets);
  const dataLabel =
    datasets.length === 0
      ? 'Datasets (party=dataset for each data-holding party, comma-separated)'
      : 'Datasets of the hosts (party=dataset, comma-separated)';
  const fields = html`${
    refused !== undefined && !json ? html`<p class="error" role="alert">${refused.message}</p>` : ''
  }<p>Guest (label holder and coordinator): ${ctx.source.party}</p>${kindChoice}<form method="post" action="${BASE}/jobs" class="job-form">${csrfField(ctx)}${select('kind', 'Kind', only === undefined ? JOB_KINDS : [only])}${text(
    'id',
    'Job id (blank: generated)',
  )}${hosts}${guestData}${text('data', dataLabel, html` required`)}${kindSet(
    ['hetero-lr', 'secureboost'],
    'Encryption (hetero-lr and secureboost)',
    html`${select('scheme', 'Encryption scheme', JOB_SCHEMES)}${select(
      'ckksPreset',
      'CKKS parameters',
      JOB_PRESETS,
      (o) => (o === '' ? 'default' : o),
    )}${check('plaintext', "Allow scheme none (plaintext: debug only; each party's accept must allow it too)")}`,
  )}${kindSet(
    JOB_KINDS,
    'Consent (every kind): the use checked against each host that requires consent',
    html`${select('purpose', 'Consent purpose', JOB_PURPOSES)}${text(
      'categories',
      'Data categories (comma-separated; blank: all)',
    )}`,
  )}${kindSet(
    ['hetero-lr'],
    'Hetero-LR settings (kind hetero-lr only; ignored for the others)',
    html`${text('arbiter', 'Arbiter (blank: two-party)')}${text('epochs', 'Epochs', number)}${check(
      'binning',
      'WOE binning and IV selection',
    )}${text('bins', 'Bins per feature (2-64)', number)}${text('minIv', 'Minimum IV to keep a feature', decimal)}`,
  )}${kindSet(
    ['secureboost'],
    'SecureBoost settings (kind secureboost only; ignored for the others)',
    html`${text('trees', 'Trees', number)}${text('depth', 'Tree depth', number)}`,
  )}${kindSet(
    ['hfl'],
    'Horizontal FL settings (kind hfl only: the hosts are the client banks; ignored for the others)',
    html`${text('rounds', 'Rounds', number)}${text('localEpochs', 'Local epochs per round', number)}${text(
      'learningRate',
      'Learning rate',
      decimal,
    )}${text('decay', 'Learning rate decay per round', decimal)}${check(
      'secureAgg',
      "Secure aggregation (the platform sees only the sum of the banks' updates)",
    )}`,
  )}<button type="submit">Submit</button></form>`;
  const spec = json
    ? refused!.values['spec']!
    : JSON.stringify(exampleSpec(ctx.source.party, peers, datasets), null, 2);
  const advanced = html`<details${json ? html` open` : html``}><summary>Advanced: the whole spec as JSON</summary><form method="post" action="${BASE}/jobs">${csrfField(
    ctx,
  )}${
    json ? html`<p class="error" role="alert">${refused!.message}</p>` : ''
  }<label for="spec">Job spec (JSON, validated like the YAML spec; guest: ${ctx.source.party})</label><textarea id="spec" name="spec" rows="8" cols="70" required>${spec}</textarea><button type="submit">Submit JSON</button></form></details>`;
  return html`<section aria-labelledby="submit-h"><h2 id="submit-h">Submit a job</h2>${fields}${advanced}</section>`;
}

export function jobsPage(ctx: PageContext, refused?: FormRefusal): Html {
  const jobs = ctx.source.jobs
    .list()
    .filter((j) => ctx.access.canSeeJob(ctx.account, j))
    .reverse();
  const submit = ctx.source.submit === undefined ? html`` : jobForms(ctx, refused);
  return html`${table(
    'Jobs',
    ['Job', 'Kind', 'Bank (guest)', 'Hosts', 'Status', 'Stage', 'Attempt', 'Created', 'Actions'],
    jobs.map((j) => jobRow(ctx, j)),
  )}${submit}`;
}

/**
 * The running stage's latest coarse progress (jobs/progress.ts: epoch, tree, round or PSI percent), or
 * undefined when the job is not running or its current stage attempt has reported none.
 */
export function stageProgress(jobs: JobStore, job: JobRecord): StageProgress | undefined {
  if (job.status !== 'running' || job.stage === null) return undefined;
  const e = jobs.lastEvent(job.id, 'progress');
  if (e === undefined || e.stage !== job.stage || e.attempt !== job.attempt) return undefined;
  return parseProgressDetail(e.detail);
}

/** "epoch 2 of 5", "37 percent": the text a progress bar stands for. */
export function progressText(p: StageProgress): string {
  return p.unit === 'percent' ? `${p.done} percent` : `${p.unit} ${p.done} of ${p.total}`;
}

/** The labelled progress bar of the job page (always there while the job runs; empty until reported). */
function progressBar(p: StageProgress | undefined): Html {
  const text = p === undefined ? 'not reported yet' : progressText(p);
  const bar =
    p === undefined
      ? html`<progress id="job-progress" aria-labelledby="job-progress-label" aria-describedby="job-progress-text"></progress>`
      : html`<progress id="job-progress" aria-labelledby="job-progress-label" aria-describedby="job-progress-text" max="${p.total}" value="${p.done}">${text}</progress>`;
  return html`<dt id="job-progress-label">Stage progress</dt><dd>${bar} <span id="job-progress-text" aria-live="polite">${text}</span></dd>`;
}

export function jobPage(ctx: PageContext, job: JobRecord): Html {
  const s = job.spec;
  const stages = jobStages(s).map((stage) => {
    const done = ctx.source.jobs.checkpoint(job.id, stage) !== undefined;
    const state = done ? 'done' : job.stage === stage ? job.status : 'waiting';
    return [html`${stage}`, html`<span class="status status-${state}">${state}</span>`];
  });
  const events = ctx.source.jobs
    .events(job.id)
    .map((e) => [
      html`${e.seq}`,
      html`${time(e.time)}`,
      html`${e.kind}`,
      html`${e.stage ?? ''}`,
      html`${e.attempt ?? ''}`,
      html`${safeDetail(e.detail)}`,
    ]);
  const evaluate = ctx.source.jobs.checkpoint<{
    testRows?: number;
    auc?: number;
    ks?: number;
    inSample?: { rows?: number; auc?: number; ks?: number };
  }>(job.id, 'evaluate')?.output;
  const published = ctx.source.jobs.checkpoint<{ model?: string }>(job.id, 'publish')?.output;
  return html`<dl class="facts" id="job" data-job="${job.id}" data-status="${job.status}"><dt>Status</dt><dd><span id="job-status" class="status status-${job.status}">${job.status}</span></dd><dt>Kind</dt><dd id="job-kind">${jobKind(s)}</dd><dt>Stage</dt><dd id="job-stage">${job.stage ?? '-'} (attempt ${job.attempt})</dd>${
    job.status === 'submitted' || job.status === 'running'
      ? progressBar(stageProgress(ctx.source.jobs, job))
      : ''
  }<dt>Bank (guest)</dt><dd>${s.guest}</dd><dt>Hosts</dt><dd>${s.hosts.join(', ')}</dd><dt>Arbiter</dt><dd>${s.arbiter ?? 'none (two-party)'}</dd><dt>Datasets</dt><dd>${Object.entries(
    s.data,
  )
    .map(([p, d]) => `${p}: ${d}`)
    .join(
      '; ',
    )}</dd><dt>Binning</dt><dd>${jobKind(s) !== 'hetero-lr' ? `not run by ${jobKind(s)} jobs` : s.binning.enabled ? `${s.binning.method}, ${s.binning.bins} bins, min IV ${s.binning.minIv}, ${s.binning.scheme}` : 'off'}</dd><dt>Training</dt><dd id="job-training">${trainingSummary(s)}</dd>${
    job.error === undefined ? '' : html`<dt>Failure</dt><dd class="error">${job.error.code}</dd>`
  }${
    evaluate === undefined
      ? ''
      : evaluate.inSample !== undefined
        ? html`<dt>Evaluation</dt><dd>no hold-out (testFraction 0): IN-SAMPLE on ${evaluate.inSample.rows ?? '-'} training rows, AUC ${num(evaluate.inSample.auc)}, KS ${num(evaluate.inSample.ks)} (not a test AUC)</dd>`
        : html`<dt>Evaluation</dt><dd>${evaluate.testRows ?? '-'} test rows, AUC ${num(evaluate.auc)}, KS ${num(evaluate.ks)}</dd>`
  }${
    published?.model === undefined
      ? ''
      : html`<dt>Model</dt><dd><a href="${BASE}/models/${encodeURIComponent(published.model)}">${published.model}</a></dd>`
  }</dl><div class="actions">${jobActions(ctx, job)}</div>${table('Stages', ['Stage', 'State'], stages)}${table(
    'Events',
    ['#', 'Time', 'Event', 'Stage', 'Attempt', 'Detail'],
    events,
  )}`;
}

export function modelsPage(ctx: PageContext): Html {
  const models = ctx.source.models.list().filter((m) => ctx.access.canSeeModel(ctx.account, m));
  const rows = models.map((m) => [
    html`<a href="${BASE}/models/${encodeURIComponent(m.ref)}">${m.ref}</a>`,
    html`${modelBank(m) ?? '-'}`,
    html`${m.algorithm}`,
    html`<span class="status status-${m.status}">${m.status}</span>`,
    html`${num(m.metrics['auc'])}`,
    html`${num(m.metrics['ks'])}`,
    html`${m.lineage.job ?? '-'}`,
    html`${time(m.createdAt)}`,
  ]);
  const compare =
    models.length < 2
      ? html``
      : html`<form method="get" action="${BASE}/models/compare" class="inline"><label for="a">Compare</label><select id="a" name="a">${models.map(
          (m) => html`<option>${m.ref}</option>`,
        )}</select><label for="b">with</label><select id="b" name="b">${models.map(
          (m) => html`<option>${m.ref}</option>`,
        )}</select><button type="submit">Compare</button></form>`;
  return html`${table('Model registry', ['Version', 'Bank', 'Algorithm', 'Status', 'AUC', 'KS', 'Job', 'Registered'], rows)}${compare}`;
}

export function modelPage(ctx: PageContext, m: ModelVersion): Html {
  const change = ctx.access.canChangeModel(ctx.account, m);
  const action = (verb: 'promote' | 'retire', label: string): Html =>
    html`<form method="post" action="${BASE}/models/${encodeURIComponent(m.ref)}/${verb}" class="inline">${csrfField(ctx)}<button type="submit">${label}</button></form>`;
  const history = ctx.source.models
    .history(m.ref)
    .map((e) => [
      html`${time(e.at)}`,
      html`${e.action}`,
      html`${e.from ?? ''}`,
      html`${e.to}`,
      html`${e.actor}`,
    ]);
  const selection = m.lineage.selection;
  return html`<dl class="facts"><dt>Status</dt><dd><span class="status status-${m.status}">${m.status}</span></dd><dt>Algorithm</dt><dd>${m.algorithm}</dd><dt>Model id</dt><dd>${m.modelId}</dd><dt>Job</dt><dd>${m.lineage.job ?? '-'}</dd><dt>Parent</dt><dd>${m.lineage.parent ?? '-'}</dd><dt>Parties</dt><dd>${m.parties
    .map((p) => `${p.id} (${p.role}, ${p.featureNames?.length ?? 0} features)`)
    .join('; ')}</dd></dl>${
    change && m.status !== 'retired'
      ? html`<div class="actions">${m.status !== 'production' ? action('promote', 'Promote to production') : ''}${action('retire', 'Retire')}</div>`
      : ''
  }${table(
    'Metrics',
    ['Metric', 'Value'],
    Object.entries(m.metrics).map(([k, v]) => [html`${k}`, html`${num(v)}`]),
  )}${table(
    'Parameters',
    ['Parameter', 'Value'],
    Object.entries(m.parameters).map(([k, v]) => [html`${k}`, html`${String(v)}`]),
  )}${table(
    'Data fingerprints',
    ['Party', 'Fingerprint (SHA-256 of the enterprise set)'],
    Object.entries(m.dataFingerprints).map(([k, v]) => [html`${k}`, html`<code>${v}</code>`]),
  )}${
    selection === undefined
      ? ''
      : table(
          'Feature selection (IV)',
          ['Party', 'Feature', 'IV', 'Kept'],
          [
            ...selection.selected.map((s) => [
              html`${s.party}`,
              html`${s.name}`,
              html`${num(s.iv)}`,
              html`yes`,
            ]),
            ...selection.dropped.map((s) => [
              html`${s.party}`,
              html`${s.name}`,
              html`${num(s.iv)}`,
              html`no (${s.reason})`,
            ]),
          ],
        )
  }${modelCharts(m, ctx.charts === true ? 'linked' : 'none')}${table('History', ['Time', 'Action', 'From', 'To', 'Actor'], history)}`;
}

/** JSON inside a script element (never closes it, never opens a comment). */
function jsonForScript(value: unknown): Html {
  return new Html(
    JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026'),
  );
}

/**
 * The report's chart data (packages/cli/src/report/data.ts `ReportData`: the fields its chart script
 * reads) from a model's stored curves: ROC and KS vertices at the groups' boundaries, lift and
 * calibration per group. Only group aggregates go in: every point covers >= the release floor of rows.
 */
export function chartData(m: ModelVersion, c: EvaluationCurves) {
  const goods = c.rows - c.bads;
  const fpr = [0];
  const tpr = [0];
  const lift = [];
  let cumRows = 0;
  let cumBads = 0;
  for (const [i, g] of c.groups.entries()) {
    cumRows += g.rows;
    cumBads += g.bads;
    fpr.push(goods === 0 ? 0 : (cumRows - cumBads) / goods);
    tpr.push(c.bads === 0 ? 0 : cumBads / c.bads);
    const rate = g.bads / g.rows;
    const overall = c.bads / c.rows;
    lift.push({
      bin: i + 1,
      minScore: g.minScore,
      maxScore: g.maxScore,
      count: g.rows,
      bads: g.bads,
      badRate: rate,
      cumulativeShare: cumRows / c.rows,
      capture: c.bads === 0 ? 0 : cumBads / c.bads,
      lift: overall === 0 ? 0 : rate / overall,
      cumulativeLift: overall === 0 ? 0 : cumBads / c.bads / (cumRows / c.rows),
    });
  }
  // KS: ascending thresholds (each group's lowest score), shares of each class at or above them.
  const ks = { score: [] as number[], cumBad: [] as number[], cumGood: [] as number[], gap: [] as number[] };
  for (let i = c.groups.length - 1; i >= 0; i--) {
    ks.score.push(c.groups[i]!.minScore);
    ks.cumBad.push(tpr[i + 1]!);
    ks.cumGood.push(fpr[i + 1]!);
    ks.gap.push(tpr[i + 1]! - fpr[i + 1]!);
  }
  return {
    summary: {
      n: c.rows,
      positives: c.bads,
      auc: m.metrics['auc'] ?? Number.NaN,
      ks: m.metrics['ks'] ?? Math.max(...ks.gap),
    },
    sources: { score: 'joint score, logit' },
    roc: { fpr, tpr },
    ks,
    lift,
    calibration: {
      source: 'the sigmoid of the joint score',
      predicted: c.groups.map((g) => g.meanPd),
      observed: c.groups.map((g) => g.bads / g.rows),
      counts: c.groups.map((g) => g.rows),
    },
    stability: null,
  };
}

/** The report's chart assets: uPlot (IIFE build and CSS) and the report page's chart script. */
export interface ConsoleChartAssets {
  readonly uplotJs: string;
  readonly uplotCss: string;
  readonly clientJs: string;
}

/** Script text inlined in a page never closes its element or opens an HTML comment. */
function scriptSafe(js: string): string {
  return js.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

/**
 * A model's report as one self-contained HTML file (downloaded from its page): its facts, metrics, the
 * held-out curves drawn by the report's uPlot charts inlined as the CLI's report inlines them, and the
 * same Content-Security-Policy (no network access at all).
 */
export function modelReport(m: ModelVersion, assets: ConsoleChartAssets, at: number): string {
  const c = m.evaluation;
  const csp =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";
  const charts =
    c === undefined
      ? html`<p>No held-out curves are stored with this version.</p>`
      : modelCharts(m, 'inline');
  return `<!doctype html>${
    html`<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${csp}"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Model ${m.ref} - fedscore report</title><style>${new Html(
      assets.uplotCss.replace(/<\/style/gi, ''),
    )}</style><style>body{font:14px/1.45 system-ui,sans-serif;margin:1rem 1.5rem;color:#1d2430}.charts{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:1rem}figure.chart{border:1px solid #d8dde4;border-radius:6px;margin:0;padding:.6rem .8rem}table{border-collapse:collapse;margin:.6rem 0}th,td{border:1px solid #d8dde4;padding:.22rem .55rem;text-align:left}#report-errors{color:#b3261e}</style></head><body><main><h1>Model ${m.ref}</h1><p>Generated ${time(at)} by the fedscore console from the model registry: aggregate groups of the held-out set only. Self-contained: no network access.</p>${table(
      'Metrics',
      ['Metric', 'Value'],
      Object.entries(m.metrics).map(([k, v]) => [html`${k}`, html`${num(v)}`]),
    )}${table(
      'Parties',
      ['Party', 'Role', 'Features'],
      m.parties.map((p) => [html`${p.id}`, html`${p.role}`, html`${p.featureNames?.length ?? 0}`]),
    )}${charts}</main><script>${new Html(scriptSafe(assets.uplotJs))}</script><script>${new Html(
      scriptSafe(assets.clientJs),
    )}</script></body></html>`.text
  }`;
}

function chartFigure(id: string, title: string, caption: string): Html {
  return html`<figure class="chart" id="${id}" data-chart="${id}"><figcaption><b>${title}</b> ${caption}</figcaption><div class="plot"></div></figure>`;
}

/**
 * ROC, KS, calibration and lift of the stored held-out evaluation, drawn by the report's uPlot charts:
 * with the assets linked from the console ('linked'), inlined by the caller ('inline': the downloaded
 * report), or not at all ('none': the node serves no chart assets; the table remains).
 */
function modelCharts(m: ModelVersion, figures: 'linked' | 'inline' | 'none'): Html {
  const c = m.evaluation;
  if (c === undefined) {
    return html`<p class="empty">No held-out curves are stored with this version (the guest's publish stores them).</p>`;
  }
  const d = chartData(m, c);
  const rows = d.lift.map((r) => [
    html`${r.bin}`,
    html`${num(r.minScore, 3)} to ${num(r.maxScore, 3)}`,
    html`${r.count}`,
    html`${r.bads}`,
    html`${(100 * r.badRate).toFixed(1)} %`,
    html`${num(r.lift, 2)}`,
    html`${num(r.cumulativeLift, 2)}`,
    html`${num(c.groups[r.bin - 1]!.meanPd, 4)}`,
  ]);
  const drawn =
    figures !== 'none'
      ? html`<div class="charts">${chartFigure('roc', 'ROC curve', `AUC ${num(d.summary.auc)}; the diagonal is chance.`)}${chartFigure(
          'ks',
          'KS curve',
          `cumulative share of bads and goods from the risky end; KS ${num(d.summary.ks)}.`,
        )}${chartFigure('calibration', 'Calibration', 'observed bad rate against mean predicted PD per group.')}${chartFigure(
          'lift',
          'Lift',
          'bad rate of each group over the overall bad rate, riskiest first; the line is cumulative lift.',
        )}</div><pre id="report-errors" class="error" hidden></pre><script type="application/json" id="report-data">${jsonForScript(
          d,
        )}</script>${
          figures === 'linked'
            ? html`<link rel="stylesheet" href="${BASE}/static/uplot.css"><script src="${BASE}/static/uplot.js" defer></script><script src="${BASE}/static/report-charts.js" defer></script>`
            : ''
        }`
      : html``;
  return html`<section aria-labelledby="charts-h" id="evaluation"><h2 id="charts-h">Held-out evaluation</h2><p>${c.rows} test rows (${c.bads} bads) ranked by score, riskiest first, in ${c.groups.length} groups of at least ${c.minRows} rows each: every point of these curves covers a group, never fewer rows.${
    figures === 'linked'
      ? html` <a href="${BASE}/models/${encodeURIComponent(m.ref)}/report" download id="report-download">Download the report</a>`
      : ''
  }</p>${drawn}${table(
    'Groups (lift table)',
    ['Group', 'Score range', 'Rows', 'Bads', 'Bad rate', 'Lift', 'Cum. lift', 'Mean PD'],
    rows,
  )}</section>`;
}

export function comparePage(ctx: PageContext, a: ModelVersion, b: ModelVersion): Html {
  const c = ctx.source.models.compare(a.ref, b.ref);
  return html`${table(
    `Metrics: ${a.ref} vs ${b.ref}`,
    ['Metric', a.ref, b.ref],
    c.metrics.map((m) => [html`${m.name}`, html`${num(m.a)}`, html`${num(m.b)}`]),
  )}${table(
    'Parameters',
    ['Parameter', a.ref, b.ref],
    c.parameters.map((p) => [html`${p.name}`, html`${String(p.a ?? '-')}`, html`${String(p.b ?? '-')}`]),
  )}<p>Features only in ${a.ref}: ${c.features.onlyA.join(', ') || 'none'}. Only in ${b.ref}: ${
    c.features.onlyB.join(', ') || 'none'
  }. Same parties: ${c.sameParties ? 'yes' : 'no'}. Same data: ${c.sameData.join(', ') || 'none'}; different data: ${
    c.differentData.join(', ') || 'none'
  }.</p>`;
}

interface IndicatorRow {
  party: string;
  feature: string;
  bank: string;
  job: string;
  iv: number;
  kept: string;
}

export function indicatorsPage(ctx: PageContext, profiles: readonly DatasetProfile[] = []): Html {
  const rows: IndicatorRow[] = [];
  const seen = new Set<string>();
  const add = (bank: string, job: string, b: BinningCheckpoint['lineage']): void => {
    if (b === undefined) return;
    for (const s of b.selected)
      rows.push({ party: s.party, feature: s.name, bank, job, iv: s.iv, kept: 'kept' });
    for (const s of b.dropped)
      rows.push({ party: s.party, feature: s.name, bank, job, iv: s.iv, kept: s.reason });
  };
  for (const j of ctx.source.jobs.list()) {
    if (!ctx.access.canSeeJob(ctx.account, j)) continue;
    const lineage = ctx.source.jobs.checkpoint<BinningCheckpoint>(j.id, 'binning')?.output.lineage;
    if (lineage !== undefined) {
      seen.add(j.id);
      add(jobBank(j), j.id, lineage);
    }
  }
  for (const m of ctx.source.models.list()) {
    if (!ctx.access.canSeeModel(ctx.account, m)) continue;
    const job = m.lineage.job ?? m.ref;
    if (seen.has(job)) continue;
    seen.add(job);
    add(modelBank(m) ?? '-', job, m.lineage.selection);
  }
  rows.sort((x, y) => x.party.localeCompare(y.party) || x.feature.localeCompare(y.feature) || y.iv - x.iv);
  // What a feature means: this node's own from its config, another party's from its published profile.
  const meaning = new Map<string, string>();
  for (const p of profiles)
    for (const c of p.columns)
      if (c.description !== undefined && !meaning.has(c.name)) meaning.set(c.name, c.description);
  const published = ctx.source.featureCatalogue?.() ?? [];
  const theirs = publishedDescriptions(published);
  const describe = (party: string, feature: string): string =>
    (party === ctx.source.party ? meaning.get(feature) : theirs.get(`${party}\u0000${feature}`)) ?? '-';
  return html`<p>Each party's features as published in jobs' WOE binning: owner, what it means, and per bank the information value computed in its jobs (Siddiqi's bands: &lt;0.02 useless, 0.02-0.1 weak, 0.1-0.3 medium, &gt;0.3 strong); then each party's published feature profile (type, coverage, missing rate). No feature value, bin edge or per-bin count is shown.</p>${table(
    'Indicator catalogue',
    ['Owner', 'Feature', 'Bank', 'Job', 'IV', 'Selection', 'Description'],
    rows.map((r) => [
      html`${r.party}`,
      html`${r.feature}`,
      html`${r.bank}`,
      html`${r.job}`,
      html`${num(r.iv)}`,
      html`${r.kept}`,
      html`${describe(r.party, r.feature)}`,
    ]),
  )}${
    profiles.length === 0
      ? ''
      : table(
          `This node's features (${ctx.source.party})`,
          ['Owner', 'Dataset', 'Feature', 'Type', 'Coverage', 'Missing', 'Rows', 'Description'],
          profiles.flatMap((p) =>
            p.columns.map((c) => [
              html`${ctx.source.party}`,
              html`${p.dataset}`,
              html`${c.name}`,
              html`${c.type}`,
              ...(c.coverage === undefined
                ? [html`withheld`, html`withheld (fewer than ${p.minRows ?? '-'} rows)`]
                : [html`${(c.coverage * 100).toFixed(1)} %`, html`${((1 - c.coverage) * 100).toFixed(1)} %`]),
              html`${p.rows}`,
              html`${c.description ?? '-'}`,
            ]),
          ),
        )
  }${publishedProfilesTable(ctx.source.party, published)}`;
}

export function samplesPage(ctx: PageContext): Html {
  const rows: Html[][] = [];
  for (const j of ctx.source.jobs.list()) {
    if (!ctx.access.canSeeJob(ctx.account, j)) continue;
    const psi = ctx.source.jobs.checkpoint<PsiCheckpoint>(j.id, 'psi')?.output;
    const uses = [...ctx.source.audit.entries({ job: j.id, kind: 'data_use' })].filter(
      (e) => e.details?.['stage'] === 'psi' || e.details?.['stage'] === undefined,
    );
    const fingerprint = uses.find((e) => e.enterpriseFingerprint !== undefined);
    for (const [owner, c] of Object.entries(psi?.consent ?? {})) {
      rows.push([
        html`<a href="${BASE}/jobs/${encodeURIComponent(j.id)}">${j.id}</a>`,
        html`${jobBank(j)}`,
        html`${owner}`,
        html`${c.aligned}`,
        html`${c.enforced ? 'enforced' : 'not required'}`,
        html`${psi?.consentedSet === undefined ? '-' : `${psi.consentedSet.excludedTotal} of ${psi.consentedSet.offered + psi.consentedSet.excludedTotal}`}`,
        html`<code>${(fingerprint?.enterpriseFingerprint ?? '-').slice(0, 16)}</code>`,
      ]);
    }
    if (psi !== undefined && Object.keys(psi.consent ?? {}).length === 0) {
      rows.push([
        html`<a href="${BASE}/jobs/${encodeURIComponent(j.id)}">${j.id}</a>`,
        html`${jobBank(j)}`,
        html`-`,
        html`${psi.rows.length}`,
        html`-`,
        html`${psi.consentedSet === undefined ? '-' : psi.consentedSet.excludedTotal}`,
        html`<code>${(fingerprint?.enterpriseFingerprint ?? '-').slice(0, 16)}</code>`,
      ]);
    }
  }
  return html`<p>Aligned enterprise sets per job: how many enterprises PSI aligned, whether the data owner enforced consent, how many of its enterprises its consent check excluded, and the fingerprint (SHA-256) of the set recorded in the audit log. Enterprise ids are not listed.</p>${table(
    'Aligned samples',
    ['Job', 'Bank', 'Data owner', 'Aligned', 'Consent', 'Excluded by consent', 'Set fingerprint'],
    rows,
  )}`;
}

export function algorithmsPage(): Html {
  return html`${ALGORITHMS.map(
    (a) =>
      html`<section class="algorithm"><h2>${a.name}</h2><p>Stage: ${a.stage}. Source: ${a.source}. Full statement: <code>${a.doc}</code>.</p>${table(
        'Parameters',
        ['Parameter', 'Default'],
        a.parameters.map(([k, v]) => [html`${k}`, html`${v}`]),
      )}${table(
        'Who learns what',
        ['Party', 'Learns', 'Never learns'],
        a.learns.map(([p, l, n]) => [html`${p}`, html`${l}`, html`${n}`]),
      )}</section>`,
  )}`;
}

function auditRow(e: AuditEntry): Html[] {
  const details = Object.entries(e.details ?? {})
    .filter(([, v]) => typeof v !== 'string' || v.length <= 80)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
  return [
    html`${e.seq}`,
    html`${time(e.at)}`,
    html`${e.kind}`,
    html`${e.actor}`,
    html`${e.dataOwner ?? ''}`,
    html`${e.purpose ?? ''}`,
    html`${e.job ?? ''}`,
    html`${e.enterpriseCount ?? ''}`,
    html`${details}`,
  ];
}

export function auditPage(ctx: PageContext): Html {
  const v = ctx.source.audit.verify({ acknowledged: ctx.source.acknowledgedBreaks ?? [] });
  const verdict = v.ok
    ? html`<p class="ok" id="chain" data-ok="true">Hash chain verified: ${v.entries} entries, head <code>${v.head.slice(0, 16)}</code>${
        (v.acknowledged ?? []).length > 0 ? html` (acknowledged breaks at ${v.acknowledged!.join(', ')})` : ''
      }.</p>`
    : html`<p class="error" id="chain" data-ok="false" role="alert">The audit log's hash chain is broken at entry ${v.firstBad!.seq} (${v.firstBad!.reason}): the log was altered after it was written. Examine it with <code>fedscore audit verify</code>.</p>`;
  let entries: AuditEntry[] = [];
  let unreadable = false;
  try {
    const kind = ctx.query.get('kind');
    entries = [
      ...ctx.source.audit.entries(kind !== null && kind !== '' ? { kind: kind as AuditEntry['kind'] } : {}),
    ]
      .filter((e) => ctx.access.canSeeAuditEntry(ctx.account, e))
      .slice(-200)
      .reverse();
  } catch {
    unreadable = true;
  }
  return html`${verdict}${
    unreadable ? html`<p class="error">Some entries do not decode; the list is withheld.</p>` : ''
  }${table('Audit log (newest 200)', ['#', 'Time', 'Kind', 'Actor', 'Data owner', 'Purpose', 'Job', 'Enterprises', 'Details'], entries.map(auditRow))}<p><a href="${BASE}/audit/reconcile">Reconcile a bank's exported log</a> with this node's (as <code>fedscore audit reconcile</code> does; docs/governance.md).</p>`;
}

/** A refused console form: the message, the field it names (if any) and what the user typed. */
export interface FormRefusal {
  readonly message: string;
  readonly field?: string;
  readonly values: Readonly<Record<string, string>>;
}

/** The inline error of the form field whose spec path `field` names (`paths`: that field's paths). */
function fieldError(refused: FormRefusal | undefined, paths: readonly string[], id: string): Html {
  const f = refused?.field;
  if (f === undefined || !paths.some((p) => f === p || f.startsWith(`${p}.`) || f.startsWith(`${p}[`))) {
    return html``;
  }
  return html`<span class="error field-error" id="${id}-error">${refused!.message}</span>`;
}

/** The consent fields of the grant form, with the registry field each one fills. */
const CONSENT_FIELDS = [
  { name: 'enterprise', label: 'Enterprise (USCC)', path: 'consent.enterprise', type: 'text' },
  { name: 'grantee', label: 'Grantee (bank party id)', path: 'consent.grantee', type: 'text' },
  {
    name: 'scope',
    label: "Categories (comma-separated, or '*' for all)",
    path: 'consent.scope',
    type: 'text',
  },
  { name: 'grantedAt', label: 'Valid from (default now)', path: 'consent.grantedAt', type: 'date' },
  { name: 'expiresAt', label: 'Valid until', path: 'consent.expiresAt', type: 'date' },
] as const;

function consentGrantForm(ctx: PageContext, refused?: FormRefusal): Html {
  const v = (name: string, fallback = '') => refused?.values[name] ?? fallback;
  const input = (f: (typeof CONSENT_FIELDS)[number]) => {
    const err = fieldError(refused, [f.path], `c-${f.name}`);
    const invalid = err.text !== '';
    return html`<label for="c-${f.name}">${f.label}</label><input id="c-${f.name}" name="${f.name}" type="${f.type}" value="${v(
      f.name,
      f.name === 'scope' ? '*' : '',
    )}"${f.name === 'grantedAt' ? html`` : html` required`}${invalid ? html` aria-invalid="true" aria-describedby="c-${f.name}-error"` : html``}>${err}`;
  };
  const purpose = v('purpose', 'training');
  const [enterprise, grantee, ...rest] = CONSENT_FIELDS;
  return html`<section aria-labelledby="grant-h"><h2 id="grant-h">Record a consent</h2><form method="post" action="${BASE}/consent" class="consent">${csrfField(ctx)}${input(enterprise)}${input(grantee)}<label for="c-purpose">Purpose</label><select id="c-purpose" name="purpose">${CONSENT_PURPOSES.map(
    (p) => html`<option value="${p}"${p === purpose ? html` selected` : html``}>${p}</option>`,
  )}</select>${fieldError(refused, ['consent.purpose'], 'c-purpose')}${rest.map(input)}<button type="submit">Record consent</button></form></section>`;
}

export function consentPage(ctx: PageContext, refused?: FormRefusal): Html {
  const now = Date.now();
  const records = ctx.source.consents.list().filter((c) => ctx.access.canSeeConsent(ctx.account, c));
  const manage = ctx.access.canManageConsent(ctx.account);
  const byGrantee = new Map<string, Record<string, number>>();
  for (const c of records) {
    const status = ctx.source.consents.status(c, now);
    const g = byGrantee.get(c.grantee) ?? {};
    g[status] = (g[status] ?? 0) + 1;
    byGrantee.set(c.grantee, g);
  }
  const revoke = (c: ConsentRecord, status: string) =>
    manage && status !== 'revoked' && status !== 'expired'
      ? html`<form method="post" action="${BASE}/consent/${encodeURIComponent(c.id)}/revoke" class="inline">${csrfField(ctx)}<button type="submit" class="consent-revoke" aria-label="Revoke consent ${c.id}">Revoke</button></form>`
      : html``;
  // A refusal (of a grant or a revocation) is stated first; the grant form below marks its field.
  return html`${refused === undefined ? '' : html`<p class="error" role="alert">${refused.message}</p>`}${table(
    'Consents by grantee',
    ['Grantee', 'Valid', 'Expired', 'Revoked', 'Not yet valid'],
    [...byGrantee].map(([g, s]) => [
      html`${g}`,
      html`${s['valid'] ?? 0}`,
      html`${s['expired'] ?? 0}`,
      html`${s['revoked'] ?? 0}`,
      html`${s['not_yet_valid'] ?? 0}`,
    ]),
  )}${table(
    'Consent records (newest 200)',
    ['Id', 'Enterprise', 'Grantee', 'Purpose', 'Scope', 'Expires', 'Status', ...(manage ? ['Actions'] : [])],
    records
      .slice(-200)
      .reverse()
      .map((c) => {
        const status = ctx.source.consents.status(c, now);
        return [
          html`${c.id}`,
          html`${c.enterprise}`,
          html`${c.grantee}`,
          html`${c.purpose}`,
          html`${c.scope.join(', ')}`,
          html`${time(c.expiresAt)}`,
          html`${status}`,
          ...(manage ? [revoke(c, status)] : []),
        ];
      }),
  )}${manage ? consentGrantForm(ctx, refused) : html``}`;
}

export function usagePage(ctx: PageContext): Html {
  const usage = new Map<
    string,
    { uses: number; enterprises: number; refused: number; purposes: Set<string> }
  >();
  const of = (bank: string) => {
    let u = usage.get(bank);
    if (u === undefined) {
      u = { uses: 0, enterprises: 0, refused: 0, purposes: new Set() };
      usage.set(bank, u);
    }
    return u;
  };
  try {
    for (const e of ctx.source.audit.entries()) {
      if (e.kind === 'data_use' && e.dataOwner !== undefined && e.dataOwner !== e.actor) {
        if (!ctx.access.canSeeBank(ctx.account, e.actor)) continue;
        const u = of(e.actor);
        u.uses++;
        u.enterprises += e.enterpriseCount ?? 0;
        if (e.purpose !== undefined) u.purposes.add(e.purpose);
      } else if (e.kind === 'access_refused' || e.kind === 'job_refused') {
        if (!ctx.access.canSeeBank(ctx.account, e.actor)) continue;
        of(e.actor).refused++;
      }
    }
  } catch {
    return html`<p class="error">The audit log does not decode; see the Audit page.</p>`;
  }
  return html`<p>Lawful-use monitoring: per bank, the uses of another party's data recorded in this node's audit log (one entry per job stage or scoring request), the enterprises they covered, and the requests refused by policy, consent or quota.</p>${table(
    'Usage by bank',
    ['Bank', 'Data uses', 'Enterprise-uses', 'Purposes', 'Refused'],
    [...usage].map(([bank, u]) => [
      html`${bank}`,
      html`${u.uses}`,
      html`${u.enterprises}`,
      html`${[...u.purposes].join(', ')}`,
      html`${u.refused}`,
    ]),
  )}${
    // The policy table (governance.ts) supersedes this one when the node passes its policy.
    ctx.source.scoringUsage === undefined || ctx.source.scoringPolicy !== undefined
      ? ''
      : table(
          'Online scoring against the quota (current window)',
          ['Bank', 'Requests', 'Enterprises scored', 'Enterprises at quota', 'Quota'],
          ctx.source
            .scoringUsage()
            .filter((u) => ctx.access.canSeeBank(ctx.account, u.bank))
            .map((u) => [
              html`${u.bank}`,
              html`${u.requests}`,
              html`${u.enterprises}`,
              html`${u.atQuota}`,
              html`${u.quota} per enterprise per ${Math.round(u.windowSeconds / 86_400)} days`,
            ]),
        )
  }`;
}

export function reconcileForm(ctx: PageContext, message?: string): Html {
  const banks = (ctx.source.peers ?? []).filter((p) => ctx.access.canSeeBank(ctx.account, p));
  return html`${message === undefined ? '' : html`<p class="error" role="alert">${message}</p>`}<p>Paste the log a bank exported with <code>fedscore audit export</code> (JSON lines, the whole log: its hash chain is verified first). Its claimed uses of this node's data (${ctx.source.party}) are matched with this node's own entries by job and purpose, and must agree on the enterprise-set fingerprint and count.</p><form method="post" action="${BASE}/audit/reconcile">${csrfField(ctx)}<label for="user">Bank</label><select id="user" name="user">${banks.map(
    (b) => html`<option>${b}</option>`,
  )}</select><label for="claims">Exported log (JSON lines)</label><textarea id="claims" name="claims" rows="10" cols="70" required></textarea><button type="submit">Reconcile</button></form>`;
}

export function reconcileResult(ctx: PageContext, user: string, r: AuditReconciliation): Html {
  const uses = (
    caption: string,
    list: readonly { job: string; purpose: string; seq: number; enterpriseCount?: number }[],
  ) =>
    table(
      caption,
      ['Job', 'Purpose', 'Entry', 'Enterprises'],
      list.map((u) => [
        html`${u.job}`,
        html`${u.purpose}`,
        html`${u.seq}`,
        html`${u.enterpriseCount ?? '-'}`,
      ]),
    );
  const chain = r.claimedChain;
  return html`<p id="reconcile" data-ok="${String(r.ok)}" class="${r.ok ? 'ok' : 'error'}" role="${r.ok ? 'status' : 'alert'}">${
    r.ok
      ? `${user}'s log agrees with ${ctx.source.party}'s: ${r.matched} uses matched.`
      : `${user}'s log does not agree with ${ctx.source.party}'s.`
  }</p><p>${user}'s hash chain: ${
    chain.ok
      ? `verified (${chain.entries} entries)`
      : `broken at entry ${chain.firstBad?.seq ?? '?'} (${chain.firstBad?.reason ?? ''})`
  }. Matched uses: ${r.matched}.</p>${uses('Uses this node served that the bank does not claim (hidden)', r.unclaimed)}${uses(
    'Uses the bank claims that this node never served',
    r.unknownToOwner,
  )}${table(
    'Same job and purpose, different enterprise sets',
    ['Job', 'Purpose', 'Enterprises here', 'Enterprises claimed'],
    r.mismatched.map((m) => [
      html`${m.owner.job}`,
      html`${m.owner.purpose}`,
      html`${m.owner.enterpriseCount ?? '-'}`,
      html`${m.claimed.enterpriseCount ?? '-'}`,
    ]),
  )}<p><a href="${BASE}/audit/reconcile">Reconcile another log</a></p>`;
}

function money(x: number): string {
  return x.toLocaleString('en-US', { maximumFractionDigits: 0 });
}

function productForm(ctx: PageContext, p?: LoanProduct, message?: string): Html {
  const v = (x: string | number | undefined) => (x === undefined ? '' : String(x));
  const field = (name: string, label: string, value: string, extra = '') =>
    html`<label for="p-${name}">${label}</label><input id="p-${name}" name="${name}" value="${value}" required ${extra}>`;
  return html`<form method="post" action="${BASE}/products" class="product">${csrfField(ctx)}${
    message === undefined ? '' : html`<p class="error" role="alert">${message}</p>`
  }${field('id', 'Product id', v(p?.id))}${field('name', 'Name', v(p?.name))}${field(
    'bank',
    'Bank',
    v(p?.bank ?? ctx.account.bank),
  )}${field('rateBp', 'Rate (basis points a year)', v(p?.rateBp))}${field('termMonths', 'Term (months)', v(p?.termMonths))}${field(
    'lineMin',
    'Line from',
    v(p?.lineMin),
  )}${field('lineMax', 'Line up to', v(p?.lineMax))}${field('bands', 'Eligible rating bands (comma-separated)', p === undefined ? '' : p.bands.join(', '))}${field(
    'minLine',
    'Least pre-approved line',
    v(p?.minLine ?? 0),
  )}<button type="submit">Save product</button></form>`;
}

export function productsPage(ctx: PageContext, message?: string): Html {
  const pool = ctx.source.products!;
  const q = ctx.query;
  const sortRaw = q.get('sort') ?? 'name';
  const sort = (PRODUCT_SORTS as readonly string[]).includes(sortRaw) ? (sortRaw as ProductSort) : 'name';
  const amountRaw = q.get('amount') ?? '';
  const amount = amountRaw.trim() === '' ? undefined : Number(amountRaw);
  const rows = pool.search({
    search: q.get('q') ?? '',
    bank: q.get('bank') ?? '',
    band: q.get('band') ?? '',
    ...(amount !== undefined && Number.isFinite(amount) && { amount }),
    sort,
    descending: q.get('order') === 'desc',
  });
  const opt = (value: string, label: string, selected: string) =>
    html`<option value="${value}"${selected === value ? html` selected` : ''}>${label}</option>`;
  const filters = html`<form method="get" action="${BASE}/products" class="filters" role="search"><label for="f-q">Search</label><input id="f-q" name="q" value="${q.get('q') ?? ''}"><label for="f-bank">Bank</label><input id="f-bank" name="bank" value="${q.get('bank') ?? ''}"><label for="f-band">Admits band</label><input id="f-band" name="band" value="${q.get('band') ?? ''}"><label for="f-amount">Lends this amount</label><input id="f-amount" name="amount" inputmode="decimal" value="${amountRaw}"><label for="f-sort">Sort by</label><select id="f-sort" name="sort">${[
    ['name', 'Name'],
    ['rate', 'Rate'],
    ['term', 'Term'],
    ['lineMax', 'Largest line'],
    ['matches', 'Matched enterprises'],
  ].map(([v, l]) =>
    opt(v!, l!, sort),
  )}</select><label for="f-order">Order</label><select id="f-order" name="order">${opt('asc', 'Ascending', q.get('order') ?? 'asc')}${opt('desc', 'Descending', q.get('order') ?? 'asc')}</select><button type="submit">Apply</button></form>`;
  const canCreate = ctx.account.role !== 'auditor';
  return html`${message === undefined ? '' : html`<p class="error" role="alert">${message}</p>`}<p>The loan-product pool: each product's rate, term, line range and eligibility over the rating band and the pre-approved line, matched against the enterprises' pre-approved lines recorded on this node. A bank sees which enterprises its own products matched; for another bank's products, the count only.</p>${filters}${table(
    `Products (${rows.length})`,
    ['product', 'bank', 'rate', 'term', 'line range', 'bands', 'least line', 'matched'],
    rows.map(({ product: p, matched }) => [
      html`<a href="${BASE}/products/${encodeURIComponent(p.id)}">${p.name}</a>`,
      p.bank,
      `${(p.rateBp / 100).toFixed(2)}%`,
      `${p.termMonths} months`,
      `${money(p.lineMin)} - ${money(p.lineMax)}`,
      p.bands.join(', '),
      money(p.minLine),
      String(matched),
    ]),
  )}${canCreate ? html`<h2>Add or change a product</h2>${productForm(ctx)}` : ''}`;
}

export function productPage(ctx: PageContext, p: LoanProduct, message?: string): Html {
  const matches = ctx.source.products!.matches(p);
  const own = ctx.access.canSeeProductMatches(ctx.account, p.bank);
  // Even the product's own bank sees by name only the enterprises it pre-approved itself: another bank's
  // pre-approvals (its customers and lines) are counted, not listed.
  const shown = matches.filter((m) => ctx.access.canSeeBank(ctx.account, m.bank));
  const hidden = matches.length - shown.length;
  const list = own
    ? html`${table(
        'Matched enterprises',
        ['enterprise', 'pre-approved by', 'band', 'amount'],
        shown.map((m) => [m.enterprise, m.bank, m.band, money(m.amount)]),
      )}${hidden > 0 ? html`<p>And ${String(hidden)} pre-approved by other banks (count only).</p>` : ''}`
    : html`<p>This product is another bank's: the enterprises it matched are not shown.</p>`;
  return html`${message === undefined ? '' : html`<p class="error" role="alert">${message}</p>`}<dl><dt>Bank</dt><dd>${p.bank}</dd><dt>Rate</dt><dd>${(p.rateBp / 100).toFixed(2)}% a year</dd><dt>Term</dt><dd>${p.termMonths} months</dd><dt>Line range</dt><dd>${money(p.lineMin)} - ${money(p.lineMax)}</dd><dt>Eligible bands</dt><dd>${p.bands.join(', ')}</dd><dt>Least pre-approved line</dt><dd>${money(p.minLine)}</dd><dt>Matched enterprises</dt><dd id="matched">${String(matches.length)}</dd></dl>${list}${
    ctx.access.canEditProduct(ctx.account, p.bank)
      ? html`<h2>Change this product</h2>${productForm(ctx, p)}`
      : ''
  }`;
}
