/**
 * gRPC keepalive and a busy event loop (issue 20: a 2M x 2M PSI run at load 18-22 failed with `Control to
 * government failed: Connection dropped`). The bank's transport is in this process; the government's is
 * its own process (keepalive-peer-fixture.ts) whose event loop is blocked by synchronous CPU work for
 * 3 s while a bank's Control call to it is in flight. The bank pings the connection once the call has been
 * open `keepaliveTimeMs`; the government cannot acknowledge until its loop runs again.
 *   - keepalive timeout shorter than the stall (200 ms ping, 500 ms timeout; the old 10 s in miniature):
 *     the bank drops the connection and the call fails with `Connection dropped` before the stall ends;
 *   - the same early ping with the default timeout (the call deadline, 120 s): the call waits out the
 *     stall and gets the government's answer (its typed `unsupported` refusal: no Control handler);
 *   - the defaults (30 s ping, 120 s timeout): the same.
 * And the node config takes both settings (the timeout absent by default: the transport uses deadlineMs).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { isFedscoreError } from '@fedscore/core';
import { createDevCa, GrpcTransport, issuePartyCert, validateNodeConfig } from '@fedscore/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const ca = createDevCa();
const tls = (party: string) => ({ ca: ca.cert, ...issuePartyCert({ ca, party }) });
const STALL_MS = 3000;

describe('gRPC keepalive while the peer event loop is blocked', () => {
  let child: ChildProcess;
  let port = 0;
  const lines: string[] = [];
  const waiters: { want: string; ok: () => void }[] = [];
  const nextLine = (want: string): Promise<void> =>
    new Promise((ok) => {
      waiters.push({ want, ok });
    });

  beforeAll(async () => {
    child = spawn(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', join(here, 'keepalive-peer-fixture.ts')],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
        env: { ...process.env, FEDSCORE_TEST_TLS: JSON.stringify(tls('government')) },
      },
    );
    const ready = nextLine('port');
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      if (line.startsWith('port ')) port = Number(line.slice(5));
      const i = waiters.findIndex((w) => line.startsWith(w.want));
      if (i >= 0) waiters.splice(i, 1)[0]!.ok();
    });
    await ready;
  });
  afterAll(() => {
    child.stdin!.end();
    child.kill();
  });

  /** A Control call from a bank with these keepalive limits while the government's loop is blocked. */
  async function controlDuringStall(limits: { keepaliveTimeMs?: number; keepaliveTimeoutMs?: number }) {
    const bank = await GrpcTransport.start({
      party: 'bank',
      listen: '127.0.0.1:0',
      tls: tls('bank'),
      peers: { government: `127.0.0.1:${port}` },
      limits: { ...limits, retries: 0 },
    });
    try {
      // The connection is up and the government answers before the stall.
      expect((await bank.health('government')).party).toBe('government');
      const blocking = nextLine('blocking');
      const unblocked = nextLine('unblocked');
      child.stdin!.write(`block ${STALL_MS}\n`);
      await blocking;
      const t0 = Date.now();
      const outcome = await bank
        .control('government', { query: { jobId: 'j', stage: 'psi', attempt: 0 } })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      const seconds = (Date.now() - t0) / 1000;
      await unblocked;
      return { outcome, seconds };
    } finally {
      await bank.close();
    }
  }

  it('a keepalive timeout shorter than the stall drops the connection and fails the call', async () => {
    const { outcome, seconds } = await controlDuringStall({ keepaliveTimeMs: 200, keepaliveTimeoutMs: 500 });
    expect(isFedscoreError(outcome, 'io')).toBe(true);
    expect((outcome as Error).message).toMatch(/Control to government failed: Connection dropped/);
    // Dropped by the bank's own timer (~0.7 s), not answered after the stall.
    expect(seconds).toBeLessThan(STALL_MS / 1000);
  });

  it('the default timeout waits out the stall after an early ping: the call is answered', async () => {
    const { outcome, seconds } = await controlDuringStall({ keepaliveTimeMs: 200 });
    expect(isFedscoreError(outcome, 'unsupported')).toBe(true);
    expect(seconds).toBeGreaterThan(STALL_MS / 1000 - 0.5);
  });

  it('the defaults: the call is answered after the stall', async () => {
    const { outcome } = await controlDuringStall({});
    expect(isFedscoreError(outcome, 'unsupported')).toBe(true);
  });

  it('the node config takes keepaliveTimeMs (30 s by default) and keepaliveTimeoutMs (deadlineMs)', () => {
    const base = {
      party: 'bank',
      listen: '127.0.0.1:0',
      stateDir: 'state',
      tls: { ca: 'ca.pem', cert: 'c.pem', key: 'k.pem' },
      peers: { government: { address: 'gov.internal:7102' } },
    };
    const d = validateNodeConfig(base);
    expect([d.limits.keepaliveTimeMs, d.limits.keepaliveTimeoutMs]).toEqual([30_000, undefined]);
    const c = validateNodeConfig({ ...base, limits: { keepaliveTimeMs: 1000, keepaliveTimeoutMs: 5000 } });
    expect([c.limits.keepaliveTimeMs, c.limits.keepaliveTimeoutMs]).toEqual([1000, 5000]);
  });
});
