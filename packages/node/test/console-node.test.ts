/**
 * The console wired into a party node: a government node (it serves monitoring) with an `http` address
 * serves /console/ by default beside /healthz, and an account made with `ConsoleAccounts` on its store
 * logs in and sees the node's jobs; a bank node serves no console unless its config turns it on.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConsoleAccounts,
  createDevCa,
  issuePartyCert,
  PartyNode,
  type TlsMaterial,
  validateNodeConfig,
} from '@fedscore/node';
import { afterAll, describe, expect, it } from 'vitest';
import { ConsoleClient, PASSWORD } from './console-fixture.ts';

const root = mkdtempSync(join(tmpdir(), 'fedscore-console-node-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const ca = createDevCa();

function start(party: string, extra: Record<string, unknown>): Promise<PartyNode> {
  const tls: TlsMaterial = { ca: ca.cert, ...issuePartyCert({ ca, party }) };
  const config = validateNodeConfig({
    party,
    listen: '127.0.0.1:0',
    http: '127.0.0.1:0',
    stateDir: join(root, party),
    tls: { ca: 'x', cert: 'x', key: 'x' },
    peers: { [party === 'government' ? 'bank' : 'government']: { address: '127.0.0.1:1' } },
    ...extra,
  });
  return PartyNode.start({ config, tls });
}

describe('console on a party node', () => {
  it('is served by default on the government node and logs in an account of its store', async () => {
    // A dataset whose features the config describes: the Indicators page shows the description, escaped.
    mkdirSync(join(root, 'data'), { recursive: true });
    const csv = join(root, 'data', 'credit.csv');
    writeFileSync(
      csv,
      `id,tax_arrears,court_cases\n${['a', 'b', 'c'].map((id, i) => `${id},${i},1`).join('\n')}\n`,
    );
    const node = await start('government', {
      monitoring: { serve: true },
      data: {
        credit: {
          path: csv,
          id: 'id',
          descriptions: { tax_arrears: 'Tax owed past its due date, CNY <b>thousands</b>' },
        },
      },
    });
    try {
      await new ConsoleAccounts(node.store, { cost: { logN: 10, r: 8, p: 1 } }).create({
        username: 'olga',
        role: 'platform-operator',
        password: PASSWORD,
      });
      const c = new ConsoleClient(`http://127.0.0.1:${node.httpPort}`);
      expect((await c.request('/console/')).status).toBe(303);
      expect(await c.login('olga')).toBe(303);
      const jobs = await c.request('/console/jobs');
      expect(jobs.status).toBe(200);
      expect(jobs.body).toContain('node government');
      const indicators = (await c.request('/console/indicators')).body;
      expect(indicators).toMatch(
        /<td>tax_arrears<\/td><td>numeric<\/td>.*?<td>3<\/td><td>Tax owed past its due date, CNY &lt;b&gt;thousands&lt;\/b&gt;<\/td>/,
      );
      expect(indicators).toMatch(/<td>court_cases<\/td><td>numeric<\/td>.*?<td>3<\/td><td>-<\/td>/);
      expect((await c.request('/healthz')).status).toBe(200);
    } finally {
      await node.stop();
    }
  }, 60_000);

  it('is off on a bank node unless console.enabled', async () => {
    const bank = await start('bank', {});
    try {
      const r = await fetch(`http://127.0.0.1:${bank.httpPort}/console/login`);
      expect(r.status).toBe(404);
    } finally {
      await bank.stop();
    }
    const on = await start('bank', { console: { enabled: true } });
    try {
      const r = await fetch(`http://127.0.0.1:${on.httpPort}/console/login`);
      expect(r.status).toBe(200);
    } finally {
      await on.stop();
    }
  }, 60_000);

  it("shows a bank node's alert inbox on its Alerts page, with the loan end, and acknowledges", async () => {
    const bank = await start('bank', {
      console: { enabled: true },
      monitoring: { government: 'government', pollSeconds: 0 },
    });
    try {
      const id = '91330100MARW7AP50M';
      bank.alerts!.watch({ add: [{ enterprise: id, until: Date.UTC(2027, 2, 31) }] });
      bank.store.run(
        `INSERT INTO alerts (government, seq, enterprise, kind, severity, occurred_at, received_at)
         VALUES ('government', 7, ?, 'dishonest_debtor', 'high', ?, ?)`,
        id,
        Date.UTC(2026, 10, 2),
        Date.UTC(2026, 10, 3),
      );
      await new ConsoleAccounts(bank.store, { cost: { logN: 10, r: 8, p: 1 } }).create({
        username: 'anna',
        role: 'bank-analyst',
        bank: 'bank',
        password: PASSWORD,
      });
      const c = new ConsoleClient(`http://127.0.0.1:${bank.httpPort}`);
      expect(await c.login('anna')).toBe(303);
      const page = await c.request('/console/alerts');
      expect(page.status).toBe(200);
      expect(page.body).toMatch(
        new RegExp(
          `dishonest debtor</td><td><span class="severity-high">high</span></td><td>2026-11-02</td><td><code>${id}</code></td><td>bank</td><td>2027-03-31</td>`,
        ),
      );
      const csrf = ConsoleClient.csrfOf(page.body);
      expect((await c.request('/console/alerts/government/7/acknowledge', { form: { csrf } })).status).toBe(
        303,
      );
      expect((await c.request('/console/alerts/government/7')).body).toContain('acknowledged by anna');
      const entry = [...bank.audit.entries({ kind: 'monitoring_alert' })].at(-1)!;
      expect(entry.details).toMatchObject({ action: 'acknowledged', seq: 7, by: 'anna' });
    } finally {
      await bank.stop();
    }
  }, 60_000);

  it('signs in through console.oidc only when configured so, and survives a provider that is down', async () => {
    const oidc = {
      name: 'Bank SSO',
      issuer: 'http://127.0.0.1:1/realms/staff',
      clientId: 'fedscore',
      clientSecretEnv: 'FEDSCORE_TEST_CONSOLE_NODE_OIDC',
      redirectUri: 'http://127.0.0.1:1/console/oidc/callback',
      roles: { analysts: 'bank-analyst' },
      defaultBank: 'bank',
    };
    await expect(start('bank', { console: { enabled: true, localAccounts: false, oidc } })).rejects.toThrow(
      expect.objectContaining({ code: 'invalid_config', field: 'console.oidc.clientSecretEnv' }),
    );
    process.env['FEDSCORE_TEST_CONSOLE_NODE_OIDC'] = 'a secret from the environment';
    const bank = await start('bank', { console: { enabled: true, localAccounts: false, oidc } });
    try {
      const c = new ConsoleClient(`http://127.0.0.1:${bank.httpPort}`);
      const page = await c.request('/console/login');
      expect(page.body).toContain('Sign in with Bank SSO');
      expect(page.body).not.toContain('name="password"');
      // Discovery fails (nothing listens on port 1): a 502 page, and the node keeps serving.
      expect((await c.request('/console/oidc/start')).status).toBe(502);
      expect((await c.request('/healthz')).status).toBe(200);
    } finally {
      delete process.env['FEDSCORE_TEST_CONSOLE_NODE_OIDC'];
      await bank.stop();
    }
  }, 60_000);
});
