/**
 * Comparison keys: `matchAndAlign` equals a naive intersection of key strings sorted lexicographically,
 * also when keys share their first 6 bytes (the sort's fast path) and when sets are empty. Exact.
 */
import { seededRng } from '@fedscore/core';
import { KeyIndex, matchAndAlign } from '@fedscore/psi';
import { describe, expect, it } from 'vitest';

const W = 16;

function randomKeys(seed: string, n: number, sharedPrefix = false): Uint8Array {
  const rng = seededRng(seed);
  const k = rng.fillBytes(new Uint8Array(n * W));
  if (sharedPrefix) for (let i = 0; i < n; i++) k.fill(7, i * W, i * W + 6);
  return k;
}

function naive(own: Uint8Array, peer: Uint8Array): number[] {
  const hex = (b: Uint8Array, i: number) => Buffer.from(b.subarray(i * W, (i + 1) * W)).toString('hex');
  const peerSet = new Set(Array.from({ length: peer.length / W }, (_, i) => hex(peer, i)));
  return Array.from({ length: own.length / W }, (_, i) => i)
    .filter((i) => peerSet.has(hex(own, i)))
    .sort((a, b) => (hex(own, a) < hex(own, b) ? -1 : 1));
}

describe('matchAndAlign', () => {
  it.each([false, true])('equals the naive intersection, sorted (shared 6-byte prefix: %s)', (shared) => {
    const own = randomKeys('own', 500, shared);
    const peer = randomKeys('peer', 700, shared);
    // copy 200 of own's keys into peer at scattered places
    for (let i = 0; i < 200; i++) peer.set(own.subarray(i * 2 * W, i * 2 * W + W), ((i * 3) % 700) * W);
    const got = Array.from(matchAndAlign(own, peer, W));
    expect(got).toEqual(naive(own, peer));
    expect(got.length).toBeGreaterThan(150);
  });

  it('empty sets', () => {
    expect(matchAndAlign(new Uint8Array(0), randomKeys('x', 3), W)).toHaveLength(0);
    expect(matchAndAlign(randomKeys('x', 3), new Uint8Array(0), W)).toHaveLength(0);
  });

  it('KeyIndex finds every key and nothing else', () => {
    const keys = randomKeys('idx', 1000);
    const index = new KeyIndex(keys, W);
    for (let i = 0; i < 1000; i++) expect(index.find(keys, i * W)).toBe(i);
    const other = randomKeys('other', 1000);
    for (let i = 0; i < 1000; i++) expect(index.find(other, i * W)).toBe(-1);
  });
});
