/**
 * `pnpm lint` step: fails when a package imports one above it in the dependency order, a sibling, another
 * package's internals, or a module reserved to another package. Run from the repository root.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkImport, findImportCycles, findImports, PACKAGE_RANK, type Violation } from './boundaries.ts';

const root = join(fileURLToPath(import.meta.url), '..', '..');

function walk(dir: string, out: string[] = []): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    if (e === 'node_modules' || e === 'generated' || e === 'dist' || e.startsWith('.')) continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|mts|js|mjs)$/.test(e) && !e.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const packagesDir = join(root, 'packages');
const publicSubpaths = new Map<string, Set<string>>();
for (const name of readdirSync(packagesDir)) {
  const pj = join(packagesDir, name, 'package.json');
  try {
    const json = JSON.parse(readFileSync(pj, 'utf8')) as { exports?: Record<string, unknown> | string };
    const exp = json.exports;
    publicSubpaths.set(
      name,
      new Set(typeof exp === 'string' || exp === undefined ? ['.'] : Object.keys(exp)),
    );
  } catch {}
}

const violations: Violation[] = [];
let files = 0;
for (const name of publicSubpaths.keys()) {
  if (PACKAGE_RANK[name] === undefined) {
    violations.push({
      file: `packages/${name}`,
      line: 0,
      specifier: '',
      rule: 'unknown-package',
      message: `packages/${name} has no place in the dependency order (scripts/boundaries.ts)`,
    });
  }
  // Relative imports among the package's sources, for the cycle check (tests may import anything).
  const graph = new Map<string, string[]>();
  for (const f of walk(join(packagesDir, name))) {
    files++;
    const rel = relative(root, f);
    const own: string[] = [];
    for (const ref of findImports(rel, readFileSync(f, 'utf8'))) {
      const bad = checkImport(ref, name, publicSubpaths);
      if (bad) violations.push(bad);
      if (ref.specifier.startsWith('.')) own.push(relative(root, resolve(dirname(f), ref.specifier)));
    }
    if (rel.startsWith(`packages/${name}/src/`)) graph.set(rel, own);
  }
  for (const cycle of findImportCycles(graph)) {
    violations.push({
      file: cycle[0]!,
      line: 0,
      specifier: '',
      rule: 'import-cycle',
      message: `import cycle: ${cycle.join(' -> ')} (move what they share into one module both import)`,
    });
  }
}
for (const top of ['examples', 'benchmarks', 'scripts']) {
  for (const f of walk(join(root, top))) {
    files++;
    const rel = relative(root, f);
    for (const ref of findImports(rel, readFileSync(f, 'utf8'))) {
      const bad = checkImport(ref, undefined, publicSubpaths);
      if (bad) violations.push(bad);
    }
  }
}
for (const v of violations) console.error(`${v.file}:${v.line}: [${v.rule}] ${v.message}`);
console.log(`boundaries: ${files} files, ${violations.length} violation(s)`);
process.exitCode = violations.length > 0 ? 1 : 0;
