/**
 * The governance commands on a party's PostgreSQL store (issue 18: node replicas share one database).
 * `--store postgres://user@host:port/db` (no password), `--store-env VAR` (the URL in that variable, where
 * a password may be) and `--store-schema NAME` name the store a node config's `store: { kind: postgres,
 * url|urlEnv, schema }` names, opened through the node's own `openNodeStore`. Checked here:
 * - every command that takes `--store` (found from the CLI's own help, so a new one cannot be missed)
 *   refuses a password in the URL as a usage error (exit 2) naming `--store`, and the planted password
 *   appears nowhere in stdout or stderr (with `--json` too); `score batch --queue` refuses one alike; a
 *   `--store-env` URL (which may hold one) to a database that is down is named without it;
 * - against a throwaway PostgreSQL cluster, a running node and the CLI share the store: consents and a
 *   model the node wrote are listed and checked by the CLI, a consent the CLI grants is seen by the node's
 *   registry, and `audit verify` verifies the one chain both appended to (the node's count and head).
 */
import { generateUniqueUsccs, seededRng } from '@fedscore/core';
import type { ModelRegistration } from '@fedscore/node';
import { NodeCluster } from '@fedscore/node/testing';
import { type PgCluster, postgresUnavailable, startPgCluster } from '@fedscore/queue/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastJson, runCli } from './run-cli.ts';

const SECRET = 'Planted-pg-s3cret-7d41';
const WITH_PASSWORD = `postgres://fedscore:${SECRET}@db.bank.internal:5432/bank`;

/** The least each command that takes --store needs besides it to reach its flag checks. */
const STORE_COMMANDS: Readonly<Record<string, readonly string[]>> = {
  'audit verify': [],
  'audit export': ['--out', 'x.jsonl'],
  'audit reconcile': ['--claims', 'c.jsonl', '--owner', 'gov', '--user', 'bank'],
  'consent grant': [
    '--enterprise',
    '91350100M000100Y43',
    '--grantee',
    'bank',
    '--purpose',
    'training',
    '--scope',
    '*',
    '--expires',
    '2030-01-01',
  ],
  'consent revoke': ['--id', 'c-1'],
  'consent list': [],
  'consent import': ['--file', 'c.jsonl'],
  'consent check': ['--ids', 'ids.txt', '--grantee', 'bank', '--purpose', 'training'],
  'models register': ['--name', 'm'],
  'models list': [],
  'models show': ['m@1'],
  'models compare': ['m@1', 'm@2'],
  'models promote': ['m@1'],
  'models retire': ['m@1'],
  'monitor events': ['--file', 'e.jsonl'],
  'monitor alerts': [],
  'monitor watch': ['--government', 'gov', '--file', 'l.jsonl'],
  'console-user': ['list'],
  'products preapprove': ['--bank', 'bank', '--lines', 'lines.csv'],
  score: ['hfl', '--ref', 'm@1', '--input', 'x.csv'],
};

/** The commands of `fedscore --help` whose own help lists a --store flag. */
async function commandsWithStore(): Promise<string[]> {
  const top = await runCli(['--help']);
  const names = [...top.stdout.matchAll(/^ {2}([a-z-]+(?: [a-z-]+)?) {2,}/gm)].map((m) => m[1]!);
  const out: string[] = [];
  for (const name of names) {
    const help = await runCli([...name.split(' '), '--help']);
    if (/^ {2}--store /m.test(help.stdout)) out.push(name);
  }
  return out;
}

