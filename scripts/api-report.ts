/**
 * API reports (API Extractor): the public signatures of every package entry point, as a reviewed file
 * committed next to the package (`packages/<pkg>/api/<pkg>.api.md`; core's `./node` entry in
 * `core-node.api.md`). Reads the built declarations (`dist/*.d.ts`, run `pnpm build` first) -- what a
 * bank's compiler sees after `npm install`, not the sources.
 *
 *   pnpm api:check   CI: fails when a public signature differs from the committed report (an
 *                    unreviewed API change), printing which packages changed
 *   pnpm api:update  rewrites the reports; commit them with the change that caused them
 *
 * Rules: release tags are not used (everything exported is public); a type used by a public signature
 * but not exported from the entry point is listed in the report as `ae-forgotten-export` for review
 * rather than failing the build; TSDoc syntax is not enforced (our comments are prose).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CompilerState,
  Extractor,
  ExtractorConfig,
  ExtractorLogLevel,
  type ExtractorMessage,
  type IConfigFile,
} from '@microsoft/api-extractor';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const update = process.argv.includes('--update');

interface EntryPoint {
  readonly pkgDir: string;
  /** Subpath of the package's exports ('.' or './node'). */
  readonly subpath: string;
  readonly dts: string;
  readonly reportName: string;
}

/** Every exported subpath of every published package, from the `publishConfig.exports` the tarball gets. */
function entryPoints(): EntryPoint[] {
  const out: EntryPoint[] = [];
  for (const name of readdirSync(join(root, 'packages')).sort()) {
    const pkgDir = join(root, 'packages', name);
    let pj: { private?: boolean; publishConfig?: { exports?: Record<string, { types?: string }> } };
    try {
      pj = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
    } catch {
      continue;
    }
    if (pj.private === true) continue;
    for (const [subpath, target] of Object.entries(pj.publishConfig?.exports ?? {})) {
      if (target.types === undefined) continue;
      const suffix = subpath === '.' ? '' : `-${subpath.replace(/^\.\//, '').replaceAll('/', '-')}`;
      out.push({ pkgDir, subpath, dts: join(pkgDir, target.types), reportName: `${name}${suffix}` });
    }
  }
  return out;
}

const entries = entryPoints();
const unbuilt = entries.filter((e) => !existsSync(e.dts));
if (unbuilt.length > 0) {
  process.stderr.write(
    `api: no declarations at ${unbuilt.map((e) => e.dts).join(', ')}; run 'npx -y pnpm@12.4.2 run build' first\n`,
  );
  process.exit(1);
}

// Every @fedscore import resolves to the built declarations (the workspace's package.json exports point
// at the TypeScript sources), as it does in an installed project.
const paths: Record<string, string[]> = {};
for (const e of entries) {
  const pj = JSON.parse(readFileSync(join(e.pkgDir, 'package.json'), 'utf8')) as { name: string };
  paths[e.subpath === '.' ? pj.name : `${pj.name}/${e.subpath.slice(2)}`] = [e.dts];
}

function configFor(e: EntryPoint): ExtractorConfig {
  const configObject: IConfigFile = {
    projectFolder: e.pkgDir,
    mainEntryPointFilePath: e.dts,
    bundledPackages: [],
    compiler: {
      overrideTsconfig: {
        compilerOptions: {
          target: 'ES2023',
          lib: ['ES2023', 'DOM'],
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [join(root, 'node_modules', '@types')],
          paths,
        },
        files: entries.map((x) => x.dts),
      },
    },
    apiReport: {
      enabled: true,
      reportFileName: e.reportName,
      reportFolder: join(e.pkgDir, 'api'),
      reportTempFolder: join(tmpdir(), 'fedscore-api-report', e.reportName),
    },
    docModel: { enabled: false },
    dtsRollup: { enabled: false },
    tsdocMetadata: { enabled: false },
    newlineKind: 'lf',
    messages: {
      compilerMessageReporting: { default: { logLevel: ExtractorLogLevel.Error } },
      extractorMessageReporting: {
        default: { logLevel: ExtractorLogLevel.Warning },
        'ae-missing-release-tag': { logLevel: ExtractorLogLevel.None },
        'ae-forgotten-export': { logLevel: ExtractorLogLevel.None, addToApiReportFile: true },
        'ae-wrong-input-file-type': { logLevel: ExtractorLogLevel.None },
        // Prose comments, not TSDoc: undocumented members and {@link} targets are not API changes.
        'ae-undocumented': { logLevel: ExtractorLogLevel.None },
        'ae-unresolved-link': { logLevel: ExtractorLogLevel.None },
      },
      tsdocMessageReporting: { default: { logLevel: ExtractorLogLevel.None } },
    },
  };
  return ExtractorConfig.prepare({
    configObject,
    configObjectFullPath: join(e.pkgDir, 'api-extractor.json'),
    packageJsonFullPath: join(e.pkgDir, 'package.json'),
  });
}

const configs = entries.map((e) => ({ e, config: configFor(e) }));
const compilerState = CompilerState.create(configs[0]!.config, {
  additionalEntryPoints: entries.map((e) => e.dts),
});

const changed: string[] = [];
const failed: string[] = [];
for (const { e, config } of configs) {
  mkdirSync(join(e.pkgDir, 'api'), { recursive: true });
  const result = Extractor.invoke(config, {
    localBuild: update,
    compilerState,
    messageCallback: (m: ExtractorMessage) => {
      // The report-changed notice is summarized below; the rest print as API Extractor formats them.
      if (m.messageId === 'console-api-report-changed' || m.messageId === 'console-api-report-copied') {
        m.handled = true;
      }
      if (m.messageId === 'console-preamble' || m.messageId === 'console-api-report-unchanged')
        m.handled = true;
    },
  });
  if (result.apiReportChanged) changed.push(e.reportName);
  if (!result.succeeded) failed.push(e.reportName);
}

const where = (n: string) => `packages/${n.split('-')[0]}/api/${n}.api.md`;
if (update) {
  process.stdout.write(
    changed.length === 0
      ? `api: ${entries.length} reports up to date\n`
      : `api: updated ${changed.map(where).join(', ')}; review and commit them\n`,
  );
} else if (changed.length > 0 || failed.length > 0) {
  process.stderr.write(
    `api: the public API differs from the committed report in ${[...new Set([...changed, ...failed])].map(where).join(', ')}.\n` +
      `If the change is intended, run 'npx -y pnpm@12.4.2 run api:update', review the diff of the .api.md files and commit it.\n`,
  );
  process.exitCode = 1;
} else {
  process.stdout.write(`api: ${entries.length} reports match the public API\n`);
}
if (update && failed.length > 0) {
  process.stderr.write(`api: API Extractor failed on ${failed.join(', ')}\n`);
  process.exitCode = 1;
}
