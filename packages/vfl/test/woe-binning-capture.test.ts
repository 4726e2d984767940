/**
 * Message capture: the messages actually sent match the "who learns what" table of
 * docs/protocols/woe-binning.md, no host bin edge ever reaches the guest, no label in the clear reaches
 * the host under CKKS (searched for byte by byte in every encoding of `@fedscore/core/testing`'s byte search, with a positive
 * control on the plaintext scheme), and the public context carries no secret key.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { containsBytes, expectNoSecret, labelNeedles, needlesFound } from '@fedscore/core/testing';
import { loadCkksSecretContext } from '@fedscore/he';
import { HOST_LAYOUT_STEP, HOST_RESULT_STEP } from '@fedscore/vfl';
import { describe, expect, it, vi } from 'vitest';
import { QUANTILE_10, runBoth, synthetic } from './woe-binning-fixtures.ts';

// The guest makes its key set inside the protocol; record each one's secret key as it is created (the
// context itself is passed on unchanged) so the captured messages can be searched for it.
const secretKeys = vi.hoisted(() => [] as Uint8Array[]);
vi.mock('@fedscore/he', async (importOriginal) => {
  const he = await importOriginal<typeof import('@fedscore/he')>();
  const { ckksSecretKeyBytes } = await import('@fedscore/he/testing');
  return {
    ...he,
    createCkksContext: async (...args: Parameters<typeof he.createCkksContext>) => {
      const ctx = await he.createCkksContext(...args);
      secretKeys.push(ckksSecretKeyBytes(ctx));
      return ctx;
    },
  };
});

const DOC = join(import.meta.dirname, '..', '..', '..', 'docs', 'protocols', 'woe-binning.md');

/** Rows `| # | step | from → to | ...` of the doc's message table. */
function docMessages(): { step: string; from: string; to: string }[] {
  const out: { step: string; from: string; to: string }[] = [];
  for (const line of readFileSync(DOC, 'utf8').split('\n')) {
    const m = /^\|\s*\d+\s*\|\s*([\w-]+)\s*\|\s*(\w+) → (\w+)\s*\|/.exec(line);
    if (m) out.push({ step: m[1]!, from: m[2]!, to: m[3]! });
  }
  return out;
}

describe('woe binning: captured messages', () => {
  it('follow the documented table, and carry no edge, label or secret key', async () => {
    const data = synthetic(5000, 11);
    const { host, network } = await runBoth(
      { labels: data.labels, scheme: 'ckks' },
      { columns: data.host, binning: QUANTILE_10, workers: 0 },
      true,
    );
    const documented = docMessages();
    expect(documented.map((d) => d.step)).toEqual([
      'host-layout',
      'label-keys',
      'label-batch',
      'bin-sums',
      'host-result',
    ]);
    const sent = network.captured.map((m) => ({ step: m.step, from: m.from, to: m.to }));
    // Every captured message is a documented step in the documented direction, in the documented order.
    const order = documented.map((d) => d.step);
    let last = -1;
    for (const m of sent) {
      const d = documented.find((x) => x.step === m.step);
      expect(d, `undocumented step ${m.step}`).toBeDefined();
      expect([m.from, m.to]).toEqual([d!.from, d!.to]);
      const idx = order.indexOf(m.step);
      expect(idx).toBeGreaterThanOrEqual(last);
      last = idx;
    }
    expect(new Set(sent.map((m) => m.step)).size).toBe(5);

    // The guest receives only counts and ciphertexts: no host bin edge as a float64 anywhere (edges
    // with a full 52-bit mantissa; small integers are runs of zero bytes that ciphertexts also contain).
    const toGuest = network.receivedBy('guest');
    let checked = 0;
    for (const f of host.features) {
      if (f.bins.kind !== 'numeric') continue;
      for (const e of f.bins.edges.filter((x) => !Number.isInteger(x * 1024))) {
        checked++;
        const bytes = new Uint8Array(new Float64Array([e]).buffer);
        for (const m of toGuest) expect(containsBytes(m.payload, bytes)).toBe(false);
      }
    }
    expect(checked).toBeGreaterThan(10);
    const layout = HOST_LAYOUT_STEP.decode(toGuest.find((m) => m.step === 'host-layout')!.payload);
    expect(layout.features.map((f) => f.counts.reduce((a, b) => a + b, 0))).toEqual([5000, 5000, 5000, 5000]);

    // The host: the public context has no secret key; the result has no WOE (not released).
    const toHost = network.receivedBy('host');
    const keys = toHost.find((m) => m.step === 'label-keys')!;
    const { LABEL_KEYS_STEP } = await import('@fedscore/vfl');
    const decodedKeys = LABEL_KEYS_STEP.decode(keys.payload);
    await expect(loadCkksSecretContext(decodedKeys.publicContext)).rejects.toMatchObject({ field: 'kind' });
    // no window of the guest's secret key in any byte the host receives (raw or decompressed)
    expect(secretKeys).toHaveLength(1);
    expectNoSecret(
      toHost.map((m) => m.bytes),
      secretKeys[0]!,
      'to the host',
    );
    const result = HOST_RESULT_STEP.decode(toHost.find((m) => m.step === 'host-result')!.payload);
    expect(result.every((r) => r.woe.length === 0)).toBe(true);
    // CKKS labels: 5000 rows in 2 ciphertexts, never 5000 items.
    const batches = toHost.filter((m) => m.step === 'label-batch');
    expect(batches).toHaveLength(1);
    expect(decodedKeys.labelItems).toBe(2);
    // No label in the clear: the first 64 labels (the order the guest sends them in), searched in every
    // byte the host receives, in every encoding of `@fedscore/core/testing`'s byte search. The positive control below finds
    // them with the same needles where they are sent in the clear.
    const needles = labelNeedles('labels of rows 0-63', Array.from(data.labels.subarray(0, 64)));
    expect(
      needlesFound(
        needles,
        toHost.map((m) => m.payload),
      ),
    ).toEqual([]);
  }, 120_000);

  it("positive control: the same search finds the labels the plaintext scheme 'none' sends", async () => {
    const data = synthetic(600, 11);
    const columns = data.host.filter((c) => c.missing === 0);
    const { network } = await runBoth(
      { labels: data.labels, scheme: 'none', insecure: true },
      { columns, binning: QUANTILE_10, allowSchemes: ['none'], insecure: true },
      true,
    );
    const needles = labelNeedles('labels of rows 0-63', Array.from(data.labels.subarray(0, 64)));
    expect(
      needlesFound(
        needles,
        network.receivedBy('host').map((m) => m.payload),
      ),
    ).toContain('labels of rows 0-63 as f64le');
  }, 60_000);
});
