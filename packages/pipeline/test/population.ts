/** A small generated population split between a guest (labels) and a host, for the pipeline's tests. */
import {
  categoricalColumn,
  createTable,
  generateUniqueUsccs,
  normal,
  numericColumn,
  seededRng,
  type Table,
  uniform,
} from '@fedscore/core';

export interface Population {
  readonly guest: Table;
  readonly host: Table;
}

/**
 * n enterprises with USCC ids; the guest holds 3 numeric + 1 categorical column and the label, the host
 * 3 columns. `plant` replaces every 7th value of the guest's g0 and of the host's h0 by a known value.
 */
export function population(
  n: number,
  seed: number,
  plant?: { readonly guest: number; readonly host: number },
): Population {
  const rng = seededRng(seed);
  const ids = generateUniqueUsccs(rng, n);
  const x = Array.from({ length: 6 }, () => Float64Array.from({ length: n }, () => normal(rng)));
  const sector = Int32Array.from({ length: n }, () => Math.floor(uniform(rng) * 3));
  const beta = [0.9, -0.6, 0.4, 1.1, -0.8, 0.5];
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let z = -0.3 + 0.7 * (sector[i] === 2 ? 1 : 0);
    for (let j = 0; j < 6; j++) z += beta[j]! * x[j]![i]!;
    y[i] = uniform(rng) < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  // The guest holds rows 0..0.8n, the host rows 0.15n..n (overlap 0.65n), each in its own order.
  const g = Array.from({ length: Math.floor(0.8 * n) }, (_, i) => i).reverse();
  const h = Array.from({ length: n - Math.floor(0.15 * n) }, (_, i) => i + Math.floor(0.15 * n));
  const pick = (rows: number[], col: Float64Array, planted?: number) =>
    Float64Array.from(rows, (r) => (planted !== undefined && r % 7 === 0 ? planted : col[r]! * 10 + 5));
  return {
    guest: createTable({
      ids: g.map((r) => ids[r]!),
      label: Float64Array.from(g, (r) => y[r]!),
      columns: [
        numericColumn('g0', pick(g, x[0]!, plant?.guest)),
        numericColumn('g1', pick(g, x[1]!)),
        numericColumn('g2', pick(g, x[2]!)),
        categoricalColumn(
          'sector',
          Int32Array.from(g, (r) => sector[r]!),
          ['a', 'b', 'c'],
        ),
      ],
    }),
    host: createTable({
      ids: h.map((r) => ids[r]!),
      columns: [
        numericColumn('h0', pick(h, x[3]!, plant?.host)),
        numericColumn('h1', pick(h, x[4]!)),
        numericColumn('h2', pick(h, x[5]!)),
      ],
    }),
  };
}
