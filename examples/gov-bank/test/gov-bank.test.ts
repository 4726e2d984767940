/**
 * The government-bank example at small size (2,000 enterprises, 1,000 bank customers, 3 epochs). The
 * PSI intersection must equal the generator's ground truth (bank customers in the government table),
 * the joint model must score the held-out customers better than chance, and each party's model must
 * hold only its own features: the bank's its own names and the intercept, the government's its own.
 */
import { describe, expect, it } from 'vitest';
import { runGovBank } from '../src/gov-bank.ts';

describe('examples/gov-bank', () => {
  it('runs PSI and CKKS hetero-LR; each party model holds only its own features', async () => {
    const r = await runGovBank({ enterprises: 2000, bankCustomers: 1000, epochs: 3, seed: 5 });
    expect(r.psi.intersection).toBe(1000);
    expect(r.rows.train + r.rows.test).toBe(1000);
    expect(r.training.epochs).toBe(3);
    expect(Object.keys(r.training.bytesSent).sort()).toEqual(['arbiter', 'bank', 'government']);
    expect(r.joint.auc).toBeGreaterThan(0.6);
    expect(r.bankOnly.auc).toBeGreaterThan(0.5);
    const bankNames = new Set(r.bank.features);
    for (const name of r.models.bank.featureNames) expect(bankNames.has(name.split('=')[0]!)).toBe(true);
    const govNames = new Set(r.government.features);
    for (const name of r.models.government.featureNames) expect(govNames.has(name.split('=')[0]!)).toBe(true);
    expect(r.models.government.intercept).toBe(0);
  }, 180_000);
});
