/**
 * `fedscore consent check`: which of a list of enterprises may be used by a grantee for a purpose at a
 * time -- the filter training and scoring apply -- with the exclusions counted by reason.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { FedscoreError } from '@fedscore/core';
import { readIdList } from '@fedscore/core/node';
import { CONSENT_PURPOSES, type ConsentPurpose, ConsentRegistry } from '@fedscore/node';
import { type Command, optStr, str, strs } from '../command.ts';
import { checkStoreOptions, openStore, parseTime, STORE_OPTIONS } from './audit-helpers.ts';

export const command: Command = {
  path: ['consent', 'check'],
  summary: 'filter a list of enterprises by valid consent and count the exclusions',
  description: `
--ids is a text file with one USCC per line. With --out the included USCCs are written one per line.

Example:
  fedscore consent check --store ./state/gov --ids overlap.txt --grantee bank-a --purpose training --json`,
  options: {
    ...STORE_OPTIONS,
    ids: { type: 'string', required: true, placeholder: 'FILE', description: 'USCCs, one per line' },
    grantee: {
      type: 'string',
      required: true,
      placeholder: 'ID',
      description: 'the party that would use the data',
    },
    purpose: { type: 'string', required: true, choices: [...CONSENT_PURPOSES], description: 'the use' },
    category: {
      type: 'string',
      multiple: true,
      placeholder: 'CATEGORY',
      description: 'categories needed (default all)',
    },
    at: { type: 'string', placeholder: 'TIME', description: 'the job start time (default now)' },
    out: { type: 'string', placeholder: 'FILE', description: 'write the included USCCs here' },
  },
  check: checkStoreOptions,
  async run(options, _positionals, ctx) {
    const idsFile = resolve(ctx.cwd, str(options, 'ids'));
    // One id a line; invalid UTF-8 is refused naming its line (replacing it with U+FFFD would make
    // distinct raw ids one).
    const ids = await readIdList(idsFile).catch((e: unknown) => {
      if (e instanceof FedscoreError && e.code !== 'io') throw e;
      throw new FedscoreError('io', 'cannot read the id list', { file: idsFile, field: '--ids', cause: e });
    });
    const store = openStore(ctx.cwd, options, false);
    try {
      const at = optStr(options, 'at');
      const categories = strs(options, 'category');
      const r = await new ConsentRegistry(store).filterByConsentAsync(ids, {
        grantee: str(options, 'grantee'),
        purpose: str(options, 'purpose') as ConsentPurpose,
        ...(categories.length > 0 && { categories }),
        ...(at !== undefined && { at: parseTime(at, '--at') }),
      });
      const out = optStr(options, 'out');
      if (out !== undefined) {
        const path = resolve(ctx.cwd, out);
        try {
          writeFileSync(path, r.included.length > 0 ? `${r.included.join('\n')}\n` : '');
        } catch (e) {
          throw new FedscoreError('io', 'cannot write the included ids', {
            file: path,
            field: '--out',
            cause: e,
          });
        }
      }
      ctx.print(
        `${r.included.length} of ${ids.length} may be used; excluded ${r.excludedTotal}: ${JSON.stringify(r.excluded)}`,
      );
      return {
        input: ids.length,
        included: r.included.length,
        excluded: r.excluded,
        excludedTotal: r.excludedTotal,
        enterpriseFingerprint: r.enterpriseFingerprint,
        consentRef: r.consentRef,
        at: r.at,
      };
    } finally {
      store.close();
    }
  },
};
