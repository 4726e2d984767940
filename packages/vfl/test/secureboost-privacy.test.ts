/**
 * SecureBoost message capture: plant known labels, run the protocol under CKKS over the capturing
 * in-memory network, and search every byte every host receives for the labels (float64/float32/int32/
 * uint8 values, packed bits, ASCII), the first tree's gradients p0 - y and the hessians p0 (1 - p0).
 * Positive control: the same search finds them in what a host receives under `none`. Also checks the
 * steps each party receives against the who-learns-what table of docs/protocols/secureboost.md, and
 * that no host learns a host threshold of another party (its own edges never leave it: searched in
 * what the guest receives).
 */

import { labelNeedles, needlesFound, valueNeedles } from '@fedscore/core/testing';
import { trainSecureBoost } from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { syntheticSplit } from './synthetic.ts';

const N = 600;
const data = syntheticSplit(N, 2, [2, 2], 17);
const y = Array.from(data.labels);
const pos = y.reduce((a, b) => a + b, 0);
const p0 = pos / N;
const g0 = y.map((v) => p0 - v);
const needles = [
  ...labelNeedles('labels of rows 0-63', y.slice(0, 64)),
  ...labelNeedles('labels of rows 200-263', y.slice(200, 264)),
  ...valueNeedles('first-tree gradients of rows 0-63', g0.slice(0, 64)),
  ...valueNeedles('first-tree hessians of rows 0-15', Array(16).fill(p0 * (1 - p0))),
];

async function run(scheme: 'ckks' | 'none') {
  return trainSecureBoost({
    guest: { features: data.guest, labels: data.labels },
    hosts: [{ features: data.hosts[0]! }, { features: data.hosts[1]! }],
    scheme,
    hyperparams: { trees: 2, depth: 2, bins: 8 },
    capture: true,
  });
}

describe('SecureBoost: hosts never receive a label, gradient or hessian', () => {
  it('finds the planted values in a none run (control) and nowhere in a CKKS run; steps match the doc', async () => {
    const plain = await run('none');
    const plainToHosts = plain.captured.filter((m) => m.to !== 'guest').map((m) => m.bytes);
    const control = needlesFound(needles, plainToHosts);
    expect(control).toContain('first-tree gradients of rows 0-63 as f64le');
    expect(control).toContain('first-tree hessians of rows 0-15 as f64le');

    const ckks = await run('ckks');
    for (const host of ['host-1', 'host-2']) {
      const got = ckks.captured.filter((m) => m.to === host);
      expect(
        needlesFound(
          needles,
          got.map((m) => m.bytes),
        ),
        host,
      ).toEqual([]);
      // Who learns what (docs/protocols/secureboost.md): what a host receives, by step.
      expect(new Set(got.map((m) => m.step))).toEqual(
        new Set([
          'train-plan',
          'resume-from',
          'public-context',
          'tree-start',
          'gradients',
          'level-tasks',
          'split-decisions',
        ]),
      );
      // Nothing from the other host ever reaches it.
      expect(got.every((m) => m.from === 'guest')).toBe(true);
    }
    const toGuest = ckks.captured.filter((m) => m.to === 'guest');
    expect(new Set(toGuest.map((m) => m.step))).toEqual(
      new Set(['host-hello', 'resume-offer', 'histograms', 'split-records']),
    );
    // The hosts' bin edges (their thresholds) never reach the guest, as float64 in either byte order.
    for (const [hi, model] of ckks.hosts.entries()) {
      for (const [f, bins] of model.bins.entries()) {
        if (bins.kind !== 'numeric' || bins.edges.length < 3) continue;
        const edgeNeedles = valueNeedles(`host ${hi} feature ${f} edges`, bins.edges.slice(0, 3));
        expect(
          needlesFound(
            edgeNeedles,
            toGuest.map((m) => m.bytes),
          ),
        ).toEqual([]);
        // Control: the same needles are found in bytes that do hold the edges.
        const withEdges = new Uint8Array(new Float64Array(bins.edges.slice(0, 3)).buffer);
        expect(needlesFound(edgeNeedles, [withEdges]).length).toBeGreaterThan(0);
      }
    }
  }, 240_000);
});