describe('--store: a PostgreSQL URL with a password is refused without echoing it', () => {
  it('every command taking --store refuses it as a usage error naming the flag', async () => {
    const found = await commandsWithStore();
    expect(found.sort()).toEqual(Object.keys(STORE_COMMANDS).sort());
    for (const [name, args] of Object.entries(STORE_COMMANDS)) {
      const help = await runCli([...name.split(' '), '--help']);
      expect(help.stdout, name).toContain('--store-env');
      expect(help.stdout, name).toContain('--store-schema');
      for (const json of [false, true]) {
        const r = await runCli([
          ...name.split(' '),
          ...args,
          '--store',
          WITH_PASSWORD,
          ...(json ? ['--json'] : []),
        ]);
        expect(r.code, `${name}: ${r.stderr}`).toBe(2);
        expect(r.stderr, name).toContain('no password in --store');
        expect(r.stderr, name).toContain('--store-env');
        expect(r.stdout + r.stderr, name).not.toContain(SECRET);
        if (json) expect((lastJson(r.stdout)['error'] as { field: string }).field).toBe('--store');
      }
    }
  });

  it('--store and --store-env: exactly one, a set variable holding a postgres:// URL, a schema only there', async () => {
    const list = (...a: string[]) => runCli(['consent', 'list', ...a]);
    const none = await list();
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('give either --store or --store-env');
    const both = await list('--store', 'postgres://a@b/c', '--store-env', 'FEDSCORE_STORE_URL');
    expect(both.code).toBe(2);
    const otherScheme = await list('--store', `mysql://u:${SECRET}@db/bank`);
    expect(otherScheme.code).toBe(2);
    expect(otherScheme.stderr).toContain('postgres://');
    expect(otherScheme.stdout + otherScheme.stderr).not.toContain(SECRET);
    const badName = await list('--store-env', 'not a name');
    expect(badName.code).toBe(2);
    expect(badName.stderr).toContain('--store-env');
    const unset = await list('--store-env', 'FEDSCORE_TEST_UNSET_STORE_URL');
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain('FEDSCORE_TEST_UNSET_STORE_URL');
    process.env['FEDSCORE_TEST_BAD_STORE_URL'] = `redis://u:${SECRET}@127.0.0.1:6379`;
    try {
      const bad = await list('--store-env', 'FEDSCORE_TEST_BAD_STORE_URL', '--json');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('--store-env');
      expect(bad.stdout + bad.stderr).not.toContain(SECRET);
    } finally {
      delete process.env['FEDSCORE_TEST_BAD_STORE_URL'];
    }
    // A variable's URL may hold a password; a database that cannot be reached is named without it.
    process.env['FEDSCORE_TEST_DOWN_STORE_URL'] = `postgres://fedscore:${SECRET}@127.0.0.1:1/bank`;
    try {
      const down = await list('--store-env', 'FEDSCORE_TEST_DOWN_STORE_URL', '--json');
      expect(down.code).toBe(1);
      expect(down.stderr).toContain('postgres://fedscore@127.0.0.1:1/bank');
      expect(down.stdout + down.stderr).not.toContain(SECRET);
    } finally {
      delete process.env['FEDSCORE_TEST_DOWN_STORE_URL'];
    }
    const schemaOnDir = await list('--store', './state/bank', '--store-schema', 'bank');
    expect(schemaOnDir.code).toBe(2);
    expect(schemaOnDir.stderr).toContain('--store-schema');
    // The node config's own rule for a schema name (validateStoreConfig), naming the flag.
    const badSchema = await list(
      '--store',
      'postgres://fedscore@127.0.0.1:1/bank',
      '--store-schema',
      'Bad-Schema',
    );
    expect(badSchema.code).toBe(2);
    expect(badSchema.stderr).toContain('--store-schema');
    expect(badSchema.stderr).toContain('lower-case SQL identifier');
  });
});

