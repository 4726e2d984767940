/**
 * Strategies for horizontal federated learning. A strategy never touches the network: it turns the
 * current global weights into per-client instructions (`configureFit`) and folds the clients' replies
 * into new global weights (`aggregateFit`, or `aggregateSum` when secure aggregation hands it only the
 * sum of the clients' weighted updates). The round loop (`runFederatedRounds`) is given the transport,
 * as a function per client, so the same strategy runs in one process, over party nodes, or under
 * secure aggregation.
 *
 * FedAvg: H. B. McMahan, E. Moore, D. Ramage, S. Hampson, B. Agüera y Arcas, "Communication-Efficient
 * Learning of Deep Networks from Decentralized Data", AISTATS 2017. The new global weights are the
 * sample-count weighted mean of the clients' local weights, w ← Σ_k n_k w_k / Σ_k n_k, over the clients
 * that replied before the round's deadline.
 *
 * FedProx: T. Li, A. K. Sahu, M. Zaheer, M. Sanjabi, A. Talwalkar, V. Smith, "Federated Optimization in
 * Heterogeneous Networks", MLSys 2020. Same aggregation as FedAvg; each client minimises its local loss
 * plus the proximal term μ/2 · ||w − w_global||², so the strategy sends μ (`proximalMu`) and the client
 * applies it (its gradient adds μ (w − w_global)).
 *
 * Client sampling is not a secret (the coordinator chooses who takes part and everyone sees it), so a
 * seeded generator is fine and makes runs reproducible; pass `cryptoRng()` for unpredictable choices.
 */
import { FedscoreError, permutation, type Rng } from '@fedscore/core';

/** What a client is told to do in one round. */
export interface FitInstruction {
  readonly client: string;
  readonly round: number;
  /** The global weights to start from (flat). */
  readonly weights: Float64Array;
  readonly localEpochs: number;
  readonly learningRate: number;
  readonly batchSize: number;
  /** FedProx's μ; 0 for FedAvg. */
  readonly proximalMu: number;
}

/** A client's answer to one round. */
export interface FitReply {
  readonly client: string;
  /** The client's local weights after training (flat, same length as the instruction's). */
  readonly weights: Float64Array;
  /** Rows the client trained on (its weight in the average). */
  readonly numExamples: number;
  /** Client-side metrics (e.g. local training loss); never features, labels or scores. */
  readonly metrics?: Readonly<Record<string, number>>;
}

/** The sum of the clients' weighted updates, as secure aggregation returns it. */
export interface WeightedSum {
  /** Σ_k n_k · w_k over the surviving clients. */
  readonly weightedWeights: Float64Array;
  /** Σ_k n_k over the same clients. */
  readonly totalExamples: number;
  /** How many clients the sum covers. */
  readonly clients: number;
}

export interface AggregateResult {
  readonly weights: Float64Array;
  readonly totalExamples: number;
  readonly clients: number;
}

export interface LocalTrainingConfig {
  readonly localEpochs: number;
  readonly learningRate: number;
  readonly batchSize: number;
}

export interface SamplingOptions {
  /** Fraction of the available clients asked to train each round (default 1). */
  readonly fractionFit?: number;
  /** At least this many clients per round (default 1; capped at the number available). */
  readonly minFitClients?: number;
}

/** A federated strategy: pure functions of the round's inputs, no network. */
export interface Strategy {
  readonly name: string;
  /** The clients chosen for `round` and what each is to do. */
  configureFit(
    round: number,
    weights: Float64Array,
    available: readonly string[],
    rng: Rng,
  ): FitInstruction[];
  /** New global weights from the replies that arrived in time. */
  aggregateFit(round: number, replies: readonly FitReply[], current: Float64Array): AggregateResult;
  /** New global weights from the securely aggregated weighted sum. */
  aggregateSum(round: number, sum: WeightedSum, current: Float64Array): AggregateResult;
}

function check(cond: boolean, field: string, message: string): void {
  if (!cond) throw new FedscoreError('invalid_argument', message, { field });
}

