/**
 * Attack: a key holder ships a public context that protects nothing, and the receiver encrypts its data
 * under it (issue 11, finding 8: "loaders trust the sender").
 * Sources: P. Paillier, "Public-Key Cryptosystems Based on Composite Degree Residuosity Classes"
 * (EUROCRYPT 1999) -- whoever factors n decrypts; J. M. Pollard, "A Monte Carlo method for
 * factorization" (BIT 15, 1975) -- rho finds a factor p in about sqrt(p) steps; NIST SP 800-57 Part 1,
 * Table 2 -- 2048-bit moduli for 112-bit security.
 *
 * What it would recover: the receiving party's plaintext values (e.g. a host's features or masked
 * gradients) from the ciphertexts it sends, by anyone who sees them: the modulus of a weak key is
 * factored (Pollard rho, in this test) and the secret key rebuilt from the factors; a 'none' "context"
 * does not even encrypt. The old loader decided on the sender's `insecure` byte (and had one flag for
 * both weak parameters and the plaintext scheme); it never compared the key with the plan.
 *
 * Weakened configuration: the receiver opts in (`allowWeakParameters`, resp. `allowPlaintextScheme`
 * without a plan) -- what every load amounted to before, for a sender that flagged its blob
 * insecure: the planted values are recovered exactly. Default: the loader judges the modulus itself
 * and refuses it (`he_insecure_params` naming `n`), whatever the sender's flag; refuses 'none'
 * (`he_insecure_params` naming `scheme`), and under a Paillier plan refuses it even with the
 * plaintext opt-in (`he_context_mismatch` naming `scheme`). The two opt-ins do not stand in for each
 * other.
 */
import { createHash, generatePrimeSync, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { memoryLogger } from '@fedscore/core';
import { loadAdditiveHePublic } from '@fedscore/he';
import { describe, expect, it } from 'vitest';

// --- the malicious sender: HE blobs written from the documented format (packages/he/src/blob.ts) ----

const KIND_PUBLIC_CONTEXT = 2;
const SCHEME = { paillier: 1, none: 2 } as const;

function encodeBlob(o: {
  kind: number;
  scheme: number;
  insecureFlag: boolean;
  fingerprint: Uint8Array;
  meta: Record<string, unknown>;
  payload?: Uint8Array;
}): Uint8Array {
  const meta = new TextEncoder().encode(JSON.stringify(o.meta));
  const payload = o.payload ?? new Uint8Array(0);
  const out = new Uint8Array(28 + meta.length + 4 + payload.length + 4);
  const view = new DataView(out.buffer);
  out.set([0x46, 0x53, 0x48, 0x45, 1, o.kind, o.scheme, o.insecureFlag ? 1 : 0], 0);
  out.set(o.fingerprint, 8);
  view.setUint32(24, meta.length, true);
  out.set(meta, 28);
  view.setUint32(28 + meta.length, payload.length, true);
  out.set(payload, 32 + meta.length);
  view.setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

/** A Paillier public context for n (g = n + 1), its fingerprint as the format defines it. */
function paillierPublicBlob(n: bigint, fractionBits: number, insecureFlag: boolean): Uint8Array {
  const fp = createHash('sha256')
    .update(['paillier', n.toString(16), String(fractionBits)].join('\u0000'))
    .digest()
    .subarray(0, 16);
  return encodeBlob({
    kind: KIND_PUBLIC_CONTEXT,
    scheme: SCHEME.paillier,
    insecureFlag,
    fingerprint: fp,
    meta: { fractionBits, n: n.toString(16) },
  });
}

/** The meta JSON and length-prefixed payload sections of a blob. */
function parseBlob(bytes: Uint8Array): { meta: Record<string, number>; sections: Uint8Array[] } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const m = view.getUint32(24, true);
  const meta = JSON.parse(new TextDecoder().decode(bytes.subarray(28, 28 + m))) as Record<string, number>;
  const p = view.getUint32(28 + m, true);
  const payload = bytes.subarray(32 + m, 32 + m + p);
  const sections: Uint8Array[] = [];
  for (let off = 0; off < payload.length; ) {
    const len = new DataView(payload.buffer, payload.byteOffset + off, 4).getUint32(0, true);
    sections.push(payload.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  return { meta, sections };
}

// --- the eavesdropper's tools: Pollard rho, Paillier decryption from the factors -----------------

const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b));
function modPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  let x = b % m;
  for (let k = e; k > 0n; k >>= 1n) {
    if (k & 1n) r = (r * x) % m;
    x = (x * x) % m;
  }
  return r;
}
function modInv(a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [((a % m) + m) % m, m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1, s0, s1] = [r1, r0 - q * r1, s1, s0 - q * s1];
  }
  return ((s0 % m) + m) % m;
}
/** Pollard's rho with Floyd's cycle finding: a non-trivial factor of the composite n. */
function pollardRho(n: bigint): bigint {
  for (let c = 1n; ; c++) {
    let x = 2n;
    let y = 2n;
    let d = 1n;
    const f = (v: bigint) => (v * v + c) % n;
    while (d === 1n) {
      x = f(x);
      y = f(f(y));
      d = gcd(x > y ? x - y : y - x, n);
    }
    if (d !== n) return d;
  }
}
const bytesToBig = (b: Uint8Array) => b.reduce((v, x) => (v << 8n) | BigInt(x), 0n);

