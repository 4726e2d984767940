/**
 * Governance pages of the console that are not the audit log or consent: post-loan alerts
 * (alerts.ts) and the scoring policy against each bank's use (usage.ts). Server-rendered like pages.ts,
 * with the same rules: an object out of the account's scope is 404, a role that may not see borrowers
 * sees counts per bank only.
 */
import { CREDIT_EVENT_KINDS } from '../monitoring/index.ts';
import type { RequestWindow } from '../scoring-policy/index.ts';
import { ALERT_SEVERITIES, type ConsoleAlert, countAlerts } from './alerts.ts';
import { type Html, html, table, time } from './html.ts';
import { type AlignedProfile, BASE, type PageContext } from './pages.ts';

/** Rows of the alert list (newest first); the filters narrow it. */
const MAX_ALERT_ROWS = 500;

function days(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400} days`;
  if (seconds % 3_600 === 0) return `${seconds / 3_600} h`;
  return `${seconds} s`;
}

function alertUrl(a: ConsoleAlert): string {
  return `${BASE}/alerts/${encodeURIComponent(a.government)}/${a.seq}`;
}

function ackCell(ctx: PageContext, a: ConsoleAlert): Html {
  if (a.acknowledged !== undefined) {
    return html`acknowledged by ${a.acknowledged.by}, ${time(a.acknowledged.at)}`;
  }
  if (!ctx.access.canAcknowledgeAlert(ctx.account, a.bank)) return html`not acknowledged`;
  return html`<form method="post" action="${alertUrl(a)}/acknowledge" class="inline"><input type="hidden" name="csrf" value="${ctx.csrf}"><button type="submit" aria-label="Acknowledge alert ${a.seq} from ${a.government}">Acknowledge</button></form>`;
}

/** The Alerts page: the list for roles that may see the borrowers, counts per bank for the others. */
export function alertsPage(ctx: PageContext): Html {
  const book = ctx.source.alerts;
  const deliveries = (ctx.source.alertDeliveries?.() ?? []).filter((d) =>
    ctx.access.canSeeBank(ctx.account, d.bank),
  );
  const intro = html`<p>Post-loan monitoring: the government alerts a bank when a public-credit event (court judgment, dishonest-debtor listing, tax arrears, administrative penalty) hits one of its watched, consenting borrowers before the loan ends (docs/governance.md). A bank sees and acknowledges its own alerts; the platform operator sees counts per bank only.</p>`;
  const delivered =
    ctx.source.alertDeliveries === undefined
      ? ''
      : table(
          `Alerts delivered by ${ctx.source.party} (counts per bank)`,
          ['Bank', 'Borrowers watched', 'Deliveries', 'Alerts', 'High', 'Medium', 'Last delivery'],
          deliveries.map((d) => [
            html`${d.bank}`,
            html`${d.watched}`,
            html`${d.deliveries}`,
            html`${d.alerts}`,
            html`${d.high}`,
            html`${d.medium}`,
            html`${d.lastAt === undefined ? '-' : time(d.lastAt)}`,
          ]),
        );
  if (book === undefined) {
    return html`${intro}${
      delivered === '' ? html`<p class="empty">This node receives no post-loan alerts.</p>` : delivered
    }`;
  }
  const severity = ctx.query.get('severity') ?? '';
  const kind = ctx.query.get('kind') ?? '';
  const all = book.list();
  const visible = all.filter((a) => ctx.access.canSeeAlerts(ctx.account, a.bank));
  const shown = visible.filter(
    (a) => (severity === '' || a.severity === severity) && (kind === '' || a.kind === kind),
  );
  // Per-bank counts of what the account may not see borrower by borrower (the operator: every bank).
  const counted = countAlerts(
    all.filter(
      (a) => !ctx.access.canSeeAlerts(ctx.account, a.bank) && ctx.access.canSeeBank(ctx.account, a.bank),
    ),
  );
  const opt = (value: string, label: string, selected: string) =>
    html`<option value="${value}"${selected === value ? html` selected` : ''}>${label}</option>`;
  const list =
    visible.length === 0 && counted.length > 0
      ? ''
      : html`<form method="get" action="${BASE}/alerts" class="filters" role="search"><label for="f-severity">Severity</label><select id="f-severity" name="severity">${opt('', 'Any', severity)}${ALERT_SEVERITIES.map(
          (s) => opt(s, s, severity),
        )}</select><label for="f-kind">Kind</label><select id="f-kind" name="kind">${opt('', 'Any', kind)}${CREDIT_EVENT_KINDS.map(
          (k) => opt(k, k.replace(/_/g, ' '), kind),
        )}</select><button type="submit">Filter</button></form>${table(
          `Alerts (${shown.length} of ${visible.length}${shown.length > MAX_ALERT_ROWS ? `, newest ${MAX_ALERT_ROWS} shown` : ''})`,
          [
            'Alert',
            'Kind',
            'Severity',
            'Event date',
            'Enterprise',
            'Bank',
            'Loan end',
            'Rescored',
            'Acknowledged',
          ],
          shown
            .slice(0, MAX_ALERT_ROWS)
            .map((a) => [
              html`<a href="${alertUrl(a)}">${a.government} #${a.seq}</a>`,
              html`${a.kind.replace(/_/g, ' ')}`,
              html`<span class="severity-${a.severity}">${a.severity}</span>`,
              html`${time(a.occurredAt).slice(0, 10)}`,
              html`<code>${a.enterprise}</code>`,
              html`${a.bank}`,
              html`${a.loanEnd === undefined ? '-' : time(a.loanEnd).slice(0, 10)}`,
              html`${a.rescored ? 'yes' : 'no'}`,
              ackCell(ctx, a),
            ]),
        )}`;
  return html`${intro}${list}${
    counted.length === 0
      ? ''
      : table(
          'Alerts received (counts per bank; borrowers are the bank’s own)',
          ['Bank', 'Alerts', 'High', 'Medium', 'Not acknowledged'],
          counted.map((c) => [
            html`${c.bank}`,
            html`${c.alerts}`,
            html`${c.high}`,
            html`${c.medium}`,
            html`${c.unacknowledged}`,
          ]),
        )
  }${delivered}`;
}

/** One alert (only for a role that may see its bank's borrowers; else the caller answers 404). */
export function alertPage(ctx: PageContext, a: ConsoleAlert): Html {
  return html`<dl class="facts" id="alert" data-acknowledged="${String(a.acknowledged !== undefined)}"><dt>Kind</dt><dd>${a.kind.replace(/_/g, ' ')}</dd><dt>Severity</dt><dd>${a.severity}</dd><dt>Event date</dt><dd>${time(a.occurredAt)}</dd><dt>Received</dt><dd>${time(a.receivedAt)}</dd><dt>Enterprise</dt><dd><code>${a.enterprise}</code></dd><dt>Bank</dt><dd>${a.bank}</dd><dt>From</dt><dd>${a.government} (event #${a.seq})</dd><dt>Loan end</dt><dd>${a.loanEnd === undefined ? 'not recorded' : time(a.loanEnd).slice(0, 10)}</dd><dt>Rescored</dt><dd>${a.rescored ? 'yes' : 'no'}</dd><dt>Acknowledged</dt><dd id="ack">${ackCell(ctx, a)}</dd></dl><p><a href="${BASE}/alerts">All alerts</a></p>`;
}

