/**
 * `pnpm bench queue-choice` (issue 18's pg-boss vs BullMQ comparison) at a tiny size, so the command
 * cannot rot: every phase runs for each broker present, every worker's answer is checked against the
 * payload's SHA-256 inside the bench (a wrong answer fails the run), and the byte counts are checked
 * against the payload itself: a task's payload must cross the broker at least twice (in from the caller,
 * out to the worker), so each broker's bytes per task are at least 2x the payload; and under 4x at
 * 64 KiB (both move it at most as base64 both ways, plus a few KB a task), which a relay counting a
 * stream twice would break. Redis is not installed by .ci/run: without redis-server the BullMQ half is
 * skipped with its reason printed, which the test checks instead.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { postgresUnavailable } from '@fedscore/queue/testing';
import { afterAll, describe, expect, it } from 'vitest';

const RUNNER = join(dirname(fileURLToPath(import.meta.url)), '..', 'run.ts');
const unavailable = postgresUnavailable();
if (unavailable !== undefined) console.warn(`skipping bench queue-choice test: ${unavailable}`);
const hasRedis = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].some((p) => existsSync(p));
const out = mkdtempSync(join(tmpdir(), 'fedscore-queue-choice-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

interface Row {
  broker: string;
  size: number;
  workers?: number;
  totalPerPayloadByte?: number;
}

describe.skipIf(unavailable !== undefined)('bench queue-choice', () => {
  it('measures both queues (or says why BullMQ is skipped) and counts at least the payload twice', async () => {
    const size = 65_536;
    const r = await new Promise<{ code: number; stderr: string }>((ok) => {
      const env = { ...process.env };
      delete env['FEDSCORE_BENCH_RESULTS'];
      execFile(
        process.execPath,
        [
          '--disable-warning=ExperimentalWarning',
          RUNNER,
          'queue-choice',
          '--sizes',
          String(size),
          '--latency-tasks',
          '3',
          '--throughput-tasks',
          '4',
          '--bytes-tasks',
          '3',
          '--out',
          out,
        ],
        { timeout: 240_000, env, maxBuffer: 16 * 1024 * 1024 },
        (err, _stdout, stderr) => ok({ code: err === null ? 0 : Number(err.code ?? 1), stderr }),
      );
    });
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const json = JSON.parse(readFileSync(join(out, 'queue-choice.json'), 'utf8')) as {
      parameters: { skipped: string[] };
      raw: { latency: Row[]; throughput: Row[]; bytes: Row[] };
    };
    const brokers = hasRedis ? ['pgboss', 'bullmq'] : ['pgboss'];
    if (!hasRedis) {
      expect(r.stderr).toContain('BullMQ: redis-server not found');
      expect(json.parameters.skipped.join(' ')).toContain('redis-server not found');
    }
    expect(json.raw.latency.map((x) => x.broker).sort()).toEqual([...brokers].sort());
    for (const b of brokers) {
      expect(
        json.raw.throughput
          .filter((x) => x.broker === b)
          .map((x) => x.workers)
          .sort(),
      ).toEqual([1, 2]);
      const bytes = json.raw.bytes.find((x) => x.broker === b);
      expect(bytes?.size).toBe(size);
      expect(bytes?.totalPerPayloadByte).toBeGreaterThanOrEqual(2);
      expect(bytes?.totalPerPayloadByte).toBeLessThan(4);
    }
  }, 300_000);
});
