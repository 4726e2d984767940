/**
 * The Indicators page's part from the feature catalogue (catalogue/catalogue.ts): the feature profiles
 * other parties published to this node, or that the platform node relayed to it, each with its owner and
 * the time this node received it. Aggregates only -- type, coverage and missing rate rounded to the
 * dataset's step, rows rounded to 10 -- never a value. Every role that may open the Indicators page sees
 * them: a profile is an aggregate of the owner's whole dataset, not of any bank's job (a bank's IV and jobs
 * stay behind access.ts's rules).
 */
import type { StoredProfile } from '../catalogue/index.ts';
import { type Html, html, table, time } from './html.ts';

/** Per owner and feature, what the owner says it means (its published description). */
export function publishedDescriptions(profiles: readonly StoredProfile[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of profiles) {
    for (const f of p.features) {
      const key = `${p.owner}\u0000${f.name}`;
      if (f.description !== '' && !out.has(key)) out.set(key, f.description);
    }
  }
  return out;
}

const percent = (bp: number): string => `${(bp / 100).toFixed(bp % 100 === 0 ? 0 : 1)} %`;

/** The table of other parties' published profiles ('' when this node holds none). */
export function publishedProfilesTable(party: string, profiles: readonly StoredProfile[]): Html | '' {
  const others = profiles.filter((p) => p.owner !== party);
  if (others.length === 0) return '';
  return html`${table(
    "Other parties' features (published profiles)",
    ['Owner', 'Dataset', 'Feature', 'Type', 'Coverage', 'Missing', 'Rows', 'Description', 'Received', 'From'],
    others.flatMap((p) =>
      p.features.map((f) => [
        html`${p.owner}`,
        html`${p.dataset}`,
        html`${f.name}`,
        html`${f.type}`,
        html`${percent(f.coverageBp)}`,
        html`${percent(f.missingBp)}`,
        html`${p.rows}`,
        html`${f.description === '' ? '-' : f.description}`,
        html`${time(p.receivedAt)}`,
        html`${p.receivedFrom}`,
      ]),
    ),
  )}<p>Rates are rounded to the dataset's step (${[...new Set(others.map((p) => percent(p.rateStepBp)))].join(', ')}) and rows down to a multiple of 10; every dataset has at least 50 rows (docs/protocols/feature-catalogue.md).</p>`;
}
