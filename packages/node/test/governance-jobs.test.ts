/**
 * Governance connected to jobs, between two in-process party nodes (bank = guest, government = host)
 * over real gRPC + mutual TLS on loopback, each with its own store:
 *   - consent: the government grants training consent to part of the overlap (others: none, revoked,
 *     expired, out of scope); PSI runs on the government's consenting enterprises only, so a job trains
 *     only on them; the government counts what its check kept out of PSI, by reason, in its own
 *     checkpoint and job events, and the bank receives only the aligned count and the consent reference
 *     (issue 11, finding 3; the attack is in test/attacks/psi-before-consent.attack.test.ts); both
 *     nodes' audit logs carry the same data uses (actor bank, data owner government, consent reference,
 *     fingerprint of exactly the consenting set), so `reconcileAuditLogs` agrees; a revocation between
 *     two jobs removes the enterprise from the second job only;
 *   - the government's default PSI policy refuses a bank that submits more than 50 ids per consenting
 *     enterprise (`psi_policy`): the job fails on both nodes, and both audit logs hold the refusal as a
 *     `security_event` and no data use;
 *   - publish registers the model on both nodes (metrics, fingerprints, parties, lineage), and
 *     `fedscore models list/show --store` shows it;
 *   - a job that fails (no consent at all) is marked failed on both nodes;
 *   - post-loan monitoring over the transport: events injected with `fedscore monitor events` on the
 *     government's store reach the bank as alerts (only for watched borrowers with monitoring consent),
 *     `fedscore monitor alerts` lists them, and the bank rescores them under encryption: the joint score
 *     equals the plaintext sum of both parties' partial scores within 1e-4 (online scoring's stated
 *     bound: flooding sd 2^-20 plus CKKS error at scale 2^30).
 * Training is small (binning off, one epoch): hetero-LR's accuracy is tested in packages/vfl.
 * Every test runs twice (issue 18): on each node's embedded SQLite store, and with both nodes' stores in
 * PostgreSQL (a throwaway loopback cluster, one schema per party; store-backends.ts: skipped with the
 * reason printed without PostgreSQL binaries, a failure under CI=true). The `fedscore models|monitor`
 * steps run the CLI as a separate process on the running node's store either way: `--store DIR`, or
 * `--store postgres://... --store-schema NAME` (`storeCommand`).
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { normalizeUscc, type Table } from '@fedscore/core';
import { readCsvFile } from '@fedscore/core/node';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import {
  type ConsentGrant,
  enterpriseSetFingerprint,
  type JobSpecInput,
  type PartyNode,
  type PsiCheckpoint,
  partyFeatures,
  reconcileAuditLogs,
  storeUrl,
  type TrainCheckpoint,
} from '@fedscore/node';
import { NodeCluster, type NodeConfigOverrides } from '@fedscore/node/testing';
import { partyPartialScores } from '@fedscore/vfl';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeStores } from './store-backends.ts';

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../cli/src/main.ts');
const PARTIES = ['bank', 'government'] as const;
type Party = (typeof PARTIES)[number];
const DAY = 86_400_000;

/**
 * Poll `condition` every 100 ms until it holds or `ms` pass, and return its last value (the caller
 * asserts it). For state another node, or a later step of this node's runner, writes asynchronously.
 */
