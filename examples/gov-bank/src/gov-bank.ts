/**
 * A bank and the government credit node train one credit model, written with the library APIs only
 * (what `fedscore demo` does through the CLI). Each party's part is a separate function that sees only
 * its own table; they meet only through PSI and the hetero-LR protocol, which run over the in-memory
 * network here and over gRPC between real nodes.
 *
 * Parties:
 * - government (host): public-credit features per enterprise, keyed by USCC;
 * - bank (guest): its customers' financial features and the default label;
 * - arbiter: generates the CKKS keys, decrypts only masked values.
 *
 * Steps: generate the population (stand-in for each party's database) -> PSI on USCCs -> the bank
 * splits the shared customers into train and test -> hetero-LR under CKKS -> each party scores the test
 * rows with its own part of the model, and the government's partial scores go to the bank (as in FATE's
 * hetero-LR prediction) -> the bank compares with a model trained on its own columns only.
 */
import {
  auc,
  type Column,
  fitLogisticRegression,
  ks,
  type Logger,
  noopLogger,
  noProgress,
  type ProgressCallback,
  permutation,
  predictProba,
  seededRng,
  standardize,
  type Table,
} from '@fedscore/core';
import { generatePopulation } from '@fedscore/datasets';
import { runPsiLocal } from '@fedscore/psi';
import { type PartyFeatures, type PartyModel, partyPartialScores, trainHeteroLr } from '@fedscore/vfl';

export interface GovBankOptions {
  /** Enterprises in the government table. Default 6,000. */
  readonly enterprises?: number;
  /** Bank customers among them. Default 3,000. */
  readonly bankCustomers?: number;
  readonly epochs?: number;
  readonly seed?: number;
  readonly logger?: Logger;
  readonly progress?: ProgressCallback;
}

export interface Scores {
  readonly auc: number;
  readonly ks: number;
}

export interface GovBankResult {
  readonly government: { readonly enterprises: number; readonly features: readonly string[] };
  readonly bank: { readonly customers: number; readonly features: readonly string[] };
  readonly psi: { readonly intersection: number; readonly bytes: number; readonly seconds: number };
  readonly rows: { readonly train: number; readonly test: number };
  readonly bankOnly: Scores;
  readonly joint: Scores;
  readonly training: {
    readonly epochs: number;
    readonly secondsPerEpoch: number;
    readonly bytesSent: Readonly<Record<string, number>>;
  };
  /** Each party's own model (in a deployment each stays on its node). */
  readonly models: { readonly bank: PartyModel; readonly government: PartyModel };
}

/** A party's columns for `rows` of its own table: numbers as they are, categories one-hot. */
function featuresOf(table: Table, rows: Uint32Array): PartyFeatures {
  const names: string[] = [];
  const columns: Float64Array[] = [];
  for (const c of table.columns as Column[]) {
    if (c.kind === 'numeric') {
      names.push(c.name);
      columns.push(Float64Array.from(rows, (r) => c.values[r]!));
    } else {
      c.categories.forEach((level, k) => {
        names.push(`${c.name}=${level}`);
        columns.push(Float64Array.from(rows, (r) => (c.codes[r] === k ? 1 : 0)));
      });
    }
  }
  return { names, columns };
}

function pick(values: Float64Array, idx: Uint32Array): Float64Array {
  return Float64Array.from(idx, (i) => values[i]!);
}

function pickColumns(f: PartyFeatures, idx: Uint32Array): PartyFeatures {
  return { names: f.names, columns: f.columns.map((c) => pick(c, idx)) };
}

/** The bank alone: its own columns, mean-imputed and standardized on train, L2 LR (C = 1). */
function bankOnlyModel(f: PartyFeatures, y: Float64Array, train: Uint32Array, test: Uint32Array): Scores {
  const d = f.columns.length;
  const means = f.columns.map((c) => {
    let s = 0;
    let n = 0;
    for (const r of train) {
      if (Number.isNaN(c[r]!)) continue;
      s += c[r]!;
      n++;
    }
    return n > 0 ? s / n : 0;
  });
  const matrix = (rows: Uint32Array) => {
    const m = new Float64Array(rows.length * d);
    rows.forEach((r, i) => {
      for (let j = 0; j < d; j++) {
        const v = f.columns[j]![r]!;
        m[i * d + j] = Number.isNaN(v) ? means[j]! : v;
      }
    });
    return m;
  };
  const s = standardize(matrix(train), train.length, d, { X: matrix(test), nRows: test.length });
  const model = fitLogisticRegression(s.train, train.length, d, pick(y, train), { l2: 1 });
  const p = predictProba(model, s.test!, test.length);
  const yTest = pick(y, test);
  return { auc: auc(yTest, p), ks: ks(yTest, p).ks };
}

