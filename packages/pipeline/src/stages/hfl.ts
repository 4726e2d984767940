/**
 * The horizontal FL model (`hfl`): FedAvg/FedProx rounds (McMahan et al. 2017; Li et al. 2020) with
 * secure aggregation (Bonawitz et al. 2017; SecAgg+, Bell et al. 2020) between a coordinator and banks
 * that hold different customers with the same columns. Roles: the guest is the coordinator (the
 * platform: it holds no training rows, only the common test set), each host is a bank (its own loan
 * book). Stages:
 *
 *   train    guest: per round, the strategy's instruction (global weights, local settings) to every
 *            sampled bank; then the secure-aggregation server over this stage's session, which yields
 *            Σ n_u · w_u and Σ n_u over the survivors only; the strategy folds the sum into new weights.
 *            host: applies its consent check to its own rows (only consenting customers train; none =
 *            a typed `consent` refusal), trains the global model on them with TensorFlow.js, and feeds
 *            [n_u · w_u, n_u] (clipped and noised first under DP) into the secure-aggregation client.
 *   evaluate guest only: the model's AUC/KS on the guest's test table.
 *   publish  guest: the model in TensorFlow.js LayersModel format (model.json + weights.bin, written
 *            through the store) and `published-model` to every bank (which already holds the final
 *            global weights) with the aggregate test metrics; each party writes it; registering it is
 *            the caller's (the node's) step.
 *
 * What each party learns: a bank, the global weights of each round it is sampled in; the coordinator,
 * the sums (and, without `secureAgg`, each bank's update: that mode is for debugging and benchmarks).
 * docs/protocols/secure-aggregation.md has the who-learns-what table. Every random value that hides
 * something (mask keys, self-mask seeds, DP noise) comes from `cryptoRng()`; the seeded generators make
 * only the initial weights, the client sampling and each bank's batch order reproducible, so the CLI's
 * in-process run and a node job on the same rows and seed train the same model.
 */
import {
  auc,
  cryptoRng,
  defineStep,
  FedscoreError,
  fitStandardizer,
  isFedscoreError,
  ks,
  normalizeUscc,
  numericMatrix,
  type PartyId,
  seededRng,
  type Table,
} from '@fedscore/core';
import {
  collectByDeadline,
  effectiveNoiseMultiplier,
  FedAvg,
  FedProx,
  type FitReply,
  fitTfjs,
  initialModelWeights,
  initTfjsBackend,
  type LocalRows,
  layersModelFiles,
  type ModelSpec,
  noiseMultiplierForEpsilon,
  predictTfjs,
  privatizeReply,
  RdpAccountant,
  runSecAggClient,
  runSecAggServer,
  SECAGG_PROTOCOL,
  SECAGG_VERSION,
  type SecAggConfig,
  type Strategy,
  saveTfjsModel,
  secAggVector,
  WEIGHTS_FILE,
} from '@fedscore/hfl';
import { float64VectorStep } from '@fedscore/wire';
import { type HflPlan, type HflSecAggStep, type StageContext, stageSession } from '../context.ts';
import type { ModelPipeline, StageDef } from '../stage-def.ts';

/** The model kind of the registry and of a node job's `kind`. */
export const HFL_MODEL = 'hfl';
/** The pipeline's round-control protocol around secure aggregation's own. */
export const HFL_PROTOCOL = 'pipeline.hfl';
export const HFL_VERSION = 1;

/** The defaults of `fedscore train fedavg` and of an `hfl` job's fields left out. */
export const HFL_DEFAULTS = {
  model: 'lr',
  rounds: 20,
  localEpochs: 1,
  learningRate: 0.1,
  batchSize: 32,
  proximalMu: 0,
  secureAgg: true,
  seed: 1,
  dpDelta: 1e-5,
  clipNorm: 1,
} as const;

