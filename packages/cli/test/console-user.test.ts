/**
 * `fedscore console-user`: an account added from the CLI logs in to the console with its password (the
 * store holds only a scrypt hash of it), a generated password is printed once, remove ends it, and bad
 * input is a typed error naming the field.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleAccounts, NodeStore } from '@fedscore/node';
import { afterEach, describe, expect, it } from 'vitest';
import { lastJson, runCli } from './run-cli.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('fedscore console-user', () => {
  it('adds accounts that log in, lists them, and removes them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedscore-console-cli-'));
    dirs.push(dir);
    const state = join(dir, 'state');
    process.env['FEDSCORE_TEST_CONSOLE_PW'] = 'a password long enough';
    const added = await runCli([
      'console-user',
      'add',
      '--store',
      state,
      '--user',
      'anna',
      '--role',
      'bank-analyst',
      '--bank',
      'bank-a',
      '--password-env',
      'FEDSCORE_TEST_CONSOLE_PW',
      '--json',
    ]);
    delete process.env['FEDSCORE_TEST_CONSOLE_PW'];
    expect(added.code).toBe(0);
    expect(added.stdout).not.toContain('a password long enough');
    const generated = await runCli([
      'console-user',
      'add',
      '--store',
      state,
      '--user',
      'aldo',
      '--role',
      'auditor',
      '--json',
    ]);
    expect(generated.code).toBe(0);
    const pw = (lastJson(generated.stdout) as { password: string }).password;
    expect(pw).toMatch(/^[A-Za-z0-9_-]{24}$/);
    const listed = await runCli(['console-user', 'list', '--store', state]);
    expect(listed.stdout).toContain('anna\tbank-analyst\tbank-a');
    expect(listed.stdout).toContain('aldo\tauditor');

    const store = NodeStore.open(state);
    const accounts = new ConsoleAccounts(store);
    expect((await accounts.login('anna', 'a password long enough')).ok).toBe(true);
    expect((await accounts.login('aldo', pw)).ok).toBe(true);
    store.close();

    expect((await runCli(['console-user', 'remove', '--store', state, '--user', 'anna'])).code).toBe(0);
    expect((await runCli(['console-user', 'list', '--store', state])).stdout).not.toContain('anna');
  }, 60_000);

  it('refuses an analyst without a bank and an unknown action, naming the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedscore-console-cli-'));
    dirs.push(dir);
    const r = await runCli([
      'console-user',
      'add',
      '--store',
      join(dir, 's'),
      '--user',
      'x',
      '--role',
      'bank-analyst',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('bank');
    const bad = await runCli(['console-user', 'grant', '--store', join(dir, 's')]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('ACTION');
  });
});
