import { defineConfig } from 'vitest/config';

// The scoped CKKS release-budget and arbiter-release run (stryker/vfl-cipher-arbiter.config.json): the
// CKKS release tests (flooding size, grid, budget), the decryption-error attack, and the arbiter's
// protocol tests (scheme none, fast; its CKKS resume carries the release count across a restart).
export default defineConfig({
  test: {
    include: [
      'packages/vfl/test/hetero-lr-release.test.ts',
      'packages/vfl/test/hetero-lr-arbiter-release.test.ts',
      'packages/vfl/test/attacks/decryption-error.attack.test.ts',
      'packages/vfl/test/hetero-lr-none.test.ts',
      'packages/vfl/test/hetero-lr-mask-binding.test.ts',
      'packages/vfl/test/hetero-lr-resume.test.ts',
    ],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
