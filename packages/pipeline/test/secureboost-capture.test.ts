/**
 * Message capture of a whole `secureboost` job (docs/protocols/secureboost.md, "As a pipeline and a
 * job"; docs/protocols/node-job.md): psi, SecureBoost training under CKKS, federated evaluation and
 * publish, each party's role function over the in-memory network with the real wire codec, every
 * delivered message kept. Known secrets are planted or taken from the run -- the guest's labels, one
 * known value in a guest column and in a host column, the guest's scores of the held-out rows (which no
 * host may learn), the gains of the guest's trees (kept by the guest: a host's importance has none), and
 * the host's bin edges (which never leave the host) -- and every captured byte is searched for each in
 * the encodings a leak could plausibly use (`@fedscore/core/testing`'s needles: float64 both byte orders, float32, int32 and one byte per
 * value for label sequences at any stride, packed bits both bit orders, decimal text). A positive control shows the same search finds each
 * needle planted in noise. The node-protocol steps each party receives are checked against the table.
 */
import { type CapturedMessage, featureColumns, seededRng } from '@fedscore/core';
import { labelNeedles, needlesFound, pointNeedles } from '@fedscore/core/testing';
import {
  type JobPlan,
  memoryStore,
  type PsiCheckpoint,
  planStages,
  runStageInProcess,
  SECUREBOOST_PIPELINE,
  type SecureBoostTrainCheckpoint,
  trainPositions,
} from '@fedscore/pipeline';
import { parseGuestModel, parseHostModel, predictSecureBoost } from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { population } from './population.ts';

const GUEST_VALUE = 7351.0625;
const HOST_VALUE = 9183.8125;

const PLAN: JobPlan = {
  id: 'job-sbt-capture',
  kind: 'secureboost',
  guest: 'bank',
  hosts: ['government'],
  seed: 9,
  testFraction: 0.3,
  binning: { enabled: false, method: 'quantile', bins: 10, minIv: 0, scheme: 'ckks' },
  train: { scheme: 'ckks', maxEpochs: 1 },
  consent: { purpose: 'training' },
  secureboost: { trees: 2, depth: 2, bins: 8 },
};

describe('secureboost job: every captured byte of a whole job under CKKS', () => {
  it('holds no label, planted value, held-out score, gain or host edge; each party receives the steps of the table', async () => {
    const pop = population(1200, 21, { guest: GUEST_VALUE, host: HOST_VALUE });
    const parties = [
      { id: 'bank', table: pop.guest, store: memoryStore() },
      { id: 'government', table: pop.host, store: memoryStore() },
    ];
    const captured: CapturedMessage[] = [];
    for (const stage of planStages(SECUREBOOST_PIPELINE, PLAN)) {
      await runStageInProcess(stage, { plan: PLAN, parties, onMessage: (m) => captured.push(m) });
    }
    const [bank, gov] = parties.map((p) => p.store);
    const psi = bank!.checkpoint<PsiCheckpoint>('psi');
    const labels = psi.rows.map((r) => pop.guest.label![r]!);
    const guestModel = parseGuestModel(bank!.checkpoint<SecureBoostTrainCheckpoint>('train').model);
    const hostModel = parseHostModel(gov!.checkpoint<SecureBoostTrainCheckpoint>('train').model);
    const gains = guestModel.trees.flat().flatMap((n) => (n.kind === 'leaf' ? [] : [n.gain]));
    const weights = guestModel.trees.flat().flatMap((n) => (n.kind === 'leaf' ? [n.weight] : []));
    const edges = hostModel.bins.flatMap((b) => ('edges' in b ? [...(b.edges as number[])] : []));
    // The guest's scores of the held-out rows (recomputed outside the capture): no host may learn them.
    const gPsi = gov!.checkpoint<PsiCheckpoint>('psi');
    const held = await predictSecureBoost({
      guest: {
        model: guestModel,
        features: featureColumns(
          pop.guest,
          psi.test.map((p) => psi.rows[p]!),
        ),
      },
      hosts: [
        {
          model: hostModel,
          features: featureColumns(
            pop.host,
            psi.test.map((p) => gPsi.rows[p]!),
          ),
        },
      ],
    });
    const scores = [...held.margins.slice(0, 6), ...held.scores.slice(0, 6)];
    expect(gains.length).toBeGreaterThan(0);
    expect(edges.length).toBeGreaterThan(3);
    const needles = [
      ...labelNeedles('aligned labels', labels.slice(0, 48)),
      ...labelNeedles(
        'training labels',
        trainPositions(psi)
          .map((p) => labels[p]!)
          .slice(0, 48),
      ),
      ...labelNeedles('test labels', psi.test.map((p) => labels[p]!).slice(0, 48)),
      ...pointNeedles('guest value', GUEST_VALUE),
      ...pointNeedles('host value', HOST_VALUE),
      ...gains.flatMap((g, i) => pointNeedles(`gain ${i}`, g)),
      ...scores.flatMap((z, i) => pointNeedles(`held-out score ${i}`, z)),
      ...weights.flatMap((w, i) => pointNeedles(`leaf weight ${i}`, w)),
      ...edges
        .filter((e) => Number.isFinite(e) && !Number.isInteger(e))
        .slice(0, 8)
        .flatMap((e, i) => pointNeedles(`host edge ${i}`, e)),
    ];
    expect(captured.length).toBeGreaterThan(20);
    const bytes = captured.flatMap((m) => [m.bytes, m.payload]);
    expect(needlesFound(needles, bytes)).toEqual([]);

    // Positive control: every needle is found when planted in noise.
    const rng = seededRng('secureboost-job/control');
    for (const n of needles) {
      const noise = Uint8Array.from({ length: 4096 }, () => rng.nextUint32() & 0xff);
      noise.set(n.sample, 1234);
      expect(needlesFound([n], [noise])).toEqual([n.name]);
    }

    // The steps each party receives, as the tables say.
    const steps = (party: string, prefix: string) =>
      [
        ...new Set(
          captured.filter((m) => m.to === party && m.protocol.startsWith(prefix)).map((m) => m.step),
        ),
      ].sort();
    expect(steps('bank', 'node.')).toEqual(['consent-summary']);
    expect(steps('government', 'node.')).toEqual([
      'aligned-positions',
      'secureboost-model',
      'test-positions',
    ]);
    expect(steps('bank', 'vfl.secureboost-predict')).toEqual(['predict-answer']);
    expect(steps('government', 'vfl.secureboost-predict')).toEqual(['predict-request']);
  }, 600_000);
});
