/**
 * FedAvg/FedProx rounds under secure aggregation and (optionally) distributed DP, in one process.
 *
 * Each client turns its reply into the vector [n_u · w_u, n_u] (`secAggVector`) and the vectors are
 * summed by the secure-aggregation protocol (secagg/), so the coordinator's side of the loop gets only
 * Σ n_u w_u and Σ n_u over the survivors and calls the strategy's `aggregateSum`. With DP, each client
 * first clips its update to norm C and adds its share of the Gaussian noise (dp.ts), and reports weight 1
 * (DP-FedAvg's equal weights); the RDP accountant is stepped once per round with the sampling rate and
 * the noise multiplier the sum actually carries after dropouts.
 *
 * `inMemorySecureAggregator` runs the real protocol (every message encoded with the wire codec) over an
 * in-memory network; party nodes run the same roles over their channels.
 */
import {
  createInMemoryNetwork,
  cryptoRng,
  FedscoreError,
  ProtocolSession,
  type Rng,
  runParties,
} from '@fedscore/core';
import { envelopeCodec } from '@fedscore/wire';
import { clipUpdate, distributedNoise, effectiveNoiseMultiplier, RdpAccountant } from './dp.ts';
import { runSecAggClient, type SecAggClientRun } from './secagg/client.ts';
import { SECAGG_PROTOCOL, SECAGG_VERSION, type SecAggConfig } from './secagg/protocol.ts';
import { runSecAggServer } from './secagg/server.ts';
import type { FitInstruction, FitReply, RoundRecord, Strategy } from './strategy.ts';
import { collectByDeadline } from './strategy.ts';

/** [n_u · w_u..., n_u]: what a client feeds into secure aggregation. */
export function secAggVector(reply: FitReply): Float64Array {
  const out = new Float64Array(reply.weights.length + 1);
  for (let i = 0; i < reply.weights.length; i++) out[i] = reply.numExamples * reply.weights[i]!;
  out[reply.weights.length] = reply.numExamples;
  return out;
}

export interface SecureSum {
  readonly sum: Float64Array;
  readonly included: readonly string[];
  /** Bytes each client sent in this aggregation (wire encoding). */
  readonly bytesPerClient: Readonly<Record<string, number>>;
}

/** Sums the clients' vectors without revealing any one of them to the coordinator. */
export interface SecureAggregator {
  aggregate(round: number, inputs: ReadonlyMap<string, Float64Array>): Promise<SecureSum>;
}

export interface InMemorySecAggOptions {
  /** Neighbours per client (default: all, the original SecAgg). */
  readonly neighbours?: (clients: number) => number;
  /** Threshold (default: the smallest majority of the k + 1 holders). */
  readonly threshold?: (neighbours: number) => number;
  readonly scaleBits?: number;
  readonly phaseDeadlineMs?: number;
  /**
   * Simulated dropouts (tests and benchmarks): the point at which `client` stops in `round`, if any.
   * Needs `phaseDeadlineMs`, after which the server treats the silent client as dropped.
   */
  readonly simulateDropout?: (round: number, client: string) => SecAggClientRun['dropOut'] | undefined;
}

/** The secure-aggregation protocol on an in-memory network, one session per round. */
export function inMemorySecureAggregator(options: InMemorySecAggOptions = {}): SecureAggregator {
  return {
    async aggregate(round, inputs) {
      const clients = [...inputs.keys()];
      const n = clients.length;
      const length = inputs.get(clients[0]!)?.length ?? 0;
      const k = options.neighbours?.(n) ?? n - 1;
      const config: SecAggConfig = {
        clients,
        server: '__coordinator__',
        length,
        neighbours: k,
        threshold: options.threshold?.(k) ?? Math.floor((k + 1) / 2) + 1,
        graphSeed: round,
        ...(options.scaleBits !== undefined && { scaleBits: options.scaleBits }),
      };
      const network = createInMemoryNetwork([config.server, ...clients], envelopeCodec);
      const spec = { protocol: SECAGG_PROTOCOL, version: SECAGG_VERSION, session: `round-${round}` };
      const roles: Record<string, () => Promise<unknown>> = {
        [config.server]: () =>
          runSecAggServer(
            new ProtocolSession(network.channel(config.server), spec),
            config,
            options.phaseDeadlineMs === undefined ? {} : { phaseDeadlineMs: options.phaseDeadlineMs },
          ),
      };
      for (const c of clients) {
        const dropOut = options.simulateDropout?.(round, c);
        roles[c] = () =>
          runSecAggClient(
            new ProtocolSession(network.channel(c), spec),
            config,
            inputs.get(c)!,
            cryptoRng(),
            dropOut === undefined ? {} : { dropOut },
          );
      }
      const out = await runParties(network, roles);
      const result = out[config.server] as Awaited<ReturnType<typeof runSecAggServer>>;
      const bytesPerClient: Record<string, number> = {};
      for (const c of clients) {
        const sent = network.channel(c).stats().bytesSent;
        bytesPerClient[c] = Object.values(sent).reduce((s, b) => s + b, 0);
      }
      return { sum: result.sum, included: result.included, bytesPerClient };
    },
  };
}

