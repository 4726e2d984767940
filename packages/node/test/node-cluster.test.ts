/**
 * The test cluster of `@fedscore/node/testing` (`NodeCluster`) that every multi-node test starts its
 * nodes with: a node in this process and a node as its own `fedscore node` process, of one cluster, talk
 * to each other over gRPC + mutual TLS (each sees the other as up through its Health call); per-party and
 * per-start config overrides reach the node; and `close()` leaves nothing behind: the process has
 * exited, every port is free to bind again, the temporary directory is gone.
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NodeCluster } from '@fedscore/node/testing';
import { describe, expect, it } from 'vitest';

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../cli/src/main.ts');

/** Bind `port` on loopback and close it again: resolves true when the port was free. */
const bindable = (port: number): Promise<boolean> =>
  new Promise((r) => {
    const s = createServer();
    s.once('error', () => r(false));
    s.listen(port, '127.0.0.1', () => s.close(() => r(true)));
  });

describe('NodeCluster', () => {
  it('starts a node in process and one as a process that reach each other, and close() leaves nothing', async () => {
    const cluster = await NodeCluster.create({
      parties: ['bank', 'government'] as const,
      http: true,
      cliMain: CLI,
      config: (p) => ({ governance: { requireConsent: p === 'government' } }),
    });
    const dir = cluster.dir;
    const ports = [...Object.values(cluster.ports), ...Object.values(cluster.httpPorts)] as number[];
    try {
      expect(new Set(ports).size).toBe(4);
      // Per-party config, then per-start overrides over it.
      const bankConfig = cluster.config('bank', { run: 'r', config: { accept: { plaintextScheme: true } } });
      expect(bankConfig.governance.requireConsent).toBe(false);
      expect(bankConfig.accept.plaintextScheme).toBe(true);
      expect(bankConfig.stateDir).toBe(join(dir, 'r', 'bank'));
      expect(cluster.config('government').governance.requireConsent).toBe(true);

      const gov = await cluster.startProcess('government', { run: 'r' });
      expect(gov.child.pid).toBeGreaterThan(0);
      const bank = await cluster.start('bank', { run: 'r' });
      const health = (await (
        await fetch(`http://127.0.0.1:${cluster.httpPorts.government}/healthz`)
      ).json()) as {
        party: string;
      };
      expect(health.party).toBe('government');
      // The in-process bank reaches the government process over mTLS (its Health call is answered).
      const reply = await bank.transport.health('government', 10_000);
      expect(reply.party).toBe('government');
    } finally {
      await cluster.close();
    }
    expect(cluster.processes.every((p) => p.child.exitCode !== null || p.child.signalCode !== null)).toBe(
      true,
    );
    expect(await cluster.processes[0]!.exited).toBe(0);
    expect(existsSync(dir)).toBe(false);
    for (const port of ports) expect(await bindable(port), `port ${port}`).toBe(true);
  }, 120_000);
});
