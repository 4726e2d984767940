/**
 * Server-side HTML for the console. `html` is a tagged template that escapes every interpolated value
 * unless it is already `Html` (the output of `html` itself), so a job id, a model name or a username from
 * the store can never become markup. Arrays of `Html` are joined.
 */

export class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

type Interpolation = Html | string | number | boolean | null | undefined | readonly Interpolation[];

function render(v: Interpolation): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: Interpolation[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** A table with a caption and a header row; `rows` are already cells. */
export function table(caption: string, head: readonly string[], rows: readonly Interpolation[][]): Html {
  if (rows.length === 0) return html`<p class="empty">${caption}: none.</p>`;
  return html`<table><caption>${caption}</caption><thead><tr>${head.map(
    (h) => html`<th scope="col">${h}</th>`,
  )}</tr></thead><tbody>${rows.map((r) => html`<tr>${r.map((c) => html`<td>${c}</td>`)}</tr>`)}</tbody></table>`;
}

export function time(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
}

export function num(x: number | null | undefined, digits = 4): string {
  return x === undefined || x === null || !Number.isFinite(x) ? '-' : Number(x.toFixed(digits)).toString();
}
