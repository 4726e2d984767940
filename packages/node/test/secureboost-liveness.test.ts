/**
 * A SecureBoost host node keeps answering gRPC while it sums a histogram (the 100k-row job failure: the
 * government's event loop was held by one synchronous histogram call for minutes, its Health calls timed
 * out and the bank's coordinator failed the job). The government is its own process
 * (histogram-peer-fixture.ts: its `GrpcTransport` and a host histogram of 1,024 encodes and products at
 * the release preset); the bank, in this process, calls Health on it with a 1 s deadline every 100 ms
 * while the histogram runs.
 *   - steps (`runStepsYielding`, what host.ts runs): every Health call is answered; the government's
 *     event loop was never blocked for 1 s (perf_hooks' max delay) nor for a quarter of the run;
 *   - one synchronous call (the former path): the government's loop was blocked for the whole run
 *     (max delay >= 90 % of it), so any call in that window waited for the end -- the evidence, which does
 *     not depend on the machine's speed, that the steps and not a fast machine keep the node reachable.
 * The liveness bound (docs/deploy.md, "Liveness of a busy node"): a turn of the loop at least every
 * `HISTOGRAM_SLICE_MS` plus one CKKS operation, well under 1 s; Health's own deadline is 2 s.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createDevCa, GrpcTransport, issuePartyCert } from '@fedscore/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const ca = createDevCa();
const tls = (party: string) => ({ ca: ca.cert, ...issuePartyCert({ ca, party }) });

describe('a SecureBoost host histogram and the node gRPC server', () => {
  let child: ChildProcess;
  let port = 0;
  const waiters: { want: string; ok: (line: string) => void }[] = [];
  const nextLine = (want: string): Promise<string> =>
    new Promise((ok) => {
      waiters.push({ want, ok });
    });

  beforeAll(async () => {
    child = spawn(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', join(here, 'histogram-peer-fixture.ts')],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
        env: { ...process.env, FEDSCORE_TEST_TLS: JSON.stringify(tls('government')) },
      },
    );
    const ready = nextLine('ready');
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('port ')) port = Number(line.slice(5));
      const i = waiters.findIndex((w) => line.startsWith(w.want));
      if (i >= 0) waiters.splice(i, 1)[0]!.ok(line);
    });
    await ready;
  }, 300_000);
  afterAll(() => {
    child.stdin!.end();
    child.kill();
  });

  /** Health calls (1 s deadline) every 100 ms while the government runs its histogram in `mode`. */
  async function healthDuring(mode: 'sync' | 'steps') {
    const bank = await GrpcTransport.start({
      party: 'bank',
      listen: '127.0.0.1:0',
      tls: tls('bank'),
      peers: { government: `127.0.0.1:${port}` },
      limits: { retries: 0 },
    });
    try {
      expect((await bank.health('government')).party).toBe('government');
      const running = nextLine('running');
      const done = nextLine('done');
      child.stdin!.write(`run ${mode}\n`);
      await running;
      let finished: string | undefined;
      done.then((line) => {
        finished = line;
      });
      let answered = 0;
      let failed = 0;
      while (finished === undefined) {
        const ok = await bank.health('government', 1000).then(
          (r) => r.party === 'government',
          () => false,
        );
        if (ok) answered++;
        else failed++;
        await new Promise((r) => setTimeout(r, 100));
      }
      const [, ms, maxDelay] = finished.split(' ').map(Number);
      return { answered, failed, ms: ms!, maxDelay: maxDelay! };
    } finally {
      await bank.close();
    }
  }

  it('answers Health within 1 s throughout a histogram run in steps; one synchronous call blocks it', async () => {
    const steps = await healthDuring('steps');
    expect(steps.failed).toBe(0);
    expect(steps.answered).toBeGreaterThan(0);
    expect(steps.maxDelay).toBeLessThan(1000);
    expect(steps.maxDelay).toBeLessThan(steps.ms / 4);
    const sync = await healthDuring('sync');
    // The loop was held for (nearly) the whole synchronous run: no call could be answered within it.
    expect(sync.maxDelay).toBeGreaterThanOrEqual(0.9 * sync.ms);
  }, 600_000);
});
