/**
 * Package boundary rules (see docs/architecture.md). A package imports only packages earlier in the
 * dependency order, only through their public entry points (the `exports` of their package.json), and
 * never reaches into another package's files by relative path. Only `he` imports node-seal and only `node`
 * imports gRPC. Algorithm packages never import the file system or the network.
 */

/** Rank in the dependency order: a package may import only packages of a strictly lower rank. */
export const PACKAGE_RANK: Readonly<Record<string, number>> = {
  core: 0,
  he: 1,
  wire: 1,
  datasets: 1,
  psi: 2,
  queue: 2,
  vfl: 3,
  hfl: 3,
  scoring: 4,
  pipeline: 5,
  node: 6,
  cli: 7,
};

/** Third-party modules reserved to one package. */
export const RESERVED_MODULES: Readonly<Record<string, string>> = {
  'node-seal': 'he',
  '@grpc/grpc-js': 'node',
  'pg-boss': 'queue',
  '@grpc/proto-loader': 'node',
  '@tensorflow/tfjs-core': 'hfl',
  '@tensorflow/tfjs-layers': 'hfl',
  '@tensorflow/tfjs-backend-wasm': 'hfl',
  '@tensorflow/tfjs-backend-cpu': 'hfl',
  '@tensorflow/tfjs-node': 'hfl',
};

/** Packages whose code runs protocols and algorithms: no file system, no network. */
export const ALGORITHM_PACKAGES: ReadonlySet<string> = new Set([
  'core',
  'he',
  'wire',
  'psi',
  'vfl',
  'hfl',
  'scoring',
  'pipeline',
]);

const IO_MODULES = new Set([
  'fs',
  'fs/promises',
  'net',
  'http',
  'https',
  'http2',
  'dgram',
  'tls',
  'child_process',
  'node:fs',
  'node:fs/promises',
  'node:net',
  'node:http',
  'node:https',
  'node:http2',
  'node:dgram',
  'node:tls',
  'node:child_process',
]);

/** Files inside algorithm packages that are the declared I/O adapters (exported as `<pkg>/node`). */
export const IO_ADAPTER_FILES: ReadonlySet<string> = new Set(['packages/core/src/node.ts']);

export interface ImportRef {
  readonly file: string;
  readonly line: number;
  readonly specifier: string;
}

export interface Violation extends ImportRef {
  readonly rule:
    | 'order'
    | 'sibling'
    | 'deep-import'
    | 'relative-escape'
    | 'reserved-module'
    | 'io-in-algorithm'
    | 'unknown-package'
    | 'import-cycle';
  readonly message: string;
}

