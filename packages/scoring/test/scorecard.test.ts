/**
 * Scorecard scaling against the textbook definition (Siddiqi 2006, ch. 10), computed independently here:
 * score = baseScore + PDO * log2(odds / baseOdds) with odds = P(good) / P(bad) from the logistic model.
 * Tolerance 1e-9 (double rounding only).
 */
import {
  binIndex,
  buildScorecard,
  partialScore,
  partyScorecard,
  scoreApplicant,
  scorecardTable,
  scoreToOdds,
} from '@fedscore/scoring';
import { describe, expect, it } from 'vitest';
import { enterprises, twoPartyModel, twoPartyScorecard } from './fixtures.ts';

describe('scorecard', () => {
  const model = twoPartyModel();
  const card = twoPartyScorecard();

  it('matches baseScore + PDO * log2(odds / baseOdds) for every applicant', () => {
    for (const e of enterprises(200)) {
      let logit = model.intercept;
      for (const f of model.features) logit += f.coefficient * f.woe[binIndex(f.bins, e[f.name], f.name)]!;
      const pBad = 1 / (1 + Math.exp(-logit));
      const odds = (1 - pBad) / pBad;
      const expected = 600 + 20 * Math.log2(odds / 50);
      expect(scoreApplicant(card, e)).toBeCloseTo(expected, 9);
      expect(scoreToOdds(card, expected).pd).toBeCloseTo(pBad, 12);
      // the parties' partial scores add up to the score
      expect(partialScore(card, 'bank', e) + partialScore(card, 'gov', e)).toBeCloseTo(expected, 9);
    }
  });

  it('bins are right-closed with missing last', () => {
    const bins = model.features[0]!.bins;
    expect(binIndex(bins, 1e6, 'x')).toBe(0);
    expect(binIndex(bins, 1e6 + 1, 'x')).toBe(1);
    expect(binIndex(bins, 3e7, 'x')).toBe(3);
    expect(binIndex(bins, Number.NaN, 'x')).toBe(4);
    expect(() => binIndex(model.features[1]!.bins, Number.NaN, 'overdue')).toThrow(/overdue/);
  });

  it('distributing the base points changes no total', () => {
    const spread = buildScorecard(model, { baseScore: 600, baseOdds: 50, pdo: 20, distributeBase: true });
    expect(spread.basePoints).toBe(0);
    for (const e of enterprises(50, 3))
      expect(scoreApplicant(spread, e)).toBeCloseTo(scoreApplicant(card, e), 9);
  });

  it('a party sees only its own points unless the other discloses', () => {
    const bankView = partyScorecard(card, 'bank');
    expect(bankView.basePoints).toBe(card.basePoints);
    expect(bankView.features.filter((f) => f.disclosed).map((f) => f.name)).toEqual(['turnover', 'overdue']);
    const hidden = scorecardTable(bankView).filter((r) => r.party === 'gov');
    expect(hidden.every((r) => r.points === null && r.woe === null)).toBe(true);
    const govView = partyScorecard(card, 'gov');
    expect(govView.basePoints).toBeUndefined();
    const disclosed = partyScorecard(card, 'bank', ['gov']);
    expect(disclosed.features.every((f) => f.disclosed)).toBe(true);
  });

  it('rejects bad input naming the field', () => {
    const bad = { ...model, features: [{ ...model.features[0]!, woe: [0.1] }] };
    expect(() => buildScorecard(bad)).toThrow(/features\[0\]\.woe/);
    expect(() => buildScorecard(model, { pdo: -1 })).toThrow(/pdo/);
  });
});
