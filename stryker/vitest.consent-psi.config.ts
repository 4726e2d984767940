import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The scoped consent-before-PSI run (stryker/consent-psi.config.json): the psi stage's host side, which
// offers only consenting enterprises to PSI and summarizes the aligned set's consents.
// The node package is also a root devDependency: a bare '@fedscore/node' would resolve through the
// root node_modules (which Stryker's sandbox links to the original tree) to the unmutated sources, so
// both packages are aliased to this tree's sources (the sandbox's, under Stryker).
const src = (pkg: string) => fileURLToPath(new URL(`../packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: { '@fedscore/node': src('node'), '@fedscore/pipeline': src('pipeline') },
  },
  test: {
    include: [
      'packages/node/test/consent-filter.test.ts',
      'packages/node/test/attacks/psi-before-consent.attack.test.ts',
    ],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
