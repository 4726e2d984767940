/**
 * Stage `evaluate`: each host sends its partial linear predictor x_h . w_h on the held-out rows
 * (`partial-scores`, as FATE's hetero-LR prediction does); the guest adds its own and computes AUC and
 * KS. A host learns nothing here; the guest learns the hosts' summed partial scores on held-out rows --
 * what joint scoring gives it anyway.
 */
import { auc, FedscoreError, ks } from '@fedscore/core';
import { partyPartialScores } from '@fedscore/vfl';
import type { EvaluateCheckpoint, PsiCheckpoint, TrainCheckpoint } from '../checkpoints.ts';
import { requireLabels, type StageContext, stageSession } from '../context.ts';
import { EVALUATE_PROTOCOL, NODE_PROTOCOL_VERSION, PARTIAL_SCORES } from '../messages.ts';
import { partyFeatures, selectedFeatures } from './rows.ts';

async function partialOnTest(ctx: StageContext): Promise<Float64Array> {
  const table = await ctx.table();
  const psi = ctx.store.checkpoint<PsiCheckpoint>('psi');
  const model = ctx.store.checkpoint<TrainCheckpoint>('train').model;
  if (model === undefined)
    throw new FedscoreError('job_state', 'no model in the train checkpoint', { field: 'train' });
  const rows = psi.test.map((p) => psi.rows[p]!);
  const f = partyFeatures(table, rows, selectedFeatures(ctx, table));
  return partyPartialScores(model, f.columns);
}

export async function evaluateGuest(ctx: StageContext): Promise<EvaluateCheckpoint> {
  const table = await ctx.table();
  const labels = requireLabels(table, ctx);
  const psi = ctx.store.checkpoint<PsiCheckpoint>('psi');
  const z = await partialOnTest(ctx);
  for (const host of ctx.spec.hosts) {
    const s = stageSession(ctx, EVALUATE_PROTOCOL, NODE_PROTOCOL_VERSION, `scores-${host}`);
    const part = await s.receive(host, PARTIAL_SCORES);
    if (part.length !== z.length) {
      throw new FedscoreError('protocol_step', `${host} sent ${part.length} scores for ${z.length} rows`, {
        field: 'partial-scores',
      });
    }
    for (let i = 0; i < z.length; i++) z[i]! += part[i]!;
  }
  const y = Float64Array.from(psi.test, (p) => labels[psi.rows[p]!]!);
  return { testRows: z.length, auc: auc(y, z), ks: ks(y, z).ks };
}

export async function evaluateHost(ctx: StageContext): Promise<EvaluateCheckpoint> {
  const z = await partialOnTest(ctx);
  const s = stageSession(ctx, EVALUATE_PROTOCOL, NODE_PROTOCOL_VERSION, `scores-${ctx.party}`);
  await s.send(ctx.spec.guest, PARTIAL_SCORES, z);
  return { testRows: z.length };
}
