/**
 * The governance commands of the real CLI, run as separate processes (as an operator runs them; this
 * package may not import @fedscore/cli): consent grant/import/revoke/check, audit verify on an intact
 * and a tampered store (exit code, JSON, first bad entry named), audit export + reconcile, model
 * register/promote/compare, monitoring events. Every case runs on both stores (store-backends.ts): SQLite
 * state directories in a temporary directory (`--store DIR`), then schemas of a throwaway PostgreSQL
 * cluster (`--store postgres://... --store-schema NAME`); the test's own library handles open the same
 * store, and each is checked to be of the backend under test.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateUniqueUsccs, seededRng } from '@fedscore/core';
import { AuditLog, ConsentRegistry, enterpriseSetFingerprint, NodeStore } from '@fedscore/node';
import {
  JOINT_MODEL_FORMAT,
  MODEL_FORMAT_VERSION,
  PARTY_MODEL_FORMAT,
  serializeJointModel,
  serializePartyModel,
} from '@fedscore/vfl';
import { afterAll, expect, it } from 'vitest';
import { describeStores, type StoreBackend } from './store-backends.ts';

const MAIN = fileURLToPath(new URL('../../cli/src/main.ts', import.meta.url));

function runCli(
  dir: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string; json: Record<string, unknown> }> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', MAIN, ...args, '--json'],
      { cwd: dir, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const lines = stdout.trim().split('\n');
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(lines[lines.length - 1] ?? '{}') as Record<string, unknown>;
        } catch {}
        resolvePromise({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr, json });
      },
    );
  });
}

const ids = generateUniqueUsccs(seededRng('gov-cli'), 6);

/** A named store of the backend under test: the CLI's arguments for it, and a library handle on it. */
interface NamedStore {
  readonly args: string[];
  open(): NodeStore;
}

function namedStore(backend: StoreBackend, dir: string, name: string): NamedStore {
  if (backend.name === 'sqlite') {
    const path = join(dir, name);
    return { args: ['--store', path], open: () => NodeStore.open(path) };
  }
  const schema = `cli_${name.replaceAll('-', '_')}`;
  return {
    args: ['--store', backend.url(), '--store-schema', schema],
    open: () => NodeStore.postgres(backend.url(), { schema }),
  };
}

