/** `fedscore datasets generate`: write the synthetic SME population (government.csv, bank.csv, manifest). */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FedscoreError } from '@fedscore/core';
import { writeCsvFile } from '@fedscore/core/node';
import {
  generatePopulation,
  POPULATION_DEFAULTS,
  type PopulationOptions,
  splitHorizontal,
  writePopulation,
} from '@fedscore/datasets';
import { type Command, optNum, optStr, str } from '../command.ts';

export const command: Command = {
  path: ['datasets', 'generate'],
  summary: 'generate the synthetic SME population: government.csv (host), bank.csv (guest), population.json',
  description: `
The ground-truth model, the feature dictionary and the bank-only vs pooled LR figures are in
docs/population.md. bank.csv is 'uscc,<label>,<bank features>' (label 'y' unless --label-column);
government.csv is 'uscc,<government features>'. The same seed and flags give the same bytes.

Examples:
  fedscore datasets generate --out data/pop
  fedscore datasets generate --enterprises 1000000 --overlap 0.3 --gov-extra-features 300 --out /tmp/big --json

Horizontal FL (non-IID banks, docs/hfl.md): --horizontal-banks N deals the customers to N banks that
serve different regions (or --non-iid industry) and writes DIR/bank-1.csv ... bank-N.csv and
DIR/test.csv (a common market-wide test set), model-ready, for fedscore train fedavg:
  fedscore datasets generate --enterprises 20000 --overlap 1 --default-rate 0.1 \
    --horizontal-banks 3 --bank-rows 1500 --out data/hfl
  fedscore train fedavg --client data/hfl/bank-1.csv --client data/hfl/bank-2.csv \
    --client data/hfl/bank-3.csv --test data/hfl/test.csv --id uscc --secure-agg`,
  options: {
    out: {
      type: 'string',
      required: true,
      placeholder: 'DIR',
      description: 'output directory (created if absent)',
    },
    enterprises: {
      type: 'integer',
      default: POPULATION_DEFAULTS.enterprises,
      placeholder: 'N',
      description: 'enterprises in the government table (100 to 2,000,000)',
    },
    'bank-customers': {
      type: 'integer',
      placeholder: 'N',
      description: 'exact number of government enterprises that bank with the bank (excludes --overlap)',
    },
    overlap: {
      type: 'number',
      placeholder: 'F',
      description: `share of government enterprises that are bank customers (default ${POPULATION_DEFAULTS.overlap})`,
    },
    'bank-only-fraction': {
      type: 'number',
      default: POPULATION_DEFAULTS.bankOnlyFraction,
      placeholder: 'F',
      description: 'extra bank customers absent from the government table, as a share of the overlap',
    },
    'gov-extra-features': {
      type: 'integer',
      default: 0,
      placeholder: 'N',
      description: 'extra synthetic government features for scale tests (0 to 2000)',
    },
    'bank-extra-features': {
      type: 'integer',
      default: 0,
      placeholder: 'N',
      description: 'extra synthetic bank features (0 to 2000)',
    },
    'default-rate': {
      type: 'number',
      default: POPULATION_DEFAULTS.defaultRate,
      placeholder: 'F',
      description: 'target share of defaults (0.005 to 0.5)',
    },
    'missing-rate-multiplier': {
      type: 'number',
      default: 1,
      placeholder: 'F',
      description: 'scales the non-structural missing-value rates (0 to 5)',
    },
    'label-column': {
      type: 'string',
      default: POPULATION_DEFAULTS.labelColumn,
      placeholder: 'NAME',
      description: "name of the label column in bank.csv (e.g. 'default_12m')",
    },
    seed: {
      type: 'integer',
      default: POPULATION_DEFAULTS.seed,
      placeholder: 'N',
      description: 'generator seed',
    },
    'horizontal-banks': {
      type: 'integer',
      placeholder: 'N',
      description: 'write N non-IID banks + a common test set for horizontal FL (2 to 8)',
    },
    'non-iid': {
      type: 'string',
      default: 'region',
      choices: ['region', 'industry'],
      description: 'with --horizontal-banks: what the banks specialise in',
    },
    skew: {
      type: 'number',
      default: 0.9,
      placeholder: 'F',
      description: "with --horizontal-banks: probability a customer banks with its segment's bank (0 = IID)",
    },
    'bank-rows': {
      type: 'integer',
      placeholder: 'N',
      description: 'with --horizontal-banks: at most N customers per bank',
    },
  },
  async run(o, _positionals, ctx) {
    const bankCustomers = optNum(o, 'bank-customers');
    const overlap = optNum(o, 'overlap');
    const options: PopulationOptions = {
      enterprises: optNum(o, 'enterprises'),
      ...(bankCustomers !== undefined && { bankCustomers }),
      ...(overlap !== undefined && { overlap }),
      bankOnlyFraction: optNum(o, 'bank-only-fraction'),
      govExtraFeatures: optNum(o, 'gov-extra-features'),
      bankExtraFeatures: optNum(o, 'bank-extra-features'),
      defaultRate: optNum(o, 'default-rate'),
      missingRateMultiplier: optNum(o, 'missing-rate-multiplier'),
      labelColumn: optStr(o, 'label-column'),
      seed: optNum(o, 'seed'),
    };
    const started = performance.now();
    const hBanks = optNum(o, 'horizontal-banks');
    if (hBanks !== undefined) {
      const dir = resolve(ctx.cwd, str(o, 'out'));
      const bankRows = optNum(o, 'bank-rows');
      const split = splitHorizontal(generatePopulation(options), {
        banks: hBanks,
        by: str(o, 'non-iid') as 'region' | 'industry',
        skew: optNum(o, 'skew'),
        ...(bankRows !== undefined && { bankRows }),
      });
      try {
        mkdirSync(dir, { recursive: true });
      } catch (e) {
        throw new FedscoreError('io', 'cannot create the output directory', {
          file: dir,
          field: '--out',
          cause: e,
        });
      }
      const files: {
        name: string;
        path: string;
        rows: number;
        default_rate: number;
        home: readonly string[];
      }[] = [];
      for (const b of split.banks) {
        const path = join(dir, `${b.name}.csv`);
        await writeCsvFile(path, b.table);
        files.push({
          name: b.name,
          path,
          rows: b.table.nRows,
          default_rate: b.defaultRate,
          home: b.homeSegments,
        });
        ctx.print(
          `${b.name} (${b.homeSegments.join(' + ')}): ${path}  ${b.table.nRows} rows, default rate ${(100 * b.defaultRate).toFixed(1)}%`,
        );
      }
      const testPath = join(dir, 'test.csv');
      await writeCsvFile(testPath, split.test);
      ctx.print(`common test set: ${testPath}  ${split.test.nRows} rows x ${split.columns.length} columns`);
      return {
        dir,
        horizontal: {
          by: split.by,
          skew: split.skew,
          banks: files,
          test: { path: testPath, rows: split.test.nRows },
        },
        columns: split.columns,
        seconds: Math.round(performance.now() - started) / 1000,
      };
    }
    const r = await writePopulation(options, resolve(ctx.cwd, str(o, 'out')), {
      logger: ctx.logger,
      progress: ctx.progress,
    });
    const seconds = (performance.now() - started) / 1000;
    ctx.print(
      `government (host): ${r.government.path}  ${r.government.rows} rows x ${r.government.columns} columns`,
    );
    ctx.print(`bank (guest):      ${r.bank.path}  ${r.bank.rows} rows x ${r.bank.columns} columns`);
    ctx.print(`manifest:          ${r.manifest}`);
    ctx.print(
      `overlap ${r.overlap}, bank-only ${r.bank.rows - r.overlap}, default rate ${(r.realizedDefaultRate * 100).toFixed(2)}%, ${seconds.toFixed(1)} s`,
    );
    return {
      dir: r.dir,
      government: r.government,
      bank: r.bank,
      manifest: r.manifest,
      overlap: r.overlap,
      bankOnly: r.bank.rows - r.overlap,
      realizedDefaultRate: r.realizedDefaultRate,
      options: r.options,
      seconds: Math.round(seconds * 1000) / 1000,
    };
  },
};
