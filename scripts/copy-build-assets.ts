/**
 * Second half of `pnpm build` (after `tsc -b tsconfig.build.json`): copies the files under each
 * package's `src/` that the compiler does not emit into its `dist/`, at the same relative path, so code
 * that finds them next to itself (`new URL('./client.js', import.meta.url)`) works from `dist/` exactly
 * as from `src/`. That is the generated protobuf code of packages/wire (`.js` + `.d.ts`), the report
 * page's browser script and the demo's default rules of packages/cli, and any future `.wasm`/`.json`.
 * TypeScript sources (`.ts` that are not `.d.ts`) are compiled by tsc and never copied.
 */
import { copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const packagesDir = join(root, 'packages');

function compiledByTsc(file: string): boolean {
  return (file.endsWith('.ts') && !file.endsWith('.d.ts')) || file.endsWith('.tsx');
}

function assetsUnder(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) assetsUnder(p, out);
    else if (!compiledByTsc(e)) out.push(p);
  }
  return out;
}

let copied = 0;
for (const name of readdirSync(packagesDir)) {
  const src = join(packagesDir, name, 'src');
  const dist = join(packagesDir, name, 'dist');
  let assets: string[];
  try {
    assets = assetsUnder(src);
  } catch {
    continue;
  }
  for (const file of assets) {
    const target = join(dist, relative(src, file));
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(file, target);
    copied++;
  }
}
process.stdout.write(`copied ${copied} non-TypeScript files from packages/*/src into packages/*/dist\n`);
