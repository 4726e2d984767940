/**
 * `fedscore worker`: its flags are checked before anything connects, and a worker given its connection
 * string through `--queue-env` (where a password may be; never on the command line, where ps and shell
 * history show it) serves tasks on a throwaway PostgreSQL cluster (the worker itself is tested further in
 * packages/queue/test/queue-executor.test.ts, as the process the command starts).
 */
import { normal, seededRng } from '@fedscore/core';
import { createCkksContext, type LinearCombinationsRequest, linearCombinationsOn } from '@fedscore/he';
import { postgresUnavailable, startWorker } from '@fedscore/queue/testing';
import { describe, expect, it } from 'vitest';
import { heTaskExecutor, useQueue } from './queue-workers.ts';
import { runCli } from './run-cli.ts';

describe('fedscore worker', () => {
  it('refuses a --queue that is not a postgres:// connection string, naming the flag', async () => {
    const r = await runCli(['worker', '--queue', 'redis://127.0.0.1:6379']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--queue');
    expect(r.stderr).toContain('postgres://');
  });

  it('refuses a password in --queue as a usage error naming the flag, without echoing it', async () => {
    const secret = 'Planted-s3cret-9f27';
    for (const url of [
      `postgres://fedscore:${secret}@db.bank.internal:5432/bank`,
      `postgresql://fedscore:${secret}@127.0.0.1/bank?sslmode=require`,
    ]) {
      const r = await runCli(['worker', '--queue', url]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--queue');
      expect(r.stderr).toContain('--queue-env');
      expect(r.stderr + r.stdout).not.toContain(secret);
    }
    // Control: without the password the flag passes its check; the worker fails later, connecting (exit 1).
    const ok = await runCli(['worker', '--queue', 'postgres://fedscore@127.0.0.1:1/bank']);
    expect(ok.code, ok.stderr).toBe(1);
  });

  it('wants exactly one of --queue and --queue-env, and a set variable holding a postgres:// URL', async () => {
    const none = await runCli(['worker']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--queue-env');
    const both = await runCli(['worker', '--queue', 'postgres://a@b/c', '--queue-env', 'FEDSCORE_QUEUE_URL']);
    expect(both.code).toBe(2);
    const badName = await runCli(['worker', '--queue-env', 'not a name']);
    expect(badName.code).toBe(2);
    expect(badName.stderr).toContain('--queue-env');
    const unset = await runCli(['worker', '--queue-env', 'FEDSCORE_TEST_UNSET_QUEUE_URL']);
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain('FEDSCORE_TEST_UNSET_QUEUE_URL');
    const secret = 'Planted-s3cret-41c0';
    process.env['FEDSCORE_TEST_BAD_QUEUE_URL'] = `redis://u:${secret}@127.0.0.1:6379`;
    try {
      const bad = await runCli(['worker', '--queue-env', 'FEDSCORE_TEST_BAD_QUEUE_URL']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('--queue-env');
      expect(bad.stderr).not.toContain(secret);
    } finally {
      delete process.env['FEDSCORE_TEST_BAD_QUEUE_URL'];
    }
  });

  it('lists the command in help', async () => {
    const r = await runCli(['worker', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--concurrency');
    expect(r.stdout).toContain('--queue-env');
    expect(r.stdout).toContain('--diagonal-cache-mib');
  });

  it('refuses a negative --diagonal-cache-mib as a usage error naming the flag', async () => {
    const r = await runCli([
      'worker',
      '--queue',
      'postgres://fedscore@127.0.0.1:1/bank',
      '--diagonal-cache-mib',
      '-1',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--diagonal-cache-mib');
    // Control: 0 (encode per task) passes the check; the worker fails later, connecting (exit 1).
    const ok = await runCli([
      'worker',
      '--queue',
      'postgres://fedscore@127.0.0.1:1/bank',
      '--diagonal-cache-mib',
      '0',
    ]);
    expect(ok.code, ok.stderr).toBe(1);
  });
});

const unavailable = postgresUnavailable();
if (unavailable !== undefined) console.log(`skipping the worker --queue-env test: ${unavailable}`);

describe.skipIf(unavailable !== undefined)('fedscore worker --queue-env on PostgreSQL', () => {
  const q = useQueue();

  it('a worker given its URL in the environment serves a task', async () => {
    const ex = await heTaskExecutor<LinearCombinationsRequest, Uint8Array[]>(q.url, 'env');
    try {
      // The URL in FEDSCORE_QUEUE_URL, the command line naming only the variable.
      const child = await startWorker(q.url, 'env', q.workers.children, { urlFrom: 'env' });
      expect(child.spawnargs).toContain('--queue-env');
      expect(child.spawnargs.join(' ')).not.toContain(q.url);
      const ctx = await createCkksContext({ params: 'ckks-8192', relinearization: false });
      const rng = seededRng(7);
      const n = 64;
      const weights = [normal(rng), normal(rng)];
      const cols = weights.map(() => Float64Array.from({ length: n }, () => normal(rng)));
      const add = Float64Array.from({ length: n }, () => normal(rng));
      const [out] = await linearCombinationsOn(
        ex,
        [{ ciphertexts: cols.map((c) => ctx.encryptSymmetricSerialized(c, { compression: 'none' })), add }],
        weights,
        {
          level: ctx.levels,
          compression: 'none',
          rerandomize: false,
          context: ctx.serialize({ compression: 'none' }),
          taskId: 'env',
        },
      );
      const v = ctx.deserializeVector(out!);
      const got = ctx.decrypt(v);
      v.dispose();
      // Against the plaintext w.x + add (CKKS error at ckks-8192 ~2^-20: 1e-5 is a wide margin).
      for (let i = 0; i < n; i++) {
        expect(
          Math.abs(got[i]! - (add[i]! + weights[0]! * cols[0]![i]! + weights[1]! * cols[1]![i]!)),
        ).toBeLessThan(1e-5);
      }
    } finally {
      await ex.close();
    }
  }, 180_000);
});