describe('score batch --queue: a password in the URL is refused without echoing it', () => {
  it('refuses it as a usage error naming --queue; --queue-env must name a set variable', async () => {
    for (const url of [WITH_PASSWORD, `postgresql://fedscore:${SECRET}@127.0.0.1/bank?sslmode=require`]) {
      for (const json of [false, true]) {
        const r = await runCli([
          'score',
          'batch',
          '--model',
          'model.json',
          '--input',
          'portfolio.csv',
          '--queue',
          url,
          ...(json ? ['--json'] : []),
        ]);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toContain('no password in --queue');
        expect(r.stderr).toContain('--queue-env');
        expect(r.stdout + r.stderr).not.toContain(SECRET);
      }
    }
    const notPg = await runCli(['score', 'batch', '--queue', 'redis://127.0.0.1:6379']);
    expect(notPg.code).toBe(2);
    expect(notPg.stderr).toContain('postgres://');
    const both = await runCli(['score', 'batch', '--queue', 'postgres://a@b/c', '--queue-env', 'X_URL']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give either --queue or --queue-env');
    const unset = await runCli(['score', 'batch', '--queue-env', 'FEDSCORE_TEST_UNSET_QUEUE_URL']);
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain('FEDSCORE_TEST_UNSET_QUEUE_URL');
    const help = await runCli(['score', '--help']);
    expect(help.stdout).toContain('--queue-env');
  });
});

const unavailable = postgresUnavailable();
if (unavailable !== undefined) console.log(`skipping the CLI-on-PostgreSQL-store test: ${unavailable}`);

describe.skipIf(unavailable !== undefined)("governance commands on a node's PostgreSQL store", () => {
  let pg: PgCluster;
  beforeAll(async () => {
    pg = await startPgCluster();
  }, 120_000);
  afterAll(() => pg?.stop());

  it('read what a running node wrote, write what it reads, and verify the one audit chain', async () => {
    const schema = 'bank_cli';
    const cluster = await NodeCluster.create({
      parties: ['bank'],
      config: () => ({ store: { kind: 'postgres', url: pg.url, schema } }),
    });
    // The CLI's two ways to the same database: the URL without a password (trust authentication here
    // stands in for PGPASSWORD), and a variable holding a URL with one (the server ignores it here).
    const withPassword = pg.url.replace('postgres://postgres@', `postgres://postgres:${SECRET}@`);
    expect(withPassword).not.toBe(pg.url);
    process.env['FEDSCORE_TEST_STORE_URL'] = withPassword;
    const byUrl = ['--store', pg.url, '--store-schema', schema];
    const byEnv = ['--store-env', 'FEDSCORE_TEST_STORE_URL', '--store-schema', schema];
    const seen = (r: { stdout: string; stderr: string }) => expect(r.stdout + r.stderr).not.toContain(SECRET);
    try {
      // Before any node ran: a read-only command finds no store there (and never echoes the URL's password).
      const empty = await runCli(['audit', 'verify', ...byEnv, '--json']);
      expect(empty.code, empty.stderr).toBe(1);
      expect(empty.stderr).toContain('no store in this PostgreSQL database');
      seen(empty);

      const node = await cluster.start('bank');
      expect(node.store.dialect).toBe('postgres');
      const [a, b] = generateUniqueUsccs(seededRng('cli-pg-store'), 2);
      const now = Date.now();
      const granted = node.consents.grant({
        enterprise: a!,
        grantee: 'bank',
        purpose: 'training',
        scope: ['*'],
        grantedAt: now - 60_000,
        expiresAt: now + 86_400_000,
      });
      const registration: ModelRegistration = {
        name: 'sme-credit-line',
        algorithm: 'hetero-lr',
        modelId: 'run-1',
        parties: [
          { id: 'bank', role: 'guest', featureNames: ['revenue'] },
          { id: 'gov', role: 'host', featureNames: ['tax_paid'] },
        ],
        metrics: { auc: 0.75, ks: 0.38 },
        parameters: { scheme: 'ckks' },
        dataFingerprints: {},
      };
      const model = node.models.register(registration);

      // The CLI reads what the node wrote, through either flag.
      for (const how of [byUrl, byEnv]) {
        const consents = await runCli(['consent', 'list', ...how, '--json']);
        expect(consents.code, consents.stderr).toBe(0);
        seen(consents);
        const listed = lastJson(consents.stdout)['consents'] as {
          id: string;
          enterprise: string;
          status: string;
        }[];
        expect(listed.map((c) => [c.id, c.enterprise, c.status])).toEqual([[granted.id, a, 'valid']]);
        const models = await runCli(['models', 'list', ...how, '--json']);
        expect(models.code, models.stderr).toBe(0);
        seen(models);
        expect((lastJson(models.stdout)['models'] as { ref: string }[]).map((m) => m.ref)).toEqual([
          model.ref,
        ]);
      }

      // The CLI writes (a second writer beside the running node); the node's own registry sees it.
      const grant = await runCli([
        'consent',
        'grant',
        ...byEnv,
        '--party',
        'bank',
        '--enterprise',
        b!,
        '--grantee',
        'bank',
        '--purpose',
        'scoring',
        '--scope',
        '*',
        '--expires',
        new Date(now + 86_400_000).toISOString(),
        '--json',
      ]);
      expect(grant.code, grant.stderr).toBe(0);
      seen(grant);
      expect(node.consents.list({ enterprise: b! }).map((c) => c.purpose)).toEqual(['scoring']);
      // The node appends again after the CLI did; the chain holds both writers' entries, in order.
      node.consents.revoke(granted.id);

      const verify = await runCli(['audit', 'verify', ...byUrl, '--json']);
      expect(verify.code, verify.stderr).toBe(0);
      const v = lastJson(verify.stdout);
      const own = node.audit.verify();
      expect(own.ok).toBe(true);
      expect(v).toEqual({ entries: own.entries, ok: true, head: own.head });
      const kinds = [...node.audit.entries({ kind: 'consent_change' })].map((e) => e.details?.['action']);
      expect(kinds).toEqual(['grant', 'grant', 'revoke']);
      const check = await runCli(['models', 'show', model.ref, ...byEnv, '--json']);
      expect(check.code, check.stderr).toBe(0);
      seen(check);
    } finally {
      delete process.env['FEDSCORE_TEST_STORE_URL'];
      await cluster.close();
    }
  }, 180_000);
});
