/**
 * What fedscore needs of the JavaScript runtime, checked where it matters instead of failing later with
 * an engine error nobody can read.
 *
 * - Node.js 22.18 or newer. node-seal 7's WebAssembly build uses the exception-handling reference types
 *   (`exnref`/`noexternref`) that Node 20's V8 rejects with "CompileError: invalid value type", the CLI
 *   relies on `import.meta.main` (22.18), and the workspace runs its TypeScript sources through Node's
 *   type stripping, on by default from 22.18. `@fedscore/he` and the `fedscore` command call
 *   `assertSupportedNode` before anything else loads.
 * - Packages run both from their TypeScript sources (the workspace) and from compiled `dist/` JavaScript
 *   (an installed tarball); `siblingModuleUrl` names a worker file in whichever form the caller is in.
 */
import { FedscoreError } from './errors.ts';

/** The oldest Node.js release fedscore supports (package.json `engines.node` says the same). */
export const MIN_NODE_VERSION = '22.18.0';

/** Why Node.js older than `MIN_NODE_VERSION` cannot run fedscore (ends the error sentence). */
const WHY =
  "node-seal 7's WebAssembly uses exception-handling reference types (exnref) that older V8 rejects, and " +
  'fedscore relies on import.meta.main and on type stripping being on by default';

function parseVersion(v: string): [number, number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/**
 * The sentence explaining why this runtime cannot run fedscore, or undefined when it can. `versions` is
 * `process.versions` (injectable for tests); a runtime without `versions.node` (a browser, a bundler's
 * worker) is not judged here: it brings its own WebAssembly engine.
 */
export function nodeVersionProblem(
  versions: { readonly node?: string | undefined } | undefined = globalThis.process?.versions,
): string | undefined {
  const current = versions?.node;
  if (current === undefined) return undefined;
  const have = parseVersion(current);
  const need = parseVersion(MIN_NODE_VERSION) as [number, number, number];
  if (have === undefined) return undefined;
  for (let i = 0; i < 3; i++) {
    if (have[i]! > need[i]!) return undefined;
    if (have[i]! < need[i]!) {
      return `fedscore needs Node.js ${MIN_NODE_VERSION} or newer, but this is Node.js ${current}: ${WHY}.`;
    }
  }
  return undefined;
}

/** Throws `FedscoreError('unsupported')` with `nodeVersionProblem`'s sentence on an unsupported Node.js. */
export function assertSupportedNode(
  versions: { readonly node?: string | undefined } | undefined = globalThis.process?.versions,
): void {
  const problem = nodeVersionProblem(versions);
  if (problem !== undefined) {
    // No `field`: the message stays the one sentence the user reads (a field would prefix it).
    throw new FedscoreError('unsupported', problem, {
      details: { node: String(versions?.node), required: MIN_NODE_VERSION },
    });
  }
}

/**
 * URL of the module `stem` (e.g. `'./worker'`) next to the caller, with the caller's own extension:
 * `.ts` when the caller runs from its TypeScript source, `.js` when it runs compiled from `dist/`
 * (likewise `.mts`/`.mjs`).
 * Pass the caller's `import.meta.url`.
 */
export function siblingModuleUrl(stem: string, importMetaUrl: string): URL {
  const path = new URL(importMetaUrl).pathname;
  const ext = /\.[cm]?[jt]s$/.exec(path)?.[0] ?? '.js';
  return new URL(`${stem}${ext}`, importMetaUrl);
}
