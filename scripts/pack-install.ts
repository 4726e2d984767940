/**
 * The SDK as a bank installs it: build, `pnpm pack` every package, check each tarball against its own
 * package.json, `npm install` the tarballs into a fresh project outside the workspace (a temporary
 * directory: no pnpm, no workspace links, nothing from the repository but the tarballs and the
 * docs/sdk.md example file), and run from there:
 *
 *   - examples/sdk-risk-engine/src/risk-engine.ts: PSI between two parties, hetero-LR under CKKS over the
 *     in-memory network, save/load of party models, online scoring of one applicant;
 *   - `npx fedscore --help` and a small `npx fedscore demo`;
 *   - a type check of that example against the installed `.d.ts` files;
 *   - on a Node.js older than 22.18, when one is on this machine, `import('@fedscore/he')` and the
 *     `fedscore` bin, which must refuse in one sentence.
 *
 * Used by examples/sdk-risk-engine/test/pack-install.test.ts (CI). Run by hand to record the measurement:
 *   npx -y pnpm@12.4.2 exec node --disable-warning=ExperimentalWarning scripts/pack-install.ts --record
 * which writes benchmarks/results/pack-install.{json,md} (install time, tarball sizes).
 */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { delimiter, dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
export const PNPM = ['-y', 'pnpm@12.4.2'];
export const EXAMPLE = join(ROOT, 'examples', 'sdk-risk-engine', 'src', 'risk-engine.ts');
const MIN_NODE = [22, 18, 0];

export interface TarballReport {
  readonly name: string;
  readonly file: string;
  readonly bytes: number;
  readonly files: number;
  readonly unpackedBytes: number;
  /** Of which source maps (`*.map`, sources inlined). */
  readonly mapBytes: number;
  /** What the tarball's package.json says after pack (publishConfig applied, workspace ranges rewritten). */
  readonly manifest: PackedManifest;
}

export interface PackedManifest {
  readonly name: string;
  readonly version: string;
  readonly exports?: unknown;
  readonly bin?: Record<string, string>;
  readonly files?: string[];
  readonly dependencies?: Record<string, string>;
  readonly publishConfig?: unknown;
}

export interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

export interface OldNodeReport {
  readonly binary: string;
  readonly version: string;
  readonly importHe: RunResult;
  readonly bin: RunResult;
}

export interface PackInstallReport {
  readonly date: string;
  readonly node: string;
  readonly npm: string;
  readonly machine: { readonly cpus: number; readonly model: string };
  readonly project: string;
  readonly tarballs: readonly TarballReport[];
  readonly totalTarballBytes: number;
  readonly seconds: { readonly build: number; readonly pack: number; readonly install: number };
  readonly installedPackages: number;
  readonly example: RunResult;
  readonly typecheck: RunResult;
  /** `createHeWorkerPool` from the installed package: its worker thread loads dist/worker.js. */
  readonly heWorkers: RunResult;
  readonly help: RunResult;
  readonly demo: RunResult;
  /** Undefined when no Node.js older than 22.18 is on this machine (`skipReason` says so). */
  readonly oldNode: OldNodeReport | undefined;
  readonly oldNodeSkipReason?: string;
  /** Problems found in the tarballs (empty when every check passed). */
  readonly problems: readonly string[];
}

/** The environment of every child: this Node.js (22.18+) first on PATH, so `#!/usr/bin/env node` finds it. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${dirname(process.execPath)}${delimiter}${process.env['PATH'] ?? ''}`,
  };
  // Nothing of the workspace may leak into the fresh project's resolution.
  for (const k of Object.keys(env)) {
    if (k.startsWith('npm_') || k === 'NODE_OPTIONS' || k === 'NODE_PATH' || k.startsWith('VITEST'))
      delete env[k];
  }
  env['npm_config_update_notifier'] = 'false';
  env['npm_config_fund'] = 'false';
  env['npm_config_audit'] = 'false';
  return env;
}

export function run(cmd: string, args: readonly string[], cwd: string, timeoutSeconds = 300): RunResult {
  const t0 = performance.now();
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, {
    cwd,
    env: childEnv(),
    encoding: 'utf8',
    timeout: timeoutSeconds * 1000,
    maxBuffer: 64 * 2 ** 20,
  });
  const seconds = (performance.now() - t0) / 1000;
  if (r.error)
    return { status: null, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}\n${String(r.error)}`, seconds };
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, seconds };
}

function mustRun(cmd: string, args: readonly string[], cwd: string, timeoutSeconds = 300): RunResult {
  const r = run(cmd, args, cwd, timeoutSeconds);
  if (r.status !== 0) {
    throw new Error(`'${cmd} ${args.join(' ')}' in ${cwd} exited ${r.status}:\n${r.stderr.slice(-4000)}`);
  }
  return r;
}

/** Workspace packages under packages/ that are published (not private), with their versions. */
export function publishablePackages(): { dir: string; name: string; version: string }[] {
  const out: { dir: string; name: string; version: string }[] = [];
  for (const d of readdirSync(join(ROOT, 'packages')).sort()) {
    const dir = join(ROOT, 'packages', d);
    let pj: { name: string; version: string; private?: boolean };
    try {
      pj = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    } catch {
      continue;
    }
    if (pj.private !== true) out.push({ dir, name: pj.name, version: pj.version });
  }
  return out;
}

function exportTargets(exp: unknown, out: string[] = []): string[] {
  if (typeof exp === 'string') out.push(exp);
  else if (exp !== null && typeof exp === 'object') for (const v of Object.values(exp)) exportTargets(v, out);
  return out;
}

/** Relative module specifiers and sibling-module URLs a compiled file needs next to it. */
function neededSiblings(text: string, isDts: boolean): string[] {
  const out: string[] = [];
  const patterns = [
    /\bfrom\s*['"](\.{1,2}\/[^'"]+)['"]/g,
    /\bimport\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g,
    /\bimport\s*['"](\.{1,2}\/[^'"]+)['"]/g,
    /\bnew URL\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*,\s*import\.meta\.url/g,
  ];
  for (const re of patterns) for (const m of text.matchAll(re)) out.push(m[1]!);
  // siblingModuleUrl('./worker', import.meta.url): the .js form is the one dist/ loads.
  if (!isDts)
    for (const m of text.matchAll(/siblingModuleUrl\(\s*['"](\.{1,2}\/[^'"]+)['"]/g)) out.push(`${m[1]}.js`);
  return out;
}

/**
 * Checks one unpacked tarball against its manifest: every export target, bin and relative import
 * exists; nothing but dist/ (plus package.json and docs) is shipped; no TypeScript source; no
 * `workspace:` range; `@fedscore/*` dependencies pinned to the workspace versions.
 */
export function checkTarball(
  unpacked: string,
  files: readonly string[],
  manifest: PackedManifest,
  versions: ReadonlyMap<string, string>,
): string[] {
  const problems: string[] = [];
  const name = manifest.name;
  const present = new Set(files);
  for (const f of files) {
    if (f === 'package.json' || /^(README|LICENSE|NOTICE|CHANGELOG)(\.\w+)?$/i.test(f)) continue;
    if (!f.startsWith('dist/')) problems.push(`${name}: ships ${f}, outside dist/`);
    if (/\.[cm]?tsx?$/.test(f) && !/\.d\.[cm]?ts$/.test(f))
      problems.push(`${name}: ships TypeScript source ${f}`);
    if (f.endsWith('.tsbuildinfo')) problems.push(`${name}: ships build info ${f}`);
  }
  if (manifest.publishConfig !== undefined) problems.push(`${name}: publishConfig was not applied by pack`);
  for (const t of exportTargets(manifest.exports)) {
    const rel = posix.normalize(t);
    if (!present.has(rel)) problems.push(`${name}: export target ${t} is not in the tarball`);
    if (/\.[cm]?ts$/.test(rel) && !/\.d\.[cm]?ts$/.test(rel))
      problems.push(`${name}: export target ${t} is TypeScript`);
  }
  for (const [cmd, t] of Object.entries(manifest.bin ?? {})) {
    const rel = posix.normalize(t);
    if (!present.has(rel)) {
      problems.push(`${name}: bin ${cmd} -> ${t} is not in the tarball`);
      continue;
    }
    const first = readFileSync(join(unpacked, rel), 'utf8').split('\n', 1)[0];
    if (first !== '#!/usr/bin/env node')
      problems.push(`${name}: bin ${cmd} has no '#!/usr/bin/env node' line`);
  }
  for (const [dep, range] of Object.entries(manifest.dependencies ?? {})) {
    if (range.startsWith('workspace:')) problems.push(`${name}: dependency ${dep} kept '${range}'`);
    const want = versions.get(dep);
    if (want !== undefined && range !== want)
      problems.push(`${name}: dependency ${dep}@${range}, workspace has ${want}`);
  }
  for (const f of files) {
    const isDts = /\.d\.[cm]?ts$/.test(f);
    if (!isDts && !/\.[cm]?js$/.test(f)) continue;
    const text = readFileSync(join(unpacked, f), 'utf8');
    for (const spec of neededSiblings(text, isDts)) {
      let target = posix.normalize(posix.join(posix.dirname(f), spec));
      // Declarations keep the sources' `./x.ts` specifiers (tsc rewrites them in JS only); TypeScript
      // resolves them to the `./x.d.ts` next to them.
      if (isDts && /\.[cm]?[jt]s$/.test(target) && !present.has(target)) {
        target = target.replace(/\.([cm]?)[jt]s$/, '.d.$1ts');
      }
      if (!present.has(target)) problems.push(`${name}: ${f} needs ${spec}, which is not in the tarball`);
    }
  }
  return problems;
}

function listFiles(dir: string, base = dir, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) listFiles(p, base, out);
    else
      out.push(
        p
          .slice(base.length + 1)
          .split('\\')
          .join('/'),
      );
  }
  return out;
}

