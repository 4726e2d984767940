/**
 * The console's only static files, served by the node itself from these strings (no CDN, no font, no
 * third-party request; the Content-Security-Policy allows 'self' only). The script is progressive: every
 * page works without it; on a job's page it follows the job live over server-sent events.
 */
import { CONSOLE_SCRIPT_BUNDLE } from './generated/console-script.ts';

export const CONSOLE_CSS = `:root{color-scheme:light;--fg:#1a1a1a;--muted:#4a4a4a;--line:#c8c8c8;--accent:#0b57d0;--ok:#146c2e;--bad:#b3261e}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,sans-serif;color:var(--fg);background:#fff}
header{display:flex;gap:1rem;align-items:baseline;padding:.6rem 1rem;border-bottom:1px solid var(--line)}
.brand{font-weight:600;color:var(--fg);text-decoration:none}.party{color:var(--muted)}
form.filters,form.product,form.job-form,form.consent{display:grid;grid-template-columns:max-content minmax(10rem,24rem);gap:.4rem .8rem;align-items:center;margin:.8rem 0}
form.filters button,form.product button,form.job-form button,form.consent button,form .field-error{grid-column:2;justify-self:start}form label.check{grid-column:1/-1}
form.job-form fieldset{grid-column:1/-1;contain:inline-size;display:grid;grid-template-columns:max-content minmax(10rem,24rem);gap:.4rem .8rem;align-items:center;margin:0;border:1px solid var(--line)}
nav{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;padding:.3rem 1rem;border-bottom:1px solid var(--line)}
nav ul{display:flex;flex-wrap:wrap;gap:.9rem;list-style:none;margin:0;padding:0}
a{color:var(--accent)}a:focus-visible,button:focus-visible,input:focus-visible,textarea:focus-visible,select:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
main{padding:1rem;max-width:80rem}h1{font-size:1.4rem;margin:.2rem 0 1rem}h2{font-size:1.15rem}
table{border-collapse:collapse;margin:0 0 1.2rem;width:100%}caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border-bottom:1px solid var(--line);padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f2f2f2}
code{font-size:.9em}.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}.facts dt{font-weight:600}.facts dd{margin:0}
.status-done,.status-production,.ok{color:var(--ok)}.status-failed,.status-retired,.status-cancelled,.error{color:var(--bad)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(28rem,1fr));gap:1rem;margin:0 0 1rem}figure.chart{border:1px solid var(--line);border-radius:6px;margin:0;padding:.6rem .8rem}figure.chart figcaption{font-size:.9rem;margin-bottom:.3rem}
form.login{display:grid;gap:.4rem;max-width:22rem}form.inline{display:inline-flex;gap:.4rem;align-items:center;margin:.3rem .6rem .3rem 0}
input,textarea,select,button{font:inherit}button{padding:.3rem .8rem;border:1px solid var(--accent);background:var(--accent);color:#fff;border-radius:4px;cursor:pointer}a.button{display:inline-block;padding:.3rem .8rem;border:1px solid var(--accent);background:var(--accent);color:#fff;border-radius:4px;text-decoration:none}
.logout{display:flex;gap:.5rem;align-items:center}.logout span{color:var(--muted)}textarea{width:100%;font-family:monospace}
.cards{list-style:none;padding:0;display:flex;gap:1rem;flex-wrap:wrap}.cards li{border:1px solid var(--line);padding:.8rem 1rem;border-radius:6px}
`;

/**
 * The console's script: TypeScript modules in packages/node/web/ (typechecked with the DOM library),
 * bundled and minified at build time into the committed module ./generated/console-script.ts
 * (`npx -y pnpm@12.4.2 --filter @fedscore/node console:bundle`; `--check` in CI fails when it is stale).
 * Served as /console/static/console.js under `script-src 'self'`.
 */
export const CONSOLE_JS: string = CONSOLE_SCRIPT_BUNDLE;

/** The tab icon (so that the browser does not ask the node for /favicon.ico). */
export const CONSOLE_ICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0b57d0"/><path d="M4 12V4h7M4 8h5" stroke="#fff" stroke-width="2" fill="none"/></svg>';