/** One round's instruction to one bank (the weights follow in `global-weights` when it is sampled). */
export interface HflRoundMessage {
  readonly round: number;
  /** The banks asked in this round, in order (secure aggregation's client list). */
  readonly sampled: readonly string[];
  /** The columns every bank trains on, in order (the guest's test table's). */
  readonly columns: readonly string[];
  readonly localEpochs: number;
  readonly learningRate: number;
  readonly batchSize: number;
  readonly proximalMu: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

function checkRoundMessage(v: unknown): HflRoundMessage {
  const m = v as Partial<HflRoundMessage> | null;
  const num = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
  const strings = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === 'string');
  const field =
    m === null || typeof m !== 'object'
      ? 'round-config'
      : !num(m.round)
        ? 'round'
        : !strings(m.sampled)
          ? 'sampled'
          : !strings(m.columns)
            ? 'columns'
            : !num(m.localEpochs)
              ? 'localEpochs'
              : !num(m.learningRate)
                ? 'learningRate'
                : !num(m.batchSize)
                  ? 'batchSize'
                  : !num(m.proximalMu)
                    ? 'proximalMu'
                    : undefined;
  if (field !== undefined) {
    throw new FedscoreError('wire_decode', `round-config: a malformed ${field}`, {
      field: `round-config.${field}`,
    });
  }
  return m as HflRoundMessage;
}

export const ROUND_CONFIG = defineStep<HflRoundMessage>('round-config', {
  encode: (v) => enc.encode(JSON.stringify(v)),
  decode: (b) => {
    let value: unknown;
    try {
      value = JSON.parse(dec.decode(b));
    } catch (e) {
      throw new FedscoreError('wire_decode', 'round-config is not JSON', { field: 'round-config', cause: e });
    }
    return checkRoundMessage(value);
  },
});
export const GLOBAL_WEIGHTS = float64VectorStep('global-weights');
/** The published model to every bank (each bank already holds the final global weights). */
export const PUBLISHED_MODEL = defineStep<HflPublishOutcome['hfl']>('published-model', {
  encode: (v) => enc.encode(JSON.stringify(v)),
  decode: (b) => {
    let value: unknown;
    try {
      value = JSON.parse(dec.decode(b));
    } catch (e) {
      throw new FedscoreError('wire_decode', 'published-model is not JSON', {
        field: 'published-model',
        cause: e,
      });
    }
    const v = value as Partial<HflPublishOutcome['hfl']> | null;
    if (
      v === null ||
      typeof v !== 'object' ||
      typeof v.modelJson !== 'string' ||
      typeof v.weightsBase64 !== 'string' ||
      typeof v.algorithm !== 'string' ||
      typeof v.metrics !== 'object' ||
      typeof v.parameters !== 'object'
    ) {
      throw new FedscoreError('wire_decode', 'a malformed published model', { field: 'published-model' });
    }
    return v as HflPublishOutcome['hfl'];
  },
});
/** [n_u · w_u..., n_u] in the clear: only without secure aggregation. */
export const PLAIN_UPDATE = float64VectorStep('plain-update');

/** The guest's train checkpoint: the global weights and the rounds' record (no bank's update). */
export interface HflTrainCheckpoint {
  readonly model: 'lr' | 'mlp';
  readonly columns: readonly string[];
  readonly features: number;
  readonly weights: readonly number[];
  readonly rounds: number;
  readonly strategy: string;
  readonly backend: string;
  readonly secureAgg: boolean;
  readonly history: readonly {
    readonly round: number;
    readonly asked: readonly string[];
    readonly included: readonly string[];
    readonly dropouts: readonly string[];
    readonly seconds: number;
    /** Bytes received from each bank this round. */
    readonly bytesFrom: Readonly<Record<string, number>>;
    /**
     * Banks whose input is in the sum but that stopped answering before the round's end (they sent their
     * masked input, not their unmasking shares): in this round's sum, out of later rounds.
     */
    readonly lateDropped?: readonly string[];
    /** What the coordinator learned this round: Σ n_u · w_u and Σ n_u over `included`. */
    readonly sum?: readonly number[];
  }[];
  /**
   * Banks that dropped out of a round (missed a deadline, or could not be reached) and took no part in
   * later rounds nor in publish; in the order they dropped.
   */
  readonly dropped?: readonly string[];
  readonly privacy?: { readonly epsilon: number; readonly delta: number; readonly noiseMultiplier: number };
}

/** A bank's train checkpoint: which of its own rows trained (positions in its table; stays local). */
export interface HflHostTrainCheckpoint {
  readonly rows: readonly number[];
  readonly roundsSampled: number;
  readonly consent?: {
    readonly enforced: boolean;
    readonly consentRef?: string;
    readonly at?: number;
    readonly excludedTotal: number;
  };
}

export interface HflEvaluateCheckpoint {
  readonly auc: number;
  readonly ks: number;
  readonly testRows: number;
}

