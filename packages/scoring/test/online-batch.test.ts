/**
 * Micro-batched online scoring (scoring.online v3): several applicants in one round, one ciphertext,
 * applicant i in slots i*K ... i*K + K - 1. Checked against the unbatched protocol and the plaintext
 * scorecard: the same score within 2e-4 (two independent flooding draws of sd 2^-20 plus CKKS error
 * ~1e-6 at scale 2^30, so 1e-4 to the plaintext each), the same band; a refused applicant gets its typed
 * refusal while the others are scored; admission and lookup run exactly once per applicant; and a
 * capture of what the bank decrypts shows that applicant A's slot block carries A's result only, with
 * planted values for B (no sum, rotation or shared blinding crosses slot blocks).
 */
import {
  type CryptoRng,
  createInMemoryNetwork,
  isFedscoreError,
  loadRngKey,
  ProtocolSession,
  runParties,
} from '@fedscore/core';
import {
  bandFromThresholdIndex,
  bandIndexOf,
  bandThresholds,
  DEFAULT_RHO_BITS,
  ONLINE_SCORING_PROTOCOL,
  ONLINE_SCORING_VERSION,
  type OnlineAdmission,
  type OnlineBatchItem,
  type OnlineBatchOutcome,
  type OnlineGovernmentOptions,
  type OnlineLookupRefusal,
  OnlineScoringBank,
  OnlineScoringGovernment,
  partialScore,
  scoreApplicant,
} from '@fedscore/scoring';
import { ciphertextBatchStep, envelopeCodec, fedscore } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';
import { enterprises, rules, twoPartyScorecard } from './fixtures.ts';

const card = twoPartyScorecard();
const r = rules();
const applicants = enterprises(24, 33).map((e, i) => ({ id: `E${i}`, values: e }));
const byId = new Map(applicants.map((a) => [a.id, a.values]));
const bankPartial = (id: string) => {
  const v = byId.get(id);
  return v === undefined ? 0 : partialScore(card, 'bank', v);
};
const govPartial = (id: string) => {
  const v = byId.get(id);
  return v === undefined ? undefined : partialScore(card, 'gov', v);
};

async function testRng(label: string): Promise<CryptoRng> {
  const key = await loadRngKey(Uint8Array.from({ length: 32 }, (_, i) => 7 * i + 3));
  return key.derive(label);
}

/** One session; `rounds` are the bank's rounds (one item = an unbatched request). */
async function run(
  mode: 'exact' | 'band',
  rounds: readonly (readonly OnlineBatchItem[])[],
  hooks: Partial<OnlineGovernmentOptions> = {},
) {
  const bank = await OnlineScoringBank.create({ mode, thresholds: bandThresholds(r) });
  const gov = new OnlineScoringGovernment({
    policy: { allowExactMode: mode === 'exact' },
    partialScoreOf: (id) => govPartial(id),
    rng: await testRng(`online-batch/${mode}`),
    ...hooks,
  });
  const network = createInMemoryNetwork(['bank', 'gov'], envelopeCodec, { capture: true });
  const spec = { protocol: ONLINE_SCORING_PROTOCOL, version: ONLINE_SCORING_VERSION, session: 'b' };
  const out = await runParties(network, {
    gov: () => gov.serve(new ProtocolSession(network.channel('gov'), spec), 'bank'),
    bank: async () => {
      await bank.open(new ProtocolSession(network.channel('bank'), spec), 'gov', 'model-1');
      const results: OnlineBatchOutcome[][] = [];
      for (const round of rounds) results.push(await bank.scoreBatch(round));
      await bank.close();
      return results;
    },
  });
  // Every slot the bank can decrypt from each reply (the whole ciphertext, not only its own blocks).
  const decrypted = network.receivedBy('bank').map((m) => {
    const reply = fedscore.scoring.ScoreReply.decode(m.payload);
    if (reply.result.length === 0) return undefined;
    const v = bank.context.deserializeVector(
      ciphertextBatchStep('joint-result').decode(reply.result).items[0]!,
    );
    const all = v.withLength(bank.context.slotCount);
    try {
      return bank.context.decrypt(all);
    } finally {
      all.dispose();
      v.dispose();
    }
  });
  const slotCount = bank.context.slotCount;
  bank.dispose();
  gov.dispose();
  return { results: out.bank, served: out.gov, network, decrypted, slotCount };
}

