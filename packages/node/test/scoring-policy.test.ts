/**
 * The government's online scoring policy in the node config: secure defaults (no exact mode, 4
 * thresholds, 4 requests per 30 days and 1 per hour per bank and enterprise), typed errors naming the
 * field, and the bank's band-mode rescoring thresholds. The quota itself is attacked in
 * test/attacks/scoring-quota.attack.test.ts.
 */
import { isFedscoreError } from '@fedscore/core';
import { DEFAULT_SCORING_POLICY, NodeStore, ScoringQuota, validateNodeConfig } from '@fedscore/node';
import { describe, expect, it } from 'vitest';

const base = {
  party: 'government',
  listen: '127.0.0.1:7102',
  stateDir: '/tmp/x',
  tls: { ca: 'ca.pem', cert: 'c.pem', key: 'k.pem' },
  peers: { bank: { address: '127.0.0.1:7101' } },
};

function fieldOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(isFedscoreError(e, 'invalid_config')).toBe(true);
    return (e as { field?: string }).field;
  }
  throw new Error('expected an invalid_config error');
}

describe('scoring policy config', () => {
  it('defaults refuse exact mode and meter every (bank, enterprise)', () => {
    const c = validateNodeConfig(base);
    // One `scoring` section: the government's policy next to the serving switches and the bank's API.
    expect(c.scoring).toEqual({ ...DEFAULT_SCORING_POLICY, serve: false, maxSessionsPerPeer: 64 });
    expect(c.scoring).toEqual({
      serve: false,
      maxSessionsPerPeer: 64,
      allowExactMode: false,
      maxThresholds: 4,
      quota: { requests: 4, windowSeconds: 2_592_000 },
      rate: { requests: 1, windowSeconds: 3_600 },
    });
    expect(validateNodeConfig({ ...base, scoring: { allowExactMode: true } }).scoring.quota).toEqual(
      DEFAULT_SCORING_POLICY.quota,
    );
  });

  it('bad values are typed errors naming the field', () => {
    expect(fieldOf(() => validateNodeConfig({ ...base, scoring: { maxThresholds: 0 } }))).toBe(
      'scoring.maxThresholds',
    );
    expect(
      fieldOf(() => validateNodeConfig({ ...base, scoring: { quota: { requests: 0, windowSeconds: 60 } } })),
    ).toBe('scoring.quota.requests');
    expect(fieldOf(() => validateNodeConfig({ ...base, scoring: { exact: true } }))).toBe('scoring');
    const bank = { ...base, party: 'bank', peers: { government: { address: '127.0.0.1:7102' } } };
    expect(
      fieldOf(() =>
        validateNodeConfig({ ...bank, monitoring: { government: 'government', rescoreThresholds: [1, 2] } }),
      ),
    ).toBe('monitoring.rescoreThresholds[1]');
    expect(
      validateNodeConfig({ ...bank, monitoring: { government: 'government', rescoreThresholds: [1, -1] } })
        .monitoring.rescoreThresholds,
    ).toEqual([1, -1]);
    expect(
      () =>
        new ScoringQuota(NodeStore.inMemory(), {
          ...DEFAULT_SCORING_POLICY,
          rate: { requests: 1, windowSeconds: 0 },
        }),
    ).toThrow(expect.objectContaining({ code: 'invalid_config', field: 'scoring.rate.windowSeconds' }));
  });
});
