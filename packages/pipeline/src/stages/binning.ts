/**
 * Stage `binning`, one function per role: the guest bins its own columns locally (WOE/IV); each host
 * its columns' bin sums under the guest's encrypted labels (packages/vfl WOE binning). The guest selects
 * by IV (keeping at least the best feature of every party) and sends each host the names it keeps
 * (`selected-features`): names only.
 */
import { FedscoreError, selectRows } from '@fedscore/core';
import {
  type IvScore,
  runWoeBinningGuest,
  runWoeBinningHost,
  selectByIv,
  WOE_BINNING_PROTOCOL,
  WOE_BINNING_VERSION,
  woeBinningLocal,
} from '@fedscore/vfl';
import type { BinningCheckpoint, PsiCheckpoint } from '../checkpoints.ts';
import { heOptIns, requireLabels, type StageContext, stageSession } from '../context.ts';
import { NODE_PROTOCOL_VERSION, SELECT_PROTOCOL, SELECTED_FEATURES } from '../messages.ts';
import { trainPositions } from './rows.ts';
import { taskPrefix } from './train.ts';

export async function binningGuest(ctx: StageContext): Promise<BinningCheckpoint> {
  const table = await ctx.table();
  const labels = requireLabels(table, ctx);
  const psi = ctx.store.checkpoint<PsiCheckpoint>('psi');
  const rows = trainPositions(psi).map((p) => psi.rows[p]!);
  const y = Float64Array.from(rows, (r) => labels[r]!);
  const b = ctx.spec.binning;
  const local = woeBinningLocal(ctx.party, selectRows(table, rows).columns, y, {
    method: b.method,
    bins: b.bins,
  });
  const scores: IvScore[] = local.map((l) => ({ party: ctx.party, name: l.model.name, iv: l.table.iv }));
  for (const host of ctx.spec.hosts) {
    const r = await runWoeBinningGuest(
      stageSession(ctx, WOE_BINNING_PROTOCOL, WOE_BINNING_VERSION, `woe-${host}`),
      host,
      {
        labels: y,
        scheme: b.scheme,
        ...heOptIns(ctx.spec, ctx.he),
        logger: ctx.logger,
        progress: ctx.progress,
      },
    );
    for (const f of r.features) scores.push({ party: host, name: f.name, iv: f.table.iv });
  }
  const lineage = selectByIv(scores, { minIv: b.minIv });
  const selectedOf = (party: string): string[] => {
    const own = lineage.selected.filter((s) => s.party === party).map((s) => s.name);
    if (own.length > 0) return own;
    // A party with no feature above the threshold keeps its best one: hetero-LR needs a column per party.
    const best = scores.filter((s) => s.party === party).sort((a, c) => c.iv - a.iv)[0];
    return best === undefined ? [] : [best.name];
  };
  for (const host of ctx.spec.hosts) {
    const s = stageSession(ctx, SELECT_PROTOCOL, NODE_PROTOCOL_VERSION, `select-${host}`);
    await s.send(host, SELECTED_FEATURES, selectedOf(host));
  }
  return { selected: selectedOf(ctx.party), lineage };
}

export async function binningHost(ctx: StageContext): Promise<BinningCheckpoint> {
  const table = await ctx.table();
  const psi = ctx.store.checkpoint<PsiCheckpoint>('psi');
  const rows = trainPositions(psi).map((p) => psi.rows[p]!);
  const b = ctx.spec.binning;
  await runWoeBinningHost(
    stageSession(ctx, WOE_BINNING_PROTOCOL, WOE_BINNING_VERSION, `woe-${ctx.party}`),
    ctx.spec.guest,
    {
      columns: selectRows(table, rows).columns,
      binning: { method: b.method, bins: b.bins },
      allowSchemes: heOptIns(ctx.spec, ctx.he).allowPlaintextScheme
        ? ['ckks', 'paillier', 'none']
        : ['ckks', 'paillier'],
      ...heOptIns(ctx.spec, ctx.he),
      // A node's queue: this job's bin sums as tasks, their ids prefixed with the job and party.
      ...(ctx.binSumOffload !== undefined && {
        offload: { ...ctx.binSumOffload, taskIdPrefix: taskPrefix(`${ctx.spec.id}.${ctx.party}.woe`) },
      }),
      logger: ctx.logger,
      progress: ctx.progress,
    },
  );
  const s = stageSession(ctx, SELECT_PROTOCOL, NODE_PROTOCOL_VERSION, `select-${ctx.party}`);
  const selected = await s.receive(ctx.spec.guest, SELECTED_FEATURES);
  const names = new Set(table.columns.map((c) => c.name));
  for (const n of selected) {
    if (!names.has(n)) {
      throw new FedscoreError('protocol_step', 'the guest selected a feature this party does not have', {
        field: 'selected-features',
      });
    }
  }
  return { selected };
}
