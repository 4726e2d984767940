/**
 * `fedscore worker`: its flags are checked before anything connects (the worker itself is tested against
 * a real PostgreSQL cluster in packages/queue/test/queue-executor.test.ts, as the process the command
 * starts).
 */
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.ts';

describe('fedscore worker', () => {
  it('refuses a --queue that is not a postgres:// connection string, naming the flag', async () => {
    const r = await runCli(['worker', '--queue', 'redis://127.0.0.1:6379']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--queue');
    expect(r.stderr).toContain('postgres://');
  });

  it('lists the command in help', async () => {
    const r = await runCli(['worker', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--concurrency');
  });
});
