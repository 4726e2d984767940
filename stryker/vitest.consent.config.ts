import { defineConfig } from 'vitest/config';

// The scoped consent-registry run (stryker/consent.config.json): the registry's rule (filterByConsent,
// consentFor, evaluate, statusAt, covering) against its unit tests, which restate the rule independently.
export default defineConfig({
  test: {
    include: ['packages/node/test/consent.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
