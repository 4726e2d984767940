/**
 * Three banks serving different regions (east; central; west and northeast) each hold their own SME
 * loan book with the same columns. Together they train one TensorFlow.js credit model by FedAvg, the
 * average going through secure aggregation so that the platform coordinating the rounds learns only the
 * sum of the banks' updates (packages/hfl, docs/protocols/secure-aggregation.md). For comparison every
 * bank also trains the same model on its own rows alone, with the same learning rate and rounds. All
 * models are scored on a common market-wide test set.
 *
 * The data is the seeded synthetic population (packages/datasets) dealt to the banks by
 * `splitHorizontal`: a customer banks with its region's home bank with probability `skew`, so the
 * banks differ in customer mix, feature distributions and default rate.
 */
import { auc, ks, numericMatrix, seededRng, type Table } from '@fedscore/core';
import { generatePopulation, splitHorizontal } from '@fedscore/datasets';
import {
  FedAvg,
  fitTfjs,
  initialModelWeights,
  initTfjsBackend,
  inMemorySecureAggregator,
  type LocalRows,
  type ModelKind,
  type ModelSpec,
  predictTfjs,
  runSecureFederatedRounds,
} from '@fedscore/hfl';

export interface ThreeBanksOptions {
  readonly enterprises?: number;
  /** Rows per bank (a small lender's book). */
  readonly bankRows?: number;
  readonly skew?: number;
  readonly by?: 'region' | 'industry';
  readonly model?: ModelKind;
  readonly rounds?: number;
  readonly learningRate?: number;
  readonly seed?: number;
}

export interface BankSummary {
  readonly name: string;
  readonly rows: number;
  readonly defaultRate: number;
  readonly homeSegments: readonly string[];
  /** The bank's model trained on its rows alone, on the common test set. */
  readonly aloneAuc: number;
}

export interface ThreeBanksResult {
  readonly backend: string;
  readonly model: ModelKind;
  readonly features: number;
  readonly testRows: number;
  readonly banks: readonly BankSummary[];
  readonly federated: { readonly auc: number; readonly ks: number; readonly bytesPerBankPerRound: number };
  readonly secondsPerRound: number;
}

function rowsOf(t: Table): LocalRows {
  const m = numericMatrix(t);
  return { x: m.data, y: t.label!, rows: m.nRows, features: m.nCols };
}

async function train(
  spec: ModelSpec,
  banks: ReadonlyMap<string, LocalRows>,
  rounds: number,
  learningRate: number,
  seed: number,
  secure: boolean,
) {
  const rng = seededRng(seed + 1);
  return runSecureFederatedRounds({
    strategy: new FedAvg({ localEpochs: 1, learningRate, batchSize: 32 }),
    initialWeights: initialModelWeights(spec, seededRng(seed)),
    clients: [...banks.keys()],
    rounds,
    rng: seededRng(seed + 2),
    fit: (ins) => fitTfjs(spec, ins, banks.get(ins.client)!, rng),
    ...(secure && { secureAggregator: inMemorySecureAggregator() }),
  });
}

export async function runThreeBanks(options: ThreeBanksOptions = {}): Promise<ThreeBanksResult> {
  const seed = options.seed ?? 7;
  const rounds = options.rounds ?? 15;
  const learningRate = options.learningRate ?? 0.05;
  const pop = generatePopulation({
    enterprises: options.enterprises ?? 20_000,
    overlap: 1,
    bankOnlyFraction: 0,
    defaultRate: 0.1,
    seed,
  });
  const split = splitHorizontal(pop, {
    banks: 3,
    by: options.by ?? 'region',
    skew: options.skew ?? 0.9,
    bankRows: options.bankRows ?? 1500,
  });
  const backend = await initTfjsBackend();
  const test = rowsOf(split.test);
  const spec: ModelSpec = { kind: options.model ?? 'lr', features: test.features };
  const banks = new Map(split.banks.map((b) => [b.name, rowsOf(b.table)]));
  const score = (w: Float64Array) => {
    const p = predictTfjs(spec, w, test.x);
    return { auc: auc(test.y, p), ks: ks(test.y, p).ks };
  };

  const fed = await train(spec, banks, rounds, learningRate, seed, true);
  const bytes = fed.history.flatMap((h) => Object.values(h.bytesPerClient ?? {}));
  const summaries: BankSummary[] = [];
  for (const b of split.banks) {
    const alone = await train(
      spec,
      new Map([[b.name, banks.get(b.name)!]]),
      rounds,
      learningRate,
      seed,
      false,
    );
    summaries.push({
      name: b.name,
      rows: b.table.nRows,
      defaultRate: b.defaultRate,
      homeSegments: b.homeSegments,
      aloneAuc: score(alone.weights).auc,
    });
  }
  return {
    backend,
    model: spec.kind,
    features: spec.features,
    testRows: test.rows,
    banks: summaries,
    federated: {
      ...score(fed.weights),
      bytesPerBankPerRound: bytes.reduce((s, b) => s + b, 0) / Math.max(1, bytes.length),
    },
    secondsPerRound: fed.history.reduce((s, h) => s + h.seconds, 0) / fed.history.length,
  };
}
