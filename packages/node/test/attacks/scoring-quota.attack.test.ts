/**
 * Attack: a bank bisects an enterprise's joint score, hence the government's partial score, through
 * repeated band-mode requests (review finding 6 of the privacy issue; the adaptive comparison-oracle
 * extraction of Tramer, Zhang, Juels, Reiter & Ristenpart 2016, "Stealing machine learning models via
 * prediction APIs"; also Lowd & Meek 2005, "Adversarial learning", for membership queries).
 *
 * Band mode with the allowed K = 4 thresholds answers, per request, on which side of 4 values of the
 * bank's choosing the score lies (the government never sees the values): n requests split a range of
 * width W into W / 5^n, so 8 requests pin s_gov to ~1e-3 points of a 400-point range. Defence: the
 * government node meters online scoring per (bank, enterprise) in its store (`ScoringQuota`, config
 * `scoring.quota` / `scoring.rate`; defaults 4 per 30 days and 1 per hour): the weakened configuration
 * (a quota of 1000) recovers s_gov within 0.01; the default refuses the second request within the hour
 * (`rate_limited`) and the fifth within the month (`quota_exceeded`), so an attacker waiting out the rate
 * limit is left with an interval of 400 / 5^4 = 0.64 points, every refusal is a security_event in the
 * government's audit log, and the counters survive a restart (same store, new objects).
 */
import {
  createInMemoryNetwork,
  FedscoreError,
  generateUniqueUsccs,
  ProtocolSession,
  runParties,
  seededRng,
} from '@fedscore/core';
import {
  AuditLog,
  DEFAULT_SCORING_POLICY,
  governmentOnlineScoring,
  NodeStore,
  type ScoringPolicyConfig,
  ScoringQuota,
} from '@fedscore/node';
import { ONLINE_SCORING_PROTOCOL, ONLINE_SCORING_VERSION, OnlineScoringBank } from '@fedscore/scoring';
import { envelopeCodec } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';

const [enterprise] = generateUniqueUsccs(seededRng(9), 1) as [string];
const S_GOV = 137.3141; // the government's secret partial score of this enterprise
const S_BANK = 512.25; // the bank's own partial (known to it)
const HOUR = 3_600_000;

interface World {
  store: NodeStore;
  audit: AuditLog;
  quota: ScoringQuota;
  clock: { t: number };
}

function world(policy: ScoringPolicyConfig, store = NodeStore.inMemory(), clock = { t: 1.7e12 }): World {
  return {
    store,
    clock,
    audit: new AuditLog(store, { now: () => clock.t }),
    quota: new ScoringQuota(store, policy, { now: () => clock.t }),
  };
}

/** One band-mode session with the given thresholds; the threshold index of s, or the refusal code. */
async function request(w: World, policy: ScoringPolicyConfig, thresholds: number[], session: string) {
  const bank = await OnlineScoringBank.create({ mode: 'band', thresholds });
  const gov = governmentOnlineScoring({
    policy,
    quota: w.quota,
    audit: w.audit,
    party: 'government',
    grantee: 'bank-a',
    session,
    partialScoreOf: (e) => (e === enterprise ? S_GOV : undefined),
  });
  const network = createInMemoryNetwork(['bank-a', 'government'], envelopeCodec);
  const spec = { protocol: ONLINE_SCORING_PROTOCOL, version: ONLINE_SCORING_VERSION, session };
  try {
    const out = await runParties(network, {
      gov: () => gov.serve(new ProtocolSession(network.channel('government'), spec), 'bank-a'),
      bank: async () => {
        await bank.open(new ProtocolSession(network.channel('bank-a'), spec), 'government', 'model-1');
        try {
          return (await bank.score(enterprise, S_BANK)).thresholdIndex!;
        } catch (e) {
          if (e instanceof FedscoreError) return e.code;
          throw e;
        } finally {
          await bank.close();
        }
      },
    });
    return out.bank;
  } finally {
    bank.dispose();
    gov.dispose();
  }
}