/** What publish produced on the guest: the files and what a model registry records. */
export interface HflPublishOutcome {
  readonly files: string[];
  readonly hfl: {
    /** model.json's text (LayersModel format, fedscore metadata in userDefinedMetadata). */
    readonly modelJson: string;
    /** weights.bin, base64. */
    readonly weightsBase64: string;
    readonly metrics: Readonly<Record<string, number>>;
    readonly algorithm: string;
    readonly parameters: Readonly<Record<string, string | number | boolean>>;
  };
}

/** The job's HFL settings (an `invalid_config` error naming `hfl` when the plan has none). */
export function hflPlanOf(ctx: StageContext): HflPlan {
  const p = ctx.spec.hfl;
  if (p === undefined)
    throw new FedscoreError('invalid_config', 'the job has no hfl settings', { field: 'hfl' });
  return p;
}

function strategyOf(plan: HflPlan): Strategy {
  const training = {
    localEpochs: plan.localEpochs,
    learningRate: plan.learningRate,
    learningRateDecay: plan.learningRateDecay ?? 0,
    batchSize: plan.batchSize,
  };
  return plan.proximalMu > 0
    ? new FedProx({ ...training, proximalMu: plan.proximalMu })
    : new FedAvg(training);
}

/** Model-ready rows of `table` (numeric columns as is, categorical one-hot), `columns` in order. */
export function hflRows(
  table: Table,
  columns: readonly string[] | undefined,
  field: string,
): LocalRows & {
  readonly names: string[];
} {
  if (table.label === undefined) {
    throw new FedscoreError('invalid_config', 'the dataset has no label column', { field });
  }
  let m: ReturnType<typeof numericMatrix>;
  try {
    m = numericMatrix(table, columns, { categorical: 'one-hot' });
  } catch (e) {
    throw new FedscoreError('csv_schema', "the dataset does not have the coordinator's columns", {
      field,
      cause: e,
    });
  }
  // Features enter training as they are (no standardization in HFL): a value whose column's mean or
  // variance overflows a double is refused naming the column, before it turns the local weights into NaN
  // (which would read as a diverging learning rate).
  try {
    fitStandardizer(m.data, m.nRows, m.nCols);
  } catch (e) {
    const j = (e as FedscoreError).details?.['column'];
    if (!isFedscoreError(e, 'out_of_range') || typeof j !== 'number') throw e;
    const name = m.names[j] ?? `column ${j + 1}`;
    throw new FedscoreError(
      'out_of_range',
      "value too large: the column's mean or variance overflows a double; rescale the column",
      { field: name, cause: e },
    );
  }
  return { x: m.data, y: table.label, rows: m.nRows, features: m.nCols, names: m.names };
}

function featureColumns(table: Table): string[] {
  return table.columns.map((c) => c.name);
}

function configFor(
  ctx: StageContext,
  plan: HflPlan,
  sampled: readonly string[],
  round: number,
  length: number,
) {
  const k = Math.min(plan.neighbours ?? sampled.length - 1, sampled.length - 1);
  const config: SecAggConfig = {
    clients: sampled,
    server: ctx.spec.guest,
    length,
    neighbours: k,
    threshold: Math.floor((k + 1) / 2) + 1,
    graphSeed: round,
  };
  return config;
}

