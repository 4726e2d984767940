/** Browser entry: a form for the enterprise's figures and its line estimate. */

import { selfEstimate } from './estimate.ts';
import { FIELDS, RULES } from './product.ts';

const form = document.getElementById('figures') as HTMLFormElement;
const result = document.getElementById('result') as HTMLElement;

for (const f of FIELDS) {
  const label = document.createElement('label');
  label.textContent = f.label;
  const input = document.createElement('input');
  input.name = f.name;
  input.type = 'number';
  input.value = String(f.example);
  label.append(input);
  form.append(label);
}
const button = document.createElement('button');
button.type = 'submit';
button.textContent = 'Estimate my line';
form.append(button);

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const inputs: Record<string, number> = {};
  for (const f of FIELDS) {
    const v = (form.elements.namedItem(f.name) as HTMLInputElement).value.trim();
    inputs[f.name] = v === '' ? Number.NaN : Number(v);
  }
  button.disabled = true;
  result.textContent = 'Encrypting with your own key and asking the bank...';
  // `?full` runs the full protocol (the bank checks the encoding; ~9 MiB instead of ~0.23 MiB)
  selfEstimate(inputs, { full: new URLSearchParams(location.search).has('full') }).then(
    (r) => {
      result.textContent =
        r.band === null
          ? 'No band: the product does not cover this profile.'
          : `Band ${r.band}: pre-approved line ${r.line.toLocaleString()} ${RULES.currency}` +
            `${r.rateBp !== null ? ` at ${(r.rateBp / 100).toFixed(2)}% a year` : ''}` +
            `${r.score !== undefined ? ` (score ${r.score.toFixed(1)})` : ''}. ` +
            `${(r.bytes / 2 ** 20).toFixed(2)} MiB exchanged in ${(r.ms / 1000).toFixed(1)} s.`;
      result.dataset['band'] = r.band ?? '';
      result.dataset['line'] = String(r.line);
      button.disabled = false;
    },
    (e: unknown) => {
      result.textContent = `Error: ${e instanceof Error ? e.message : String(e)}`;
      button.disabled = false;
    },
  );
});

// `?auto` runs the estimate on load with the example figures (for headless browser checks).
if (new URLSearchParams(location.search).has('auto')) form.requestSubmit();
