/**
 * The runtime checks of core's runtime.ts. `nodeVersionProblem` is judged on injected `process.versions`
 * (the real refusal on a Node 20 binary runs in examples/sdk-risk-engine/test/pack-install.test.ts against the installed
 * tarballs); `siblingModuleUrl` keeps the caller's form, TypeScript source or compiled JavaScript.
 */
import {
  assertSupportedNode,
  FedscoreError,
  MIN_NODE_VERSION,
  nodeVersionProblem,
  siblingModuleUrl,
} from '@fedscore/core';
import { describe, expect, it } from 'vitest';

describe('nodeVersionProblem', () => {
  it('accepts 22.18.0 and everything newer, including the running Node', () => {
    for (const node of ['22.18.0', '22.23.3', '22.100.0', '23.0.0', '24.1.0', 'v25.2.1']) {
      expect(nodeVersionProblem({ node })).toBeUndefined();
    }
    expect(nodeVersionProblem()).toBeUndefined();
    expect(() => assertSupportedNode()).not.toThrow();
  });

  it('refuses older Node with one sentence naming the version needed and why', () => {
    for (const node of ['22.17.1', '22.6.0', '21.7.3', '20.20.2', '18.0.0']) {
      const problem = nodeVersionProblem({ node });
      expect(problem).toBeDefined();
      expect(problem).toContain(`Node.js ${MIN_NODE_VERSION} or newer`);
      expect(problem).toContain(`this is Node.js ${node}`);
      expect(problem).toContain('node-seal 7');
      expect(problem).toContain('type stripping');
      // one sentence: a single full stop, at the end (version numbers aside)
      expect(problem!.replace(/\d+\.\d+\.\d+/g, 'V').match(/\.(\s|$)/g)).toEqual(['.']);
    }
  });

  it('assertSupportedNode throws FedscoreError(unsupported) with exactly that sentence', () => {
    let thrown: unknown;
    try {
      assertSupportedNode({ node: '20.20.2' });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(FedscoreError);
    expect((thrown as FedscoreError).code).toBe('unsupported');
    expect((thrown as FedscoreError).message).toBe(nodeVersionProblem({ node: '20.20.2' }));
  });

  it('does not judge a runtime that is not Node (no versions.node: a browser bundle)', () => {
    expect(nodeVersionProblem({})).toBeUndefined();
    expect(nodeVersionProblem(undefined)).toBeUndefined();
  });
});

describe('siblingModuleUrl', () => {
  it('names the sibling with the caller extension: .ts from source, .js from dist', () => {
    expect(siblingModuleUrl('./worker', 'file:///repo/packages/he/src/pool.ts').href).toBe(
      'file:///repo/packages/he/src/worker.ts',
    );
    expect(siblingModuleUrl('./worker', 'file:///app/node_modules/@fedscore/he/dist/pool.js').href).toBe(
      'file:///app/node_modules/@fedscore/he/dist/worker.js',
    );
    expect(siblingModuleUrl('./blind-worker', 'file:///x/dist/pool.mjs').href).toBe(
      'file:///x/dist/blind-worker.mjs',
    );
  });
});
