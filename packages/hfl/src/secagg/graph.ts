/**
 * The communication graph of SecAgg+ (J. Bell, K. Bonawitz, A. Gascón, T. Lepoint, M. Raykova, "Secure
 * Single-Server Aggregation with (Poly)Logarithmic Overhead", CCS 2020): each client shares keys and
 * masks only with its k neighbours instead of all n − 1. We use a k-regular Harary graph over a random
 * relabelling of the clients (the relabelling from `graphSeed`: the graph is public, its randomness is
 * not a secret). With k = n − 1 it is the complete graph of the original SecAgg (Bonawitz et al. 2017).
 */
import { FedscoreError, permutation, seededRng } from '@fedscore/core';

/** neighbours[i] = sorted indices of client i's neighbours. */
export function neighbourGraph(clients: number, k: number, graphSeed: number): number[][] {
  if (!Number.isInteger(clients) || clients < 2) {
    throw new FedscoreError('invalid_argument', 'secure aggregation needs at least 2 clients', {
      field: 'clients',
    });
  }
  if (!Number.isInteger(k) || k < 1 || k > clients - 1 || (k % 2 === 1 && clients % 2 === 1)) {
    throw new FedscoreError(
      'invalid_argument',
      `neighbours must be in [1, ${clients - 1}], and even when the client count is odd`,
      { field: 'neighbours' },
    );
  }
  const perm = permutation(seededRng(graphSeed), clients); // position p holds client perm[p]
  const pos = new Uint32Array(clients);
  for (let p = 0; p < clients; p++) pos[perm[p]!] = p;
  const sets = Array.from({ length: clients }, () => new Set<number>());
  for (let i = 0; i < clients; i++) {
    const p = pos[i]!;
    for (let s = 1; s <= Math.floor(k / 2); s++) {
      sets[i]!.add(perm[(p + s) % clients]!);
      sets[i]!.add(perm[(p - s + clients) % clients]!);
    }
    if (k % 2 === 1) sets[i]!.add(perm[(p + clients / 2) % clients]!);
  }
  return sets.map((s) => [...s].sort((a, b) => a - b));
}
