/**
 * Under CI (CI=true), what the suite is meant to run must be there: a test that skips because Chromium,
 * PostgreSQL or ../shared/data is missing would turn CI green while checking nothing (the browser report
 * and self-estimate tests, the queue and PostgreSQL-store tests, the accuracy checks against the sklearn
 * baselines). Outside CI these checks skip
 * with a printed reason, as the tests they guard do.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHARED_DATA = join(ROOT, '..', 'shared', 'data');
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];
const inCi = process.env.CI === 'true';

/**
 * Where a throwaway PostgreSQL cluster's binaries are looked for (as @fedscore/queue/testing does, which
 * the queue and node store tests start clusters with): /usr/local/bin, /usr/bin, Debian's
 * /usr/lib/postgresql/<version>/bin (what .ci/run's apt-get install postgresql provides).
 */
function postgresDirs(): string[] {
  const dirs = ['/usr/local/bin', '/usr/bin'];
  if (existsSync('/usr/lib/postgresql')) {
    for (const v of readdirSync('/usr/lib/postgresql')) dirs.push(`/usr/lib/postgresql/${v}/bin`);
  }
  return dirs;
}

if (!inCi) console.log('ci-requirements: not under CI=true, skipped (CI fails here instead of skipping)');

describe.skipIf(!inCi)('CI has what its tests need', () => {
  it('Debian Chromium is installed (report, self-estimate and console browser tests)', () => {
    expect(
      CHROMIUM.some((p) => existsSync(p)),
      'no Chromium: .ci/run installs it with apt-get',
    ).toBe(true);
  });

  it('PostgreSQL binaries are installed and run (queue tests, node tests on the PostgreSQL store)', () => {
    const bin = postgresDirs().find((d) =>
      ['initdb', 'pg_ctl', 'postgres'].every((cmd) => existsSync(join(d, cmd))),
    );
    expect(bin, 'no initdb/pg_ctl/postgres: .ci/run installs postgresql with apt-get').toBeDefined();
    const version = execFileSync(join(bin!, 'initdb'), ['--version'], { encoding: 'utf8' });
    expect(version).toMatch(/\(PostgreSQL\) \d+/);
  });

  it('../shared/data holds the three public data sets and their baselines', () => {
    for (const entry of ['baselines.csv', 'breast', 'german', 'default_credit']) {
      expect(existsSync(join(SHARED_DATA, entry)), `${SHARED_DATA}/${entry} is missing`).toBe(true);
    }
  });
});
