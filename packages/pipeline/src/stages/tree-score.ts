/**
 * A portfolio scoring job with a SecureBoost model (kind `secureboost-score`): the consented,
 * PSI-aligned enterprises of the guest's portfolio scored by `scoring.tree`'s private path
 * (@fedscore/scoring tree.ts, `TreeScoringGuest` / `TreeScoringHost`), each party evaluating only its
 * own splits, with one or several hosts (up to `TREE_MAX_HOSTS`).
 *
 *   psi       the align stage (stages/align.ts) without labels or hold-out: each host's consent check
 *             (the job's purpose, `scoring`), PSI, the rows in every host's intersection in the guest's
 *             file order
 *   evaluate  `scoring.tree` over those rows: the guest sends the layout, its public context and its
 *             reachable-leaf weights Enc(w a) to host 1; host j multiplies in its own 0/1 leaf mask and
 *             passes the ciphertext to host j + 1 (the chain of docs/protocols/tree-scoring.md,
 *             "Several hosts"; the step from one host to the next goes host to host inside the job's
 *             stage attempt, never through the guest, which holds the key); the last host sums per
 *             applicant, selects the block starts and floods. The guest decrypts each score + noise
 *   publish   the guest writes `scores.csv` (id, log-odds, P(default), points; with credit rules the
 *             band and the line) to the job's artifacts; hosts write nothing
 *
 * Who learns what (docs/protocols/tree-scoring.md, "Portfolio scoring job"): the guest, each aligned
 * enterprise's score + N(0, sd^2) (sd = `treeFloodingStdDev(groups)`), never a host split outcome or
 * threshold; host j, the aligned set (PSI), the counts of the layout and the leaf slots under each of
 * its own splits, its neighbours in the chain, and ciphertexts under the guest's key only. Semi-honest
 * parties, no collusion (the guest and host j + 1 together would read host j's outcomes).
 * Paper: Cheng et al. 2019 (SecureBoost, section 5), Chen et al. 2021 (EINI); flooding after Li,
 * Micciancio, Schultz & Sorrell (CRYPTO 2022).
 */
import { FedscoreError } from '@fedscore/core';
import {
  type CreditRules,
  hostRecordUsable,
  TREE_SCORING_PROTOCOL,
  TREE_SCORING_VERSION,
  TreeScoringGuest,
  TreeScoringHost,
  treeScores,
} from '@fedscore/scoring';
import {
  applyBins,
  type PartyFeatures,
  parseGuestModel,
  parseHostModel,
  type SecureBoostHostModel,
} from '@fedscore/vfl';
import type { PsiCheckpoint } from '../checkpoints.ts';
import { type PartyRole, type StageContext, stageSession } from '../context.ts';
import { NODE_PROTOCOL_VERSION, PUBLISH_PROTOCOL } from '../messages.ts';
import type { StageDef } from '../stage-def.ts';
import { partyFeatures } from './rows.ts';
import { TREE_SCORE_KIND } from './tree-score-kind.ts';

export { TREE_SCORE_KIND };

/** What the `evaluate` stage of a scoring job checkpoints. */
export interface TreeScoreCheckpoint {
  /** Aligned enterprises scored. */
  readonly rows: number;
  /** The guest only: each aligned row's score (log-odds, flooded), in the psi checkpoint's order. */
  readonly margins?: number[];
  /** The flooding sd of the scores (log-odds). */
  readonly floodingStdDev?: number;
  /** The model id scored with (every party's part carries it). */
  readonly modelId: string;
}

/** What the `publish` stage of a scoring job returns. */
export interface TreeScorePublishOutcome {
  readonly files: string[];
  readonly rows: number;
  /** Rows per rating band (guest, with credit rules). */
  readonly bands?: Readonly<Record<string, number>>;
}

function modelText(ctx: StageContext): string {
  if (ctx.scoringModel === undefined) {
    throw new FedscoreError('invalid_config', 'a scoring job needs the model this party holds', {
      field: 'scoring.modelId',
    });
  }
  return ctx.scoringModel();
}