/** Choose `count` of `available` (seeded or cryptographic, by the caller's rng), in sorted order. */
export function sampleClients(rng: Rng, available: readonly string[], count: number): string[] {
  check(
    Number.isInteger(count) && count >= 0 && count <= available.length,
    'count',
    `cannot sample ${count} of ${available.length} clients`,
  );
  const order = permutation(rng, available.length);
  const picked = Array.from(order.subarray(0, count)).sort((a, b) => a - b);
  return picked.map((i) => available[i]!);
}

/** How many clients a round asks for. */
export function fitClientCount(available: number, options: SamplingOptions): number {
  const fraction = options.fractionFit ?? 1;
  const min = options.minFitClients ?? 1;
  check(fraction > 0 && fraction <= 1, 'fractionFit', 'fractionFit must be in (0, 1]');
  check(Number.isInteger(min) && min >= 1, 'minFitClients', 'minFitClients must be an integer >= 1');
  return Math.min(available, Math.max(min, Math.ceil(fraction * available)));
}

/** Σ n_k w_k / Σ n_k, checked. */
export function weightedAverage(replies: readonly FitReply[], length: number): AggregateResult {
  if (replies.length === 0) {
    throw new FedscoreError('invalid_state', 'no client replied in time: nothing to aggregate', {
      field: 'replies',
    });
  }
  const sum = new Float64Array(length);
  let total = 0;
  for (const r of replies) {
    check(
      r.weights.length === length,
      'weights',
      `client ${r.client} sent ${r.weights.length} weights, expected ${length}`,
    );
    check(
      Number.isFinite(r.numExamples) && r.numExamples > 0,
      'numExamples',
      `client ${r.client} reported a non-positive sample count`,
    );
    for (let i = 0; i < length; i++) {
      const w = r.weights[i]!;
      check(Number.isFinite(w), 'weights', `client ${r.client} sent a non-finite weight`);
      sum[i]! += r.numExamples * w;
    }
    total += r.numExamples;
  }
  return fromWeightedSum({ weightedWeights: sum, totalExamples: total, clients: replies.length });
}

/** The weighted mean from a weighted sum (what secure aggregation delivers). */
export function fromWeightedSum(sum: WeightedSum): AggregateResult {
  if (!(sum.totalExamples > 0)) {
    throw new FedscoreError('invalid_state', 'the aggregate covers no examples', { field: 'totalExamples' });
  }
  const weights = new Float64Array(sum.weightedWeights.length);
  for (let i = 0; i < weights.length; i++) weights[i] = sum.weightedWeights[i]! / sum.totalExamples;
  return { weights, totalExamples: sum.totalExamples, clients: sum.clients };
}

export interface FedAvgOptions extends SamplingOptions, Partial<LocalTrainingConfig> {
  /**
   * Inverse-time decay of the clients' learning rate over rounds (default 0: constant):
   * round r's learning rate is `learningRate / (1 + learningRateDecay · (r − 1))`; see
   * `scheduledLearningRate`.
   */
  readonly learningRateDecay?: number;
}

/**
 * Round `round`'s (1-based) learning rate under inverse-time decay: η_r = η_0 / (1 + decay · (r − 1)).
 *
 * With a constant step, local SGD on non-IID clients stops at a point whose distance from the optimum
 * grows with the step and the number of local steps; a step decaying like 1/r lets FedAvg converge to the
 * optimum of the pooled objective (X. Li, K. Huang, W. Yang, S. Wang, Z. Zhang, "On the Convergence of
 * FedAvg on Non-IID Data", ICLR 2020, Theorem 1 with η_t = β/(t + γ), and their Theorem 3 on why a
 * constant step does not). The same schedule per epoch is what a fair pooled baseline uses.
 */
export function scheduledLearningRate(learningRate: number, decay: number, round: number): number {
  check(Number.isFinite(decay) && decay >= 0, 'learningRateDecay', 'learningRateDecay must be >= 0');
  check(Number.isInteger(round) && round >= 1, 'round', 'round must be an integer >= 1');
  return learningRate / (1 + decay * (round - 1));
}

