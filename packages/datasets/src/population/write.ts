/**
 * `writePopulation`: stream the synthetic population to `government.csv` (host), `bank.csv` (guest) and
 * a `population.json` manifest, block by block (8,192 rows), never holding a whole table or a whole file
 * in memory. Same seed and options -> same bytes.
 *
 * CSV: comma-separated, '\n' line ends, a header row; missing values are empty fields; categorical
 * values are their level names; amounts are rounded to whole CNY and ratios to 4 decimals.
 */
import { createHash, type Hash } from 'node:crypto';
import { createWriteStream, mkdirSync, type WriteStream, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  FedscoreError,
  type Logger,
  noopLogger,
  noProgress,
  type ProgressCallback,
  type Rng,
  seededRng,
} from '@fedscore/core';
import { type ExtraFeatureSpec, startPopulation } from './engine.ts';
import { DEFAULT_MODEL, type FeatureSpec, ID_COLUMN, LABEL_DESCRIPTION } from './model.ts';
import {
  type PopulationOptions,
  type ResolvedPopulationOptions,
  resolvePopulationOptions,
} from './options.ts';

export const GOVERNMENT_FILE = 'government.csv';
export const BANK_FILE = 'bank.csv';
export const MANIFEST_FILE = 'population.json';
export const MANIFEST_FORMAT = 'fedscore-population/1';

export interface WrittenFile {
  readonly path: string;
  readonly role: 'host' | 'guest';
  readonly rows: number;
  /** Columns including the id (and label). */
  readonly columns: number;
  readonly bytes: number;
  readonly sha256: string;
}

export interface WrittenPopulation {
  readonly dir: string;
  readonly government: WrittenFile;
  readonly bank: WrittenFile;
  readonly manifest: string;
  readonly options: ResolvedPopulationOptions;
  /** Bank customers found in the government table. */
  readonly overlap: number;
  readonly realizedDefaultRate: number;
}

export interface WriteOptions {
  readonly logger?: Logger;
  readonly progress?: ProgressCallback;
  /** Overrides the stream seeded from `options.seed` (the manifest then records seed 'custom-rng'). */
  readonly rng?: Rng;
}

/** One entry of the manifest's feature dictionary. */
export interface ManifestFeature {
  readonly name: string;
  readonly owner: 'government' | 'bank';
  readonly role: 'id' | 'label' | 'feature';
  readonly kind: string;
  readonly unit: string;
  readonly description: string;
  readonly missing: string;
  readonly levels?: readonly string[];
  readonly factor?: string;
  readonly loading?: number;
  readonly transform?: string;
}

export interface PopulationManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly seed: number | string;
  readonly options: ResolvedPopulationOptions;
  readonly files: { readonly government: WrittenFile; readonly bank: WrittenFile };
  readonly truth: {
    readonly intercept: number;
    readonly coefficients: typeof DEFAULT_MODEL;
    readonly targetDefaultRate: number;
    readonly realizedDefaultRate: number;
    readonly overlap: number;
    readonly bankOnly: number;
  };
  readonly features: readonly ManifestFeature[];
}

const BLOCK_ROWS = 8192;

