/**
 * Feature selection by IV and the within-party correlation filter; the lineage record says why each
 * feature was dropped. Pearson r checked against numpy.corrcoef values (1e-12).
 */
import { correlationFilter, pearson, selectByIv, withCorrelationDrops } from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';

const scores = [
  { party: 'bank', name: 'a', iv: 0.5 },
  { party: 'gov', name: 'b', iv: 0.3 },
  { party: 'gov', name: 'c', iv: 0.25 },
  { party: 'gov', name: 'd', iv: 0.01 },
  { party: 'bank', name: 'e', iv: 0.1 },
];

describe('selection', () => {
  it('threshold then top-k, strongest first, with reasons', () => {
    const l = selectByIv(scores, { minIv: 0.02, topK: 3 });
    expect(l.selected.map((s) => s.name)).toEqual(['a', 'b', 'c']);
    expect(l.dropped.map((d) => [d.name, d.reason])).toEqual([
      ['e', 'not_in_top_k'],
      ['d', 'iv_below_threshold'],
    ]);
    expect(l).toMatchObject({ kind: 'feature-selection', minIv: 0.02, topK: 3 });
  });

  it('pearson matches numpy.corrcoef', () => {
    // numpy.corrcoef([1,2,3,4],[2,1,4,3])[0,1] = 0.6
    expect(pearson([1, 2, 3, 4], [2, 1, 4, 3])).toBeCloseTo(0.6, 12);
    expect(pearson([1, 1, 1], [1, 2, 3])).toBe(0);
  });

  it('correlation filter drops the weaker of a correlated pair within one party only', () => {
    const l = selectByIv(scores, { minIv: 0.02 });
    const cols = new Map<string, number[]>([
      ['b', [1, 2, 3, 4, 5]],
      ['c', [2, 4, 6, 8, 11]],
    ]);
    const drops = correlationFilter('gov', l.selected, cols, 0.9);
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatchObject({ name: 'c', reason: 'correlated', correlatedWith: 'b' });
    const final = withCorrelationDrops(l, drops, 0.9);
    expect(final.selected.map((s) => s.name)).toEqual(['a', 'b', 'e']);
    expect(final.correlationThreshold).toBe(0.9);
  });

  it('bad options are typed errors naming the field', () => {
    expect(() => selectByIv(scores, { topK: 0 })).toThrow(expect.objectContaining({ field: 'topK' }));
    expect(() => selectByIv([scores[0]!, scores[0]!])).toThrow(
      expect.objectContaining({ code: 'duplicate_id' }),
    );
  });
});
