/**
 * Message capture of a whole job (docs/protocols/node-job.md): every stage of the hetero-LR pipeline
 * (PSI, WOE binning and hetero-LR under CKKS, the node protocols), each party's role function over the
 * in-memory network with the real wire codec, every delivered message kept. A known secret is planted
 * -- the guest's labels, and one known value in a guest column and in a host column -- and every
 * captured byte is searched for it in each encoding a leak could plausibly use (`@fedscore/core/testing`'s
 * needles: float64 both byte orders, float32, int32 and one byte per value for label sequences at any
 * stride, packed bits both bit orders, decimal text). A positive control
 * shows the same search finds each needle planted in noise. The steps of the node protocols each party
 * receives are checked against the document's table.
 */
import { type CapturedMessage, seededRng } from '@fedscore/core';
import { labelNeedles, needlesFound, pointNeedles } from '@fedscore/core/testing';
import {
  HETERO_LR_PIPELINE,
  type JobPlan,
  memoryStore,
  type PsiCheckpoint,
  planStages,
  runStageInProcess,
  trainPositions,
} from '@fedscore/pipeline';
import { describe, expect, it } from 'vitest';
import { population } from './population.ts';

const GUEST_VALUE = 7351.0625;
const HOST_VALUE = 9183.8125;

const PLAN: JobPlan = {
  id: 'job-capture',
  guest: 'bank',
  hosts: ['government'],
  arbiter: 'arbiter',
  seed: 9,
  testFraction: 0.3,
  binning: { enabled: true, method: 'quantile', bins: 4, minIv: 0, scheme: 'ckks' },
  train: { scheme: 'ckks', maxEpochs: 1, batchSize: 256 },
  consent: { purpose: 'training' },
};

describe('node job: every captured byte of a whole job', () => {
  it('holds no guest label and no planted feature value; each party receives the steps of the table', async () => {
    const pop = population(1200, 21, { guest: GUEST_VALUE, host: HOST_VALUE });
    const parties = [
      { id: 'bank', table: pop.guest, store: memoryStore() },
      { id: 'government', table: pop.host, store: memoryStore() },
      { id: 'arbiter', store: memoryStore() },
    ];
    const captured: CapturedMessage[] = [];
    for (const stage of planStages(HETERO_LR_PIPELINE, PLAN)) {
      await runStageInProcess(stage, { plan: PLAN, parties, onMessage: (m) => captured.push(m) });
    }
    const psi = parties[0]!.store.checkpoint<PsiCheckpoint>('psi');
    const labels = psi.rows.map((r) => pop.guest.label![r]!);
    const train = trainPositions(psi).map((p) => labels[p]!);
    const test = psi.test.map((p) => labels[p]!);
    const needles = [
      ...labelNeedles('aligned labels', labels.slice(0, 48)),
      ...labelNeedles('training labels', train.slice(0, 48)),
      ...labelNeedles('test labels', test.slice(0, 48)),
      ...pointNeedles('guest value', GUEST_VALUE),
      ...pointNeedles('host value', HOST_VALUE),
    ];
    expect(captured.length).toBeGreaterThan(20);
    const bytes = captured.flatMap((m) => [m.bytes, m.payload]);
    expect(needlesFound(needles, bytes)).toEqual([]);

    // Positive control: every needle is found when planted in noise.
    const rng = seededRng('node-job/control');
    for (const n of needles) {
      const noise = Uint8Array.from({ length: 4096 }, () => rng.nextUint32() & 0xff);
      noise.set(n.sample, 1234);
      expect(needlesFound([n], [noise])).toEqual([n.name]);
    }

    // The node protocols' steps each party receives, as the table says.
    const steps = (party: string) =>
      [
        ...new Set(
          captured.filter((m) => m.to === party && m.protocol.startsWith('node.')).map((m) => m.step),
        ),
      ].sort();
    expect(steps('bank')).toEqual(['consent-summary', 'partial-scores']);
    expect(steps('government')).toEqual([
      'aligned-positions',
      'joint-model',
      'selected-features',
      'test-positions',
    ]);
    expect(steps('arbiter')).toEqual([]);
  }, 600_000);
});
