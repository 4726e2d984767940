/**
 * Attack: brute-force the hetero-LR mask generator from one masked gradient (issue 11, finding 1).
 *
 * Before the fix, node jobs drew a party's masks from `seededRng("hetero-lr/masks/<seed>/<epoch>")`: the
 * seed string was hashed with 32-bit FNV-1a into the state of xoshiro128** (Blackman & Vigna 2018),
 * whatever the secret behind the seed. The key holder (the arbiter, or the other party in two-party mode)
 * sees released = gradient + mask, with |gradient| <~ 2 and the mask uniform on +-2^16; for a candidate
 * 32-bit state it regenerates the first mask coordinate and keeps the candidate only if the difference
 * looks like a gradient (probability 2^-13 per coordinate for a wrong one, 2^-156 over 12 coordinates).
 * A 2^32 search took ~30 s per core and recovered every mask of the epoch; one search per epoch gave all
 * raw gradients (hence weights and, in two-party mode, feature-times-residual products).
 * Generic reference: exhaustive key search over a 32-bit seed space; xoshiro's state is linear over GF(2)
 * and is not a cryptographic generator (its authors say so).
 *
 * What it would recover: every unmasked gradient of the run.
 * Weakened configuration (test only): the old derivation, reimplemented here, with the hash cut to 20
 * bits so that the search takes about a second (the real space is 2^32: ~30 s per core).
 * Default: masks from the key-derived ChaCha20 generator (core keyed-rng.ts, via the protocol's own
 * `maskKey` path); the same search finds nothing, and the mask functions refuse a seeded generator by
 * type and at run time.
 */
import { type CapturedMessage, type CryptoRng, seededRng, uniform } from '@fedscore/core';
import { type HeteroLrHostOptions, trainHeteroLr, uniformMask } from '@fedscore/vfl';
import { ciphertextBatchStep } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';
import { syntheticSplit } from '../synthetic.ts';

const SEARCH_BITS = 20;
const MASK_BITS = 16;
/** A released coordinate minus the true mask is a gradient: |g| < this (standardized features). */
const GRADIENT_BOUND = 8;