/** The bisection: up to `rounds` requests (waiting out rate limits); the final interval of s_gov. */
async function bisect(w: World, policy: ScoringPolicyConfig, rounds: number) {
  let lo = S_BANK + 0; // s_gov in [0, 400): the attacker's prior
  let hi = S_BANK + 400;
  const refusals: string[] = [];
  for (let i = 0; i < rounds; i++) {
    const step = (hi - lo) / 5;
    const thresholds = [hi - step, hi - 2 * step, hi - 3 * step, hi - 4 * step];
    let answer = await request(w, policy, thresholds, `rescore-${i}`);
    if (answer === 'rate_limited') {
      refusals.push(answer);
      w.clock.t += HOUR + 1; // wait out the rate limit and ask again
      answer = await request(w, policy, thresholds, `rescore-${i}-retry`);
    }
    if (typeof answer === 'string') {
      refusals.push(answer);
      break;
    }
    // s >= thresholds[answer] (and < the one before): narrow the interval
    const upper = answer === 0 ? hi : thresholds[answer - 1]!;
    const lower = answer === thresholds.length ? lo : thresholds[answer]!;
    lo = lower;
    hi = upper;
  }
  return { lo: lo - S_BANK, hi: hi - S_BANK, refusals };
}

describe('attack: bisecting the government partial score with repeated band-mode requests', () => {
  it('weakened (quota 1000): 8 requests pin s_gov within 0.01 points', async () => {
    const weak: ScoringPolicyConfig = {
      ...DEFAULT_SCORING_POLICY,
      quota: { requests: 1000, windowSeconds: 86_400 },
      rate: { requests: 1000, windowSeconds: 60 },
    };
    const w = world(weak);
    const { lo, hi, refusals } = await bisect(w, weak, 8);
    expect(refusals).toEqual([]);
    expect(lo).toBeLessThanOrEqual(S_GOV);
    expect(hi).toBeGreaterThan(S_GOV);
    expect(hi - lo).toBeLessThan(0.01);
  });

  it('default quota: rate-limited, then stopped after 4 requests; refusals audited; counters persist', async () => {
    const w = world(DEFAULT_SCORING_POLICY);
    const { lo, hi, refusals } = await bisect(w, DEFAULT_SCORING_POLICY, 8);
    // The second request within the hour is rate-limited; after 4 answered requests the quota stops it.
    expect(refusals[0]).toBe('rate_limited');
    expect(refusals.at(-1)).toBe('quota_exceeded');
    expect(lo).toBeLessThanOrEqual(S_GOV);
    expect(hi).toBeGreaterThan(S_GOV);
    expect(hi - lo).toBeGreaterThan(0.6); // 400 / 5^4 = 0.64: two orders of magnitude above the attack's
    expect(w.quota.used('bank-a', enterprise)).toBe(4);
    // Every refusal is a security_event naming the code; no enterprise id in the log.
    const events = [...w.audit.entries({ kind: 'security_event' })];
    expect(events.map((e) => e.details?.['code'])).toEqual(refusals);
    expect(events.every((e) => e.actor === 'bank-a' && e.enterpriseCount === 1)).toBe(true);
    expect(JSON.stringify(events)).not.toContain(enterprise);
    // A restart (new quota and audit objects over the same store) keeps the count.
    const restarted = world(DEFAULT_SCORING_POLICY, w.store, w.clock);
    w.clock.t += HOUR + 1;
    expect(await request(restarted, DEFAULT_SCORING_POLICY, [600, 500], 'after-restart')).toBe(
      'quota_exceeded',
    );
    // The window slides: after 30 days the enterprise can be scored again.
    w.clock.t += 30 * 24 * HOUR;
    expect(typeof (await request(restarted, DEFAULT_SCORING_POLICY, [600, 500], 'next-month'))).toBe(
      'number',
    );
    // Another bank's quota is its own.
    expect(restarted.quota.admit('bank-b', enterprise)).toBeUndefined();
  });
});