/** The coordinator's side of `train`. */
export async function hflTrainGuest(ctx: StageContext): Promise<HflTrainCheckpoint> {
  const plan = hflPlanOf(ctx);
  const backend = await initTfjsBackend();
  const test = await ctx.table();
  const columns = plan.columns === undefined ? featureColumns(test) : [...plan.columns];
  const features = hflRows(test, columns, ctx.labelField ?? 'label').features;
  const spec: ModelSpec = { kind: plan.model, features };
  const strategy = strategyOf(plan);
  const hosts = [...ctx.spec.hosts];
  const sampling = seededRng(ctx.spec.seed + 2);
  let weights: Float64Array = initialModelWeights(spec, seededRng(ctx.spec.seed));
  const noiseMultiplier =
    plan.dp === undefined
      ? undefined
      : noiseMultiplierForEpsilon(plan.dp.epsilon, 1, plan.rounds, plan.dp.delta);
  const accountant = plan.dp === undefined ? undefined : new RdpAccountant();
  const control = stageSession(ctx, HFL_PROTOCOL, HFL_VERSION, 'rounds');
  const history: HflTrainCheckpoint['history'][number][] = [];
  // Banks out of the run: they dropped out of a round and take no part in later ones (nor in publish).
  const dropped: string[] = [];
  const fitDeadline = plan.fitDeadlineMs ?? plan.phaseDeadlineMs;
  let before = receivedBy(ctx, hosts);
  for (let round = 1; round <= plan.rounds; round++) {
    const t0 = performance.now();
    const live = hosts.filter((h) => !dropped.includes(h));
    const instructions = strategy.configureFit(round, weights, live, sampling);
    const ins = instructions[0]!;
    const message = (sampled: readonly string[]): HflRoundMessage => ({
      round,
      sampled,
      columns,
      localEpochs: ins.localEpochs,
      learningRate: ins.learningRate,
      batchSize: ins.batchSize,
      proximalMu: ins.proximalMu,
    });
    const asked = instructions.map((i) => i.client);
    // Each live bank gets the round's instruction, and each asked bank the global weights. With deadlines
    // a bank these cannot reach within a phase is a dropout of the round; without, an error.
    const instruct = async (h: string): Promise<true> => {
      await control.send(h, ROUND_CONFIG, message(asked));
      if (asked.includes(h)) await control.send(h, GLOBAL_WEIGHTS, weights);
      return true;
    };
    let unreachable: string[] = [];
    if (fitDeadline === undefined) {
      for (const h of live) await instruct(h);
    } else {
      const got = await collectByDeadline(live.map(instruct), plan.phaseDeadlineMs ?? fitDeadline);
      unreachable = live.filter((_, i) => got[i] !== true);
      if (unreachable.length > 0) {
        ctx.logger.warn('hfl banks unreachable: dropped out', { round, banks: unreachable.join(',') });
      }
    }
    const sampled = asked.filter((h) => !unreachable.includes(h));
    const d = weights.length;
    let included: string[];
    let lateDropped: string[] = [];
    let sum: Float64Array;
    let agg: ReturnType<Strategy['aggregateSum']>;
    if (plan.secureAgg) {
      // One bank's "sum" is its update: secure aggregation needs two banks at least.
      if (sampled.length < 2) {
        throw new FedscoreError(
          'invalid_state',
          `round ${round}: ${sampled.length} bank(s) left, secure aggregation needs 2`,
          { field: 'hfl.secureAgg' },
        );
      }
      // Every bank was told the asked list; the protocol's client list is that list (a bank unreachable
      // here is a client that never advertises its keys: a dropout of the first phase).
      const session = stageSession(ctx, SECAGG_PROTOCOL, SECAGG_VERSION, `round-${round}`);
      const r = await runSecAggServer(session, configFor(ctx, plan, asked, round, d + 1), {
        ...(plan.phaseDeadlineMs !== undefined && { phaseDeadlineMs: plan.phaseDeadlineMs }),
        ...(fitDeadline !== undefined && { firstPhaseDeadlineMs: fitDeadline }),
      });
      included = [...r.included];
      lateDropped = [...r.lateDropped];
      sum = r.sum;
      agg = strategy.aggregateSum(
        round,
        { weightedWeights: r.sum.subarray(0, d), totalExamples: r.sum[d]!, clients: included.length },
        weights,
      );
    } else {
      const got = await collectByDeadline(
        sampled.map((h) => control.receive(h, PLAIN_UPDATE)),
        fitDeadline,
      );
      const replies: FitReply[] = [];
      sum = new Float64Array(d + 1);
      sampled.forEach((h, i) => {
        const v = got[i];
        if (v === undefined) return;
        if (v.length !== d + 1 || !(v[d]! > 0)) {
          throw new FedscoreError('protocol_step', `${h}: a malformed update`, { field: 'plain-update' });
        }
        for (let j = 0; j <= d; j++) sum[j]! += v[j]!;
        replies.push({ client: h, numExamples: v[d]!, weights: v.subarray(0, d).map((x) => x / v[d]!) });
      });
      if (replies.length === 0) {
        throw new FedscoreError('timeout', `round ${round}: no bank replied in time`, {
          field: 'hfl.fitDeadlineMs',
        });
      }
      included = replies.map((r) => r.client);
      agg = strategy.aggregateFit(round, replies, weights);
    }
    weights = agg.weights;
    const dropouts = [...new Set([...asked.filter((c) => !included.includes(c)), ...unreachable])];
    for (const c of [...dropouts, ...lateDropped]) if (!dropped.includes(c)) dropped.push(c);
    if (accountant !== undefined && noiseMultiplier !== undefined) {
      accountant.step(
        asked.length / hosts.length,
        effectiveNoiseMultiplier(noiseMultiplier, included.length, asked.length),
      );
    }
    const now = receivedBy(ctx, hosts);
    const bytesFrom: Record<string, number> = {};
    for (const h of hosts) bytesFrom[h] = now[h]! - before[h]!;
    before = now;
    if (dropouts.length > 0 || lateDropped.length > 0) {
      ctx.logger.warn('hfl round completed without some banks', {
        round,
        dropouts: dropouts.join(','),
        lateDropped: lateDropped.join(','),
      });
    }
    history.push({
      round,
      asked,
      included,
      dropouts,
      seconds: (performance.now() - t0) / 1000,
      bytesFrom,
      ...(lateDropped.length > 0 && { lateDropped }),
      sum: [...sum],
    });
    ctx.progress({ stage: 'rounds', done: round, total: plan.rounds });
  }
  const spent = accountant?.spent(plan.dp!.delta);
  ctx.logger.info('hfl rounds done', { rounds: plan.rounds, backend });
  return {
    model: plan.model,
    columns,
    features,
    weights: [...weights],
    rounds: plan.rounds,
    strategy: strategy.name,
    backend,
    secureAgg: plan.secureAgg,
    history,
    ...(dropped.length > 0 && { dropped }),
    ...(spent !== undefined &&
      noiseMultiplier !== undefined && {
        privacy: { epsilon: spent.epsilon, delta: spent.delta, noiseMultiplier },
      }),
  };
}