/** Stage `evaluate` of a scoring job: the private-path tree scoring of the aligned rows. */
export async function treeScoreStage(ctx: StageContext, role: PartyRole): Promise<TreeScoreCheckpoint> {
  const psi = ctx.store.checkpoint<PsiCheckpoint>('psi');
  const table = await ctx.table();
  const session = stageSession(ctx, TREE_SCORING_PROTOCOL, TREE_SCORING_VERSION, 'tree');
  if (role === 'guest') {
    const model = parseGuestModel(modelText(ctx));
    const hosts = ctx.spec.hosts;
    if (hosts.length !== model.hosts.length || hosts.some((h, j) => model.hosts[j] !== h)) {
      throw new FedscoreError(
        'invalid_argument',
        `the job's hosts must be the model's hosts in its order (${model.hosts.join(', ')})`,
        { field: 'hosts' },
      );
    }
    const features = model.bins.length === 0 ? undefined : partyFeatures(table, psi.rows, model.features);
    const r = await new TreeScoringGuest({
      session,
      hosts,
      model,
      rows: psi.rows.length,
      ...(features !== undefined && { features }),
      logger: ctx.logger,
    }).run();
    ctx.logger.info('tree scoring done', { rows: psi.rows.length, hosts: hosts.length });
    return {
      rows: psi.rows.length,
      margins: Array.from(r.margins),
      floodingStdDev: r.floodingStdDev,
      modelId: model.modelId,
    };
  }
  if (role !== 'host') {
    throw new FedscoreError('invalid_argument', 'a scoring job has no arbiter', { field: 'arbiter' });
  }
  const model = parseHostModel(modelText(ctx));
  const features = partyFeatures(table, psi.rows, model.features);
  checkUsable(ctx, model, features);
  const r = await new TreeScoringHost({
    session,
    guest: ctx.spec.guest,
    model,
    features,
    logger: ctx.logger,
  }).run();
  return { rows: r.records, modelId: model.modelId };
}

/**
 * A host's aligned records must all be placeable by its bins (the private path scores the aligned rows
 * together: one row it cannot place fails the run). Otherwise an `unusable_record` error with their
 * count, naming no feature and no value (the binning's own error would name the host's feature, and a
 * job's failure reaches the guest).
 */
function checkUsable(ctx: StageContext, model: SecureBoostHostModel, features: PartyFeatures): void {
  try {
    applyBins(features, model.bins);
    return;
  } catch {
    // Count the rows below.
  }
  const rows = features.columns[0]?.length ?? 0;
  let unusable = 0;
  for (let i = 0; i < rows; i++) {
    if (
      !hostRecordUsable(
        model,
        Float64Array.from(features.columns, (c) => c[i]!),
      )
    )
      unusable++;
  }
  throw new FedscoreError(
    'unusable_record',
    `${unusable} aligned record(s) hold a value this host's model cannot place (missing where training had none)`,
    { field: `data.${ctx.party}` },
  );
}

/** Stage `publish` of a scoring job: the guest's scores file. */
export async function treeScorePublishStage(
  ctx: StageContext,
  role: PartyRole,
): Promise<TreeScorePublishOutcome> {
  const ev = ctx.store.checkpoint<TreeScoreCheckpoint>('evaluate');
  if (role !== 'guest') return { files: [], rows: ev.rows };
  const psi = ctx.store.checkpoint<PsiCheckpoint>('psi');
  const table = await ctx.table();
  const ids = psi.rows.map((r) => table.ids[r]!);
  const margins = Float64Array.from(ev.margins ?? []);
  if (margins.length !== ids.length) {
    throw new FedscoreError('checkpoint', 'the evaluate checkpoint does not match the aligned rows', {
      field: 'evaluate.margins',
    });
  }
  const rules: CreditRules | undefined = ctx.creditRules;
  const figures: Record<string, Float64Array> = {};
  if (rules !== undefined) {
    for (const c of table.columns) {
      if (c.kind === 'numeric') figures[c.name] = Float64Array.from(psi.rows, (r) => c.values[r]!);
    }
  }
  const s = treeScores(margins, {
    ids,
    ...(rules !== undefined && { rules, figures }),
  });
  const header = ['id', 'log_odds', 'pd', 'score', ...(s.lines !== undefined ? ['band', 'line'] : [])];
  const out = [header.join(',')];
  const bands: Record<string, number> = {};
  ids.forEach((id, i) => {
    const row = [id, margins[i]!.toPrecision(8), s.pd[i]!.toPrecision(8), s.scores[i]!.toFixed(2)];
    const line = s.lines?.[i];
    if (line !== undefined) {
      const band = line.band ?? '';
      row.push(band, String(line.line));
      bands[band] = (bands[band] ?? 0) + 1;
    }
    out.push(row.join(','));
  });
  const file = ctx.store.writeArtifact('scores.csv', `${out.join('\n')}\n`);
  return { files: [file], rows: ids.length, ...(s.lines !== undefined && { bands }) };
}

/** Stage `evaluate` of a scoring job. */
export const TREE_SCORE_STAGE: StageDef = {
  name: 'evaluate',
  protocols: { [TREE_SCORING_PROTOCOL]: TREE_SCORING_VERSION },
  roles: {
    guest: (ctx) => treeScoreStage(ctx, 'guest'),
    host: (ctx) => treeScoreStage(ctx, 'host'),
  },
};

/** Stage `publish` of a scoring job (no message: each party writes its own outputs). */
export const TREE_SCORE_PUBLISH_STAGE: StageDef = {
  name: 'publish',
  protocols: { [PUBLISH_PROTOCOL]: NODE_PROTOCOL_VERSION },
  roles: {
    guest: (ctx) => treeScorePublishStage(ctx, 'guest'),
    host: (ctx) => treeScorePublishStage(ctx, 'host'),
  },
};
