/**
 * `fedscore products preapprove`: record a bank's pre-approved credit lines in the loan-product pool of a
 * node's web console (docs/console.md, Products), so that the pool's products are matched against them.
 * The input is a credit-lines CSV as `fedscore demo` and `fedscore train fedavg --rules` write it (an id
 * column, `band` and `line`; `approved` when present): one pre-approval per enterprise with a band and a
 * line above zero. Run it on the node's host with the node's state directory; the console reads the pool
 * on each request.
 */
import { resolve } from 'node:path';
import { FedscoreError } from '@fedscore/core';
import { readCsvFile, readCsvFileDetailed } from '@fedscore/core/node';
import { ProductPool } from '@fedscore/node';
import { type Command, optStr, str } from '../command.ts';
import { checkStoreOptions, openStore, STORE_OPTIONS } from './audit-helpers.ts';

export const command: Command = {
  path: ['products', 'preapprove'],
  summary: "record a bank's pre-approved credit lines (credit-lines.csv) in the console's loan-product pool",
  description: `
Reads a credit-lines CSV -- the id column (--id; default 'id', else 'uscc'), 'band' and 'line', and
'approved' when the file has it -- and records, for --bank, one pre-approval per enterprise that has a
band and a line above zero (a later run replaces an enterprise's earlier line). Rows without a band,
with a zero line or not approved are counted as skipped. The console's Products page then matches every
product's rules (rating bands, least line) against them: listed to the operator and to the bank that
pre-approved, counted for others.

Example: fedscore products preapprove --store state/gov --bank bank-a --lines out/credit-lines.csv`,
  options: {
    ...STORE_OPTIONS,
    bank: {
      type: 'string',
      required: true,
      placeholder: 'PARTY',
      description: 'the bank whose pre-approvals these are (its party id)',
    },
    lines: {
      type: 'string',
      required: true,
      placeholder: 'FILE',
      description: 'credit-lines CSV: id, band, line (and approved)',
    },
    id: { type: 'string', placeholder: 'COL', description: "id column (default: 'id', else 'uscc')" },
  },
  check: checkStoreOptions,
  async run(o, _positionals, ctx) {
    const file = resolve(ctx.cwd, str(o, 'lines'));
    const { header } = await readCsvFileDetailed(file, { file, defaultRole: 'ignored', maxRows: 0 });
    const idColumn = optStr(o, 'id') ?? (header.includes('id') ? 'id' : 'uscc');
    const table = await readCsvFile(file, {
      file,
      idColumn,
      roles: Object.fromEntries(
        (
          [
            ['band', 'categorical'],
            ['line', 'numeric'],
            ['approved', 'categorical'],
          ] as const
        ).filter(([c]) => header.includes(c)),
      ),
      defaultRole: 'ignored',
    });
    const band = table.columns.find((c) => c.name === 'band');
    const line = table.columns.find((c) => c.name === 'line');
    if (band?.kind !== 'categorical') {
      throw new FedscoreError('csv_schema', `no 'band' column in ${file}`, { field: 'band', file });
    }
    if (line?.kind !== 'numeric') {
      throw new FedscoreError('csv_schema', `no 'line' column in ${file}`, { field: 'line', file });
    }
    const approved = table.columns.find((c) => c.name === 'approved');
    const store = openStore(ctx.cwd, o, true);
    try {
      const pool = new ProductPool(store);
      const bank = str(o, 'bank');
      let recorded = 0;
      let skipped = 0;
      store.transaction(() => {
        for (let i = 0; i < table.nRows; i++) {
          const b = band.codes[i]! < 0 ? '' : band.categories[band.codes[i]!]!;
          const l = line.values[i]!;
          const ok =
            approved?.kind !== 'categorical' ||
            ['true', '1', 'yes'].includes(approved.categories[approved.codes[i]!] ?? '');
          if (b === '' || !(l > 0) || !ok) {
            skipped++;
            continue;
          }
          try {
            pool.recordPreapproval({ bank, enterprise: table.ids[i]!, band: b, line: l });
          } catch (e) {
            if (e instanceof FedscoreError) {
              throw new FedscoreError(e.code, `${file}:${i + 2}: ${e.message}`, {
                ...(e.field !== undefined && { field: e.field }),
                file,
                details: { row: i + 1 },
                cause: e,
              });
            }
            throw e;
          }
          recorded++;
        }
      });
      ctx.print(`recorded ${recorded} pre-approved lines of ${bank} (${skipped} rows skipped)`);
      return { bank, recorded, skipped };
    } finally {
      store.close();
    }
  },
};