function parseVersion(v: string): number[] {
  return v.replace(/^v/, '').split('.').map(Number);
}

function olderThanMin(v: string): boolean {
  const have = parseVersion(v);
  for (let i = 0; i < 3; i++) {
    if (have[i]! !== MIN_NODE[i]!) return have[i]! < MIN_NODE[i]!;
  }
  return false;
}

/** A Node.js binary older than 22.18 on this machine (PATH entries and /usr/bin/node), if any. */
export function findOldNode(): { binary: string; version: string } | undefined {
  const candidates = new Set<string>(['/usr/bin/node', '/usr/local/bin/node']);
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) if (dir) candidates.add(join(dir, 'node'));
  for (const binary of candidates) {
    const r = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0 || typeof r.stdout !== 'string') continue;
    const version = r.stdout.trim();
    if (/^v\d+\.\d+\.\d+/.test(version) && olderThanMin(version)) return { binary, version };
  }
  return undefined;
}

export interface PackInstallOptions {
  /** Keep the temporary project (default false: removed at the end). */
  readonly keep?: boolean;
  /** Demo size (default 1500 enterprises, 800 bank customers, 1 epoch). */
  readonly demoArgs?: readonly string[];
}

export function packAndInstall(options: PackInstallOptions = {}): PackInstallReport {
  const npx = 'npx';
  const work = mkdtempSync(join(tmpdir(), 'fedscore-pack-install-'));
  try {
    const tarDir = join(work, 'tarballs');
    const project = join(work, 'bank-risk-engine');
    mkdirSync(tarDir);
    mkdirSync(project);

    const build = mustRun(npx, [...PNPM, 'run', 'build'], ROOT, 600);

    const packages = publishablePackages();
    const versions = new Map(packages.map((p) => [p.name, p.version]));
    const tPack = performance.now();
    // One recursive pack: pnpm applies publishConfig and rewrites workspace: ranges to versions.
    mustRun(
      npx,
      [...PNPM, '-r', '--filter', './packages/*', 'pack', '--pack-destination', tarDir],
      ROOT,
      300,
    );
    const packSeconds = (performance.now() - tPack) / 1000;

    const problems: string[] = [];
    const tarballs: TarballReport[] = [];
    for (const file of readdirSync(tarDir)
      .filter((f) => f.endsWith('.tgz'))
      .sort()) {
      const unpacked = join(work, 'unpacked', file.replace(/\.tgz$/, ''));
      mkdirSync(unpacked, { recursive: true });
      mustRun('tar', ['-xzf', join(tarDir, file), '-C', unpacked, '--strip-components=1'], work);
      const files = listFiles(unpacked).sort();
      const manifest = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')) as PackedManifest;
      problems.push(...checkTarball(unpacked, files, manifest, versions));
      const unpackedBytes = files.reduce((s, f) => s + statSync(join(unpacked, f)).size, 0);
      const mapBytes = files
        .filter((f) => f.endsWith('.map'))
        .reduce((s, f) => s + statSync(join(unpacked, f)).size, 0);
      tarballs.push({
        name: manifest.name,
        file,
        bytes: statSync(join(tarDir, file)).size,
        files: files.length,
        unpackedBytes,
        mapBytes,
        manifest,
      });
    }
    for (const p of packages) {
      if (!tarballs.some((t) => t.name === p.name)) problems.push(`${p.name}: no tarball was produced`);
    }

    // The bank's fresh project: a package.json, the tarballs, plain npm.
    writeFileSync(
      join(project, 'package.json'),
      `${JSON.stringify({ name: 'bank-risk-engine', private: true, type: 'module' }, null, 2)}\n`,
    );
    const install = mustRun(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        ...tarballs.map((t) => join(tarDir, t.file)),
      ],
      project,
      600,
    );
    const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, unknown>;
    };
    const installedPackages = Object.keys(lock.packages).filter((k) => k.startsWith('node_modules/')).length;

    // The docs/sdk.md example, copied in as the bank's own code (it is not under node_modules, so Node runs
    // the .ts file with type stripping; the @fedscore imports resolve to the installed dist/).
    copyFileSync(EXAMPLE, join(project, 'risk-engine.ts'));
    const example = run(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', 'risk-engine.ts'],
      project,
      600,
    );

    // The example type-checks against the installed declarations (TypeScript from the workspace as a tool).
    writeFileSync(
      join(project, 'tsconfig.json'),
      `${JSON.stringify(
        {
          compilerOptions: {
            target: 'ES2023',
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            strict: true,
            noEmit: true,
            skipLibCheck: false,
            types: ['node'],
            typeRoots: [join(ROOT, 'node_modules', '@types')],
          },
          files: ['risk-engine.ts'],
        },
        null,
        2,
      )}\n`,
    );
    const typecheck = run(
      process.execPath,
      [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'],
      project,
      300,
    );

    // The HE worker pool starts dist/worker.js in a worker thread (the example covers PSI's and
    // hetero-LR's workers): encrypt there, decrypt there, compare in the test.
    writeFileSync(
      join(project, 'he-workers.mjs'),
      [
        "import { createCkksContext, createHeWorkerPool } from '@fedscore/he';",
        'const context = await createCkksContext();',
        'const pool = await createHeWorkerPool({ context, size: 1 });',
        'const [ct] = await pool.encrypt([Float64Array.of(1.5, -2.25)]);',
        'const [v] = await pool.decrypt([ct]);',
        'await pool.close();',
        'context.dispose();',
        'console.log(JSON.stringify({ values: [v[0], v[1]] }));',
        '',
      ].join('\n'),
    );
    const heWorkers = run(process.execPath, ['he-workers.mjs'], project, 120);

    const help = run(npx, ['--no-install', 'fedscore', '--help'], project, 120);
    const demoOut = join(work, 'demo');
    const demo = run(
      npx,
      [
        '--no-install',
        'fedscore',
        'demo',
        ...(options.demoArgs ?? ['--enterprises', '1500', '--bank-customers', '800', '--epochs', '1']),
        '--out',
        demoOut,
        '--json',
        '--quiet',
      ],
      project,
      600,
    );

    const old = findOldNode();
    let oldNode: OldNodeReport | undefined;
    if (old !== undefined) {
      oldNode = {
        ...old,
        importHe: run(
          old.binary,
          ['--input-type=module', '-e', "await import('@fedscore/he');"],
          project,
          60,
        ),
        bin: run(old.binary, [join(project, 'node_modules', '.bin', 'fedscore'), '--help'], project, 60),
      };
    }

    const npmVersion = run('npm', ['--version'], project).stdout.trim();
    return {
      date: new Date().toISOString(),
      node: process.version,
      npm: npmVersion,
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown' },
      project,
      tarballs,
      totalTarballBytes: tarballs.reduce((s, t) => s + t.bytes, 0),
      seconds: { build: build.seconds, pack: packSeconds, install: install.seconds },
      installedPackages,
      example,
      typecheck,
      heWorkers,
      help,
      demo,
      oldNode,
      ...(old === undefined
        ? { oldNodeSkipReason: 'no Node.js older than 22.18 on PATH or at /usr/bin/node' }
        : {}),
      problems,
    };
  } finally {
    if (options.keep !== true) rmSync(work, { recursive: true, force: true });
  }
}

