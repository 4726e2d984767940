/**
 * `fedscore node cancel|retry --config FILE --job ID`: the operator's cancel request and retry land in
 * the node's store with an audit entry naming the operating-system user (`cli:<user>`), a retry of a job
 * that has not ended and a cancel on a follower's node are typed errors (the running node's side, which
 * stops the stages on every party, is tested in packages/node/test/jobs-cancel.test.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { AuditLog, JobStore, NodeStore, submitJob } from '@fedscore/node';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('fedscore node cancel and retry', () => {
  it('records a cancel request and a retry on the coordinator, audited with the user', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedscore-node-cli-'));
    dirs.push(dir);
    const state = join(dir, 'state');
    const config = join(dir, 'bank.yaml');
    writeFileSync(
      config,
      [
        'party: bank',
        'listen: 127.0.0.1:0',
        `stateDir: ${state}`,
        'tls: { ca: ca.pem, cert: bank.pem, key: bank.key }',
        'peers: { government: { address: "127.0.0.1:1" } }',
        '',
      ].join('\n'),
    );
    const store = NodeStore.open(state);
    const jobs = new JobStore(store);
    submitJob(jobs, 'bank', {
      id: 'job-1',
      guest: 'bank',
      hosts: ['government'],
      data: { bank: 'l', government: 'c' },
    });
    jobs.put(
      { ...jobs.require('job-1').spec, id: 'job-2', guest: 'government', hosts: ['bank'] },
      'government',
      'running',
    );
    store.close();

    const retryEarly = await runCli(['node', 'retry', '--config', config, '--job', 'job-1']);
    expect(retryEarly.code).not.toBe(0);
    expect(retryEarly.stderr).toContain('only a failed or cancelled job is retried');
    const cancel = await runCli(['node', 'cancel', '--config', config, '--job', 'job-1']);
    expect(cancel.code).toBe(0);
    expect(cancel.stdout).toContain('asked to cancel job job-1');
    const follower = await runCli(['node', 'cancel', '--config', config, '--job', 'job-2']);
    expect(follower.code).not.toBe(0);
    expect(follower.stderr).toContain("coordinated by 'government'");

    const s2 = NodeStore.open(state);
    try {
      const j2 = new JobStore(s2);
      const who = `cli:${userInfo().username.replace(/[^A-Za-z0-9._@-]/g, '_')}`;
      expect(j2.require('job-1').cancelRequestedBy).toBe(who);
      // The running node's runner would cancel it now; here the store stands in for it.
      expect(j2.markCancelled('job-1')).toBe(true);
      const retry = await runCli(['node', 'retry', '--config', config, '--job', 'job-1']);
      expect(retry.code).toBe(0);
      expect(j2.require('job-1').status).toBe('submitted');
      const entries = [...new AuditLog(s2).entries({ kind: 'job_change' })];
      expect(entries.map((e) => [e.actor, e.job, e.details?.['action'], e.details?.['by']])).toEqual([
        ['bank', 'job-1', 'cancel', who],
        ['bank', 'job-1', 'retry', who],
      ]);
    } finally {
      s2.close();
    }
  });
});
