/** `fedscore datasets fetch NAME`: download a public credit data set, verify it, split it FATE-style. */
import { resolve } from 'node:path';
import { fetchPublicDataset, PUBLIC_DATASETS } from '@fedscore/datasets';
import { type Command, optStr, str } from '../command.ts';

export const command: Command = {
  path: ['datasets', 'fetch'],
  summary: 'download a public credit data set, check its sha256, write <name>_hetero_{guest,host}.csv',
  description: `
Data sets:
${PUBLIC_DATASETS.map((d) => `  ${d.name.padEnd(16)} ${d.description}\n${' '.repeat(19)}${d.url}`).join('\n')}

The original file is kept beside the split. A digest other than the expected one fails with
checksum_mismatch (nothing is written). --url downloads from a mirror; the checksum still applies.`,
  positionals: [
    { name: 'NAME', description: PUBLIC_DATASETS.map((d) => d.name).join(' | '), required: true },
  ],
  options: {
    dir: { type: 'string', required: true, placeholder: 'DIR', description: 'output directory' },
    url: { type: 'string', placeholder: 'URL', description: 'download from this address instead' },
  },
  async run(o, positionals, ctx) {
    const name = positionals[0] ?? '';
    const url = optStr(o, 'url');
    const r = await fetchPublicDataset(name, resolve(ctx.cwd, str(o, 'dir')), {
      ...(url !== undefined && { url }),
      logger: ctx.logger,
      progress: ctx.progress,
    });
    ctx.print(`original: ${r.original.path} (${r.original.bytes} bytes, sha256 ${r.original.sha256})`);
    ctx.print(`guest:    ${r.guest.path}  ${r.guest.rows} rows x ${r.guest.columns} columns`);
    ctx.print(`host:     ${r.host.path}  ${r.host.rows} rows x ${r.host.columns} columns`);
    ctx.print(`licence:  ${r.licence}; cite: ${r.citation}`);
    return { ...r };
  },
};