/** The pre-fix per-epoch mask stream, weakened: FNV-1a of the seed string, cut to SEARCH_BITS bits. */
function weakenedOldMaskRng(seed: string, epoch: number) {
  const s = `hetero-lr/masks/${seed}/${epoch}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return seededRng((h >>> 0) & ((1 << SEARCH_BITS) - 1));
}

/** The old mask formula: uniform on [-2^bits, 2^bits]. */
function oldMask(rng: { nextUint32(): number }, n: number): Float64Array {
  return Float64Array.from({ length: n }, () => (2 * uniform(rng as never) - 1) * 2 ** MASK_BITS);
}

/** Exhaustive search: the states (< 2^SEARCH_BITS) whose first masks explain `released` as gradient + mask. */
function search(released: Float64Array): number[] {
  const found: number[] = [];
  for (let state = 0; state < 2 ** SEARCH_BITS; state++) {
    const rng = seededRng(state);
    const m0 = (2 * uniform(rng) - 1) * 2 ** MASK_BITS;
    if (Math.abs(released[0]! - m0) > GRADIENT_BOUND) continue;
    const rest = oldMask(rng, released.length - 1);
    if (rest.every((m, i) => Math.abs(released[i + 1]! - m) <= GRADIENT_BOUND)) found.push(state);
  }
  return found;
}

function float64s(item: Uint8Array): Float64Array {
  const v = new DataView(item.buffer, item.byteOffset, item.byteLength);
  return Float64Array.from({ length: item.length / 8 }, (_, i) => v.getFloat64(8 * i, true));
}

const data = syntheticSplit(600, 11, [6], 3);

describe('attack: brute-force the mask generator from one masked gradient', () => {
  it('weakened (the old FNV-1a + xoshiro derivation, 2^20 space): recovers every mask of every epoch', () => {
    // The victim (a guest with 11 features + intercept = 12 coordinates, as in the issue) masks its
    // real gradients X^T d / B of 3 epochs x 4 batches with the old derivation and a secret-looking seed.
    const seed = 'a3f1c2...e9 (HMAC of the job id under the node secret)';
    const p = 12;
    const gradients: Float64Array[][] = [];
    const releasedByEpoch: Float64Array[][] = [];
    for (let e = 0; e < 3; e++) {
      const rng = weakenedOldMaskRng(seed, e);
      const gs: Float64Array[] = [];
      const rs: Float64Array[] = [];
      for (let b = 0; b < 4; b++) {
        const g = Float64Array.from({ length: p }, (_, j) => {
          // A real-looking gradient: mean over 150 rows of standardized x_j times a residual in [-1, 1].
          let s = 0;
          for (let i = b * 150; i < (b + 1) * 150; i++) {
            const x = data.guest.columns[j % 11]![i]!;
            s += ((x - 3 * (j % 11)) / (1 + 10 * (j % 11))) * (data.labels[i]! - 0.5);
          }
          return s / 150;
        });
        gs.push(g);
        const m = oldMask(rng, p);
        rs.push(g.map((v, j) => v + m[j]!));
      }
      gradients.push(gs);
      releasedByEpoch.push(rs);
    }
    // The key holder sees only the released vectors. One search per epoch, on the epoch's first release.
    for (let e = 0; e < 3; e++) {
      const states = search(releasedByEpoch[e]![0]!);
      expect(states).toHaveLength(1);
      const rng = seededRng(states[0]!);
      for (let b = 0; b < 4; b++) {
        const m = oldMask(rng, p);
        const recovered = releasedByEpoch[e]![b]!.map((v, j) => v - m[j]!);
        // Every raw gradient of the epoch, to float64 rounding of the masked value.
        const worst = Math.max(...recovered.map((v, j) => Math.abs(v - gradients[e]![b]![j]!)));
        expect(worst).toBeLessThan(1e-10);
      }
    }
  });

  it("default (key-derived ChaCha20 masks): the same search on the key holder's real view finds nothing", async () => {
    // A real run: guest + host + arbiter over the in-memory network, masks derived from 256-bit keys
    // (the node's path); the arbiter's captured inputs are exactly what it decrypts (plaintext scheme).
    const key = (k: number) => Uint8Array.from({ length: 32 }, (_, i) => (i * 97 + k * 13 + 5) & 0xff);
    const res = await trainHeteroLr({
      guest: { features: data.guest, labels: data.labels },
      hosts: data.hosts.map((features) => ({ features })),
      mode: 'arbiter',
      scheme: 'none',
      hyperparams: { batchSize: 150, maxEpochs: 1, maskBits: MASK_BITS, patience: 0 },
      maskKeys: { guest: key(1), 'host-1': key(2) },
      minMaskBits: MASK_BITS, // the same 2^16 masks as the weakened case: only the generator differs
      session: 'attack-default',
      capture: true,
    });
    const step = ciphertextBatchStep('any');
    const toArbiter = res.captured.filter(
      (m: CapturedMessage) => m.to === 'arbiter' && m.step === 'masked-gradient',
    );
    expect(toArbiter.length).toBeGreaterThan(0);
    const first = float64s(step.decode(toArbiter[0]!.payload).items[0]!);
    expect(first.length).toBe(12);
    expect(search(first)).toEqual([]);
  });

  it('default: a seeded generator is refused for masks, by type and at run time', async () => {
    // @ts-expect-error -- a SeededRng is not a CryptoRng: the option does not type-check.
    const typed: HeteroLrHostOptions['maskRng'] = seededRng(1);
    expect(typed?.cryptographic).toBe(false);
    // Forced past the type checker, the run fails with insecure_rng before any mask is drawn.
    await expect(
      trainHeteroLr({
        guest: { features: data.guest, labels: data.labels },
        hosts: data.hosts.map((features) => ({ features })),
        scheme: 'none',
        hyperparams: { batchSize: 150, maxEpochs: 1 },
        maskRngs: { guest: seededRng(1) as unknown as CryptoRng },
      }),
    ).rejects.toMatchObject({ code: 'insecure_rng', field: 'maskRng' });
    expect(() => uniformMask(seededRng(1) as unknown as CryptoRng, 12, MASK_BITS)).toThrow(
      expect.objectContaining({ code: 'insecure_rng', field: 'maskRng' }),
    );
  });
});
