import { defineConfig } from 'vitest/config';

// The scoped consent-before-PSI run (stryker/consent-psi.config.json): the psi stage's host side, which
// offers only consenting enterprises to PSI and summarizes the aligned set's consents.
export default defineConfig({
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