/**
 * FedAvg (McMahan et al. 2017): sample clients, send them the global weights, average their local
 * weights by sample count. The client implements local SGD for `localEpochs` epochs.
 */
export class FedAvg implements Strategy {
  readonly name: string = 'fedavg';
  readonly sampling: SamplingOptions;
  readonly training: LocalTrainingConfig;
  /** Inverse-time decay of the learning rate over rounds (0: constant). */
  readonly learningRateDecay: number;

  constructor(options: FedAvgOptions = {}) {
    this.sampling = { fractionFit: options.fractionFit ?? 1, minFitClients: options.minFitClients ?? 1 };
    fitClientCount(1, this.sampling);
    this.training = {
      localEpochs: options.localEpochs ?? 1,
      learningRate: options.learningRate ?? 0.1,
      batchSize: options.batchSize ?? 32,
    };
    const t = this.training;
    check(Number.isInteger(t.localEpochs) && t.localEpochs >= 1, 'localEpochs', 'localEpochs must be >= 1');
    check(t.learningRate > 0 && Number.isFinite(t.learningRate), 'learningRate', 'learningRate must be > 0');
    check(Number.isInteger(t.batchSize) && t.batchSize >= 1, 'batchSize', 'batchSize must be >= 1');
    this.learningRateDecay = options.learningRateDecay ?? 0;
    scheduledLearningRate(t.learningRate, this.learningRateDecay, 1);
  }

  protected proximalMu(): number {
    return 0;
  }

  configureFit(
    round: number,
    weights: Float64Array,
    available: readonly string[],
    rng: Rng,
  ): FitInstruction[] {
    check(available.length > 0, 'available', 'no clients available');
    const chosen = sampleClients(rng, available, fitClientCount(available.length, this.sampling));
    return chosen.map((client) => ({
      client,
      round,
      weights: Float64Array.from(weights),
      ...this.training,
      learningRate: scheduledLearningRate(this.training.learningRate, this.learningRateDecay, round),
      proximalMu: this.proximalMu(),
    }));
  }

  aggregateFit(_round: number, replies: readonly FitReply[], current: Float64Array): AggregateResult {
    return weightedAverage(replies, current.length);
  }

  aggregateSum(_round: number, sum: WeightedSum, current: Float64Array): AggregateResult {
    check(
      sum.weightedWeights.length === current.length,
      'weightedWeights',
      `aggregate has ${sum.weightedWeights.length} weights, expected ${current.length}`,
    );
    return fromWeightedSum(sum);
  }
}

export interface FedProxOptions extends FedAvgOptions {
  /** μ of the proximal term μ/2 · ||w − w_global||² (> 0; FedProx with μ = 0 is FedAvg). */
  readonly proximalMu: number;
}

/**
 * FedProx (Li et al. 2020): FedAvg's aggregation; every instruction carries μ, and the client adds
 * μ/2 · ||w − w_global||² to its local loss (gradient + μ (w − w_global)), which bounds how far a
 * client on non-IID data drifts from the global model in one round.
 */
export class FedProx extends FedAvg {
  override readonly name: string = 'fedprox';
  readonly mu: number;

  constructor(options: FedProxOptions) {
    super(options);
    check(
      Number.isFinite(options.proximalMu) && options.proximalMu > 0,
      'proximalMu',
      'proximalMu must be > 0',
    );
    this.mu = options.proximalMu;
  }

  protected override proximalMu(): number {
    return this.mu;
  }
}

/** Per-round outcome of `runFederatedRounds`. */
export interface RoundRecord {
  readonly round: number;
  readonly asked: readonly string[];
  /** Clients whose reply arrived in time. */
  readonly replied: readonly string[];
  /** Clients that failed or missed the deadline (their reply, if any, was ignored). */
  readonly dropouts: readonly string[];
  readonly totalExamples: number;
  /** What `evaluate` returned for the new global weights, if given. */
  readonly evaluation?: Readonly<Record<string, number>>;
}

