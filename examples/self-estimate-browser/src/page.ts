/**
 * Browser entry of the page the bank's node serves under /estimate/ (packages/node/src/console/
 * self-estimate.ts): the compact self-estimate (scoring.self-estimate-compact) with the bank on the
 * server. The enterprise's CKKS key is made here and never leaves the page; the node receives the public
 * key and ciphertexts. Two requests per estimate: GET form, POST public key + encrypted inputs (answer: result).
 */
import {
  type Channel,
  type ChannelStats,
  type Envelope,
  FedscoreError,
  ProtocolSession,
} from '@fedscore/core';
import { createCkksContext } from '@fedscore/he';
import {
  type EnterpriseInputs,
  SCORING_VERSION,
  SELF_ESTIMATE_COMPACT_PARAMS,
  SELF_ESTIMATE_COMPACT_PROTOCOL,
  SELF_ESTIMATE_FORM,
  type SelfEstimate,
  SelfEstimateCompactClient,
} from '@fedscore/scoring';
import { envelopeCodec } from '@fedscore/wire';

const SESSION = 'page';

/** The enterprise's end: the form comes from GET form; what it sends goes in one POST run. */
class PageChannel implements Channel {
  readonly party = 'enterprise';
  readonly #base: string;
  readonly #out: Uint8Array[] = [];
  #received = 0;
  bytes = 0;

  constructor(base: string) {
    this.#base = base;
  }

  async send(envelope: Envelope): Promise<void> {
    this.#out.push(envelopeCodec.encode(envelope));
  }

  async receive(): Promise<Envelope> {
    let response: Response;
    if (this.#received++ === 0) {
      response = await fetch(`${this.#base}form`, { cache: 'no-store' });
    } else {
      const size = this.#out.reduce((a, b) => a + 4 + b.length, 0);
      const body = new Uint8Array(size);
      let o = 0;
      for (const e of this.#out.splice(0)) {
        new DataView(body.buffer, o, 4).setUint32(0, e.length);
        body.set(e, o + 4);
        o += 4 + e.length;
      }
      this.bytes += size;
      response = await fetch(`${this.#base}run`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/octet-stream' },
      });
    }
    if (!response.ok) {
      const why = (await response.json().catch(() => ({}))) as { code?: string; field?: string };
      throw new FedscoreError('protocol_step', `the bank answered ${response.status} ${why.code ?? ''}`, {
        ...(why.field !== undefined && { field: why.field }),
      });
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    this.bytes += bytes.length;
    return envelopeCodec.decode(bytes);
  }

  stats(): ChannelStats {
    return { bytesSent: {}, bytesReceived: {}, messagesSent: {}, messagesReceived: {} };
  }

  close(): void {}
}

function session(channel: Channel): ProtocolSession {
  return new ProtocolSession(channel, {
    protocol: SELF_ESTIMATE_COMPACT_PROTOCOL,
    version: SCORING_VERSION,
    session: SESSION,
  });
}

/** One estimate against the node at `base` (ending in /estimate/). */
export async function estimateAt(
  base: string,
  inputs: EnterpriseInputs,
): Promise<SelfEstimate & { bytes: number; ms: number }> {
  const t0 = performance.now();
  const channel = new PageChannel(base);
  const out = await new SelfEstimateCompactClient().estimate(session(channel), 'bank', inputs);
  return { ...out, bytes: channel.bytes, ms: performance.now() - t0 };
}

/** The names the form asks for: its features, then the money figures the rules read. */
async function fieldNames(base: string): Promise<{ names: string[]; unit: number }> {
  const channel = new PageChannel(base);
  const form = await session(channel).receive('bank', SELF_ESTIMATE_FORM);
  const names: string[] = [];
  for (const f of form.features) if (f.name && !names.includes(f.name)) names.push(f.name);
  for (const f of form.figures) if (f !== '' && !names.includes(f)) names.push(f);
  return { names, unit: form.figureUnit };
}

function label(name: string): string {
  const s = name.replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

async function main(): Promise<void> {
  const base = new URL('.', location.href).href;
  const form = document.getElementById('figures') as HTMLFormElement;
  const status = document.getElementById('status') as HTMLElement;
  const result = document.getElementById('result') as HTMLElement;
  // Fetch and compile node-seal's WASM while the enterprise types (the context made here is discarded:
  // each estimate makes its own key).
  const warm = createCkksContext({ params: SELF_ESTIMATE_COMPACT_PARAMS, relinearization: false }).then(
    (c) => c.dispose(),
    () => undefined,
  );
  const { names } = await fieldNames(base);
  void warm.then(() => {
    form.dataset['ready'] = '1';
  });
  const params = new URLSearchParams(location.search);
  for (const name of names) {
    const l = document.createElement('label');
    l.textContent = label(name);
    const input = document.createElement('input');
    input.name = name;
    input.id = `f-${name}`;
    input.type = 'number';
    input.inputMode = 'decimal';
    input.step = 'any';
    // `?name=value` pre-fills a field (a bank's printed code may carry the product only; tests use it)
    const v = params.get(name);
    if (v !== null) input.value = v;
    l.htmlFor = input.id;
    l.append(input);
    form.append(l);
  }
  status.textContent = '';
  const button = document.createElement('button');
  button.type = 'submit';
  button.textContent = 'Estimate my line';
  form.append(button);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const inputs: Record<string, number> = {};
    for (const name of names) {
      const v = (form.elements.namedItem(name) as HTMLInputElement).value.trim();
      inputs[name] = v === '' ? Number.NaN : Number(v);
    }
    button.disabled = true;
    result.textContent = 'Encrypting with your own key and asking the bank...';
    delete result.dataset['done'];
    warm
      .then(() => estimateAt(base, inputs))
      .then(
        (r) => {
          result.textContent =
            (r.band === null
              ? 'No band: the product does not cover this profile.'
              : `Band ${r.band}: pre-approved line ${r.line.toLocaleString()}` +
                `${r.rateBp !== null ? ` at ${(r.rateBp / 100).toFixed(2)}% a year` : ''}` +
                `${r.score !== undefined ? ` (score ${r.score.toFixed(1)})` : ''}.`) +
            ` ${(r.bytes / 2 ** 20).toFixed(2)} MiB exchanged in ${(r.ms / 1000).toFixed(1)} s.`;
          result.dataset['band'] = r.band ?? '';
          result.dataset['line'] = String(r.line);
          result.dataset['bytes'] = String(r.bytes);
          result.dataset['ms'] = String(Math.round(r.ms));
          result.dataset['done'] = '1';
          button.disabled = false;
        },
        (e: unknown) => {
          result.textContent = `Error: ${e instanceof Error ? e.message : String(e)}`;
          result.dataset['done'] = 'error';
          button.disabled = false;
        },
      );
  });
  if (params.has('auto')) form.requestSubmit();
}

main().catch((e: unknown) => {
  const status = document.getElementById('status');
  if (status) status.textContent = `Error: ${e instanceof Error ? e.message : String(e)}`;
});