async function eventually(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (condition()) return true;
    if (Date.now() > deadline) return condition();
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function cli(args: string[]): Promise<Record<string, unknown>> {
  const r = await promisify(execFile)(process.execPath, [
    '--disable-warning=ExperimentalWarning',
    CLI,
    ...args,
    '--json',
  ]);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

describeStores('governance connected to jobs (two nodes over gRPC + mTLS)', (backend) => {
  let cluster: NodeCluster<Party>;
  let files: Record<Party, string>;
  let nodes: Record<Party, PartyNode>;
  let bankTable: Table;
  let govTable: Table;
  let overlap: string[];
  /** Consent outcome per overlap enterprise. */
  const plan = new Map<string, 'valid' | 'none' | 'revoked' | 'expired' | 'scope'>();
  const now = Date.now();

  const config = (p: Party, run: string): NodeConfigOverrides => ({
    data:
      p === 'bank'
        ? { loans: { path: files.bank, id: ID_COLUMN, label: DEFAULT_LABEL_COLUMN } }
        : { credit: { path: files.government, id: ID_COLUMN } },
    limits: { peerDownSeconds: 30, retries: 2, retryBaseMs: 50 },
    // The bank polls on demand in this test (pollSeconds 0).
    monitoring: p === 'bank' ? { government: 'government', pollSeconds: 0 } : { serve: true },
    // This test checks exact rescored scores, which a government serves only when allowed.
    ...(p === 'government' && { scoring: { allowExactMode: true } }),
    ...(backend.name === 'postgres' && {
      store: { kind: 'postgres', url: backend.url(), schema: `${p}_${run}`.replaceAll('-', '_') },
    }),
  });
  /** A party's state directory (the SQLite store, and the published models' files). */
  const storeOf = (p: Party) => cluster.stateDir(p);
  /**
   * `fedscore <args>` in a separate process on `p`'s store, beside its running node: `--store <state
   * directory>` (SQLite), or `--store <database URL> --store-schema <schema>` (PostgreSQL: the node's
   * config names the same database and schema).
   */
  const storeCommand = (p: Party, args: string[]): Promise<Record<string, unknown>> => {
    const s = cluster.config(p).store;
    if (s.kind === 'sqlite') return cli([...args, '--store', storeOf(p)]);
    return cli([
      ...args,
      '--store',
      storeUrl(s),
      ...(s.schema !== undefined ? ['--store-schema', s.schema] : []),
    ]);
  };

  const spec = (id: string): JobSpecInput & { id: string } => ({
    id,
    guest: 'bank',
    hosts: ['government'],
    data: { bank: 'loans', government: 'credit' },
    seed: 5,
    binning: { enabled: false },
    train: { scheme: 'ckks', maxEpochs: 1, batchSize: 256 },
    consent: { purpose: 'training', categories: ['tax', 'court_judgments'] },
    model: 'sme-credit-line',
  });

  beforeAll(async () => {
    cluster = await NodeCluster.create({ parties: PARTIES, config });
    const w = await writePopulation(
      { enterprises: 900, bankCustomers: 600, seed: 21 },
      join(cluster.dir, 'data'),
    );
    files = { bank: w.bank.path, government: w.government.path };
    // Read as the nodes read them (missing values kept: the models standardize them to 0).
    bankTable = await readCsvFile(files.bank, {
      idColumn: ID_COLUMN,
      labelColumn: DEFAULT_LABEL_COLUMN,
      impute: 'keep',
    });
    govTable = await readCsvFile(files.government, { idColumn: ID_COLUMN, impute: 'keep' });
    const govIds = new Set(govTable.ids.map(normalizeUscc));
    overlap = bankTable.ids.map(normalizeUscc).filter((id) => govIds.has(id));
    nodes = {
      bank: await cluster.start('bank'),
      government: await cluster.start('government'),
    };
    // Consents at the government: 60% valid, the rest split between none, revoked, expired, out of scope.
    const grants: ConsentGrant[] = [];
    const revoke: string[] = [];
    overlap.forEach((enterprise, i) => {
      const k = i % 10 < 6 ? 'valid' : (['none', 'revoked', 'expired', 'scope'] as const)[(i % 10) - 6]!;
      plan.set(enterprise, k);
      if (k === 'none') return;
      const base = { enterprise, grantee: 'bank', purpose: 'training' as const, id: `t-${i}` };
      if (k === 'expired')
        grants.push({ ...base, scope: ['*'], grantedAt: now - 30 * DAY, expiresAt: now - DAY });
      else if (k === 'scope')
        grants.push({ ...base, scope: ['tax'], grantedAt: now - DAY, expiresAt: now + 300 * DAY });
      else
        grants.push({
          ...base,
          scope: ['tax', 'court_judgments', 'penalties'],
          grantedAt: now - DAY,
          expiresAt: now + 300 * DAY,
        });
      if (k === 'revoked') revoke.push(base.id);
    });
    nodes.government.consents.grantAll(grants);
    for (const id of revoke) nodes.government.consents.revoke(id, { at: now - 1000 });
  });

  afterAll(async () => {
    await cluster.close();
  });

  const count = (k: string) => [...plan.values()].filter((v) => v === k).length;
  const consenting = () => [...plan].filter(([, v]) => v === 'valid').map(([e]) => e);

  it('a job trains only on consenting enterprises; exclusions are counted; the owner reconciles the bank', async () => {
    for (const p of PARTIES) expect(nodes[p].store.dialect, p).toBe(backend.name);
    nodes.bank.submit(spec('consented-1'));
    const done = await nodes.bank.runner.waitFor('consented-1', 120_000);
    expect(done.error).toBeUndefined();
    expect(done.status).toBe('done');
    expect(nodes.government.jobs.require('consented-1').status).toBe('done');

    // The aligned set is exactly the consenting part of the overlap, on both nodes.
    const bankPsi = nodes.bank.jobs.requireCheckpoint<PsiCheckpoint>('consented-1', 'psi');
    const govPsi = nodes.government.jobs.requireCheckpoint<PsiCheckpoint>('consented-1', 'psi');
    const aligned = bankPsi.rows.map((r) => normalizeUscc(bankTable.ids[r]!)).sort();
    expect(aligned).toEqual(consenting().sort());
    expect(govPsi.rows.map((r) => normalizeUscc(govTable.ids[r]!)).sort()).toEqual(aligned);
    const summary = bankPsi.consent!['government']!;
    // What the bank receives: the aligned count and the consent reference, nothing about the
    // government's enterprises outside the intersection.
    expect(summary).toEqual({
      enforced: true,
      purpose: 'training',
      aligned: count('valid'),
      consentRef: expect.stringMatching(/^consents:[0-9a-f]{64}$/),
      at: expect.any(Number),
    });
    expect(bankPsi.consentedSet).toBeUndefined();
    expect(govPsi.consent!['government']).toEqual(summary);
    // The government's own record of its table: only consenting enterprises entered PSI.
    const granted = count('valid') + count('revoked') + count('expired') + count('scope');
    expect(govPsi.consentedSet).toEqual({
      offered: count('valid'),
      excludedTotal: govTable.ids.length - count('valid'),
      excluded: {
        noConsent: govTable.ids.length - granted,
        revoked: count('revoked'),
        expired: count('expired'),
        outOfScope: count('scope'),
        invalidId: 0,
        notYetValid: 0,
      },
    });
    // Training used only those rows: the model saw (1 - testFraction) of them.
    const train = nodes.bank.jobs.requireCheckpoint<TrainCheckpoint>('consented-1', 'train');
    expect(train.descriptor!.training.rows + train.descriptor!.training.validationRows).toBe(
      aligned.length - bankPsi.test.length,
    );
    // Reported in the job result and events.
    const metrics = JSON.parse(
      readFileSync(join(storeOf('bank'), 'models', 'consented-1', 'metrics.json'), 'utf8'),
    ) as { consent: Record<string, unknown> };
    expect(metrics.consent['government']).toEqual(summary);
    expect(nodes.bank.jobs.events('consented-1').find((e) => e.kind === 'consent')?.detail).toBe(
      `owner=government enforced=true aligned=${count('valid')}`,
    );
    expect(nodes.government.jobs.events('consented-1').find((e) => e.kind === 'consent')?.detail).toBe(
      `owner=government enforced=true aligned=${count('valid')} offered=${count('valid')} excluded=${govTable.ids.length - count('valid')}`,
    );

    // Audit: the same data uses on both nodes (one per data stage), reconcilable by the owner.
    const uses = (p: Party) => [...nodes[p].audit.entries({ job: 'consented-1', kind: 'data_use' })];
    for (const p of PARTIES) {
      const u = uses(p);
      expect(u.map((e) => e.details?.['stage'])).toEqual(['psi', 'train', 'evaluate']);
      for (const e of u) {
        expect(e).toMatchObject({
          actor: 'bank',
          dataOwner: 'government',
          purpose: 'training',
          consentRef: summary.consentRef,
          enterpriseCount: count('valid'),
          enterpriseFingerprint: enterpriseSetFingerprint(consenting()),
        });
        expect(e.details?.['consentChecked']).toBe(true);
      }
      expect(nodes[p].audit.verify().ok).toBe(true);
    }
    const r = reconcileAuditLogs(nodes.government.audit.entries(), [...nodes.bank.audit.entries()], {
      dataOwner: 'government',
      user: 'bank',
    });
    expect(r).toMatchObject({ ok: true, matched: 3, unclaimed: [], unknownToOwner: [], mismatched: [] });
    // A bank that drops its training entry from its log is caught.
    const hidden = reconcileAuditLogs(
      nodes.government.audit.entries(),
      [...nodes.bank.audit.entries()].filter((e) => e.details?.['stage'] !== 'train'),
      { dataOwner: 'government', user: 'bank' },
    );
    expect(hidden.ok).toBe(false);
  });

  it('publish registered the model on both nodes; fedscore models list/show read it from the store', async () => {
    const bankModel = nodes.bank.models.get('sme-credit-line@1');
    const govModel = nodes.government.models.get('sme-credit-line@1');
    for (const m of [bankModel, govModel]) {
      expect(m).toMatchObject({ algorithm: 'hetero-lr', modelId: 'consented-1', status: 'candidate' });
      expect(m.lineage.job).toBe('consented-1');
      expect(m.parties.map((p) => p.id).sort()).toEqual(['bank', 'government']);
      expect(m.metrics['auc']).toBeGreaterThan(0.5);
      expect(m.artifactSha256).toMatch(/^[0-9a-f]{64}$/);
    }
    // Same joint metrics and the same data fingerprints on both parties; each keeps only its own part.
    expect(govModel.metrics).toEqual(bankModel.metrics);
    expect(govModel.dataFingerprints).toEqual(bankModel.dataFingerprints);
    expect(bankModel.dataFingerprints['alignedSet']).toBe(enterpriseSetFingerprint(consenting()));
    expect(govModel.artifactSha256).not.toBe(bankModel.artifactSha256);
    const list = await storeCommand('government', ['models', 'list']);
    expect(list['models']).toEqual([
      expect.objectContaining({ ref: 'sme-credit-line@1', modelId: 'consented-1' }),
    ]);
    const show = await storeCommand('bank', ['models', 'show', 'sme-credit-line@1']);
    expect(JSON.stringify(show)).toContain('consented-1');
  });

  it('a revocation between two jobs changes the second job only', async () => {
    const victim = consenting()[0]!;
    const consent = nodes.government.consents.list({ enterprise: victim, purpose: 'training' })[0]!;
    nodes.government.consents.revoke(consent.id);
    plan.set(victim, 'revoked');
    nodes.bank.submit(spec('consented-2'));
    const done = await nodes.bank.runner.waitFor('consented-2', 120_000);
    expect(done.status).toBe('done');
    const first = nodes.bank.jobs.requireCheckpoint<PsiCheckpoint>('consented-1', 'psi');
    const second = nodes.bank.jobs.requireCheckpoint<PsiCheckpoint>('consented-2', 'psi');
    expect(second.rows.length).toBe(first.rows.length - 1);
    expect(second.rows.map((r) => normalizeUscc(bankTable.ids[r]!))).not.toContain(victim);
    expect(second.consent!['government']!.aligned).toBe(first.consent!['government']!.aligned - 1);
    const govSet = (job: string) =>
      nodes.government.jobs.requireCheckpoint<PsiCheckpoint>(job, 'psi').consentedSet!;
    expect(govSet('consented-2').excluded.revoked).toBe(govSet('consented-1').excluded.revoked + 1);
    // The first job's record is unchanged; the second registered version 2.
    expect(nodes.government.models.get('sme-credit-line@2').lineage.job).toBe('consented-2');
    const r = reconcileAuditLogs(nodes.government.audit.entries(), [...nodes.bank.audit.entries()], {
      dataOwner: 'government',
      user: 'bank',
    });
    expect(r).toMatchObject({ ok: true, matched: 6 });
  });

  it('a failed job is marked failed on every party', async () => {
    nodes.bank.submit({ ...spec('no-consent'), consent: { purpose: 'scoring', categories: ['*'] } });
    const failed = await nodes.bank.runner.waitFor('no-consent', 60_000);
    expect(failed.status).toBe('failed');
    expect(failed.error?.code).toBe('consent');
    // The bank marks the job failed first, then tells the government (an ABORT of the job); the
    // government fails it on receipt and the bank records 'failure_notified' only when the reply is back
    // (or on a retry, every 5 s, if the first notice got no answer). So wait for each real condition.
    const govFailed = () => nodes.government.jobs.require('no-consent').status === 'failed';
    expect(await eventually(govFailed, 20_000)).toBe(true);
    expect(nodes.government.jobs.require('no-consent').error?.message).toContain("coordinator 'bank'");
    const notified = () =>
      nodes.bank.jobs
        .events('no-consent')
        .some((e) => e.kind === 'failure_notified' && e.detail === 'government');
    expect(await eventually(notified, 20_000)).toBe(true);
  });

  it("the government's default PSI policy refuses a bank submitting far more ids than consented to it", async () => {
    // Five scoring consents for the bank: its 600 submitted ids are above 50 per consenting enterprise.
    nodes.government.consents.grantAll(
      consenting()
        .slice(0, 5)
        .map((enterprise, i) => ({
          id: `s-${i}`,
          enterprise,
          grantee: 'bank',
          purpose: 'scoring' as const,
          scope: ['*'],
          grantedAt: now - DAY,
          expiresAt: now + 300 * DAY,
        })),
    );
    nodes.bank.submit({ ...spec('too-many'), consent: { purpose: 'scoring', categories: ['*'] } });
    const failed = await nodes.bank.runner.waitFor('too-many', 60_000);
    expect(failed.status).toBe('failed');
    expect(failed.error?.code).toBe('psi_policy');
    expect(failed.error?.message).toContain('at most 50 per consenting enterprise (250)');
    const govFailed = () => nodes.government.jobs.require('too-many').status === 'failed';
    expect(await eventually(govFailed, 20_000)).toBe(true);
    for (const p of PARTIES) {
      const refusals = [...nodes[p].audit.entries({ job: 'too-many', kind: 'security_event' })];
      expect(refusals).toEqual([
        expect.objectContaining({
          actor: 'bank',
          dataOwner: 'government',
          details: expect.objectContaining({ code: 'psi_policy', stage: 'psi' }),
        }),
      ]);
      expect([...nodes[p].audit.entries({ job: 'too-many', kind: 'data_use' })]).toEqual([]);
      expect(nodes[p].audit.verify().ok).toBe(true);
    }
  });

  it('monitoring over the transport: injected events become alerts, listed and rescored under encryption', async () => {
    const consentingBorrowers = consenting().slice(0, 4);
    const otherBorrower = consenting()[10]!; // watched, but no monitoring consent
    nodes.government.consents.grantAll(
      consentingBorrowers.map((enterprise, i) => ({
        id: `m-${i}`,
        enterprise,
        grantee: 'bank',
        purpose: 'monitoring' as const,
        scope: ['*'],
        grantedAt: now - DAY,
        expiresAt: now + 300 * DAY,
      })),
    );
    const loans = join(cluster.dir, 'loans.jsonl');
    const watched = [...consentingBorrowers, otherBorrower].map((enterprise) => ({
      enterprise,
      until: '2099-01-01',
    }));
    writeFileSync(loans, watched.map((w) => JSON.stringify(w)).join('\n'));
    expect(
      (await storeCommand('bank', ['monitor', 'watch', '--government', 'government', '--file', loans]))[
        'queued'
      ],
    ).toBe(5);
    const first = await nodes.bank.pollAlerts();
    expect(first.alerts).toBe(0);

    const events = join(cluster.dir, 'events.jsonl');
    const injected = [
      {
        enterprise: consentingBorrowers[0],
        kind: 'court_judgment',
        occurredAt: '2025-06-01',
        reference: 'CASE-1',
      },
      { enterprise: consentingBorrowers[1], kind: 'tax_arrears', occurredAt: '2025-06-02' },
      { enterprise: otherBorrower, kind: 'dishonest_debtor', occurredAt: '2025-06-03' },
    ] as const;
    writeFileSync(events, injected.map((e) => JSON.stringify(e)).join('\n'));
    // Injected into the running government node's store by a separate process (or connection).
    expect((await storeCommand('government', ['monitor', 'events', '--file', events]))['recorded']).toBe(3);
    const second = await nodes.bank.pollAlerts();
    expect(second).toMatchObject({ alerts: 2, stored: 2 });
    const listed = (await storeCommand('bank', ['monitor', 'alerts']))['alerts'] as {
      enterprise: string;
      kind: string;
    }[];
    expect(listed.map((a) => [a.enterprise, a.kind]).sort()).toEqual(
      [
        [consentingBorrowers[0], 'court_judgment'],
        [consentingBorrowers[1], 'tax_arrears'],
      ].sort(),
    );

    const out = await nodes.bank.alerts!.rescore('sme-credit-line@2');
    expect(out.rescored.map((r) => r.enterprise).sort()).toEqual(consentingBorrowers.slice(0, 2).sort());
    // Reference: the plaintext sum of both parties' partial scores under the job's model parts.
    const partial = (p: Party, table: Table, id: string) => {
      const model = nodes[p].jobs.requireCheckpoint<TrainCheckpoint>('consented-2', 'train').model!;
      const row = table.ids.findIndex((x) => normalizeUscc(x) === id);
      const f = partyFeatures(
        table,
        table.columns.map((c) => c.name),
        [row],
      );
      return partyPartialScores(model, f.columns)[0]!;
    };
    for (const r of out.rescored) {
      expect(r.found).toBe(true);
      const expected =
        partial('bank', bankTable, r.enterprise) + partial('government', govTable, r.enterprise);
      expect(Math.abs(r.score! - expected)).toBeLessThan(1e-4);
    }
    expect(nodes.bank.alerts!.inbox.pendingEnterprises()).toEqual([]);
    // Both nodes audited the deliveries and rescoring; the owner's reconciliation still agrees.
    const govMonitoring = [...nodes.government.audit.entries({ kind: 'data_use' })].filter(
      (e) => e.purpose === 'monitoring',
    );
    expect(govMonitoring.length).toBe(1 + 2); // one delivery, two rescored enterprises
    expect(JSON.stringify(govMonitoring)).not.toContain(consentingBorrowers[0]!);
    const r = reconcileAuditLogs(nodes.government.audit.entries(), [...nodes.bank.audit.entries()], {
      dataOwner: 'government',
      user: 'bank',
    });
    expect(r).toMatchObject({ ok: true, matched: 6 + 3 });
    expect(nodes.government.audit.verify().ok).toBe(true);
  });
});
