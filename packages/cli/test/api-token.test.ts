/**
 * `fedscore api-token create`: a fresh random token each time, whose SHA-256 (computed here with
 * node:crypto directly) is the config entry, and which the node's `ApiTokens` accepts as a bearer token;
 * a bad id is a typed error naming the flag's field.
 */
import { createHash } from 'node:crypto';
import { ApiTokens } from '@fedscore/node';
import { describe, expect, it } from 'vitest';
import { lastJson, runCli } from './run-cli.ts';

describe('fedscore api-token create', () => {
  it('prints a token once and the SHA-256 entry the node config holds', async () => {
    const a = await runCli(['api-token', 'create', '--id', 'risk-engine-1', '--json']);
    const b = await runCli(['api-token', 'create', '--id', 'risk-engine-1', '--json']);
    expect([a.code, b.code]).toEqual([0, 0]);
    const ja = lastJson(a.stdout) as { id: string; token: string; sha256: string };
    const jb = lastJson(b.stdout) as { token: string };
    expect(ja.id).toBe('risk-engine-1');
    expect(ja.token).toMatch(/^fsk_[A-Za-z0-9_-]{43}$/);
    expect(jb.token).not.toBe(ja.token);
    expect(ja.sha256).toBe(createHash('sha256').update(ja.token).digest('hex'));
    const tokens = new ApiTokens([{ id: ja.id, sha256: ja.sha256 }]);
    expect(tokens.authenticate(`Bearer ${ja.token}`)).toBe('risk-engine-1');
    expect(tokens.authenticate(`Bearer ${jb.token}`)).toBeUndefined();
  });

  it('refuses an id outside the allowed characters', async () => {
    const r = await runCli(['api-token', 'create', '--id', 'risk engine!']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('id');
  });
});