/** Decrypt captured Paillier ciphertext bytes knowing only the public n: factor it first. */
function breakPaillier(n: bigint, ciphertextBlob: Uint8Array, fractionBits: number): number[] {
  const p = pollardRho(n);
  const q = n / p;
  expect(p * q).toBe(n);
  const phi = (p - 1n) * (q - 1n);
  const n2 = n * n;
  const { meta, sections } = parseBlob(ciphertextBlob);
  return sections.map((s) => {
    let m = (((modPow(bytesToBig(s), phi, n2) - 1n) / n) * modInv(phi, n)) % n;
    if (m > n / 2n) m -= n;
    return Number(m) / 2 ** (fractionBits * meta['exponent']!);
  });
}

// --- the receiving party's secret ----------------------------------------------------------------

/** What the receiver encrypts (multiples of 2^-8, exact at 8 fraction bits). */
const PLANTED = [0.71875, -1.25, 3.5, 0.00390625];

describe('attack: a weak or plaintext public context from the key holder', () => {
  // Two 32-bit primes: n has 64 bits, rho needs about 2^16 steps.
  const p = 4294967291n; // 2^32 - 5
  const q = 4294967279n; // 2^32 - 17
  const tiny = p * q;

  it('weakened (receiver allows weak parameters): the factored 64-bit key gives the plaintext back', async () => {
    const logger = memoryLogger();
    const pub = await loadAdditiveHePublic(paillierPublicBlob(tiny, 8, true), {
      allowWeakParameters: true,
      logger,
    });
    // The receiver encrypts its values and sends them: the captured bytes.
    const captured = pub.serializeCiphertext(pub.encrypt(PLANTED));
    expect(breakPaillier(tiny, captured, 8)).toEqual(PLANTED);
    // Even on the opt-in the receiver is warned.
    expect(logger.records.some((r) => r.level === 'warn' && r.message.includes('INSECURE'))).toBe(true);
  });

  it('default: the same key is refused whatever its insecure flag says, and the other opt-in does not help', async () => {
    for (const flag of [true, false]) {
      await expect(loadAdditiveHePublic(paillierPublicBlob(tiny, 8, flag))).rejects.toThrow(
        expect.objectContaining({ code: 'he_insecure_params', field: 'n' }),
      );
      await expect(
        loadAdditiveHePublic(paillierPublicBlob(tiny, 8, flag), { allowPlaintextScheme: true }),
      ).rejects.toThrow(expect.objectContaining({ code: 'he_insecure_params', field: 'n' }));
    }
  });

  it("a 256-bit key flagged insecure by its sender: accepted only on the receiver's opt-in, refused by default", async () => {
    let n = 0n;
    while (n.toString(2).length !== 256) {
      n = generatePrimeSync(128, { bigint: true }) * generatePrimeSync(128, { bigint: true });
    }
    const blob = paillierPublicBlob(n, 32, true);
    const weakened = await loadAdditiveHePublic(blob, { allowWeakParameters: true, logger: memoryLogger() });
    expect(weakened.description).toContain('256-bit');
    for (const flag of [true, false]) {
      await expect(loadAdditiveHePublic(paillierPublicBlob(n, 32, flag))).rejects.toThrow(
        expect.objectContaining({ code: 'he_insecure_params', field: 'n' }),
      );
    }
    // A plan naming 2048 bits refuses it even with the weak-parameters opt-in.
    await expect(
      loadAdditiveHePublic(blob, {
        allowWeakParameters: true,
        expected: { scheme: 'paillier', paillierBits: 2048 },
      }),
    ).rejects.toThrow(expect.objectContaining({ code: 'he_context_mismatch', field: 'n' }));
  });

  it("a 'none' blob: plaintext on the wire when accepted; refused by default and under a Paillier plan", async () => {
    const none = encodeBlob({
      kind: KIND_PUBLIC_CONTEXT,
      scheme: SCHEME.none,
      insecureFlag: true,
      fingerprint: randomBytes(16),
      meta: {},
    });
    // Weakened (the plaintext opt-in, no plan): the "ciphertext" holds the values as float64.
    const pub = await loadAdditiveHePublic(none, { allowPlaintextScheme: true, logger: memoryLogger() });
    const captured = pub.serializeCiphertext(pub.encrypt(PLANTED));
    expect(Array.from(new Float64Array(parseBlobPayload(captured).slice().buffer))).toEqual(PLANTED);
    // Default, and with the other opt-in only.
    for (const options of [{}, { allowWeakParameters: true }]) {
      await expect(loadAdditiveHePublic(none, options)).rejects.toThrow(
        expect.objectContaining({ code: 'he_insecure_params', field: 'scheme' }),
      );
    }
    // Under a Paillier plan, whatever the opt-ins.
    await expect(
      loadAdditiveHePublic(none, {
        allowPlaintextScheme: true,
        allowWeakParameters: true,
        expected: { scheme: 'paillier' },
      }),
    ).rejects.toThrow(expect.objectContaining({ code: 'he_context_mismatch', field: 'scheme' }));
  });
});

/** The raw payload of a blob (a 'none' ciphertext is one float64 array, not sections). */
function parseBlobPayload(bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const m = view.getUint32(24, true);
  return bytes.subarray(32 + m, 32 + m + view.getUint32(28 + m, true));
}