export async function writePopulation(
  options: PopulationOptions,
  dir: string,
  run: WriteOptions = {},
): Promise<WrittenPopulation> {
  const resolved = resolvePopulationOptions(options);
  const logger = run.logger ?? noopLogger;
  const progress = run.progress ?? noProgress;
  const outDir = resolve(dir);
  try {
    mkdirSync(outDir, { recursive: true });
  } catch (e) {
    throw new FedscoreError('io', `cannot create the output directory: ${(e as Error).message}`, {
      file: outDir,
      cause: e,
    });
  }
  const started = performance.now();
  const cursor = startPopulation(resolved, run.rng ?? seededRng(resolved.seed));
  const plan = cursor.plan;
  logger.info('population plan', {
    enterprises: resolved.enterprises,
    bankRows: resolved.bankCustomers + resolved.bankOnlyCustomers,
    govColumns: plan.governmentFeatures.length,
    bankColumns: plan.bankFeatures.length,
  });
  const govPath = join(outDir, GOVERNMENT_FILE);
  const bankPath = join(outDir, BANK_FILE);
  const gov = new CsvSink(govPath);
  const bank = new CsvSink(bankPath);
  const govFormat = plan.governmentFeatures.map(formatter);
  const bankFormat = plan.bankFeatures.map(formatter);
  let defaults = 0;
  let overlap = 0;
  try {
    await gov.write(`${[ID_COLUMN, ...plan.governmentFeatures.map((f) => f.name)].join(',')}\n`);
    await bank.write(
      `${[ID_COLUMN, resolved.labelColumn, ...plan.bankFeatures.map((f) => f.name)].join(',')}\n`,
    );
    for (let block = cursor.next(BLOCK_ROWS); block !== undefined; block = cursor.next(BLOCK_ROWS)) {
      const gb = block.government;
      await gov.write(formatBlock(gb.rows, govFormat, gb.values, (r) => gb.ids[r]!));
      gov.rows += gb.rows;
      const bb = block.bank;
      await bank.write(formatBlock(bb.rows, bankFormat, bb.values, (r) => `${bb.ids[r]!},${bb.label[r]!}`));
      for (let r = 0; r < bb.rows; r++) {
        defaults += bb.label[r]!;
        if (bb.governmentRow[r]! >= 0) overlap++;
      }
      bank.rows += bb.rows;
      progress({ stage: 'write', done: gov.rows, total: resolved.enterprises, unit: 'enterprises' });
    }
    await Promise.all([gov.close(), bank.close()]);
  } catch (e) {
    gov.destroy();
    bank.destroy();
    throw e;
  }

  const government: WrittenFile = {
    path: govPath,
    role: 'host',
    rows: gov.rows,
    columns: plan.governmentFeatures.length + 1,
    bytes: gov.bytes,
    sha256: gov.digest(),
  };
  const bankFile: WrittenFile = {
    path: bankPath,
    role: 'guest',
    rows: bank.rows,
    columns: plan.bankFeatures.length + 2,
    bytes: bank.bytes,
    sha256: bank.digest(),
  };
  const realizedDefaultRate = bank.rows > 0 ? defaults / bank.rows : 0;
  const manifest: PopulationManifest = {
    format: MANIFEST_FORMAT,
    seed: run.rng === undefined ? resolved.seed : 'custom-rng',
    options: resolved,
    files: {
      government: { ...government, path: GOVERNMENT_FILE },
      bank: { ...bankFile, path: BANK_FILE },
    },
    truth: {
      intercept: plan.intercept,
      coefficients: DEFAULT_MODEL,
      targetDefaultRate: resolved.defaultRate,
      realizedDefaultRate,
      overlap,
      bankOnly: bank.rows - overlap,
    },
    features: featureDictionary(plan.governmentFeatures, plan.bankFeatures, resolved.labelColumn),
  };
  const manifestPath = join(outDir, MANIFEST_FILE);
  try {
    writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  } catch (e) {
    throw new FedscoreError('io', `cannot write the manifest: ${(e as Error).message}`, {
      file: manifestPath,
      cause: e,
    });
  }
  logger.info('population written', {
    govRows: gov.rows,
    bankRows: bank.rows,
    ms: Math.round(performance.now() - started),
  });
  return {
    dir: outDir,
    government,
    bank: bankFile,
    manifest: manifestPath,
    options: resolved,
    overlap,
    realizedDefaultRate,
  };
}

