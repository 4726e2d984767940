/** Samplers on top of core's `Rng`: one `Sampler` per independent stream of the generator. */
import type { Rng } from '@fedscore/core';

const TWO_POW_MINUS_32 = 2 ** -32;

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

export function cumulativeShares(shares: readonly number[]): Float64Array {
  const total = shares.reduce((a, b) => a + b, 0);
  const out = new Float64Array(shares.length);
  let acc = 0;
  for (let i = 0; i < shares.length; i++) {
    acc += shares[i]! / total;
    out[i] = acc;
  }
  out[shares.length - 1] = 1;
  return out;
}

export class Sampler {
  readonly rng: Rng;
  #spare = 0;
  #hasSpare = false;

  constructor(rng: Rng) {
    this.rng = rng;
  }

  /**
   * Uniform in [0, 1) with 32 random bits: one generator call instead of the two of core's 53-bit
   * `uniform`. Ample for simulation (the smallest probability the generator uses is ~1e-4).
   */
  uniform(): number {
    return this.rng.nextUint32() * TWO_POW_MINUS_32;
  }

  /**
   * Standard normal deviate by the polar method (Marsaglia & Bray 1964), keeping the second deviate of
   * each pair: about a third of the generator calls of core's Box-Muller `normal` (which draws two
   * 53-bit uniforms per deviate), which matters at 10^8 draws.
   */
  normal(): number {
    if (this.#hasSpare) {
      this.#hasSpare = false;
      return this.#spare;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      u = 2 * this.uniform() - 1;
      v = 2 * this.uniform() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    this.#spare = v * f;
    this.#hasSpare = true;
    return u * f;
  }

  /** exp(N(mu, sigma^2)). */
  logNormal(mu: number, sigma: number): number {
    return Math.exp(mu + sigma * this.normal());
  }

  /** 1 with probability p, else 0. */
  bernoulli(p: number): number {
    return this.uniform() < p ? 1 : 0;
  }

  /**
   * Poisson deviate. Below lambda = 30, Knuth's product-of-uniforms method (exact); from 30 on, the
   * normal approximation N(lambda, lambda) rounded and clipped at 0 (only the largest firms get there).
   */
  poisson(lambda: number): number {
    if (!(lambda > 0)) return 0;
    if (lambda < 30) {
      const limit = Math.exp(-lambda);
      let k = 0;
      let p = this.uniform();
      while (p > limit) {
        k++;
        p *= this.uniform();
      }
      return k;
    }
    return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * this.normal()));
  }

  /** Successes in n Bernoulli(p) trials (n small). */
  binomial(n: number, p: number): number {
    let k = 0;
    for (let i = 0; i < n; i++) if (this.uniform() < p) k++;
    return k;
  }

  /** Index drawn from cumulative probabilities (last entry 1). */
  pick(cumulative: Float64Array): number {
    const u = this.uniform();
    for (let i = 0; i < cumulative.length; i++) if (u < cumulative[i]!) return i;
    return cumulative.length - 1;
  }
}
