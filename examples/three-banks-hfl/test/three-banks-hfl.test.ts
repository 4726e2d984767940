/**
 * The three-banks example at small size (LR, 10 rounds, 1,500 customers a bank): the federated model,
 * trained under secure aggregation, beats every bank's model trained alone on the common test set by at
 * least MARGIN AUC, and the backend is named.
 */
import { describe, expect, it } from 'vitest';
import { runThreeBanks } from '../src/three-banks.ts';

const MARGIN = 0.01;

describe('examples/three-banks-hfl', () => {
  it('federation beats each regional bank alone', async () => {
    const r = await runThreeBanks({ model: 'lr', rounds: 10, learningRate: 0.05 });
    expect(['wasm', 'tensorflow', 'cpu']).toContain(r.backend);
    expect(r.banks.map((b) => b.rows)).toEqual([1500, 1500, 1500]);
    expect(r.federated.bytesPerBankPerRound).toBeGreaterThan(0);
    for (const b of r.banks) expect(r.federated.auc).toBeGreaterThan(b.aloneAuc + MARGIN);
  }, 180_000);
});