export async function runGovBank(options: GovBankOptions = {}): Promise<GovBankResult> {
  const seed = options.seed ?? 2025;
  const logger = options.logger ?? noopLogger;
  const progress = options.progress ?? noProgress;

  // Each party's database (generated here; a real node loads its own CSV or table).
  const population = generatePopulation({
    enterprises: options.enterprises ?? 6000,
    bankCustomers: options.bankCustomers ?? 3000,
    seed,
  });
  const government = population.government;
  const bank = population.bank;

  // PSI on USCCs: each side learns the intersection, in the same order, and nothing else.
  const psi = await runPsiLocal(bank.ids, government.ids, { mode: 'both', logger, progress });
  const bankRows = psi.guest.rows!;
  const govRows = psi.host.rows!;

  // The bank splits the shared customers (stratified by its labels, seeded) and tells the government
  // which aligned positions are test rows.
  const labels = pick(bank.label!, bankRows);
  const isTest = new Uint8Array(labels.length);
  const rng = seededRng(seed);
  for (const cls of [0, 1]) {
    const rows = [...labels.keys()].filter((i) => labels[i] === cls);
    const perm = permutation(rng, rows.length);
    for (let k = 0; k < Math.round(0.25 * rows.length); k++) isTest[rows[perm[k]!]!] = 1;
  }
  const train = Uint32Array.from([...isTest.keys()].filter((i) => isTest[i] === 0));
  const test = Uint32Array.from([...isTest.keys()].filter((i) => isTest[i] === 1));

  // Each party builds its own feature columns for the aligned rows; raw values, missing kept (NaN):
  // the protocol roles impute and standardize their own columns on the training rows.
  const bankFeatures = featuresOf(bank, bankRows);
  const govFeatures = featuresOf(government, govRows);

  // Hetero-LR under CKKS, arbiter mode.
  const run = await trainHeteroLr({
    guest: { id: 'bank', features: pickColumns(bankFeatures, train), labels: pick(labels, train) },
    hosts: [{ id: 'government', features: pickColumns(govFeatures, train) }],
    mode: 'arbiter',
    scheme: 'ckks',
    hyperparams: { maxEpochs: options.epochs ?? 5, batchSize: 1024, seed },
    logger,
    onProgress: progress,
  });
  const bankModel = run.guest;
  const govModel = run.hosts[0]!;

  // Scoring the test rows: each party computes x_p . w_p with its own model; the government sends its
  // partial scores to the bank, which adds its own (and the intercept it holds).
  const govPartial = partyPartialScores(govModel, pickColumns(govFeatures, test).columns);
  const z = partyPartialScores(bankModel, pickColumns(bankFeatures, test).columns);
  for (let i = 0; i < z.length; i++) z[i]! += govPartial[i]!;
  const yTest = pick(labels, test);

  return {
    government: { enterprises: government.nRows, features: government.columns.map((c) => c.name) },
    bank: { customers: bank.nRows, features: bank.columns.map((c) => c.name) },
    psi: {
      intersection: psi.guest.intersectionSize,
      bytes: psi.bytes.guestToHost + psi.bytes.hostToGuest,
      seconds: psi.seconds,
    },
    rows: { train: train.length, test: test.length },
    bankOnly: bankOnlyModel(bankFeatures, labels, train, test),
    joint: { auc: auc(yTest, z), ks: ks(yTest, z).ks },
    training: { epochs: run.epochs, secondsPerEpoch: run.secondsPerEpoch, bytesSent: run.bytesSent },
    models: { bank: bankModel, government: govModel },
  };
}