/** The manifest's dictionary: id, label and every feature with owner, unit, meaning and missingness. */
export function featureDictionary(
  government: readonly FeatureSpec[],
  bank: readonly FeatureSpec[],
  labelColumn: string,
): ManifestFeature[] {
  const entry = (f: FeatureSpec): ManifestFeature => {
    const extra = f as Partial<ExtraFeatureSpec>;
    return {
      name: f.name,
      owner: f.owner,
      role: 'feature',
      kind: f.kind,
      unit: f.unit,
      description: f.description,
      missing: f.missing,
      ...(f.levels !== undefined && { levels: f.levels }),
      ...(extra.factor !== undefined && {
        factor: extra.factor,
        loading: extra.loading ?? 0,
        transform: extra.transform ?? '',
      }),
    };
  };
  const id = (owner: 'government' | 'bank'): ManifestFeature => ({
    name: ID_COLUMN,
    owner,
    role: 'id',
    kind: 'id',
    unit: 'USCC',
    description: 'Unified Social Credit Code (GB 32100-2015), the join key.',
    missing: '',
  });
  return [
    id('government'),
    ...government.map(entry),
    id('bank'),
    {
      name: labelColumn,
      owner: 'bank',
      role: 'label',
      kind: 'binary',
      unit: '0/1',
      description: LABEL_DESCRIPTION,
      missing: '',
    },
    ...bank.map(entry),
  ];
}

/** CSV text of one block: each row's leading fields, then the formatted values. */
function formatBlock(
  rows: number,
  format: readonly ((v: number) => string)[],
  values: readonly Float64Array[],
  lead: (row: number) => string,
): string {
  // Rows as an array joined once: concatenating into one growing string makes deep rope trees that
  // cost more in flattening and garbage collection than the formatting itself.
  const lines = new Array<string>(rows + 1);
  const fields = new Array<string>(format.length + 1);
  for (let r = 0; r < rows; r++) {
    fields[0] = lead(r);
    for (let j = 0; j < format.length; j++) fields[j + 1] = format[j]!(values[j]![r]!);
    lines[r] = fields.join(',');
  }
  lines[rows] = '';
  return rows === 0 ? '' : lines.join('\n');
}

/** A number formatter for one column of the CSV. */
function formatter(spec: FeatureSpec): (v: number) => string {
  if (spec.kind === 'categorical') {
    const levels = spec.levels ?? [];
    return (v) => (Number.isNaN(v) ? '' : (levels[v] ?? ''));
  }
  if (spec.decimals === 0) return (v) => (Number.isNaN(v) ? '' : String(Math.round(v)));
  const scale = 10 ** spec.decimals;
  // Round half away from zero; the quotient's shortest repr is the decimal itself; -0 prints as 0.
  return (v) => (Number.isNaN(v) ? '' : String(Math.round(v * scale) / scale));
}

/** A file written through a stream with backpressure, hashed as it goes. */
class CsvSink {
  readonly path: string;
  rows = 0;
  bytes = 0;
  readonly #stream: WriteStream;
  readonly #hash: Hash = createHash('sha256');
  #error: Error | undefined;

  constructor(path: string) {
    this.path = path;
    this.#stream = createWriteStream(path, { highWaterMark: 1 << 20 });
    this.#stream.on('error', (e) => {
      this.#error = e;
    });
  }

  async write(text: string): Promise<void> {
    this.#check();
    this.#hash.update(text);
    this.bytes += Buffer.byteLength(text);
    if (!this.#stream.write(text) && !this.#stream.destroyed) {
      // Wait for room; an error (e.g. failed open) destroys the stream and closes it instead.
      await new Promise<void>((res) => {
        const done = (): void => {
          this.#stream.off('drain', done);
          this.#stream.off('close', done);
          res();
        };
        this.#stream.on('drain', done);
        this.#stream.on('close', done);
      });
    }
    this.#check();
  }

  async close(): Promise<void> {
    this.#check();
    await new Promise<void>((res) => {
      this.#stream.once('close', res);
      this.#stream.end();
    });
    this.#check();
  }

  destroy(): void {
    this.#stream.destroy();
  }

  digest(): string {
    return this.#hash.digest('hex');
  }

  #check(): void {
    const error = this.#error ?? this.#stream.errored ?? undefined;
    if (error !== undefined && error !== null) this.#error = error;
    if (this.#error !== undefined) {
      throw new FedscoreError('io', `cannot write: ${this.#error.message}`, {
        file: this.path,
        cause: this.#error,
      });
    }
  }
}
