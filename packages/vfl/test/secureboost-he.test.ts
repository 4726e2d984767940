/**
 * SecureBoost under CKKS (the default) and Paillier against the plaintext federated run (`none`) on the
 * generated population (packages/datasets): the CKKS histograms carry the circuit error (~2^-32) and the
 * flooding noise sized from the measured bound for the run's releases, so the test AUC must stay within
 * 1e-3 of the `none` run (issue 15's target; three flooded runs measured a gap of 0, flooding sd 1.8e-3); Paillier is exact on its 2^-32 fixed point, so its trees equal the `none`
 * trees split for split. Also measures the histogram circuit's error against HISTOGRAM_ERROR_BOUND,
 * the bound the flooding is sized from.
 */
import { auc, type Table } from '@fedscore/core';
import { generatePopulation } from '@fedscore/datasets';
import {
  type AdditiveCiphertext,
  CKKS_PRESETS,
  createAdditiveHe,
  floodingStdDev,
  sumRotationSteps,
} from '@fedscore/he';
import {
  HISTOGRAM_ERROR_BOUND,
  HISTOGRAM_FLOODING_BITS,
  type PartyFeatures,
  predictSecureBoost,
  SECUREBOOST_CKKS_PRESET,
  trainSecureBoost,
} from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';

function numeric(t: Table, order: readonly number[], limit: number): PartyFeatures {
  const cols = t.columns.filter((c) => c.kind === 'numeric').slice(0, limit);
  return {
    names: cols.map((c) => c.name),
    columns: cols.map((c) => Float64Array.from(order, (r) => (c.kind === 'numeric' ? c.values[r]! : 0))),
  };
}

const pop = generatePopulation({
  enterprises: 2400,
  overlap: 1,
  bankOnlyFraction: 0,
  defaultRate: 0.15,
  seed: 21,
});
const govRow = new Map(pop.government.ids.map((id, i) => [id, i]));
const bankRows = pop.bank.ids.map((_, i) => i).filter((i) => govRow.has(pop.bank.ids[i]!));
const n = bankRows.length;
const TRAIN = Math.round(n * 0.75);
const labels = Float64Array.from(bankRows, (r) => pop.bank.label![r]!);
const guestAll = numeric(pop.bank, bankRows, 4);
const hostAll = numeric(
  pop.government,
  bankRows.map((r) => govRow.get(pop.bank.ids[r]!)!),
  4,
);
const part = (f: PartyFeatures, from: number, to: number): PartyFeatures => ({
  names: f.names,
  columns: f.columns.map((c) => c.slice(from, to)),
});
const hp = { trees: 3, depth: 2, bins: 12, learningRate: 0.3, minNodeRows: 50 };

async function testAuc(scheme: 'ckks' | 'paillier' | 'none', rows = n, train = TRAIN, hostFeatures = 4) {
  const host = {
    names: hostAll.names.slice(0, hostFeatures),
    columns: hostAll.columns.slice(0, hostFeatures),
  };
  const run = await trainSecureBoost({
    guest: { features: part(guestAll, 0, train), labels: labels.slice(0, train) },
    hosts: [{ features: part(host, 0, train) }],
    scheme,
    hyperparams: scheme === 'paillier' || rows !== n ? { ...hp, trees: 2, bins: 6 } : hp,
    he: { paillierBits: 1024, allowWeakParameters: scheme === 'paillier' },
  });
  const pred = await predictSecureBoost({
    guest: { model: run.guest, features: part(guestAll, train, rows) },
    hosts: [{ model: run.hosts[0]!, features: part(host, train, rows) }],
  });
  return { run, auc: auc(labels.slice(train, rows), pred.scores) };
}

