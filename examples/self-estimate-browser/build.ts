/**
 * Bundle the page's client for browsers: `pnpm --filter @fedscore/example-self-estimate-browser build`
 * writes dist/self-estimate.js (the standalone demo) and dist/estimate-page.js (the client of the page a
 * bank's node serves under /estimate/, packages/node/src/console/self-estimate.ts), with node-seal's WASM
 * beside them. Workspace packages run from their
 * TypeScript source; Node built-ins imported by the HE worker pool are replaced by src/node-shim.ts.
 */
import { copyFileSync, mkdirSync, readdirSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const here = dirname(fileURLToPath(import.meta.url));
const shim = join(here, 'src', 'node-shim.ts');
const outDir = join(here, 'dist');

const pages: [string, string][] = [
  ['main.ts', 'self-estimate.js'],
  ['page.ts', 'estimate-page.js'],
];
for (const [entry, out] of pages)
  await build({
    input: join(here, 'src', entry),
    platform: 'browser',
    resolve: {
      alias: {
        'node:os': shim,
        'node:worker_threads': shim,
        'node:module': shim,
        'node:url': shim,
        'node:path': shim,
        'node:fs': shim,
        'node:crypto': shim,
        'node:zlib': shim,
      },
    },
    output: { file: join(outDir, out), format: 'esm', minify: true },
    logLevel: 'warn',
  });

// node-seal fetches its WASM next to the module that loads it (new URL('seal_throws.wasm', import.meta.url)).
const sealDir = join(
  realpathSync(join(here, '..', '..', 'packages', 'he', 'node_modules', 'node-seal')),
  'dist',
);
mkdirSync(outDir, { recursive: true });
for (const f of readdirSync(sealDir))
  if (f === 'seal_throws.wasm') copyFileSync(join(sealDir, f), join(outDir, f));
process.stdout.write(`wrote ${pages.map(([, out]) => join(outDir, out)).join(', ')}\n`);