export interface DpOptions {
  /** L2 clipping norm C of a client's update. */
  readonly clipNorm: number;
  /** σ: the sum carries N(0, σ²C²) when every asked client survives. */
  readonly noiseMultiplier: number;
  /** δ of the reported (ε, δ). */
  readonly delta: number;
  /** Clients' noise generator (must be cryptographic; default `cryptoRng()`). */
  readonly rng?: Rng;
}

/** Clip w − w_global to C, add this client's share of the noise, report weight 1. */
export function privatizeReply(
  reply: FitReply,
  globalWeights: Float64Array,
  dp: DpOptions,
  expectedClients: number,
  rng: Rng,
): FitReply {
  const delta = reply.weights.map((w, i) => w - globalWeights[i]!);
  const { clipped } = clipUpdate(delta, dp.clipNorm);
  distributedNoise(clipped, dp.noiseMultiplier, dp.clipNorm, expectedClients, rng);
  return {
    client: reply.client,
    weights: clipped.map((d, i) => globalWeights[i]! + d),
    numExamples: 1,
    ...(reply.metrics !== undefined && { metrics: reply.metrics }),
  };
}

export interface SecureRunOptions {
  readonly strategy: Strategy;
  readonly initialWeights: Float64Array;
  readonly clients: readonly string[];
  readonly rounds: number;
  readonly fit: (instruction: FitInstruction) => Promise<FitReply>;
  readonly rng: Rng;
  readonly roundDeadlineMs?: number;
  /** Plain aggregation when absent (the coordinator then sees each reply). */
  readonly secureAggregator?: SecureAggregator;
  readonly dp?: DpOptions;
  readonly evaluate?: (
    round: number,
    weights: Float64Array,
  ) => Promise<Record<string, number>> | Record<string, number>;
}

export interface SecureRoundRecord extends RoundRecord {
  readonly bytesPerClient?: Readonly<Record<string, number>>;
  /** (ε, δ) spent so far, with DP. */
  readonly epsilon?: number;
  readonly seconds: number;
}

export interface SecureRunResult {
  readonly weights: Float64Array;
  readonly history: readonly SecureRoundRecord[];
  /** Final (ε, δ) with DP. */
  readonly privacy?: { readonly epsilon: number; readonly delta: number; readonly order: number };
}

/** The round loop with secure aggregation and/or DP. */
export async function runSecureFederatedRounds(options: SecureRunOptions): Promise<SecureRunResult> {
  const { strategy, rounds, dp } = options;
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new FedscoreError('invalid_argument', 'rounds must be an integer >= 1', { field: 'rounds' });
  }
  const accountant = dp ? new RdpAccountant() : undefined;
  const dpRng = dp ? (dp.rng ?? cryptoRng()) : undefined;
  let weights: Float64Array = Float64Array.from(options.initialWeights);
  const history: SecureRoundRecord[] = [];
  for (let round = 1; round <= rounds; round++) {
    const started = performance.now();
    const instructions = strategy.configureFit(round, weights, options.clients, options.rng);
    const got = await collectByDeadline(
      instructions.map((ins) => Promise.resolve().then(() => options.fit(ins))),
      options.roundDeadlineMs,
    );
    const replies: FitReply[] = [];
    const dropouts: string[] = [];
    instructions.forEach((ins, i) => {
      const r = got[i];
      if (r === undefined || r.client !== ins.client) dropouts.push(ins.client);
      else replies.push(dp ? privatizeReply(r, weights, dp, instructions.length, dpRng!) : r);
    });
    if (replies.length === 0) {
      throw new FedscoreError('timeout', `round ${round}: no client replied in time`, {
        field: 'roundDeadlineMs',
      });
    }
    let bytesPerClient: Readonly<Record<string, number>> | undefined;
    let included = replies.map((r) => r.client);
    let agg: ReturnType<Strategy['aggregateSum']>;
    if (options.secureAggregator) {
      const inputs = new Map(replies.map((r) => [r.client, secAggVector(r)]));
      const s = await options.secureAggregator.aggregate(round, inputs);
      bytesPerClient = s.bytesPerClient;
      included = [...s.included];
      for (const c of replies.map((r) => r.client)) if (!included.includes(c)) dropouts.push(c);
      const d = weights.length;
      agg = strategy.aggregateSum(
        round,
        { weightedWeights: s.sum.subarray(0, d), totalExamples: s.sum[d]!, clients: included.length },
        weights,
      );
    } else {
      agg = strategy.aggregateFit(round, replies, weights);
    }
    weights = agg.weights;
    let epsilon: number | undefined;
    if (accountant && dp) {
      const q = instructions.length / options.clients.length;
      accountant.step(q, effectiveNoiseMultiplier(dp.noiseMultiplier, included.length, instructions.length));
      epsilon = accountant.spent(dp.delta).epsilon;
    }
    const evaluation = options.evaluate ? await options.evaluate(round, weights) : undefined;
    history.push({
      round,
      asked: instructions.map((i) => i.client),
      replied: included,
      dropouts,
      totalExamples: agg.totalExamples,
      seconds: (performance.now() - started) / 1000,
      ...(evaluation !== undefined && { evaluation }),
      ...(bytesPerClient !== undefined && { bytesPerClient }),
      ...(epsilon !== undefined && { epsilon }),
    });
  }
  return {
    weights,
    history,
    ...(accountant && dp && { privacy: accountant.spent(dp.delta) }),
  };
}