function receivedBy(ctx: StageContext, hosts: readonly PartyId[]): Record<string, number> {
  const got = ctx.channel.stats().bytesReceived;
  return Object.fromEntries(hosts.map((h) => [h, got[h] ?? 0]));
}

/** A bank's side of `train`. */
export async function hflTrainHost(ctx: StageContext): Promise<HflHostTrainCheckpoint> {
  const plan = hflPlanOf(ctx);
  // Every log names the backend that trains (the bank's own, whatever the coordinator's).
  const backend = await initTfjsBackend();
  ctx.logger.info('hfl client ready', { party: ctx.party, backend });
  const table = await ctx.table();
  // Consent first: only this bank's consenting customers' rows train (none: the bank refuses the job).
  let rows: number[] = Array.from({ length: table.nRows }, (_, i) => i);
  let consent: HflHostTrainCheckpoint['consent'];
  if (ctx.consent === undefined) {
    consent = { enforced: false, excludedTotal: 0 };
  } else {
    const f = await ctx.consent(table.ids);
    const included = new Set(f.included);
    rows = rows.filter((i) => included.has(usccOrEmpty(table.ids[i]!)));
    consent = { enforced: true, consentRef: f.consentRef, at: f.at, excludedTotal: f.excludedTotal };
    ctx.logger.info('consent applied before hfl training', { kept: rows.length, excluded: f.excludedTotal });
    if (rows.length === 0) {
      throw new FedscoreError('consent', 'no customer of this bank has consent for this use', {
        field: 'consent',
      });
    }
  }
  const index = ctx.spec.hosts.indexOf(ctx.party);
  // The batch order of this bank (reproducible; hides nothing).
  const batchRng = seededRng(ctx.spec.seed + 1000 + index);
  const dpRng = cryptoRng();
  const control = stageSession(ctx, HFL_PROTOCOL, HFL_VERSION, 'rounds');
  const guest = ctx.spec.guest;
  let data: (LocalRows & { names: string[] }) | undefined;
  let sampledRounds = 0;
  for (let round = 1; round <= plan.rounds; round++) {
    const m = await control.receive(guest, ROUND_CONFIG);
    if (m.round !== round) {
      throw new FedscoreError('protocol_step', `expected round ${round}, got ${m.round}`, { field: 'round' });
    }
    if (!m.sampled.includes(ctx.party)) continue;
    sampledRounds++;
    data ??= subset(hflRows(table, m.columns, ctx.labelField ?? 'label'), rows);
    const global = await control.receive(guest, GLOBAL_WEIGHTS);
    const spec: ModelSpec = { kind: plan.model, features: data.features };
    let reply: FitReply = await fitTfjs(
      spec,
      {
        client: ctx.party,
        round,
        weights: global,
        localEpochs: m.localEpochs,
        learningRate: m.learningRate,
        batchSize: m.batchSize,
        proximalMu: m.proximalMu,
      },
      data,
      batchRng,
    );
    checkFiniteUpdate(reply.weights, round);
    if (plan.dp !== undefined) {
      const sigma = noiseMultiplierForEpsilon(plan.dp.epsilon, 1, plan.rounds, plan.dp.delta);
      reply = privatizeReply(
        reply,
        global,
        { clipNorm: plan.dp.clipNorm, noiseMultiplier: sigma, delta: plan.dp.delta },
        m.sampled.length,
        dpRng,
      );
    }
    const vector = secAggVector(reply);
    await ctx.onSecAggStep?.(round, 'trained');
    if (plan.secureAgg) {
      const session = stageSession(ctx, SECAGG_PROTOCOL, SECAGG_VERSION, `round-${round}`);
      await runSecAggClient(
        session,
        configFor(ctx, plan, m.sampled, round, vector.length),
        vector,
        cryptoRng(),
        {
          // A bank the server dropped gets nothing more: it gives up (typed timeout) instead of waiting
          // (the server's next message may wait for the slowest bank's training, then one phase).
          ...(plan.phaseDeadlineMs !== undefined && {
            receiveDeadlineMs: (plan.fitDeadlineMs ?? plan.phaseDeadlineMs) + 4 * plan.phaseDeadlineMs,
          }),
          ...(ctx.onSecAggStep !== undefined && {
            afterStep: (step: HflSecAggStep) => ctx.onSecAggStep!(round, step),
          }),
        },
      );
    } else {
      await control.send(guest, PLAIN_UPDATE, vector);
    }
  }
  return { rows, roundsSampled: sampledRounds, consent };
}

