/**
 * Attack: a host reads the labels off the gradients SecureBoost sends it.
 * Source: Cheng et al. 2019 ("SecureBoost", section 4: the active party must encrypt g and h because
 * in the first round g_i = sigmoid(base) - y_i gives every label away) and the label-leakage analysis
 * of vertical boosting in Fu et al. 2022, "Label inference attacks against vertical federated learning"
 * (USENIX Security).
 * What it would recover: the label of every aligned enterprise, from one message (`gradients`).
 * The attack: scan the received payload for a run of n float64 values with 1e-12 < |v| <= 1 (a
 * plaintext gradient vector, whatever its framing) and predict y_i = 1 where g_i < 0.
 * Weakened configuration: scheme `none` (the flagged debug mode). Default: CKKS, where the payload is a
 * ciphertext under the guest's key: the scan finds no gradient vector and the guess is no better than
 * chance (balanced accuracy within 0.1 of 1/2).
 */

import { trainSecureBoost } from '@fedscore/vfl';
import { fedscore } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';
import { syntheticSplit } from '../synthetic.ts';

const N = 400;
const data = syntheticSplit(N, 1, [1], 3);

/** The host's best guess of the labels from the bytes of one `gradients` payload. */
function guessLabels(payload: Uint8Array, n: number): Uint8Array {
  const msg = fedscore.secureboost.EncryptedGradients.decode(payload);
  const bytes = msg.gradients;
  let best: Float64Array | undefined;
  for (let align = 0; align < 8 && best === undefined; align++) {
    const view = new DataView(bytes.buffer, bytes.byteOffset + align, bytes.byteLength - align);
    let run = 0;
    for (let k = 0; k + 8 <= view.byteLength; k += 8) {
      const v = view.getFloat64(k, true);
      run = Number.isFinite(v) && Math.abs(v) <= 1 && Math.abs(v) > 1e-12 ? run + 1 : 0;
      if (run === n) {
        const start = k - (n - 1) * 8;
        best = Float64Array.from({ length: n }, (_, i) => view.getFloat64(start + 8 * i, true));
        break;
      }
    }
  }
  // Nothing that looks like a gradient: guess from the bytes' parity, the best an attacker can do.
  return Uint8Array.from({ length: n }, (_, i) =>
    best === undefined ? bytes[i % bytes.length]! & 1 : best[i]! < 0 ? 1 : 0,
  );
}

function balancedAccuracy(y: Float64Array, guess: Uint8Array): number {
  let tp = 0;
  let tn = 0;
  let p = 0;
  for (let i = 0; i < y.length; i++) {
    if (y[i] === 1) {
      p++;
      if (guess[i] === 1) tp++;
    } else if (guess[i] === 0) tn++;
  }
  return (tp / p + tn / (y.length - p)) / 2;
}

async function attack(scheme: 'none' | 'ckks'): Promise<number> {
  const run = await trainSecureBoost({
    guest: { features: data.guest, labels: data.labels },
    hosts: [{ features: data.hosts[0]! }],
    scheme,
    hyperparams: { trees: 1, depth: 1, bins: 4 },
    capture: true,
  });
  const msg = run.captured.find((m) => m.to === 'host-1' && m.step === 'gradients');
  expect(msg).toBeDefined();
  return balancedAccuracy(data.labels, guessLabels(msg!.payload, N));
}

describe('attack: labels from SecureBoost gradients', () => {
  it('recovers every label when gradients travel in the clear (scheme none)', async () => {
    expect(await attack('none')).toBe(1);
  });

  it('does no better than chance under CKKS (the default)', async () => {
    const acc = await attack('ckks');
    expect(Math.abs(acc - 0.5)).toBeLessThan(0.1);
  }, 120_000);
});