describe('SecureBoost under HE', () => {
  it('CKKS (flooded) reaches the AUC of the plaintext federated run within 1e-3', async () => {
    const plain = await testAuc('none');
    const ckks = await testAuc('ckks');
    expect(ckks.run.insecure).toBe(false);
    expect(ckks.run.hostRuns[0]!.floodingStdDev).toBeGreaterThan(0);
    expect(ckks.run.hostRuns[0]!.released).toBeLessThanOrEqual(ckks.run.hostRuns[0]!.releaseBudget);
    expect(plain.auc).toBeGreaterThan(0.6);
    expect(Math.abs(ckks.auc - plain.auc)).toBeLessThan(1e-3);
  }, 300_000);

  it('without the run-cached diagonals (per-level encodes, depth 3), unflooded CKKS grows the trees of the plaintext run', async () => {
    // A host with ~60 features (~1,600 cells: blocks of 2,048) and maxDiagonalCacheBytes 0 encodes each
    // level's diagonals once for all its nodes (LevelMaskedSums, chosen by its cost model at depth 3),
    // the path of hosts whose bin matrix is too large to cache. Unflooded (the error-measurement switch),
    // the circuit error (~1e-9) cannot flip a split: the trees must be those of the plaintext run.
    const wide = generatePopulation({
      enterprises: 1400,
      overlap: 1,
      bankOnlyFraction: 0,
      defaultRate: 0.15,
      seed: 22,
      govExtraFeatures: 40,
    });
    const gov = new Map(wide.government.ids.map((id, i) => [id, i]));
    const rowsOf = wide.bank.ids.map((_, i) => i).filter((i) => gov.has(wide.bank.ids[i]!));
    const guest = numeric(wide.bank, rowsOf, 4);
    const host = numeric(
      wide.government,
      rowsOf.map((r) => gov.get(wide.bank.ids[r]!)!),
      99,
    );
    const y = Float64Array.from(rowsOf, (r) => wide.bank.label![r]!);
    const train = (scheme: 'ckks' | 'none') =>
      trainSecureBoost({
        guest: { features: guest, labels: y },
        hosts: [
          {
            features: host,
            ...(scheme === 'ckks' && { maxDiagonalCacheBytes: 0, unsafeNoFlooding: true }),
          },
        ],
        scheme,
        hyperparams: { trees: 1, depth: 3, bins: 32, learningRate: 0.3, minNodeRows: 50 },
      });
    const plain = await train('none');
    const ckks = await train('ckks');
    const shape = (t: typeof plain.guest.trees) =>
      t.map((tree) =>
        tree.map((x) =>
          x.kind === 'leaf' ? 'leaf' : x.kind === 'guest-split' ? `g${x.feature}:${x.bin}` : `h${x.splitId}`,
        ),
      );
    expect(host.names.length).toBeGreaterThan(50);
    expect(shape(ckks.guest.trees)).toEqual(shape(plain.guest.trees));
    expect(ckks.hosts[0]!.splits).toEqual(plain.hosts[0]!.splits);
    expect(ckks.hosts[0]!.splits.length).toBeGreaterThan(0);
  }, 600_000);

  it('Paillier (exact) grows the trees of the plaintext run', async () => {
    // Paillier's dot product costs a 33-bit exponentiation per row and cell: a small table.
    const rows = 360;
    const train = 260;
    const plain = await testAuc('none', rows, train, 2);
    const paillier = await testAuc('paillier', rows, train, 2);
    const shape = (t: typeof plain.run.guest.trees) =>
      t.map((tree) =>
        tree.map((x) =>
          x.kind === 'leaf' ? 'leaf' : x.kind === 'guest-split' ? `g${x.feature}:${x.bin}` : `h${x.splitId}`,
        ),
      );
    expect(shape(paillier.run.guest.trees)).toEqual(shape(plain.run.guest.trees));
    expect(paillier.run.hosts[0]!.splits).toEqual(plain.run.hosts[0]!.splits);
    expect(Math.abs(paillier.auc - plain.auc)).toBeLessThan(1e-6);
  }, 300_000);

  it('the histogram circuit error stays below the bound the flooding is sized from', async () => {
    const preset = SECUREBOOST_CKKS_PRESET;
    const he = await createAdditiveHe({
      scheme: 'ckks',
      params: preset,
      rotations: sumRotationSteps(CKKS_PRESETS[preset].polyModulusDegree / 2),
      relinearization: false,
    });
    const held: AdditiveCiphertext[] = [];
    try {
      const rows = 3000;
      const cells = 64;
      let state = 12345;
      const next = () => {
        state = (state * 1103515245 + 12345) % 2 ** 31;
        return state / 2 ** 31;
      };
      const g = Float64Array.from({ length: rows }, () => 2 * next() - 1);
      const bin = Uint16Array.from({ length: rows }, () => Math.floor(next() * cells));
      const columns = Array.from({ length: cells }, (_, c) =>
        Float64Array.from(bin, (b) => (b === c ? 1 : 0)),
      );
      const enc = he.encrypt(g);
      held.push(enc);
      const hist = he.dotColumns(enc, columns);
      held.push(hist);
      const derived = he.sub(
        hist,
        he.dotColumns(
          enc,
          columns.map((col) => col.map((v, i) => (i % 2 === 0 ? v : 0))),
        ),
      );
      held.push(derived);
      const got = he.decrypt(hist);
      const gotDerived = he.decrypt(derived);
      let worst = 0;
      for (let c = 0; c < cells; c++) {
        let exact = 0;
        let odd = 0;
        for (let i = 0; i < rows; i++) {
          if (bin[i] !== c) continue;
          exact += g[i]!;
          if (i % 2 === 1) odd += g[i]!;
        }
        worst = Math.max(worst, Math.abs(got[c]! - exact), Math.abs(gotDerived[c]! - odd));
      }
      const bound = HISTOGRAM_ERROR_BOUND[preset]!;
      expect(worst).toBeLessThan(bound);
      // The flooding for 3 trees of depth 2 at 64 cells: sqrt(12 t) 2^15 bound, far below a bin's sum.
      expect(floodingStdDev(bound, 3 * 3 * 2, HISTOGRAM_FLOODING_BITS)).toBeLessThan(1e-2);
    } finally {
      for (const v of held) v.dispose();
      he.dispose();
    }
  }, 120_000);
});