const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;

/** benchmarks/results/pack-install.{json,md}. */
export function recordReport(r: PackInstallReport): void {
  const dir = join(ROOT, 'benchmarks', 'results');
  const summary = {
    date: r.date,
    node: r.node,
    npm: r.npm,
    machine: r.machine,
    target: { installSeconds: 60 },
    seconds: r.seconds,
    installedPackages: r.installedPackages,
    totalTarballBytes: r.totalTarballBytes,
    tarballs: r.tarballs.map((t) => ({
      name: t.name,
      bytes: t.bytes,
      files: t.files,
      unpackedBytes: t.unpackedBytes,
      mapBytes: t.mapBytes,
    })),
    exampleSeconds: r.example.seconds,
    demoSeconds: r.demo.seconds,
  };
  writeFileSync(join(dir, 'pack-install.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const maps = r.tarballs.reduce((s, t) => s + t.mapBytes, 0);
  const unpacked = r.tarballs.reduce((s, t) => s + t.unpackedBytes, 0);
  const rows = r.tarballs
    .map((t) => `| ${t.name} | ${kib(t.bytes)} | ${t.files} | ${kib(t.unpackedBytes)} |`)
    .join('\n');
  const md = `# Packed install into a fresh project

\`scripts/pack-install.ts\` (run in CI by \`examples/sdk-risk-engine/test/pack-install.test.ts\`): \`pnpm pack\` of every
package, then \`npm install\` of the tarballs into an empty project in a temporary directory, then the
docs/sdk.md example, \`fedscore --help\` and a small \`fedscore demo\` from that project.

- Date: ${r.date}; machine: ${r.machine.cpus} CPUs (${r.machine.model}), shared with other jobs
- Node.js ${r.node}, npm ${r.npm}; npm cache as found (third-party packages from the registry)
- Target: install under 60 s. **Install: ${r.seconds.install.toFixed(1)} s** (${r.installedPackages} packages in
  node_modules); build ${r.seconds.build.toFixed(1)} s (incremental), pack ${r.seconds.pack.toFixed(1)} s
  (${r.tarballs.length} packages, \`pnpm -r pack\`)
- **Tarballs: ${kib(r.totalTarballBytes)} in total**
- From the installed project: example (PSI, hetero-LR under CKKS, save/load, online score)
  ${r.example.seconds.toFixed(1)} s; \`fedscore demo --enterprises 1500 --bank-customers 800 --epochs 1\`
  ${r.demo.seconds.toFixed(1)} s

| package | tarball | files | unpacked |
| ------- | ------: | ----: | -------: |
${rows}
| **total** | **${kib(r.totalTarballBytes)}** | ${r.tarballs.reduce((s, t) => s + t.files, 0)} | ${kib(r.tarballs.reduce((s, t) => s + t.unpackedBytes, 0))} |

Source maps carry their sources inline (\`inlineSources\`), so a stack trace from an installed package
points at readable TypeScript without shipping \`src/\`: ${kib(maps)} of the ${kib(unpacked)} unpacked
(${((100 * maps) / unpacked).toFixed(0)}%; wire's generated protobuf code is the largest non-map file).
`;
  writeFileSync(join(dir, 'pack-install.md'), md);
}

if (import.meta.main) {
  const r = packAndInstall({ keep: process.argv.includes('--keep') });
  const show = {
    ...r,
    tarballs: r.tarballs.map((t) => ({ name: t.name, bytes: t.bytes, files: t.files })),
    example: { ...r.example, stderr: r.example.stderr.slice(-2000) },
    demo: { ...r.demo, stdout: r.demo.stdout.slice(0, 500), stderr: r.demo.stderr.slice(-2000) },
    help: { ...r.help, stdout: r.help.stdout.slice(0, 300) },
  };
  console.log(JSON.stringify(show, null, 2));
  if (process.argv.includes('--record')) recordReport(r);
  const failed =
    r.problems.length > 0 || r.example.status !== 0 || r.help.status !== 0 || r.demo.status !== 0;
  process.exitCode = failed ? 1 : 0;
}