/**
 * A bank's local weights after its round must be finite. Gradient descent with a step too large for the
 * loss's curvature grows the weights geometrically until they overflow (Nesterov 2004, "Introductory
 * lectures on convex optimization", 1.2.3); the bank stops the run with `diverged`, the round and the
 * hint, instead of sending NaN (which the wire codec refused naming an internal message field).
 */
function checkFiniteUpdate(weights: ArrayLike<number>, round: number): void {
  for (let i = 0; i < weights.length; i++) {
    if (!Number.isFinite(weights[i]!)) {
      throw new FedscoreError(
        'diverged',
        `training diverged in round ${round}: the local weights grew beyond what the arithmetic holds; lower the learning rate, or rescale the features (HFL uses them as they are)`,
        { field: 'learningRate', details: { round } },
      );
    }
  }
}

/** The normalized USCC of `id`, or '' when it is not one (the consent check excluded it). */
function usccOrEmpty(id: string): string {
  try {
    return normalizeUscc(id);
  } catch {
    return '';
  }
}

function subset(
  d: LocalRows & { names: string[] },
  rows: readonly number[],
): LocalRows & { names: string[] } {
  if (rows.length === d.rows) return d;
  const x = new Float64Array(rows.length * d.features);
  const y = new Float64Array(rows.length);
  rows.forEach((r, k) => {
    x.set(d.x.subarray(r * d.features, (r + 1) * d.features), k * d.features);
    y[k] = d.y[r]!;
  });
  return { x, y, rows: rows.length, features: d.features, names: d.names };
}

/** The coordinator's `evaluate`: AUC and KS of the trained model on its test table. */
export async function hflEvaluateGuest(ctx: StageContext): Promise<HflEvaluateCheckpoint> {
  const t = ctx.store.checkpoint<HflTrainCheckpoint>('train');
  await initTfjsBackend();
  const test = hflRows(await ctx.table(), t.columns, ctx.labelField ?? 'label');
  const scores = predictTfjs({ kind: t.model, features: t.features }, t.weights, test.x);
  return { auc: auc(test.y, scores), ks: ks(test.y, scores).ks, testRows: test.rows };
}