const items = (ids: readonly string[]): OnlineBatchItem[] =>
  ids.map((id, i) => ({ applicant: id, bankPartial: bankPartial(id), requestId: `req-${i}-${id}` }));

const chunks = <T>(xs: readonly T[], n: number): T[][] =>
  Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, i * n + n));

describe('micro-batched online scoring (scoring.online v3)', () => {
  it('exact mode: batched answers equal unbatched ones and the plaintext score', async () => {
    const ids = applicants.map((a) => a.id);
    const single = await run(
      'exact',
      ids.map((id) => items([id])),
    );
    const batched = await run('exact', chunks(items(ids), 8));
    const flat = batched.results.flat();
    expect(flat.length).toBe(ids.length);
    applicants.forEach((a, i) => {
      const b = flat[i]!;
      const s = single.results[i]![0]!;
      if (!b.ok || !s.ok) throw new Error('unexpected refusal');
      expect(b.score.applicant).toBe(a.id);
      expect(Math.abs(b.score.score! - scoreApplicant(card, a.values))).toBeLessThan(1e-4);
      expect(Math.abs(b.score.score! - s.score.score!)).toBeLessThan(2e-4);
    });
    // 3 rounds carried 24 applicants: the government counts applicants, the wire carries rounds
    expect(batched.served).toEqual({ requests: ids.length, notFound: 0, refused: 0 });
    expect(batched.network.receivedBy('bank').length).toBe(3);
  });

  it('band mode: batched bands equal unbatched ones and the plaintext band; rho fresh per applicant', async () => {
    const ids = applicants.map((a) => a.id);
    const single = await run(
      'band',
      ids.map((id) => items([id])),
    );
    const batched = await run('band', chunks(items(ids), 8));
    const t = bandThresholds(r);
    const K = t.length;
    const flat = batched.results.flat();
    applicants.forEach((a, i) => {
      const b = flat[i]!;
      const s = single.results[i]![0]!;
      if (!b.ok || !s.ok) throw new Error('unexpected refusal');
      const score = scoreApplicant(card, a.values);
      expect(t.every((x) => Math.abs(score - x) > 1e-3)).toBe(true);
      expect(b.score.thresholdIndex).toBe(s.score.thresholdIndex);
      expect(bandFromThresholdIndex(r.bands.length, K, b.score.thresholdIndex!)).toBe(bandIndexOf(r, score));
    });
    // Each slot is rho (s_i - t_k) with its own rho in [1, 2^6]: no two slots of a round share one.
    batched.decrypted.forEach((plain, round) => {
      const rhos: number[] = [];
      chunks(applicants, 8)[round]!.forEach((a, i) => {
        const score = scoreApplicant(card, a.values);
        t.forEach((x, k) => {
          const rho = plain![i * K + k]! / (score - x);
          expect(rho).toBeGreaterThan(1 - 1e-3);
          expect(rho).toBeLessThan(2 ** DEFAULT_RHO_BITS + 1e-3);
          rhos.push(rho);
        });
      });
      expect(new Set(rhos.map((x) => x.toFixed(3))).size).toBe(rhos.length);
    });
  });

  it('a refused applicant gets its typed refusal while the others in its round are scored; admission and lookup once per applicant', async () => {
    const admitted = new Map<string, number>();
    const looked = new Map<string, number>();
    const refusedAudit: string[] = [];
    const ids = ['E0', 'E1', 'E2', 'E3', 'UNKNOWN', 'E5', 'E6', 'E1'];
    const { results, served, decrypted } = await run('exact', [items(ids)], {
      admit: (id): OnlineAdmission => {
        const n = (admitted.get(id) ?? 0) + 1;
        admitted.set(id, n);
        if (id === 'E2') return 'quota_exceeded';
        // E1's second request in the same round is the one over its rate: counted per applicant request
        if (id === 'E1' && n > 1) return 'rate_limited';
        return undefined;
      },
      onRefusal: (id, code) => {
        refusedAudit.push(`${id}:${code}`);
      },
      partialScoreOf: (id): number | OnlineLookupRefusal | undefined => {
        looked.set(id, (looked.get(id) ?? 0) + 1);
        if (id === 'E5') return 'consent_missing';
        return govPartial(id);
      },
    });
    const out = results[0]!;
    const code = (o: OnlineBatchOutcome) =>
      o.ok ? (o.score.found ? 'scored' : 'no_record') : isFedscoreError(o.error) ? o.error.code : 'x';
    expect(out.map(code)).toEqual([
      'scored',
      'scored',
      'quota_exceeded',
      'scored',
      'no_record',
      'consent_missing',
      'scored',
      'rate_limited',
    ]);
    for (const i of [0, 1, 3, 6]) {
      const o = out[i]!;
      if (!o.ok) throw new Error('refused');
      expect(Math.abs(o.score.score! - scoreApplicant(card, byId.get(ids[i]!)!))).toBeLessThan(1e-4);
    }
    // exactly once per applicant request: E1 twice (two requests), every other id once
    expect(Object.fromEntries(admitted)).toEqual({
      E0: 1,
      E1: 2,
      E2: 1,
      E3: 1,
      UNKNOWN: 1,
      E5: 1,
      E6: 1,
    });
    // the lookup only after admission: never for E2 or E1's refused second request
    expect(Object.fromEntries(looked)).toEqual({ E0: 1, E1: 1, E3: 1, UNKNOWN: 1, E5: 1, E6: 1 });
    expect(refusedAudit).toEqual(['E2:quota_exceeded', 'E1:rate_limited']);
    expect(served).toEqual({ requests: 8, notFound: 1, refused: 3 });
    // a refused or unknown applicant's slot holds flooding noise only: not its bank partial, not s_gov
    for (const i of [2, 4, 5, 7]) expect(Math.abs(decrypted[0]![i]!)).toBeLessThan(1e-4);
    for (const i of [2, 5, 7]) expect(Math.abs(bankPartial(ids[i]!))).toBeGreaterThan(1e-2);
  });

  it('a round where nobody is scored carries no ciphertext back', async () => {
    const { results, decrypted } = await run('band', [items(['E0', 'E1'])], {
      admit: () => 'quota_exceeded',
    });
    expect(results[0]!.every((o) => !o.ok && isFedscoreError(o.error, 'quota_exceeded'))).toBe(true);
    expect(decrypted).toEqual([undefined]);
  });

  it("capture: applicant A's decrypted slots carry A's result only, whatever B's planted values", async () => {
    // Planted: B's government partial takes two far-apart values, and B's bank partial too; A is fixed.
    const A = 'E0';
    const sA = scoreApplicant(card, byId.get(A)!);
    const plants = [
      { gov: 1234.5678, bank: -777.25 },
      { gov: -3210.125, bank: 2468.5 },
    ];
    const slotsOfA: number[] = [];
    for (const p of plants) {
      const { results, decrypted, slotCount } = await run(
        'exact',
        [
          [
            { applicant: A, bankPartial: bankPartial(A) },
            { applicant: 'B', bankPartial: p.bank },
          ],
        ],
        { partialScoreOf: (id) => (id === 'B' ? p.gov : govPartial(id)) },
      );
      const a = results[0]![0]!;
      const b = results[0]![1]!;
      if (!a.ok || !b.ok) throw new Error('refused');
      expect(Math.abs(b.score.score! - (p.gov + p.bank))).toBeLessThan(1e-4);
      const plain = decrypted[0]!;
      expect(plain.length).toBe(slotCount);
      // A's block: A's joint score within the flooding noise, nothing of B's planted values
      expect(Math.abs(plain[0]! - sA)).toBeLessThan(1e-4);
      slotsOfA.push(plain[0]!);
      for (const planted of [p.gov, p.bank, p.gov + p.bank]) {
        expect(Math.abs(plain[0]! - planted)).toBeGreaterThan(1);
        expect(Math.abs(plain[0]! - sA - planted)).toBeGreaterThan(1);
      }
      // every slot past the round's blocks decrypts to ~0: no copy or sum of a planted value anywhere
      for (let j = 2; j < slotCount; j++) expect(Math.abs(plain[j]!)).toBeLessThan(1e-4);
    }
    // A's slot moved by the flooding noise only (sd 2^-20) while B's values moved by thousands
    expect(Math.abs(slotsOfA[0]! - slotsOfA[1]!)).toBeLessThan(2e-4);
  });
});