describeStores('governance CLI', (backend) => {
  const dir = mkdtempSync(join(tmpdir(), `fedscore-gov-cli-${backend.name}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cli = (args: string[]) => runCli(dir, args);
  /** The store `name`; the test's handles on it are of the backend under test. */
  const named = (name: string): NamedStore => {
    const n = namedStore(backend, dir, name);
    return {
      args: n.args,
      open: () => {
        const st = n.open();
        expect(st.dialect).toBe(backend.name);
        return st;
      },
    };
  };

  it.concurrent('consents: grant, import (atomic; errors name the line), revoke, check', async () => {
    const store = named('gov');
    const g = await cli([
      'consent',
      'grant',
      ...store.args,
      '--party',
      'gov',
      '--enterprise',
      ids[0]!,
      '--grantee',
      'bank-a',
      '--purpose',
      'training',
      '--scope',
      '*',
      '--granted',
      '2025-01-01',
      '--expires',
      '2030-01-01',
      '--id',
      'c0',
    ]);
    expect(g.code, g.stderr).toBe(0);
    const lines = ids.slice(1, 4).map((e, i) =>
      JSON.stringify({
        id: `c${i + 1}`,
        enterprise: e,
        grantee: 'bank-a',
        purpose: 'training',
        scope: ['tax'],
        grantedAt: '2025-01-01',
        expiresAt: '2030-01-01',
      }),
    );
    writeFileSync(join(dir, 'consents.jsonl'), `${lines.join('\n')}\n`);
    expect(
      (await cli(['consent', 'import', ...store.args, '--party', 'gov', '--file', 'consents.jsonl'])).json,
    ).toEqual({
      imported: 3,
    });
    writeFileSync(
      join(dir, 'bad.jsonl'),
      `${lines[0]!.replace('"c1"', '"c9"')}\n{"enterprise":"x","grantee":"bank-a","purpose":"training","scope":["*"],"expiresAt":"2030-01-01"}\n`,
    );
    const bad = await cli(['consent', 'import', ...store.args, '--file', 'bad.jsonl']);
    expect(bad.code).toBe(1);
    expect(bad.json['error']).toMatchObject({ code: 'invalid_uscc', line: 2, field: 'enterprise' });

    await cli(['consent', 'revoke', ...store.args, '--party', 'gov', '--id', 'c3', '--at', '2026-01-01']);
    writeFileSync(join(dir, 'ids.txt'), `${ids.join('\n')}\n`);
    const check = await cli([
      'consent',
      'check',
      ...store.args,
      '--ids',
      'ids.txt',
      '--grantee',
      'bank-a',
      '--purpose',
      'training',
      '--category',
      'tax',
      '--at',
      '2026-06-01',
      '--out',
      'allowed.txt',
    ]);
    expect(check.json).toMatchObject({
      input: 6,
      included: 3,
      excludedTotal: 3,
      excluded: { noConsent: 2, revoked: 1 },
    });
    expect(check.json['enterpriseFingerprint']).toBe(enterpriseSetFingerprint(ids.slice(0, 3)));
    // What the CLI wrote is in the store under test: the library reads the same consents there.
    const s = store.open();
    try {
      const reg = new ConsentRegistry(s);
      expect(reg.get('c3').revokedAt).toBeDefined();
      // The four granted (c0 by grant, c1-c3 by import), none of the refused import's.
      expect(
        reg
          .list({ grantee: 'bank-a' })
          .map((r) => r.id)
          .sort(),
      ).toEqual(['c0', 'c1', 'c2', 'c3']);
    } finally {
      s.close();
    }
  });

  it.concurrent('audit verify: ok on an intact log; names the first altered entry and exits non-zero', async () => {
    const audited = named('audited');
    const store = audited.open();
    const log = new AuditLog(store);
    for (let i = 0; i < 8; i++)
      log.append({ kind: 'data_use', actor: 'bank-a', dataOwner: 'gov', purpose: 'training', job: `j${i}` });
    const head = log.head();
    store.close();
    const ok = await cli(['audit', 'verify', ...audited.args]);
    expect(ok.code).toBe(0);
    expect(ok.json).toEqual({ entries: 8, ok: true, head: head.hash });

    const tamper = audited.open();
    tamper.exec(
      tamper.dialect === 'postgres'
        ? 'DROP TRIGGER audit_log_no_update ON audit_log'
        : 'DROP TRIGGER audit_log_no_update',
    );
    tamper.run("UPDATE audit_log SET purpose = 'scoring' WHERE seq = 5");
    tamper.close();
    const badRun = await cli(['audit', 'verify', ...audited.args]);
    expect(badRun.code).toBe(1);
    expect(badRun.stderr).toContain('entry 5');
    expect(badRun.json).toMatchObject({ entries: 5, ok: false, first_bad: 5, reason: 'hash' });
    expect(badRun.json['error']).toMatchObject({
      code: 'audit_tampered',
      field: 'entries[5]',
      details: { entries: 5, ok: false, firstBad: 5, reason: 'hash' },
    });
  });

  it.concurrent('audit export + reconcile: the owner finds a hidden use', async () => {
    const g2 = named('g2');
    const b2 = named('b2');
    const gov = g2.open();
    const bank = b2.open();
    const govLog = new AuditLog(gov);
    const bankLog = new AuditLog(bank);
    const use = (job: string) => ({
      kind: 'data_use' as const,
      actor: 'bank-a',
      dataOwner: 'gov',
      purpose: 'training',
      job,
      enterpriseFingerprint: enterpriseSetFingerprint(ids),
      enterpriseCount: ids.length,
    });
    govLog.append(use('j1'));
    bankLog.append(use('j1'));
    gov.close();
    bank.close();
    const exp = await cli(['audit', 'export', ...b2.args, '--out', 'claims.jsonl']);
    expect(exp.json['entries']).toBe(1);
    const gov2 = g2.open();
    new AuditLog(gov2).append(use('j2')); // served, but the bank's log leaves it out
    gov2.close();
    const hidden = await cli([
      'audit',
      'reconcile',
      ...g2.args,
      '--claims',
      'claims.jsonl',
      '--owner',
      'gov',
      '--user',
      'bank-a',
    ]);
    expect(hidden.code).toBe(1);
    expect(hidden.json['error']).toMatchObject({
      code: 'audit_tampered',
      details: { unclaimed: 1, matched: 1 },
    });
  });

  it.concurrent('models: register from training output, promote, compare', async () => {
    const joint = (modelId: string, lr: number) =>
      serializeJointModel({
        format: JOINT_MODEL_FORMAT,
        version: MODEL_FORMAT_VERSION,
        modelId,
        createdAt: '2025-01-01T00:00:00.000Z',
        link: 'logit',
        interceptHolder: 'bank-a',
        parties: [
          { id: 'bank-a', role: 'guest', featureNames: ['revenue'] },
          { id: 'gov', role: 'host', featureNames: ['h0'] },
        ],
        training: {
          mode: 'arbiter',
          scheme: 'ckks',
          insecure: false,
          rows: 100,
          validationRows: 10,
          epochs: 3,
          keptEpoch: 3,
          sigmoid: 'taylor-1: 0.5 + z/4',
          hyperparams: { learningRate: lr, l2: 0, batchSize: 64, seed: 1, classWeighted: false },
        },
      } as never);
    writeFileSync(join(dir, 'joint1.json'), joint('r1', 0.15));
    writeFileSync(join(dir, 'joint2.json'), joint('r2', 0.1));
    writeFileSync(
      join(dir, 'own1.json'),
      serializePartyModel({
        format: PARTY_MODEL_FORMAT,
        version: MODEL_FORMAT_VERSION,
        modelId: 'r1',
        party: 'bank-a',
        role: 'guest',
        featureNames: ['revenue'],
        standardization: { mean: [0], scale: [1] },
        weights: [0.3],
        intercept: 0.1,
      }),
    );
    const store = named('bank-models');
    const r1 = await cli([
      'models',
      'register',
      ...store.args,
      '--party',
      'bank-a',
      '--name',
      'sme-line',
      '--joint',
      'joint1.json',
      '--own',
      'own1.json',
      '--metric',
      'auc=0.75',
      '--job',
      'job-1',
    ]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.json['model']).toMatchObject({
      ref: 'sme-line@1',
      status: 'candidate',
      lineage: { job: 'job-1' },
    });
    await cli([
      'models',
      'register',
      ...store.args,
      '--name',
      'sme-line',
      '--joint',
      'joint2.json',
      '--metric',
      'auc=0.78',
      '--parent',
      'sme-line@1',
    ]);
    const p2 = await cli(['models', 'promote', 'sme-line@2', ...store.args, '--reason', 'higher AUC']);
    expect(p2.json['model']).toMatchObject({ status: 'production' });
    const cmp = await cli(['models', 'compare', 'sme-line@1', 'sme-line@2', ...store.args]);
    const c = cmp.json['comparison'] as {
      metrics: { name: string; delta: number }[];
      parameters: { name: string }[];
    };
    expect(c.metrics[0]!.name).toBe('auc');
    expect(c.metrics[0]!.delta).toBeCloseTo(0.03, 12);
    expect(c.parameters.map((p) => p.name)).toEqual(['learningRate']);
  });

  it.concurrent('monitor events: recorded from JSON lines', async () => {
    const store = named('gov-events');
    const s = store.open();
    new ConsentRegistry(s);
    s.close();
    writeFileSync(
      join(dir, 'events.jsonl'),
      `${JSON.stringify({ enterprise: ids[0], kind: 'court_judgment', occurredAt: '2025-06-01' })}\n${JSON.stringify({ enterprise: ids[1], kind: 'tax_arrears', occurredAt: 1748736000000 })}\n`,
    );
    expect((await cli(['monitor', 'events', ...store.args, '--file', 'events.jsonl'])).json).toEqual({
      recorded: 2,
    });
  });
});