/** The coordinator's `publish`: the model as a TensorFlow.js LayersModel (model.json + weights.bin). */
export async function hflPublishGuest(ctx: StageContext): Promise<HflPublishOutcome> {
  const t = ctx.store.checkpoint<HflTrainCheckpoint>('train');
  const ev = ctx.store.checkpoint<HflEvaluateCheckpoint>('evaluate');
  await initTfjsBackend();
  const metadata = {
    fedscore: {
      job: ctx.spec.id,
      features: t.columns,
      clients: ctx.spec.hosts,
      model: t.model,
      strategy: t.strategy,
      rounds: t.rounds,
      backend: t.backend,
      secureAgg: t.secureAgg,
      test: { auc: ev.auc, ks: ev.ks },
      ...(t.privacy !== undefined && { dp: t.privacy }),
    },
  };
  let files: { modelJson: string; weightsBin: Uint8Array } | undefined;
  await saveTfjsModel({ kind: t.model, features: t.features }, t.weights, async (artifacts) => {
    const f = layersModelFiles(artifacts, metadata);
    files = { modelJson: `${JSON.stringify(f.modelJson, null, 2)}\n`, weightsBin: f.weightsBin };
    return {
      modelArtifactsInfo: {
        dateSaved: new Date(),
        modelTopologyType: 'JSON',
        weightDataBytes: f.weightsBin.byteLength,
      },
    };
  });
  if (files === undefined)
    throw new FedscoreError('internal', 'the model was not saved', { field: 'publish' });
  const weightsBase64 = Buffer.from(files.weightsBin).toString('base64');
  const written = [
    ctx.store.writeArtifact('model.json', files.modelJson),
    ctx.store.writeArtifact(`${WEIGHTS_FILE}.base64`, weightsBase64),
  ];
  const hfl: HflPublishOutcome['hfl'] = {
    modelJson: files.modelJson,
    weightsBase64,
    metrics: { auc: ev.auc, ks: ev.ks, testRows: ev.testRows },
    algorithm: `hfl-${t.strategy}-${t.model}`,
    parameters: {
      format: 'tfjs-layers-model',
      rounds: t.rounds,
      backend: t.backend,
      secureAgg: t.secureAgg,
      ...(t.privacy !== undefined && { dpEpsilon: t.privacy.epsilon, dpDelta: t.privacy.delta }),
      ...(t.dropped !== undefined && { dropped: t.dropped.join(',') }),
    },
  };
  const session = stageSession(ctx, HFL_PROTOCOL, HFL_VERSION, 'publish');
  // A bank that dropped out of the rounds is not a party of publish (hflPublishParties).
  for (const h of hflPublishParties(ctx.spec.hosts, t)) await session.send(h, PUBLISHED_MODEL, hfl);
  return { files: written, hfl };
}

/** The banks that take part in publish: those that did not drop out of the rounds. */
export function hflPublishParties(
  hosts: readonly string[],
  train: Pick<HflTrainCheckpoint, 'dropped'>,
): string[] {
  return hosts.filter((h) => !(train.dropped ?? []).includes(h));
}

/** A bank's `publish`: the model (and its aggregate test metrics) from the coordinator, written here. */
export async function hflPublishHost(ctx: StageContext): Promise<HflPublishOutcome> {
  const session = stageSession(ctx, HFL_PROTOCOL, HFL_VERSION, 'publish');
  const hfl = await session.receive(ctx.spec.guest, PUBLISHED_MODEL);
  const files = [
    ctx.store.writeArtifact('model.json', hfl.modelJson),
    ctx.store.writeArtifact(`${WEIGHTS_FILE}.base64`, hfl.weightsBase64),
  ];
  return { files, hfl };
}

export const HFL_TRAIN_STAGE: StageDef = {
  name: 'train',
  protocols: { [HFL_PROTOCOL]: HFL_VERSION, [SECAGG_PROTOCOL]: SECAGG_VERSION },
  roles: { guest: hflTrainGuest, host: hflTrainHost },
};

export const HFL_EVALUATE_STAGE: StageDef = {
  name: 'evaluate',
  protocols: {},
  roles: { guest: hflEvaluateGuest },
};

export const HFL_PUBLISH_STAGE: StageDef = {
  name: 'publish',
  protocols: { [HFL_PROTOCOL]: HFL_VERSION },
  roles: { guest: hflPublishGuest, host: hflPublishHost },
};

/** HFL: train (rounds with secure aggregation) -> evaluate -> publish. */
export const HFL_PIPELINE: ModelPipeline = {
  model: HFL_MODEL,
  stages: [HFL_TRAIN_STAGE, HFL_EVALUATE_STAGE, HFL_PUBLISH_STAGE],
};
