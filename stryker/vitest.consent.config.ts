import { defineConfig } from 'vitest/config';

// The scoped consent-filtering run (stryker/consent.config.json): the registry's rule (filterByConsent,
// consentFor) and the psi stage's host side, which offers only consenting enterprises to PSI.
export default defineConfig({
  test: {
    include: [
      'packages/node/test/consent.test.ts',
      'packages/node/test/consent-filter.test.ts',
      'packages/node/test/attacks/psi-before-consent.attack.test.ts',
    ],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
