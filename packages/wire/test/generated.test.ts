/**
 * The committed generated code must match a fresh generation from proto/*.proto (the CI form of
 * `pnpm --filter @fedscore/wire generate --check`), so a proto edit without regeneration fails here.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = join(dirname(fileURLToPath(import.meta.url)), '..', 'scripts', 'generate.ts');

describe('generated code', () => {
  it('is up to date with proto/*.proto', () => {
    const run = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', script, '--check'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/up to date/);
  });

  it('rejects unknown arguments', () => {
    const run = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', script, '--chek'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status).toBe(2);
  });
});