export interface RunOptions {
  readonly strategy: Strategy;
  readonly initialWeights: Float64Array;
  readonly clients: readonly string[];
  readonly rounds: number;
  /** The transport: run one instruction on its client and resolve with the reply. */
  readonly fit: (instruction: FitInstruction) => Promise<FitReply>;
  /** A reply later than this (ms after the round starts) is a dropout. Default: no deadline. */
  readonly roundDeadlineMs?: number;
  /** Client sampling (seeded is fine: sampling is not a secret). */
  readonly rng: Rng;
  /** Server-side evaluation of each round's global weights (e.g. AUC on a held-out set). */
  readonly evaluate?: (
    round: number,
    weights: Float64Array,
  ) => Promise<Record<string, number>> | Record<string, number>;
  /** Fewer on-time replies than this aborts the run (default 1). */
  readonly minReplies?: number;
}

export interface RunResult {
  readonly weights: Float64Array;
  readonly history: readonly RoundRecord[];
}

/**
 * Wait for `promises` until `deadlineMs`: the settled-in-time values, by index; a rejection or a late
 * reply is `undefined` (a dropout). Late promises are left to settle on their own, their errors caught.
 */
export async function collectByDeadline<T>(
  promises: readonly Promise<T>[],
  deadlineMs: number | undefined,
): Promise<(T | undefined)[]> {
  const out: (T | undefined)[] = new Array(promises.length).fill(undefined);
  const tracked = promises.map((p, i) =>
    p.then(
      (v) => {
        out[i] = v;
      },
      () => undefined,
    ),
  );
  if (deadlineMs === undefined) {
    await Promise.all(tracked);
    return out;
  }
  check(deadlineMs > 0 && Number.isFinite(deadlineMs), 'roundDeadlineMs', 'roundDeadlineMs must be > 0');
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, deadlineMs);
  });
  await Promise.race([Promise.all(tracked), expired]);
  if (timer !== undefined) clearTimeout(timer);
  // A copy: values that arrive after the deadline must not appear in the result.
  return out.slice();
}

/** The round loop: configure, fit on each client through `fit`, drop late replies, aggregate, evaluate. */
export async function runFederatedRounds(options: RunOptions): Promise<RunResult> {
  const { strategy, rounds } = options;
  check(Number.isInteger(rounds) && rounds >= 1, 'rounds', 'rounds must be an integer >= 1');
  const minReplies = options.minReplies ?? 1;
  let weights: Float64Array = Float64Array.from(options.initialWeights);
  const history: RoundRecord[] = [];
  for (let round = 1; round <= rounds; round++) {
    const instructions = strategy.configureFit(round, weights, options.clients, options.rng);
    const replies = await collectByDeadline(
      instructions.map((ins) => Promise.resolve().then(() => options.fit(ins))),
      options.roundDeadlineMs,
    );
    const onTime: FitReply[] = [];
    const dropouts: string[] = [];
    instructions.forEach((ins, i) => {
      const r = replies[i];
      if (r === undefined || r.client !== ins.client) dropouts.push(ins.client);
      else onTime.push(r);
    });
    if (onTime.length < minReplies) {
      throw new FedscoreError(
        'timeout',
        `round ${round}: ${onTime.length} of ${instructions.length} clients replied in time, need ${minReplies}`,
        { field: 'roundDeadlineMs' },
      );
    }
    const agg = strategy.aggregateFit(round, onTime, weights);
    weights = agg.weights;
    const evaluation = options.evaluate ? await options.evaluate(round, weights) : undefined;
    history.push({
      round,
      asked: instructions.map((i) => i.client),
      replied: onTime.map((r) => r.client),
      dropouts,
      totalExamples: agg.totalExamples,
      ...(evaluation !== undefined && { evaluation }),
    });
  }
  return { weights, history };
}
