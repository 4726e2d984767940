/**
 * The console's browser script is built, not hand-written: packages/node/web/*.ts bundled by
 * scripts/console-bundle.ts into the committed src/console/generated/console-script.ts. The committed
 * module must equal a fresh bundle (the CI form of `console:bundle --check`), the node must serve exactly
 * that bundle, and nothing the console serves as its own static files may point the browser elsewhere.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConsoleFixture, startConsoleFixture } from './console-fixture.ts';

const here = dirname(fileURLToPath(import.meta.url));
const script = join(here, '..', 'scripts', 'console-bundle.ts');
const repo = join(here, '..', '..', '..');

function bundler(...args: string[]) {
  return spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', script, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('console script bundle', () => {
  let fx: ConsoleFixture;
  let fresh: string;

  beforeAll(async () => {
    fx = await startConsoleFixture();
    const run = bundler('--print');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    fresh = run.stdout;
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('the committed module is up to date with web/*.ts (console:bundle --check)', () => {
    const run = bundler('--check');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/up to date/);
  });

  it('is deterministic, minified and holds no path of the machine that built it', () => {
    const again = bundler('--print');
    expect(again.status).toBe(0);
    expect(again.stdout).toBe(fresh);
    // One line, no comments (no source map reference, no region markers naming the source files).
    expect(fresh.trimEnd().split('\n')).toHaveLength(1);
    expect(fresh).not.toMatch(/\/\/[#@] ?sourceMappingURL|\/\*|\/\/#region/);
    expect(fresh).not.toContain(repo);
    expect(fresh).not.toMatch(/packages\/node|live-job|console\.ts/);
    // It is the job page's live follower (the stream, the page's ids and the Stages table).
    for (const s of ['EventSource', '/events', 'job-status', 'job-progress-text', 'Stages', 'data-status']) {
      expect(fresh).toContain(s);
    }
  });

  it('is the script the node serves, under the console CSP and with no URL of another origin', async () => {
    const res = await fetch(`${fx.base}/console/static/console.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toMatch(/script-src 'self';/);
    const served = await res.text();
    expect(served).toBe(fresh);
    expect(served).not.toMatch(/https?:\/\//i);
    expect(served).not.toMatch(/\/\/[a-z0-9.-]+\.[a-z]{2,}\//i);
    // The stylesheet fetches nothing either (no @import, no url() to another origin).
    const css = await (await fetch(`${fx.base}/console/static/console.css`)).text();
    expect(css).not.toMatch(/https?:\/\/|@import|url\(/i);
  });

  it('rejects unknown arguments', () => {
    expect(bundler('--chek').status).toBe(2);
  });
});
