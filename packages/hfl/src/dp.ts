/**
 * Optional differential privacy for horizontal FL, at the level of a whole client (a bank): user-level
 * DP-FedAvg in the style of H. B. McMahan, D. Ramage, K. Talwar, L. Zhang, "Learning Differentially
 * Private Recurrent Language Models", ICLR 2018.
 *
 *   - Each client clips its update Δ_u = w_u − w_global to L2 norm C (`clipUpdate`).
 *   - Noise is DISTRIBUTED: each of the m clients expected in the round adds N(0, σ²C²/m) to every
 *     coordinate of its clipped update (`distributedNoise`), so the securely aggregated sum carries
 *     N(0, σ²C²) in total and the coordinator never sees an update without noise. (Central noise would
 *     need a server trusted with the exact sum; under secure aggregation there is none.) If clients drop,
 *     the sum carries less noise: the accountant is then run with σ_eff = σ·sqrt(survivors / m), which
 *     `effectiveNoiseMultiplier` computes.
 *   - The aggregate under DP is the unweighted sum of clipped updates (every client weight 1, as in
 *     McMahan et al. 2018 with capped weights w_u = 1): sample-count weighting would scale one client's
 *     influence by its row count.
 *   - The sum of clipped updates has L2 sensitivity C to adding or removing one client, so one round is
 *     the Gaussian mechanism with noise multiplier σ; with clients sampled at rate q per round it is the
 *     sampled Gaussian mechanism.
 *
 * Accounting: Rényi DP (I. Mironov, "Rényi Differential Privacy", CSF 2017). For integer orders α ≥ 2
 * the sampled Gaussian mechanism with Poisson sampling rate q and noise multiplier σ has
 *   RDP(α) = 1/(α−1) · log Σ_{k=0..α} C(α,k) (1−q)^(α−k) q^k exp((k² − k) / (2σ²))
 * (I. Mironov, K. Talwar, L. Zhang, "Rényi Differential Privacy of the Sampled Gaussian Mechanism",
 * 2019, §3.3), which for q = 1 is the Gaussian's α/(2σ²). Rounds compose by adding RDP; (ε, δ) follows
 * by Mironov 2017 Prop. 3: ε = min_α RDP(α) + log(1/δ)/(α − 1). The FedAvg rounds sample a fixed number
 * of clients without replacement; the Poisson-sampling bound at q = clients/total is the common
 * approximation (TensorFlow Privacy and Opacus make it too) and is stated as such in results.
 */
import { FedscoreError, normal, type Rng, requireCryptoRng } from '@fedscore/core';

/** Default integer orders (2..64, 128, 256). */
export const DEFAULT_RDP_ORDERS: readonly number[] = [
  ...Array.from({ length: 63 }, (_, i) => i + 2),
  128,
  256,
];

function logSumExp(xs: readonly number[]): number {
  let m = Number.NEGATIVE_INFINITY;
  for (const x of xs) if (x > m) m = x;
  if (m === Number.NEGATIVE_INFINITY) return m;
  let s = 0;
  for (const x of xs) s += Math.exp(x - m);
  return m + Math.log(s);
}

function logBinomial(n: number, k: number): number {
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log(n - k + i) - Math.log(i);
  return s;
}

function checkPositive(v: number, field: string): void {
  if (!(Number.isFinite(v) && v > 0)) {
    throw new FedscoreError('invalid_argument', `${field} must be a positive number`, { field });
  }
}

/** RDP at integer `order` of one step of the sampled Gaussian mechanism (rate q, noise multiplier σ). */
export function sampledGaussianRdp(q: number, noiseMultiplier: number, order: number): number {
  if (!(q >= 0 && q <= 1)) throw new FedscoreError('invalid_argument', 'q must be in [0, 1]', { field: 'q' });
  checkPositive(noiseMultiplier, 'noiseMultiplier');
  if (!Number.isInteger(order) || order < 2) {
    throw new FedscoreError('invalid_argument', 'RDP orders here are integers >= 2', { field: 'orders' });
  }
  if (q === 0) return 0;
  const s2 = 2 * noiseMultiplier * noiseMultiplier;
  if (q === 1) return order / s2;
  const terms: number[] = [];
  for (let k = 0; k <= order; k++) {
    terms.push(logBinomial(order, k) + (order - k) * Math.log1p(-q) + k * Math.log(q) + (k * k - k) / s2);
  }
  return logSumExp(terms) / (order - 1);
}

/** RDP of `steps` compositions, at each order. */
export function computeRdp(
  q: number,
  noiseMultiplier: number,
  steps: number,
  orders: readonly number[] = DEFAULT_RDP_ORDERS,
): number[] {
  if (!Number.isInteger(steps) || steps < 0) {
    throw new FedscoreError('invalid_argument', 'steps must be a non-negative integer', { field: 'steps' });
  }
  return orders.map((a) => steps * sampledGaussianRdp(q, noiseMultiplier, a));
}

export interface PrivacySpent {
  readonly epsilon: number;
  readonly delta: number;
  /** The order that gave the smallest ε. */
  readonly order: number;
}