const IMPORT_RE =
  /(?:\bimport\s*(?:type\s+)?(?:[^'";]*?\sfrom\s*)?|\bexport\s*(?:type\s+)?[^'";]*?\sfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)['"]([^'"]+)['"]/g;

/** Import specifiers of a source file, with line numbers. Comments are skipped. */
export function findImports(file: string, source: string): ImportRef[] {
  const stripped = source
    .replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' '))
    .replace(/(^|[^:])\/\/.*$/gm, '$1');
  const out: ImportRef[] = [];
  for (const m of stripped.matchAll(IMPORT_RE)) {
    const line = stripped.slice(0, m.index).split('\n').length;
    out.push({ file, line, specifier: m[1]! });
  }
  return out;
}

/**
 * Check one import. `fromPackage` is the package the file belongs to (undefined for examples,
 * benchmarks and scripts, which may import every package through its public entries).
 * `publicSubpaths` maps a package name to the subpaths its package.json exports ('.' and e.g. './node').
 */
export function checkImport(
  ref: ImportRef,
  fromPackage: string | undefined,
  publicSubpaths: ReadonlyMap<string, ReadonlySet<string>>,
): Violation | undefined {
  const spec = ref.specifier;
  const v = (rule: Violation['rule'], message: string): Violation => ({ ...ref, rule, message });
  if (spec.startsWith('@fedscore/')) {
    const [, nameAndRest] = spec.split('@fedscore/');
    const [name, ...rest] = nameAndRest!.split('/');
    const subpath = rest.length ? `./${rest.join('/')}` : '.';
    const exported = publicSubpaths.get(name!);
    if (exported === undefined) {
      if (name === 'benchmarks' || name === 'cli') {
        // the CLI and benchmarks are leaves; importing them is checked by rank below
      } else return v('unknown-package', `'${spec}' names no workspace package`);
    } else if (!exported.has(subpath)) {
      return v(
        'deep-import',
        `'${spec}' is not a public entry of @fedscore/${name} (exports: ${[...exported].join(', ')})`,
      );
    }
    if (fromPackage !== undefined && name !== fromPackage) {
      const own = PACKAGE_RANK[fromPackage];
      const target = PACKAGE_RANK[name!];
      if (own === undefined || target === undefined)
        return v(
          'unknown-package',
          `package order has no rank for '${own === undefined ? fromPackage : name}'`,
        );
      if (target === own)
        return v('sibling', `@fedscore/${fromPackage} must not import its sibling @fedscore/${name}`);
      if (target > own)
        return v(
          'order',
          `@fedscore/${fromPackage} must not import @fedscore/${name}, which comes later in the order`,
        );
    }
    return undefined;
  }
  if (spec.startsWith('.')) {
    if (fromPackage !== undefined) {
      const dir = ref.file.split('/').slice(0, -1);
      const parts = [...dir];
      for (const seg of spec.split('/')) {
        if (seg === '..') parts.pop();
        else if (seg !== '.') parts.push(seg);
      }
      const resolved = parts.join('/');
      if (!resolved.startsWith(`packages/${fromPackage}/`)) {
        return v(
          'relative-escape',
          `'${spec}' reaches outside packages/${fromPackage}; import the package by name`,
        );
      }
    } else if (/(^|\/)packages\/[^/]+\/(src|test)\//.test(spec) || /\.\.\/packages\//.test(spec)) {
      return v('deep-import', `'${spec}' reaches into a package's files; import it by name`);
    }
    return undefined;
  }
  const reservedFor =
    RESERVED_MODULES[spec] ??
    RESERVED_MODULES[
      spec
        .split('/')
        .slice(0, spec.startsWith('@') ? 2 : 1)
        .join('/')
    ];
  if (reservedFor !== undefined && fromPackage !== undefined && fromPackage !== reservedFor) {
    return v('reserved-module', `only @fedscore/${reservedFor} may import '${spec}'`);
  }
  if (
    fromPackage !== undefined &&
    ALGORITHM_PACKAGES.has(fromPackage) &&
    IO_MODULES.has(spec) &&
    !IO_ADAPTER_FILES.has(ref.file) &&
    ref.file.startsWith(`packages/${fromPackage}/src/`)
  ) {
    return v(
      'io-in-algorithm',
      `@fedscore/${fromPackage} is an algorithm package and must not import '${spec}'`,
    );
  }
  return undefined;
}

/**
 * Import cycles among a package's own modules (type-only imports included: a cycle of types is still
 * two files that cannot be read, moved or split one without the other). `graph` maps a module to the
 * modules it imports. Returns one cycle per strongly connected component (Tarjan 1972), each as the path
 * of modules from its first member back to it, sorted so the output is stable.
 */
export function findImportCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1 || (graph.get(v) ?? []).includes(v)) components.push(c);
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return components
    .map((c) => {
      const members = new Set(c);
      const start = [...c].sort()[0]!;
      // A shortest path from `start` back to itself inside the component (breadth-first).
      const prev = new Map<string, string>();
      const queue = [start];
      while (queue.length > 0) {
        const v = queue.shift()!;
        for (const w of graph.get(v) ?? []) {
          if (!members.has(w)) continue;
          if (w === start) {
            const path = [start];
            for (let u = v; u !== start; u = prev.get(u)!) path.splice(1, 0, u);
            path.push(start);
            return path;
          }
          if (!prev.has(w)) {
            prev.set(w, v);
            queue.push(w);
          }
        }
      }
      return [start, start];
    })
    .sort((a, b) => a[0]!.localeCompare(b[0]!));
}
