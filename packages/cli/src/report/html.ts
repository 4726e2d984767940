/**
 * The model report as one self-contained HTML file: tables rendered here (readable without
 * JavaScript), charts drawn in the page by uPlot (inlined, with its CSS) from the report data embedded
 * as JSON. A Content-Security-Policy of `default-src 'none'` forbids every fetch, so the file works
 * offline and cannot leak to the network.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { FedscoreError } from '@fedscore/core';
import type { ReportData } from './data.ts';

export interface ReportAssets {
  /** uPlot's IIFE build (defines the global `uPlot`). */
  readonly uplotJs: string;
  readonly uplotCss: string;
  /** The page script that draws the charts (./client.js). */
  readonly clientJs: string;
  readonly uplotVersion: string;
}

/** uPlot from the CLI's dependencies and the chart script beside this file. */
export function loadReportAssets(): ReportAssets {
  const require = createRequire(import.meta.url);
  const read = (path: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      throw new FedscoreError('io', `cannot read report asset ${path}: ${(e as Error).message}`, {
        file: path,
        cause: e,
      });
    }
  };
  const pkgPath = require.resolve('uplot/package.json');
  const version = (JSON.parse(read(pkgPath)) as { version: string }).version;
  return {
    uplotJs: read(require.resolve('uplot/dist/uPlot.iife.min.js')),
    uplotCss: read(require.resolve('uplot/dist/uPlot.min.css')),
    clientJs: read(new URL('./client.js', import.meta.url).pathname),
    uplotVersion: version,
  };
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Inline script text cannot contain a closing script tag or an HTML comment opener. */
function scriptSafe(js: string): string {
  return js.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

/** JSON that is safe inside a script element. */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

function num(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '&ndash;';
  return v.toFixed(digits);
}

function score(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '&ndash;';
  return Number.isInteger(v) ? String(v) : (Math.round(v * 1000) / 1000).toString();
}

function pct(v: number): string {
  return `${(100 * v).toFixed(1)}%`;
}

function table(head: readonly string[], rows: readonly (readonly string[])[], cls = ''): string {
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function chart(id: string, title: string, caption: string): string {
  return `<figure class="chart" id="${id}" data-chart="${id}"><figcaption><b>${title}</b> ${caption}</figcaption><div class="plot"></div></figure>`;
}

const BAND_CLASS: Record<string, string> = { stable: 'ok', moderate: 'warn', shifted: 'bad' };

function section(id: string, title: string, body: string): string {
  return `<section id="${id}"><h2>${title}</h2>${body}</section>`;
}

/** The whole HTML document. */
export function renderReportHtml(data: ReportData, assets: ReportAssets): string {
  const s = data.summary;
  const dir = data.higherIsBetter ? 'high score = good (negated for ranking)' : 'high score = bad';
  const src = data.sources;
  const sourceRows: string[][] = [
    [
      'scored set',
      `${escapeHtml(src.scores)} (label <code>${escapeHtml(src.label)}</code>, score <code>${escapeHtml(src.score)}</code>, ${dir})`,
    ],
  ];
  if (src.baseline !== undefined) sourceRows.push(['stability baseline', escapeHtml(src.baseline)]);
  if (src.iv !== undefined) sourceRows.push(['IV table', escapeHtml(src.iv)]);
  if (src.scorecard !== undefined) sourceRows.push(['scorecard', escapeHtml(src.scorecard)]);
  if (src.importance !== undefined) {
    sourceRows.push(['feature importance', src.importance.map(escapeHtml).join(', ')]);
  }

  const metrics = `<div class="metrics">${[
    ['rows', String(s.n)],
    ['bads (label 1)', `${s.positives} (${pct(s.positives / s.n)})`],
    ['AUC', num(s.auc)],
    ['Gini', num(s.gini)],
    ['KS', num(s.ks)],
    [`KS at score ${data.higherIsBetter ? '&le;' : '&ge;'}`, score(s.ksThreshold)],
    ['Brier', s.brier === null ? '&ndash;' : num(s.brier)],
    ...(data.stability ? [['score PSI', `${num(data.stability.psi)} (${data.stability.band})`]] : []),
  ]
    .map(([k, v]) => `<div><span>${k}</span><b>${v}</b></div>`)
    .join('')}</div>`;

  const charts = [
    chart('roc', 'ROC curve', `AUC ${num(s.auc)}; the diagonal is chance.`),
    chart('ks', 'KS curve', `cumulative share of bads and goods from the risky end; KS ${num(s.ks)}.`),
    chart(
      'distribution',
      'Score distribution by class',
      `share of each class per score bin (${data.distribution.goodCount.length} bins).`,
    ),
    'unavailable' in data.calibration
      ? `<figure class="chart unavailable" id="calibration"><figcaption><b>Calibration</b> not drawn: ${escapeHtml(data.calibration.unavailable)}.</figcaption></figure>`
      : chart(
          'calibration',
          'Calibration',
          `observed bad rate vs mean predicted PD per quantile bin (PD from ${escapeHtml(data.calibration.source)}).`,
        ),
    chart(
      'lift',
      'Lift',
      `bad rate of each bin over the overall bad rate, riskiest bin first; the line is cumulative lift.`,
    ),
    data.stability
      ? chart(
          'stability',
          'Population stability',
          `share of each population per baseline score bin; PSI ${num(data.stability.psi)} (${data.stability.band}).`,
        )
      : '<figure class="chart unavailable" id="stability"><figcaption><b>Population stability</b> not drawn: no baseline population was given (--baseline).</figcaption></figure>',
  ].join('');

  const lift = table(
    [
      'bin',
      'min score',
      'max score',
      'rows',
      'bads',
      'bad rate',
      'cum. share',
      'capture',
      'lift',
      'cum. lift',
    ],
    data.lift.map((r) => [
      String(r.bin),
      score(r.minScore),
      score(r.maxScore),
      String(r.count),
      String(r.bads),
      pct(r.badRate),
      pct(r.cumulativeShare),
      pct(r.capture),
      num(r.lift, 2),
      num(r.cumulativeLift, 2),
    ]),
    'num',
  );

  const stability = data.stability
    ? `<p>Baseline (expected) ${data.stability.expectedRows} rows, scored set (actual) ${data.stability.actualRows} rows.
PSI = &Sigma; (a &minus; e) ln(a / e) over bins cut at the baseline's score quantiles; &lt; 0.1 stable, 0.1&ndash;0.25 moderate, &gt; 0.25 shifted.</p>${table(
        ['column', 'kind', 'PSI', 'band'],
        data.stability.rows.map((r) => [
          escapeHtml(r.name),
          r.kind,
          num(r.psi),
          `<span class="${BAND_CLASS[r.band] ?? ''}">${r.band}</span>`,
        ]),
        'num',
      )}${table(
        ['score bin', 'baseline rows', 'actual rows', 'baseline share', 'actual share', 'contribution'],
        data.stability.bins.map((b) => [
          `(${b.lower === null ? '&minus;&infin;' : score(b.lower)}, ${b.upper === null ? '&infin;)' : `${score(b.upper)}]`}`,
          String(b.expectedCount),
          String(b.actualCount),
          pct(b.expectedShare),
          pct(b.actualShare),
          num(b.contribution),
        ]),
        'num',
      )}`
    : '<p class="muted">No baseline population: pass <code>--baseline</code> (a second scored CSV, e.g. the training population).</p>';

  const maxIv = data.iv ? Math.max(...data.iv.map((f) => f.iv), 1e-12) : 1;
  const iv = data.iv
    ? table(
        ['party', 'feature', 'IV', '', 'strength', 'bins', 'selected'],
        data.iv.map((f) => [
          escapeHtml(f.party),
          escapeHtml(f.name),
          num(f.iv),
          `<span class="bar" style="width:${Math.max(1, Math.round((120 * f.iv) / maxIv))}px"></span>`,
          escapeHtml(f.strength ?? ''),
          f.bins === undefined ? '' : String(f.bins),
          f.selected === undefined
            ? ''
            : f.selected
              ? 'yes'
              : `no${f.dropReason ? ` (${escapeHtml(f.dropReason)})` : ''}`,
        ]),
        'num',
      )
    : '<p class="muted">No IV table: pass <code>--iv</code> (the JSON of <code>fedscore binning --json</code>).</p>';

  const imp = data.importance;
  const maxSplits = imp ? Math.max(...imp.map((r) => r.splits), 1) : 1;
  const importance = imp
    ? `<p>Split count and total gain (loss reduction) of each party's own features, as that party published them: no party sees another's feature names. A guest's host rows count a host's splits as a whole; a host's gains are shown only when the job shared them (<code>shareSplitGains</code>).</p>${table(
        ['party', 'feature', 'splits', '', 'total gain'],
        imp.map((r) => [
          escapeHtml(r.party),
          r.kind === 'host' ? `host <code>${escapeHtml(r.name)}</code> (all its splits)` : escapeHtml(r.name),
          String(r.splits),
          `<span class="bar" style="width:${Math.max(1, Math.round((120 * r.splits) / maxSplits))}px"></span>`,
          r.gain === undefined ? '' : num(r.gain),
        ]),
        'num',
      )}`
    : '<p class="muted">No feature importance: pass <code>--importance</code> (a tree model\'s <code>&lt;party&gt;.importance.json</code>).</p>';

  const sc = data.scorecard;
  const scorecard = sc
    ? `<p>Base score ${score(sc.baseScore)} at odds ${score(sc.baseOdds)}:1 (good:bad), ${score(sc.pdo)} points to double the odds;
factor ${num(sc.factor)}, offset ${num(sc.offset)}. Shown as party <code>${escapeHtml(sc.viewer)}</code> sees it: other parties' points appear only if they disclosed them.</p>${table(
        ['party', 'feature', 'bin', 'WOE', 'points'],
        sc.rows.map((r) => [
          escapeHtml(r.party),
          escapeHtml(r.feature),
          escapeHtml(r.bin),
          r.woe === null ? '' : num(r.woe),
          r.points === null ? '' : num(r.points, 2),
        ]),
        'num',
      )}`
    : '<p class="muted">No scorecard: pass <code>--scorecard</code> (the JSON of <code>fedscore scorecard --out</code>).</p>';

  const csp =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="fedscore report (charts: uPlot ${escapeHtml(assets.uplotVersion)})">
<title>${escapeHtml(data.title)}</title>
<style>${assets.uplotCss}</style>
<style>
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; color: #1d2430; margin: 0; background: #f6f7f9; }
main { max-width: 1220px; margin: 0 auto; padding: 1.2rem 1.5rem 3rem; }
h1 { font-size: 1.5rem; margin: 0.2rem 0; } h2 { font-size: 1.15rem; margin: 1.8rem 0 0.6rem; border-bottom: 1px solid #d8dde4; padding-bottom: 0.2rem; }
.muted, .meta { color: #5b6573; } code { font-size: 0.92em; }
.metrics { display: flex; flex-wrap: wrap; gap: 0.6rem; margin: 0.8rem 0; }
.metrics div { background: #fff; border: 1px solid #d8dde4; border-radius: 6px; padding: 0.45rem 0.8rem; min-width: 6.5rem; }
.metrics span { display: block; color: #5b6573; font-size: 0.8rem; } .metrics b { font-size: 1.15rem; }
.charts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 1rem; }
figure.chart { background: #fff; border: 1px solid #d8dde4; border-radius: 6px; margin: 0; padding: 0.6rem 0.8rem; min-height: 120px; }
figure.chart figcaption { font-size: 0.88rem; color: #3b4452; margin-bottom: 0.3rem; }
figure.unavailable { color: #5b6573; }
table { border-collapse: collapse; background: #fff; margin: 0.6rem 0; font-size: 0.88rem; }
th, td { border: 1px solid #d8dde4; padding: 0.22rem 0.55rem; text-align: left; } th { background: #eef1f5; }
table.num td { font-variant-numeric: tabular-nums; }
.bar { display: inline-block; height: 0.7rem; background: #2a7ab0; border-radius: 2px; }
.ok { color: #1b7f3b; } .warn { color: #a86b00; } .bad { color: #b3261e; font-weight: 600; }
#report-errors { color: #b3261e; font-weight: 600; white-space: pre-wrap; }
@media (max-width: 900px) { .charts { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<main>
<h1>${escapeHtml(data.title)}</h1>
<p class="meta">Generated ${escapeHtml(data.generatedAt)} by <code>fedscore report</code>. Label 1 = bad. Self-contained: no network access.</p>
${table(['input', ''], sourceRows)}
<div id="report-errors" role="alert"></div>
${metrics}
${section('charts', 'Discrimination, calibration and stability', `<div class="charts">${charts}</div>`)}
${section('lift-table', 'Lift table', `<p>Rows ranked riskiest first (${data.higherIsBetter ? 'lowest' : 'highest'} scores) and cut into bins of about equal size; tied scores are never split.</p>${lift}`)}
${section('stability-table', 'Population stability', stability)}
${section('iv-table', 'Information value', `${data.iv ? '<p>IV = &Sigma; (goods% &minus; bads%) &times; WOE per feature; &lt; 0.02 useless, 0.02&ndash;0.1 weak, 0.1&ndash;0.3 medium, 0.3&ndash;0.5 strong, &ge; 0.5 suspicious.</p>' : ''}${iv}`)}
${section('importance-table', 'Feature importance (tree models)', importance)}
${section('scorecard-table', 'Scorecard', scorecard)}
</main>
<script type="application/json" id="report-data">${jsonForScript(data)}</script>
<script>${scriptSafe(assets.uplotJs)}</script>
<script>${scriptSafe(assets.clientJs)}</script>
</body>
</html>
`;
}
