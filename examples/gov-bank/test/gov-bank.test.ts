/**
 * The government-bank example at small size (4,000 enterprises, 2,000 bank customers, 3 epochs). The
 * PSI intersection must equal the generator's ground truth (bank customers in the government table),
 * the joint model must beat the bank-only model on the held-out customers by at least LIFT (0.100
 * measured at this size and seed; a joint model ignoring the government's features would not), and each
 * party's model must hold only its own features: the bank's its own names and the intercept, the
 * government's its own.
 */
import { describe, expect, it } from 'vitest';
import { runGovBank } from '../src/gov-bank.ts';

/** Minimum AUC lift of the joint model over the bank-only model. */
const LIFT = 0.04;

describe('examples/gov-bank', () => {
  it('runs PSI and CKKS hetero-LR; each party model holds only its own features', async () => {
    const r = await runGovBank({ enterprises: 4000, bankCustomers: 2000, epochs: 3, seed: 5 });
    expect(r.psi.intersection).toBe(2000);
    expect(r.rows.train + r.rows.test).toBe(2000);
    expect(r.training.epochs).toBe(3);
    expect(Object.keys(r.training.bytesSent).sort()).toEqual(['arbiter', 'bank', 'government']);
    expect(r.bankOnly.auc).toBeGreaterThan(0.5);
    expect(r.joint.auc - r.bankOnly.auc).toBeGreaterThanOrEqual(LIFT);
    const bankNames = new Set(r.bank.features);
    for (const name of r.models.bank.featureNames) expect(bankNames.has(name.split('=')[0]!)).toBe(true);
    const govNames = new Set(r.government.features);
    for (const name of r.models.government.featureNames) expect(govNames.has(name.split('=')[0]!)).toBe(true);
    expect(r.models.government.intercept).toBe(0);
  }, 180_000);
});
