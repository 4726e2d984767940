/**
 * The console's governance additions over HTTP: the post-loan Alerts page (a bank analyst sees and
 * acknowledges its own bank's alerts; another bank's alert by a guessed URL is 404 like one that does not
 * exist; the operator sees counts per bank and no borrower; the auditor reads without acknowledging), the
 * CSRF and origin checks of the acknowledgement and its audit entry, the scoring quota and rate against
 * each bank's use on the Usage page, and the store functions behind them checked against counts done
 * here independently.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTable, generateUniqueUsccs, numericColumn, seededRng } from '@fedscore/core';
import {
  AlertBook,
  AlertInbox,
  AuditLog,
  alertDeliveries,
  countAlerts,
  enterpriseSetFingerprint,
  JobStore,
  MONITORING_GOV_MIGRATIONS,
  NodeStore,
  parseAlertFilter,
  profileAlignedSets,
  queueWatchChanges,
  ScoringQuota,
  scoringPolicyUsage,
  validateJobSpec,
} from '@fedscore/node';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleClient, type ConsoleFixture, startConsoleFixture, USERS } from './console-fixture.ts';

let fx: ConsoleFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

async function as(user: { username: string }): Promise<ConsoleClient> {
  const c = new ConsoleClient(fx!.base);
  expect(await c.login(user.username)).toBe(303);
  return c;
}

describe('console: post-loan alerts', () => {
  it("shows a bank analyst its own bank's alerts with kind, date, severity, enterprise, loan end; filters", async () => {
    fx = await startConsoleFixture({ alerts: true });
    const anna = await as(USERS.analystA);
    const page = await anna.request('/console/alerts');
    expect(page.status).toBe(200);
    expect(page.body).toContain('Alerts (3 of 3)');
    const [a0, a1] = fx.alerted;
    // seq 3: court judgment, high, on 2026-11-10, loan end 2027-06-30 (as bank-a listed it)
    expect(page.body).toMatch(
      new RegExp(
        `government #3</a></td><td>court judgment</td><td><span class="severity-high">high</span></td><td>2026-11-10</td><td><code>${a0}</code></td><td>bank-a</td><td>2027-06-30</td><td>no</td><td><form`,
      ),
    );
    expect(page.body).toMatch(new RegExp(`government #5</a>.*<code>${a1}</code>.*2027-07-30`));
    const high = (await anna.request('/console/alerts?severity=high')).body;
    expect(high).toContain('Alerts (1 of 3)');
    expect(high).toContain('government #3');
    expect(high).not.toContain('government #5');
    const tax = (await anna.request('/console/alerts?kind=tax_arrears')).body;
    expect(tax).toContain('Alerts (1 of 3)');
    expect(tax).toContain('government #5');
    // An unknown filter value is no filter.
    expect((await anna.request('/console/alerts?severity=%3Cx%3E')).body).toContain('Alerts (0 of 3)');
    const one = await anna.request('/console/alerts/government/8');
    expect(one.status).toBe(200);
    expect(one.body).toContain('administrative penalty');
  });

  it("answers another bank's alert by URL with 404, identical to an alert that does not exist", async () => {
    fx = await startConsoleFixture({ alerts: true });
    const bert = await as(USERS.analystB);
    const list = await bert.request('/console/alerts');
    expect(list.status).toBe(200);
    for (const id of fx.alerted) expect(list.body).not.toContain(id);
    expect(list.body).toContain('Alerts (0 of 0): none.');
    const other = await bert.request('/console/alerts/government/3');
    const missing = await bert.request('/console/alerts/government/999');
    expect(other.status).toBe(404);
    expect(other.body).toBe(missing.body);
    expect((await bert.request('/console/alerts/government/abc')).status).toBe(404);
    // ...and acknowledging it with a valid token is 404 too, and changes nothing.
    const csrf = ConsoleClient.csrfOf(list.body);
    const ack = await bert.request('/console/alerts/government/3/acknowledge', { form: { csrf } });
    expect(ack.status).toBe(404);
    expect(fx.alerts.get('government', 3)?.acknowledged).toBeUndefined();
    // The government's delivery counts: its own bank's row only.
    expect(list.body).toMatch(/bank-b<\/td><td>1<\/td><td>0<\/td><td>0<\/td>/);
    expect(list.body).not.toContain('bank-a</td>');
  });

  it('shows the operator counts per bank only, never a borrower, and no acknowledge', async () => {
    fx = await startConsoleFixture({ alerts: true });
    const olga = await as(USERS.operator);
    const page = await olga.request('/console/alerts');
    expect(page.status).toBe(200);
    for (const id of fx.alerted) expect(page.body).not.toContain(id);
    // Received by bank-a: 3 alerts, 1 high, 2 medium, 3 not acknowledged.
    expect(page.body).toMatch(/bank-a<\/td><td>3<\/td><td>1<\/td><td>2<\/td><td>3<\/td>/);
    // Delivered by the government: bank-a 2 watched, 1 delivery of 3 alerts (1 high, 2 medium); bank-b
    // 1 watched.
    expect(page.body).toMatch(
      /bank-a<\/td><td>2<\/td><td>1<\/td><td>3<\/td><td>1<\/td><td>2<\/td><td>20\d\d-/,
    );
    expect(page.body).toMatch(
      /bank-b<\/td><td>1<\/td><td>0<\/td><td>0<\/td><td>0<\/td><td>0<\/td><td>-<\/td>/,
    );
    expect(page.body).not.toContain('/acknowledge');
    expect((await olga.request('/console/alerts/government/3')).status).toBe(404);
    const csrf = ConsoleClient.csrfOf(page.body);
    expect((await olga.request('/console/alerts/government/3/acknowledge', { form: { csrf } })).status).toBe(
      404,
    );
  });

  it('lets the auditor read the alerts but not acknowledge them', async () => {
    fx = await startConsoleFixture({ alerts: true });
    const aldo = await as(USERS.auditor);
    const page = await aldo.request('/console/alerts');
    expect(page.status).toBe(200);
    expect(page.body).toContain(fx.alerted[0]);
    expect(page.body).not.toContain('/acknowledge');
    expect(page.body).toContain('not acknowledged');
    const csrf = ConsoleClient.csrfOf(page.body);
    const ack = await aldo.request('/console/alerts/government/3/acknowledge', { form: { csrf } });
    expect(ack.status).toBe(403);
    expect(fx.alerts.get('government', 3)?.acknowledged).toBeUndefined();
  });

  it('acknowledges only with the CSRF token from the same origin, once, with an audit entry', async () => {
    fx = await startConsoleFixture({ alerts: true });
    const anna = await as(USERS.analystA);
    const page = await anna.request('/console/alerts');
    const csrf = ConsoleClient.csrfOf(page.body);
    const url = '/console/alerts/government/3/acknowledge';
    const before = fx.audit.head().entries;
    expect((await anna.request(url, { form: {} })).status).toBe(403);
    expect((await anna.request(url, { form: { csrf: `${csrf.slice(0, -1)}x` } })).status).toBe(403);
    expect(
      (await anna.request(url, { form: { csrf }, headers: { origin: 'https://evil.example' } })).status,
    ).toBe(403);
    expect(
      (await anna.request(url, { form: { csrf }, headers: { 'sec-fetch-site': 'cross-site' } })).status,
    ).toBe(403);
    // Not logged in: 401, whatever the token.
    expect((await new ConsoleClient(fx.base).request(url, { form: { csrf } })).status).toBe(401);
    expect(fx.alerts.get('government', 3)?.acknowledged).toBeUndefined();
    expect(fx.audit.head().entries).toBe(before);

    const ok = await anna.request(url, { form: { csrf } });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/console/alerts/government/3');
    const acked = fx.alerts.get('government', 3)!.acknowledged!;
    expect(acked.by).toBe('anna');
    const detail = (await anna.request('/console/alerts/government/3')).body;
    expect(detail).toContain('data-acknowledged="true"');
    expect(detail).toContain('acknowledged by anna');
    // One monitoring_alert entry: the alert by government and number, the enterprise only as a
    // fingerprint (no id in the audit log).
    const entries = [...fx.audit.entries({ kind: 'monitoring_alert' })];
    expect(entries).toHaveLength(1);
    const e = entries[0]!;
    expect(e.actor).toBe('bank-a');
    expect(e.dataOwner).toBe('government');
    expect(e.enterpriseFingerprint).toBe(enterpriseSetFingerprint([fx.alerted[0]!]));
    expect(e.details).toMatchObject({ action: 'acknowledged', seq: 3, severity: 'high', by: 'anna' });
    expect(JSON.stringify(e)).not.toContain(fx.alerted[0]);
    // Again: the first acknowledgement stays, no second entry.
    expect((await anna.request(url, { form: { csrf } })).status).toBe(303);
    expect(fx.alerts.get('government', 3)!.acknowledged).toEqual(acked);
    expect([...fx.audit.entries({ kind: 'monitoring_alert' })]).toHaveLength(1);
    // The operator's counts follow: 2 not acknowledged.
    const olga = await as(USERS.operator);
    expect((await olga.request('/console/alerts')).body).toMatch(
      /bank-a<\/td><td>3<\/td><td>1<\/td><td>2<\/td><td>2<\/td>/,
    );
  });

  it('says so on a node that receives no alerts', async () => {
    fx = await startConsoleFixture();
    const anna = await as(USERS.analystA);
    const page = await anna.request('/console/alerts');
    expect(page.status).toBe(200);
    expect(page.body).toContain('Alerts (0 of 0): none.');
  });
});

describe('alert store functions', () => {
  it('AlertBook joins the inbox, the loan ends and the acknowledgements; filters and counts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedscore-alerts-'));
    const store = NodeStore.open(join(dir, 'state'));
    try {
      const audit = new AuditLog(store);
      const inbox = new AlertInbox(store, { party: 'bank-a' });
      const ids = generateUniqueUsccs(seededRng(3), 3);
      queueWatchChanges(store, 'gov', {
        add: [
          { enterprise: ids[0]!, until: 1_900_000_000_000 },
          { enterprise: ids[1]!, until: 1_800_000_000_000 },
        ],
      });
      // A later listing changes the loan end; a removal forgets it.
      queueWatchChanges(store, 'gov', { add: [{ enterprise: ids[0]!, until: 1_950_000_000_000 }] });
      queueWatchChanges(store, 'gov', { remove: [ids[1]!] });
      const rows: [number, string, string, string][] = [
        [1, ids[0]!, 'court_judgment', 'high'],
        [2, ids[1]!, 'tax_arrears', 'medium'],
        [4, ids[2]!, 'dishonest_debtor', 'high'],
      ];
      for (const [seq, e, kind, severity] of rows) {
        store.run(
          `INSERT INTO alerts (government, seq, enterprise, kind, severity, occurred_at, received_at)
           VALUES ('gov', ?, ?, ?, ?, ?, ?)`,
          seq,
          e,
          kind,
          severity,
          seq * 1000,
          seq * 2000,
        );
      }
      const book = new AlertBook(inbox, { bank: 'bank-a', audit, now: () => 42 });
      const all = book.list();
      expect(all.map((a) => a.seq)).toEqual([4, 2, 1]);
      expect(book.get('gov', 1)?.loanEnd).toBe(1_950_000_000_000);
      expect(book.get('gov', 2)?.loanEnd).toBeUndefined();
      expect(book.list({ severity: 'high' }).map((a) => a.seq)).toEqual([4, 1]);
      expect(book.list({ kind: 'tax_arrears' }).map((a) => a.seq)).toEqual([2]);
      expect(book.acknowledge('gov', 99, 'anna')).toBeUndefined();
      expect(book.acknowledge('gov', 2, 'anna')?.acknowledged).toEqual({ by: 'anna', at: 42 });
      expect(() => book.acknowledge('gov', 1, '')).toThrow(expect.objectContaining({ field: 'by' }));
      expect(countAlerts(book.list())).toEqual([
        { bank: 'bank-a', alerts: 3, high: 2, medium: 1, unacknowledged: 2 },
      ]);
      expect(parseAlertFilter('high', 'court_judgment')).toEqual({
        severity: 'high',
        kind: 'court_judgment',
      });
      expect(parseAlertFilter('urgent', 'x')).toEqual({});
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('alertDeliveries counts watched borrowers whose loan runs and delivered alerts per bank', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedscore-alerts-'));
    const store = NodeStore.open(join(dir, 'state'));
    try {
      const audit = new AuditLog(store);
      store.migrate(MONITORING_GOV_MIGRATIONS);
      const now = 1_000_000;
      const ids = generateUniqueUsccs(seededRng(4), 4);
      for (const [bank, e, until] of [
        ['bank-a', ids[0]!, now + 1],
        ['bank-a', ids[1]!, now - 1], // loan ended: not watched
        ['bank-b', ids[2]!, now + 5],
      ] as const) {
        store.run(
          'INSERT INTO watchlist (bank, enterprise, since, until) VALUES (?, ?, 0, ?)',
          bank,
          e,
          until,
        );
      }
      const delivery = (
        bank: string,
        alerts: number,
        owner = 'gov',
        purpose = 'monitoring',
        severities: { high?: number; medium?: number } = {},
      ) =>
        audit.append({
          kind: 'data_use',
          actor: bank,
          dataOwner: owner,
          purpose,
          details: { alerts, ...severities },
        });
      delivery('bank-a', 3, 'gov', 'monitoring', { high: 1, medium: 2 });
      delivery('bank-a', 2); // audited before severities were counted
      delivery('bank-b', 1, 'other-gov'); // another owner's delivery
      delivery('bank-b', 7, 'gov', 'scoring'); // not monitoring
      audit.append({ kind: 'data_use', actor: 'bank-b', dataOwner: 'gov', purpose: 'monitoring' }); // a rescoring
      const d = alertDeliveries(store, audit, 'gov', now);
      expect(d.map(({ lastAt: _, ...x }) => x)).toEqual([
        { bank: 'bank-a', watched: 1, deliveries: 2, alerts: 5, high: 1, medium: 2 },
        { bank: 'bank-b', watched: 1, deliveries: 0, alerts: 0, high: 0, medium: 0 },
      ]);
      expect(d[0]!.lastAt).toBeTypeOf('number');
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('scoringPolicyUsage counts each window against a count done here', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedscore-policy-'));
    const store = NodeStore.open(join(dir, 'state'));
    try {
      const quota = { requests: 3, windowSeconds: 86_400 };
      const rate = { requests: 2, windowSeconds: 60 };
      const t0 = 10_000_000;
      let t = t0;
      // The admitting quota never refuses here; the policy under test is `quota` and `rate`.
      const q = new ScoringQuota(
        store,
        { quota: { requests: 1000, windowSeconds: 86_400 }, rate: { requests: 1000, windowSeconds: 60 } },
        { now: () => t },
      );
      const ids = generateUniqueUsccs(seededRng(5), 3);
      const log: [string, string, number][] = [];
      const admit = (bank: string, e: string, at: number) => {
        t = at;
        expect(q.admit(bank, e)).toBeUndefined();
        log.push([bank, e, at]);
      };
      admit('bank-a', ids[0]!, t0);
      admit('bank-a', ids[0]!, t0 + 1000);
      admit('bank-a', ids[0]!, t0 + 70_000); // 3 in the day: at quota
      admit('bank-a', ids[1]!, t0 + 80_000);
      admit('bank-a', ids[1]!, t0 + 85_000); // 2 in the minute: at rate
      admit('bank-b', ids[2]!, t0 + 1000);
      const now = t0 + 90_000;
      const r = scoringPolicyUsage(store, { quota, rate }, ['bank-a', 'bank-b', 'bank-c'], now);
      // Independent count over the log.
      const expectFor = (bank: string) => {
        const inWin = (w: number) => log.filter(([b, , at]) => b === bank && at > now - w * 1000);
        const per = (w: number) => {
          const m = new Map<string, number>();
          for (const [, e] of inWin(w)) m.set(e, (m.get(e) ?? 0) + 1);
          return m;
        };
        const qm = per(quota.windowSeconds);
        const rm = per(rate.windowSeconds);
        return {
          bank,
          quotaRequests: inWin(quota.windowSeconds).length,
          enterprises: qm.size,
          atQuota: [...qm.values()].filter((n) => n >= quota.requests).length,
          rateRequests: inWin(rate.windowSeconds).length,
          atRate: [...rm.values()].filter((n) => n >= rate.requests).length,
        };
      };
      expect(r).toEqual(['bank-a', 'bank-b', 'bank-c'].map(expectFor));
      expect(r[0]).toMatchObject({ quotaRequests: 5, enterprises: 2, atQuota: 1, atRate: 1 });
      expect(r[2]).toMatchObject({ quotaRequests: 0, enterprises: 0 });
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('indicator coverage over a job aligned set', () => {
  it("profiles each bank's last job's aligned rows, withholds below the floor, skips a stale set", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedscore-aligned-'));
    const store = NodeStore.open(join(dir, 'state'));
    try {
      const audit = new AuditLog(store);
      const jobs = new JobStore(store);
      const ids = generateUniqueUsccs(seededRng(9), 80);
      // Missing where i % 5 === 0 (16 of 80 rows).
      const values = Float64Array.from(ids, (_, i) => (i % 5 === 0 ? Number.NaN : i));
      const t = createTable({ ids: [...ids], columns: [numericColumn('arrears', values)] });
      const job = (id: string, bank: string, rows: number[], fingerprintRows = rows) => {
        const spec = validateJobSpec({
          id,
          guest: bank,
          hosts: ['gov'],
          data: { [bank]: 'x', gov: 'credit' },
        });
        jobs.put({ ...spec, id }, bank);
        jobs.setAttempt(id, 'psi', 1);
        jobs.saveCheckpoint(id, 'psi', 1, { rows, test: [] });
        audit.append({
          kind: 'data_use',
          actor: bank,
          dataOwner: 'gov',
          purpose: 'training',
          job: id,
          enterpriseFingerprint: enterpriseSetFingerprint(fingerprintRows.map((r) => ids[r]!)),
          enterpriseCount: fingerprintRows.length,
        });
      };
      const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
      job('j-a1', 'bank-a', range(0, 60));
      job('j-a2', 'bank-a', range(10, 70)); // bank-a's last job
      job('j-b1', 'bank-b', range(0, 20)); // below the floor
      job('j-c1', 'bank-c', range(0, 60), range(1, 61)); // the file no longer matches its aligned set
      job('j-d1', 'bank-d', [0, 1, 500]); // a row the file no longer has
      const p = await profileAlignedSets({
        party: 'gov',
        jobs,
        audit,
        names: ['credit'],
        read: async () => t,
      });
      expect(p.map((x) => x.job)).toEqual(['j-a2', 'j-b1']);
      // Independent count: rows 10..69, missing at multiples of 5 (10, 15, ..., 65: 12 rows).
      const missing = range(10, 70).filter((r) => r % 5 === 0).length;
      expect(missing).toBe(12);
      expect(p[0]!.columns[0]!.coverage).toBeCloseTo((60 - missing) / 60, 12);
      expect(p[0]).toMatchObject({ dataset: 'credit', bank: 'bank-a', rows: 60, minRows: 50 });
      expect(p[1]!.columns[0]!.coverage).toBeUndefined();
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shows the aligned-set coverage to the operator only (withheld below the floor)', async () => {
    fx = await startConsoleFixture();
    const olga = await as(USERS.operator);
    const body = (await olga.request('/console/indicators')).body;
    expect(body).toMatch(
      /credit<\/td><td><a href="\/console\/jobs\/job-a1">job-a1<\/a><\/td><td>bank-a<\/td><td>tax_arrears<\/td><td>withheld<\/td><td>withheld \(fewer than 50 rows\)<\/td><td>6<\/td>/,
    );
    expect(body).toContain('href="/console/jobs/job-b1">job-b1</a></td><td>bank-b</td>');
    const anna = await as(USERS.analystA);
    expect((await anna.request('/console/indicators')).body).not.toContain('aligned set of each bank');
  });
});