/** (ε, δ) from RDP values (Mironov 2017, Prop. 3), minimised over the orders. */
export function rdpToEpsilon(orders: readonly number[], rdp: readonly number[], delta: number): PrivacySpent {
  if (!(delta > 0 && delta < 1)) {
    throw new FedscoreError('invalid_argument', 'delta must be in (0, 1)', { field: 'delta' });
  }
  let best = { epsilon: Number.POSITIVE_INFINITY, delta, order: Number.NaN };
  orders.forEach((a, i) => {
    const eps = rdp[i]! + Math.log(1 / delta) / (a - 1);
    if (eps < best.epsilon) best = { epsilon: eps, delta, order: a };
  });
  return best;
}

/** A running RDP accountant over rounds (each round may have its own q and σ). */
export class RdpAccountant {
  readonly orders: readonly number[];
  readonly #rdp: number[];
  #rounds = 0;

  constructor(orders: readonly number[] = DEFAULT_RDP_ORDERS) {
    this.orders = orders;
    this.#rdp = orders.map(() => 0);
  }

  /** Account `steps` rounds of the sampled Gaussian mechanism. */
  step(q: number, noiseMultiplier: number, steps = 1): void {
    computeRdp(q, noiseMultiplier, steps, this.orders).forEach((r, i) => {
      this.#rdp[i]! += r;
    });
    this.#rounds += steps;
  }

  get rounds(): number {
    return this.#rounds;
  }

  spent(delta: number): PrivacySpent {
    return rdpToEpsilon(this.orders, this.#rdp, delta);
  }
}

/** Scale `update` down to L2 norm at most `clipNorm`; returns the clipped copy and the original norm. */
export function clipUpdate(update: Float64Array, clipNorm: number): { clipped: Float64Array; norm: number } {
  checkPositive(clipNorm, 'clipNorm');
  let s = 0;
  for (const v of update) s += v * v;
  const norm = Math.sqrt(s);
  if (!Number.isFinite(norm)) {
    throw new FedscoreError('invalid_argument', 'update holds a non-finite value', { field: 'update' });
  }
  const factor = norm > clipNorm ? clipNorm / norm : 1;
  return { clipped: update.map((v) => v * factor), norm };
}

/**
 * One client's share of the round's noise: N(0, σ²C²/m) per coordinate, added in place. The noise
 * hides the update, so `rng` must be one of core's cryptographic generators (`requireCryptoRng`: a seeded
 * one, or any object merely claiming `cryptographic: true`, is refused with `insecure_rng`). (Box-Muller over 53-bit uniforms; the
 * floating-point caveats of I. Mironov, "On Significance of the Least Significant Bits for
 * Differential Privacy", CCS 2012, apply as to every float Gaussian sampler.)
 */
export function distributedNoise(
  clipped: Float64Array,
  noiseMultiplier: number,
  clipNorm: number,
  expectedClients: number,
  rng: Rng,
): Float64Array {
  requireCryptoRng(rng, 'rng');
  checkPositive(noiseMultiplier, 'noiseMultiplier');
  checkPositive(clipNorm, 'clipNorm');
  if (!Number.isInteger(expectedClients) || expectedClients < 1) {
    throw new FedscoreError('invalid_argument', 'expectedClients must be a positive integer', {
      field: 'expectedClients',
    });
  }
  const sd = (noiseMultiplier * clipNorm) / Math.sqrt(expectedClients);
  for (let i = 0; i < clipped.length; i++) clipped[i]! += normal(rng, 0, sd);
  return clipped;
}

/** The noise multiplier the sum actually carries when only `survivors` of `expected` clients added noise. */
export function effectiveNoiseMultiplier(
  noiseMultiplier: number,
  survivors: number,
  expected: number,
): number {
  if (!(survivors >= 1 && survivors <= expected)) {
    throw new FedscoreError('invalid_argument', 'survivors must be in [1, expected]', { field: 'survivors' });
  }
  return noiseMultiplier * Math.sqrt(survivors / expected);
}

/**
 * The smallest noise multiplier σ (to 1e-3 relative) whose `rounds` rounds at sampling rate q spend at
 * most `targetEpsilon` at `delta`, by bisection (ε falls as σ grows).
 */
export function noiseMultiplierForEpsilon(
  targetEpsilon: number,
  q: number,
  rounds: number,
  delta: number,
  orders: readonly number[] = DEFAULT_RDP_ORDERS,
): number {
  checkPositive(targetEpsilon, 'targetEpsilon');
  const eps = (sigma: number) => rdpToEpsilon(orders, computeRdp(q, sigma, rounds, orders), delta).epsilon;
  let lo = 0.05;
  let hi = 1;
  while (eps(hi) > targetEpsilon) {
    hi *= 2;
    if (hi > 1e6) {
      throw new FedscoreError('out_of_range', 'no noise multiplier reaches this epsilon', {
        field: 'targetEpsilon',
      });
    }
  }
  if (eps(lo) <= targetEpsilon) return lo;
  while ((hi - lo) / hi > 1e-3) {
    const mid = (lo + hi) / 2;
    if (eps(mid) > targetEpsilon) lo = mid;
    else hi = mid;
  }
  return hi;
}
