/**
 * Stage `evaluate`: each host sends its partial linear predictor x_h . w_h on the held-out rows
 * (`partial-scores`, as FATE's hetero-LR prediction does); the guest adds its own and computes AUC and
 * KS. A host learns nothing here; the guest learns the hosts' summed partial scores on held-out rows --
 * what joint scoring gives it anyway. With the plan's `inProcess.evaluateTrain` (the CLI), the same
 * again on the training rows, in sessions of their own. A job without a hold-out (`testFraction: 0`: the
 * psi checkpoint holds no test row) scores the training rows once, in the test pass's sessions, and
 * records the result as `inSample` only (never as the test AUC).
 */
import { auc, FedscoreError, ks } from '@fedscore/core';
import { minReleasedBinRows, partyPartialScores } from '@fedscore/vfl';
import type { EvaluateCheckpoint, PsiCheckpoint, TrainCheckpoint } from '../checkpoints.ts';
import { requireLabels, type StageContext, stageSession } from '../context.ts';
import { type EvaluationCurves, evaluationCurves } from '../evaluation-curves.ts';
import { EVALUATE_PROTOCOL, NODE_PROTOCOL_VERSION, PARTIAL_SCORES } from '../messages.ts';
import { partyFeatures, selectedFeatures, trainPositions } from './rows.ts';

type Pass = 'test' | 'train';

/** No hold-out (`testFraction: 0`): the test pass scores the training rows, in-sample. */
function inSample(psi: PsiCheckpoint): boolean {
  return psi.test.length === 0;
}

/** The aligned positions a pass scores. */
function positionsOf(psi: PsiCheckpoint, pass: Pass): number[] {
  return pass === 'test' && !inSample(psi) ? psi.test : trainPositions(psi);
}

/** Session name of a host's scores: the test pass keeps the node's name. */
function sessionName(pass: Pass, host: string): string {
  return pass === 'test' ? `scores-${host}` : `train-scores-${host}`;
}

function passes(ctx: StageContext, psi: PsiCheckpoint): Pass[] {
  return ctx.spec.inProcess?.evaluateTrain === true && !inSample(psi) ? ['test', 'train'] : ['test'];
}

async function partialOn(ctx: StageContext, pass: Pass): Promise<Float64Array> {
  const table = await ctx.table();
  const psi = ctx.store.checkpoint<PsiCheckpoint>('psi');
  const model = ctx.store.checkpoint<TrainCheckpoint>('train').model;
  if (model === undefined)
    throw new FedscoreError('job_state', 'no model in the train checkpoint', { field: 'train' });
  const rows = positionsOf(psi, pass).map((p) => psi.rows[p]!);
  const f = partyFeatures(table, rows, selectedFeatures(ctx, table));
  return partyPartialScores(model, f.columns);
}

async function scoreGuest(
  ctx: StageContext,
  pass: Pass,
): Promise<{ rows: number; auc: number; ks: number; curves?: EvaluationCurves }> {
  const table = await ctx.table();
  const labels = requireLabels(table, ctx);
  const psi = ctx.store.checkpoint<PsiCheckpoint>('psi');
  const z = await partialOn(ctx, pass);
  for (const host of ctx.spec.hosts) {
    const s = stageSession(ctx, EVALUATE_PROTOCOL, NODE_PROTOCOL_VERSION, sessionName(pass, host));
    const part = await s.receive(host, PARTIAL_SCORES);
    if (part.length !== z.length) {
      throw new FedscoreError('protocol_step', `${host} sent ${part.length} scores for ${z.length} rows`, {
        field: 'partial-scores',
      });
    }
    for (let i = 0; i < z.length; i++) z[i]! += part[i]!;
  }
  const y = Float64Array.from(positionsOf(psi, pass), (p) => labels[psi.rows[p]!]!);
  const out = { rows: z.length, auc: auc(y, z), ks: ks(y, z).ks };
  // The test set's curves as groups of >= the release floor of rows; a test set too small for two
  // groups draws no curve, and in-sample scores draw none.
  if (pass !== 'test' || inSample(psi) || z.length < 2 * minReleasedBinRows(z.length)) return out;
  return { ...out, curves: evaluationCurves(y, z) };
}

export async function evaluateGuest(ctx: StageContext): Promise<EvaluateCheckpoint> {
  const psi = ctx.store.checkpoint<PsiCheckpoint>('psi');
  const test = await scoreGuest(ctx, 'test');
  if (inSample(psi)) return { testRows: 0, inSample: { rows: test.rows, auc: test.auc, ks: test.ks } };
  const out: EvaluateCheckpoint = {
    testRows: test.rows,
    auc: test.auc,
    ks: test.ks,
    ...(test.curves !== undefined && { curves: test.curves }),
  };
  if (!passes(ctx, psi).includes('train')) return out;
  return { ...out, train: await scoreGuest(ctx, 'train') };
}

export async function evaluateHost(ctx: StageContext): Promise<EvaluateCheckpoint> {
  const psi = ctx.store.checkpoint<PsiCheckpoint>('psi');
  let testRows = 0;
  let trainRows: number | undefined;
  for (const pass of passes(ctx, psi)) {
    const z = await partialOn(ctx, pass);
    const s = stageSession(ctx, EVALUATE_PROTOCOL, NODE_PROTOCOL_VERSION, sessionName(pass, ctx.party));
    await s.send(ctx.spec.guest, PARTIAL_SCORES, z);
    if (pass === 'test') testRows = z.length;
    else trainRows = z.length;
  }
  if (inSample(psi)) return { testRows: 0, inSample: { rows: testRows } };
  return { testRows, ...(trainRows !== undefined && { train: { rows: trainRows } }) };
}
