import { describe, expect, it } from 'vitest';
import { checkImport, findImportCycles, findImports } from '../boundaries.ts';

const exportsMap = new Map([
  ['core', new Set(['.', './node'])],
  ['he', new Set(['.'])],
  ['wire', new Set(['.'])],
  ['psi', new Set(['.'])],
  ['vfl', new Set(['.'])],
  ['hfl', new Set(['.'])],
]);
const ref = (file: string, specifier: string) => ({ file, line: 1, specifier });

describe('package boundary rules', () => {
  it('finds static, type-only, re-export and dynamic imports but not commented ones', () => {
    const src = [
      "import { a } from '@fedscore/core';",
      "import type { B } from '@fedscore/he';",
      "export { c } from './c.ts';",
      "const m = await import('@fedscore/wire');",
      "// import { x } from '@fedscore/cli';",
      "/* import '@fedscore/node'; */",
      "import './side-effect.ts';",
    ].join('\n');
    expect(findImports('packages/psi/src/x.ts', src).map((r) => [r.specifier, r.line])).toEqual([
      ['@fedscore/core', 1],
      ['@fedscore/he', 2],
      ['./c.ts', 3],
      ['@fedscore/wire', 4],
      ['./side-effect.ts', 7],
    ]);
  });

  it('allows imports down the order and of the own package', () => {
    expect(checkImport(ref('packages/psi/src/a.ts', '@fedscore/core'), 'psi', exportsMap)).toBeUndefined();
    expect(checkImport(ref('packages/vfl/src/a.ts', '@fedscore/he'), 'vfl', exportsMap)).toBeUndefined();
    expect(
      checkImport(ref('packages/core/test/a.test.ts', '@fedscore/core'), 'core', exportsMap),
    ).toBeUndefined();
    expect(
      checkImport(ref('packages/cli/src/a.ts', '@fedscore/core/node'), 'cli', exportsMap),
    ).toBeUndefined();
  });

  it('rejects imports up the order and between siblings', () => {
    expect(checkImport(ref('packages/core/src/a.ts', '@fedscore/he'), 'core', exportsMap)?.rule).toBe(
      'order',
    );
    expect(checkImport(ref('packages/he/src/a.ts', '@fedscore/wire'), 'he', exportsMap)?.rule).toBe(
      'sibling',
    );
    expect(checkImport(ref('packages/vfl/src/a.ts', '@fedscore/hfl'), 'vfl', exportsMap)?.rule).toBe(
      'sibling',
    );
  });

  it('rejects deep imports and relative paths into other packages', () => {
    expect(
      checkImport(ref('packages/psi/src/a.ts', '@fedscore/core/src/csv.ts'), 'psi', exportsMap)?.rule,
    ).toBe('deep-import');
    expect(checkImport(ref('packages/psi/src/a.ts', '../../core/src/csv.ts'), 'psi', exportsMap)?.rule).toBe(
      'relative-escape',
    );
    expect(
      checkImport(ref('examples/demo/src/a.ts', '../../../packages/core/src/csv.ts'), undefined, exportsMap)
        ?.rule,
    ).toBe('deep-import');
  });

  it('reserves node-seal for he and gRPC for node, and keeps I/O out of algorithms', () => {
    expect(checkImport(ref('packages/vfl/src/a.ts', 'node-seal'), 'vfl', exportsMap)?.rule).toBe(
      'reserved-module',
    );
    expect(checkImport(ref('packages/he/src/a.ts', 'node-seal'), 'he', exportsMap)).toBeUndefined();
    expect(checkImport(ref('packages/psi/src/a.ts', '@grpc/grpc-js'), 'psi', exportsMap)?.rule).toBe(
      'reserved-module',
    );
    expect(checkImport(ref('packages/vfl/src/a.ts', 'node:fs'), 'vfl', exportsMap)?.rule).toBe(
      'io-in-algorithm',
    );
    expect(checkImport(ref('packages/core/src/node.ts', 'node:fs'), 'core', exportsMap)).toBeUndefined();
    expect(checkImport(ref('packages/vfl/test/a.test.ts', 'node:fs'), 'vfl', exportsMap)).toBeUndefined();
  });
});

describe('import cycles', () => {
  it('finds a type-level cycle through three modules and reports it as a path', () => {
    const g = new Map([
      ['options.ts', ['checkpoint.ts']],
      ['checkpoint.ts', ['plan.ts', 'features.ts']],
      ['plan.ts', ['options.ts', 'steps.ts']],
      ['features.ts', []],
      ['steps.ts', []],
    ]);
    expect(findImportCycles(g)).toEqual([['checkpoint.ts', 'plan.ts', 'options.ts', 'checkpoint.ts']]);
  });

  it('finds a module that imports itself and two separate cycles', () => {
    const g = new Map([
      ['a.ts', ['a.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['b.ts']],
      ['d.ts', ['b.ts']],
    ]);
    expect(findImportCycles(g)).toEqual([
      ['a.ts', 'a.ts'],
      ['b.ts', 'c.ts', 'b.ts'],
    ]);
  });

  it('accepts a layered graph, shared modules included (a diamond is not a cycle)', () => {
    const g = new Map([
      ['options.ts', ['checkpoint-state.ts']],
      ['plan.ts', ['options.ts', 'checkpoint-state.ts']],
      ['checkpoint.ts', ['plan.ts', 'checkpoint-state.ts']],
      ['checkpoint-state.ts', []],
    ]);
    expect(findImportCycles(g)).toEqual([]);
  });
});