/** The Usage page's table of the scoring policy against each bank's use (counts only). */
export function scoringPolicyTable(ctx: PageContext): Html | '' {
  const s = ctx.source.scoringPolicy;
  if (s === undefined) return '';
  const rows = s.usage().filter((u) => ctx.access.canSeeBank(ctx.account, u.bank));
  const q: RequestWindow = s.quota;
  const r: RequestWindow = s.rate;
  return html`<h2 id="policy-h">Scoring quota and rate (current windows)</h2><p id="policy">Policy of ${ctx.source.party}: per bank and enterprise, at most ${q.requests} requests per ${days(q.windowSeconds)} (<code>scoring.quota</code>) and ${r.requests} per ${days(r.windowSeconds)} (<code>scoring.rate</code>). Counts of requests admitted in each window; enterprises are counted, never listed.</p>${table(
    'Scoring policy against each bank’s use',
    [
      'Bank',
      `Requests (${days(q.windowSeconds)})`,
      'Enterprises scored',
      'Enterprises at quota',
      `Requests (${days(r.windowSeconds)})`,
      'Enterprises at rate limit',
    ],
    rows.map((u) => [
      html`${u.bank}`,
      html`${u.quotaRequests}`,
      html`${u.enterprises}`,
      html`${u.atQuota} of ${u.enterprises}`,
      html`${u.rateRequests}`,
      html`${u.atRate}`,
    ]),
  )}`;
}

/** The Indicators page's coverage over each visible job's aligned set (counts and shares only). */
export function alignedCoverageTable(ctx: PageContext, profiles: readonly AlignedProfile[]): Html | '' {
  if (!ctx.access.canSeeAlignedCoverage(ctx.account)) return '';
  const visible = profiles.filter((p) => {
    const job = ctx.source.jobs.get(p.job);
    return job !== undefined && ctx.access.canSeeJob(ctx.account, job);
  });
  if (visible.length === 0) return '';
  return table(
    `This node's features over the aligned set of each bank's last job (${ctx.source.party})`,
    ['Dataset', 'Job', 'Bank', 'Feature', 'Coverage', 'Missing', 'Aligned rows'],
    visible.flatMap((p) =>
      p.columns.map((c) => [
        html`${p.dataset}`,
        html`<a href="${BASE}/jobs/${encodeURIComponent(p.job)}">${p.job}</a>`,
        html`${p.bank}`,
        html`${c.name}`,
        ...(c.coverage === undefined
          ? [html`withheld`, html`withheld (fewer than ${p.minRows ?? '-'} rows)`]
          : [html`${(c.coverage * 100).toFixed(1)} %`, html`${((1 - c.coverage) * 100).toFixed(1)} %`]),
        html`${p.rows}`,
      ]),
    ),
  );
}
