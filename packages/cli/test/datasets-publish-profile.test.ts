/**
 * `fedscore datasets publish-profile`: prints the node's feature profile (type, coverage and missing rate
 * by hand counts, rounded), queues a publication in the node's store for the running node, refuses a
 * dataset below the 50-row floor with `privacy_floor` naming it (nothing queued), and an unknown peer.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateUniqueUsccs, seededRng } from '@fedscore/core';
import { FeatureCatalogue, NodeStore } from '@fedscore/node';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { lastJson, runCli } from './run-cli.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setUp(rows: number): { config: string; state: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fedscore-publish-profile-'));
  dirs.push(dir);
  const ids = generateUniqueUsccs(seededRng(7), rows);
  // arrears missing on every 4th row: 25 of 100 -> coverage 75 %, missing 25 %.
  writeFileSync(
    join(dir, 'loans.csv'),
    `uscc,arrears,secured\n${ids.map((id, i) => `${id},${i % 4 === 0 ? '' : i * 2.5},${i % 2}`).join('\n')}\n`,
  );
  const state = join(dir, 'state');
  mkdirSync(state, { recursive: true, mode: 0o700 });
  const config = join(dir, 'bank.yaml');
  writeFileSync(
    config,
    stringify({
      party: 'bank-a',
      listen: '127.0.0.1:0',
      stateDir: state,
      tls: { ca: 'ca.pem', cert: 'bank.pem', key: 'bank-key.pem' },
      peers: { government: { address: '127.0.0.1:1' } },
      data: { loans: { path: 'loans.csv', id: 'uscc', descriptions: { arrears: 'Days in arrears' } } },
    }),
  );
  return { config, state };
}

describe('fedscore datasets publish-profile', () => {
  it('prints the profile and queues a publication for the running node', async () => {
    const { config, state } = setUp(100);
    const r = await runCli(['datasets', 'publish-profile', '--config', config, '--to', 'government']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('loans: 100 rows (rates to 1 %)');
    expect(r.stdout).toContain('arrears  numeric  coverage 75 %  missing 25 %');
    expect(r.stdout).toContain('secured  binary  coverage 100 %  missing 0 %');
    const store = NodeStore.open(state);
    try {
      const c = new FeatureCatalogue(store);
      expect(c.takeRequests()).toEqual(['government']);
      expect(c.takeRequests()).toBeUndefined();
    } finally {
      store.close();
    }
  });

  it('queues nothing with --dry-run and reports JSON', async () => {
    const { config, state } = setUp(100);
    const r = await runCli(['datasets', 'publish-profile', '--config', config, '--dry-run', '--json']);
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({
      party: 'bank-a',
      queued: false,
      datasets: [{ dataset: 'loans', rows: 100, rateStepBp: 100 }],
    });
    const store = NodeStore.open(state);
    try {
      expect(new FeatureCatalogue(store).takeRequests()).toBeUndefined();
    } finally {
      store.close();
    }
  });

  it('refuses a dataset below the floor, and a peer the config lacks, with typed errors', async () => {
    const small = setUp(40);
    const r = await runCli(['datasets', 'publish-profile', '--config', small.config, '--json']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/privacy_floor/);
    expect(r.stderr).toContain('data.loans');
    const ok = setUp(100);
    const bad = await runCli(['datasets', 'publish-profile', '--config', ok.config, '--to', 'bank-z']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--to');
  });
});
