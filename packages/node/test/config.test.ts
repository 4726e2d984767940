/** Node config and job spec validation: every error names its field (and file); paths resolve. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFedscoreError } from '@fedscore/core';
import {
  advertisedAddress,
  DEFAULT_LEASE_MS,
  DEFAULT_LEASE_RENEW_MS,
  heOptIns,
  loadNodeConfig,
  queueUrl,
  storeUrl,
  validateJobSpec,
  validateNodeConfig,
  validateStoreConfig,
} from '@fedscore/node';
import { describe, expect, it } from 'vitest';

const base = {
  party: 'bank',
  listen: '0.0.0.0:7101',
  stateDir: 'state',
  tls: { ca: 'certs/ca.pem', cert: 'certs/bank.pem', key: 'certs/bank-key.pem' },
  peers: { government: { address: 'gov.internal:7102' } },
  data: { loans: { path: 'data/bank.csv', id: 'uscc', label: 'default_12m' } },
};

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (isFedscoreError(e, 'invalid_config')) return e.field;
    throw e;
  }
  return undefined;
}

describe('node config', () => {
  it('accepts a valid config, applies defaults and resolves paths against the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedscore-config-'));
    const file = join(dir, 'bank.yaml');
    writeFileSync(file, JSON.stringify(base));
    const c = loadNodeConfig(file);
    expect(c.stateDir).toBe(join(dir, 'state'));
    expect(c.tls.cert).toBe(join(dir, 'certs/bank.pem'));
    expect(c.data['loans']!.path).toBe(join(dir, 'data/bank.csv'));
    expect(c.limits.maxMessageBytes).toBe(64 * 1024 * 1024);
    // The job runner's polls: the store every 500 ms, a running stage's parties every 300 ms.
    expect(c.limits.jobPollMs).toBe(500);
    expect(c.limits.stagePollMs).toBe(300);
    expect(c.log.level).toBe('info');
  });

  it.each([
    [{ ...base, party: 'Bank!' }, 'party'],
    [{ ...base, listen: 'nowhere' }, 'listen'],
    [{ ...base, listen: 'h:99999' }, 'listen'],
    [{ ...base, peers: { government: { address: 'gov:1', extra: 1 } } }, 'peers.government'],
    [{ ...base, peers: { government: {} } }, 'peers.government.address'],
    [{ ...base, peers: { bank: { address: 'a:1' } } }, 'peers.bank'],
    [{ ...base, tls: { ca: 'a', cert: 'b' } }, 'tls.key'],
    [{ ...base, limits: { retries: -1 } }, 'limits.retries'],
    [{ ...base, limits: { stagePollMs: 5 } }, 'limits.stagePollMs'],
    [{ ...base, limits: { jobPollMs: 0.5 } }, 'limits.jobPollMs'],
    [{ ...base, data: { loans: { path: 'x.csv' } } }, 'data.loans.id'],
    [
      {
        ...base,
        scoring: {
          api: {
            ...{
              listen: '127.0.0.1:9443',
              government: 'government',
              model: 'm@production',
              tokens: [{ id: 'engine', sha256: 'a'.repeat(64) }],
            },
            government: 'nobody',
          },
        },
      },
      'scoring.api.government',
    ],
    [
      {
        ...base,
        scoring: {
          api: {
            ...{
              listen: '127.0.0.1:9443',
              government: 'government',
              model: 'm@production',
              tokens: [{ id: 'engine', sha256: 'a'.repeat(64) }],
            },
            mode: 'band',
          },
        },
      },
      'scoring.api.rules',
    ],
    [
      {
        ...base,
        scoring: {
          api: {
            ...{
              listen: '127.0.0.1:9443',
              government: 'government',
              model: 'm@production',
              tokens: [{ id: 'engine', sha256: 'a'.repeat(64) }],
            },
            tokens: [],
          },
        },
      },
      'scoring.api.tokens',
    ],
    [
      {
        ...base,
        scoring: {
          api: {
            ...{
              listen: '127.0.0.1:9443',
              government: 'government',
              model: 'm@production',
              tokens: [{ id: 'engine', sha256: 'a'.repeat(64) }],
            },
            tokens: [{ id: 'engine', sha256: 'plain-token' }],
          },
        },
      },
      'scoring.api.tokens[0].sha256',
    ],
    [{ ...base, unknown: true }, 'config'],
  ])('names the field of a bad config (%#)', (value, field) => {
    const got = fieldOf(() => validateNodeConfig(value));
    if (field === 'config') expect(got).toBeDefined();
    else expect(got).toBe(field);
  });

  it('scoring: one section for the government policy and the bank API; the API defaults to band mode', () => {
    const c = validateNodeConfig({
      ...base,
      scoring: {
        serve: true,
        maxThresholds: 3,
        rate: { requests: 2, windowSeconds: 60 },
        api: {
          listen: '127.0.0.1:9443',
          government: 'government',
          model: 'm@production',
          rules: 'rules.yaml',
          tokens: [{ id: 'engine', sha256: 'a'.repeat(64) }],
        },
      },
    });
    expect(c.scoring).toMatchObject({
      serve: true,
      allowExactMode: false,
      maxThresholds: 3,
      quota: { requests: 4, windowSeconds: 30 * 86_400 },
      rate: { requests: 2, windowSeconds: 60 },
    });
    expect(c.scoring.api?.mode).toBe('band');
    expect(c.scoring.api?.retryAfterSeconds).toBe(3600);
    expect(validateNodeConfig(base).scoring).toMatchObject({ serve: false, allowExactMode: false });
  });

  it('governance and monitoring: secure defaults, and errors naming the field', () => {
    const c = validateNodeConfig(base);
    expect(c.governance.requireConsent).toBe(true);
    // A data owner bounds the id set a guest may submit to PSI (issue 11, finding 3).
    expect(c.governance.psi).toEqual({ maxSubmittedIds: 5_000_000, maxSubmittedRatio: 50 });
    expect(validateNodeConfig({ ...base, governance: { psi: { maxSubmittedRatio: 0 } } }).governance).toEqual(
      { requireConsent: true, psi: { maxSubmittedIds: 5_000_000, maxSubmittedRatio: 0 } },
    );
    expect(fieldOf(() => validateNodeConfig({ ...base, governance: { psi: { maxSubmittedIds: 0 } } }))).toBe(
      'governance.psi.maxSubmittedIds',
    );
    expect(
      fieldOf(() => validateNodeConfig({ ...base, governance: { psi: { maxSubmittedRatio: -1 } } })),
    ).toBe('governance.psi.maxSubmittedRatio');
    expect(c.monitoring).toEqual({ serve: false, pollSeconds: 60 });
    expect(fieldOf(() => validateNodeConfig({ ...base, monitoring: { government: 'tax-bureau' } }))).toBe(
      'monitoring.government',
    );
    expect(fieldOf(() => validateNodeConfig({ ...base, monitoring: { rescoreModel: 'm@1' } }))).toBe(
      'monitoring.rescoreModel',
    );
    expect(fieldOf(() => validateNodeConfig({ ...base, monitoring: { pollSeconds: -1 } }))).toBe(
      'monitoring.pollSeconds',
    );
    expect(fieldOf(() => validateNodeConfig({ ...base, governance: { requireConsent: 'yes' } }))).toBe(
      'governance.requireConsent',
    );
    const spec = { guest: 'bank', hosts: ['government'], data: { bank: 'a', government: 'b' } };
    expect(validateJobSpec(spec).consent).toEqual({ purpose: 'training', categories: ['*'] });
    expect(fieldOf(() => validateJobSpec({ ...spec, consent: { categories: ['Tax'] } }))).toBe(
      'consent.categories[0]',
    );
    expect(fieldOf(() => validateJobSpec({ ...spec, id: 'monitor' }))).toBe('id');
  });

  it('queue: none by default; pgboss needs a postgres URL; bad values name their field', () => {
    expect(validateNodeConfig(base).queue).toEqual({ kind: 'none' });
    expect(validateNodeConfig({ ...base, queue: 'none' }).queue).toEqual({ kind: 'none' });
    expect(
      validateNodeConfig({ ...base, queue: { kind: 'pgboss', url: 'postgres://fedscore@db:5432/bank' } })
        .queue,
    ).toEqual({
      kind: 'pgboss',
      url: 'postgres://fedscore@db:5432/bank',
      name: 'he-packed-product',
      split: 1,
      minColumns: 64,
      expireSeconds: 300,
      resultRetentionHours: 168,
    });
    const url = 'postgres://db/bank';
    expect(fieldOf(() => validateNodeConfig({ ...base, queue: 'pgboss' }))).toBe('queue.url');
    expect(fieldOf(() => validateNodeConfig({ ...base, queue: 'redis' }))).toMatch(/^queue/);
    expect(fieldOf(() => validateNodeConfig({ ...base, queue: { kind: 'pgboss', url: 'redis://x' } }))).toBe(
      'queue.url',
    );
    expect(fieldOf(() => validateNodeConfig({ ...base, queue: { kind: 'pgboss', url, split: 0 } }))).toBe(
      'queue.split',
    );
    expect(fieldOf(() => validateNodeConfig({ ...base, queue: { kind: 'pgboss', url, name: 'a b' } }))).toBe(
      'queue.name',
    );
    expect(
      fieldOf(() => validateNodeConfig({ ...base, queue: { kind: 'pgboss', url, minColumns: 1.5 } })),
    ).toBe('queue.minColumns');
    expect(fieldOf(() => validateNodeConfig({ ...base, queue: { kind: 'none', url } }))).toBe('queue');
    expect(
      fieldOf(() => validateNodeConfig({ ...base, queue: { kind: 'pgboss', url, resultRetentionHours: 0 } })),
    ).toBe('queue.resultRetentionHours');
    // The workers' database role (granted the queue's tables only at start): a plain SQL identifier.
    expect(
      validateNodeConfig({ ...base, queue: { kind: 'pgboss', url, workerRole: 'fedscore_worker' } }).queue,
    ).toMatchObject({ workerRole: 'fedscore_worker' });
    for (const bad of ['Worker', 'w; DROP TABLE audit_log', '"w"', ''])
      expect(
        fieldOf(() => validateNodeConfig({ ...base, queue: { kind: 'pgboss', url, workerRole: bad } })),
      ).toBe('queue.workerRole');
  });

  it('queue: a password in the URL is refused as in store.url (same error), without echoing it; urlEnv holds one', () => {
    const refusal = (section: 'store' | 'queue'): { field?: string; message: string } => {
      try {
        validateNodeConfig({
          ...base,
          [section]: {
            kind: section === 'store' ? 'postgres' : 'pgboss',
            url: 'postgres://u:s3cret@db/bank',
          },
        });
      } catch (e) {
        if (!isFedscoreError(e, 'invalid_config')) throw e;
        return { ...(e.field !== undefined && { field: e.field }), message: e.message };
      }
      throw new Error(`${section}: a password was accepted`);
    };
    const store = refusal('store');
    const queue = refusal('queue');
    expect(queue.field).toBe('queue.url');
    expect(store.field).toBe('store.url');
    expect(queue.message.replace('queue.url', 'store.url')).toBe(store.message);
    expect(queue.message).toMatch(/no password in the config file/);
    expect(queue.message).not.toContain('s3cret');
    // The variable urlEnv names may hold one (read at start, never validated into the config).
    const c = validateNodeConfig({ ...base, queue: { kind: 'pgboss', urlEnv: 'BANK_QUEUE_URL' } }).queue;
    if (c.kind !== 'pgboss') throw new Error('unreachable');
    const secret = 'postgres://fedscore:s3cret@db.internal/bank';
    expect(queueUrl(c, { BANK_QUEUE_URL: secret })).toBe(secret);
    expect(fieldOf(() => queueUrl(c, {}))).toBe('queue.urlEnv');
    let err: unknown;
    try {
      queueUrl(c, { BANK_QUEUE_URL: 'http://u:s3cret@db' });
    } catch (e) {
      err = e;
    }
    expect((err as { field?: string }).field).toBe('queue.urlEnv');
    expect((err as Error).message).not.toContain('s3cret');
    expect(
      fieldOf(() =>
        validateNodeConfig({ ...base, queue: { kind: 'pgboss', url: 'postgres://db/b', urlEnv: 'X' } }),
      ),
    ).toBe('queue.url');
  });

  it('names the file and line of YAML that does not parse', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedscore-config-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'party: bank\nlisten: [unclosed\n');
    try {
      loadNodeConfig(file);
      expect.unreachable();
    } catch (e) {
      expect(isFedscoreError(e, 'invalid_config')).toBe(true);
      expect((e as { file?: string }).file).toBe(file);
    }
    expect(() => loadNodeConfig(join(dir, 'missing.yaml'))).toThrow(/cannot read/);
  });
});

describe('node config: store', () => {
  it('defaults to sqlite; postgres takes a URL without a password or the name of a variable holding one', () => {
    expect(validateNodeConfig(base).store).toEqual({ kind: 'sqlite' });
    expect(validateNodeConfig({ ...base, store: 'sqlite' }).store).toEqual({ kind: 'sqlite' });
    const short = validateNodeConfig({ ...base, store: 'postgres' }).store;
    const lease = { leaseMs: DEFAULT_LEASE_MS, leaseRenewMs: DEFAULT_LEASE_RENEW_MS };
    expect(lease).toEqual({ leaseMs: 15_000, leaseRenewMs: 500 });
    expect(short).toEqual({ kind: 'postgres', urlEnv: 'FEDSCORE_STORE_URL', busyTimeoutMs: 5000, ...lease });
    const url = 'postgres://fedscore@db.internal:5432/bank';
    const c = validateNodeConfig({ ...base, store: { kind: 'postgres', url, schema: 'bank' } }).store;
    expect(c).toEqual({ kind: 'postgres', url, schema: 'bank', busyTimeoutMs: 5000, ...lease });
    if (c.kind !== 'postgres' || short.kind !== 'postgres') throw new Error('unreachable');
    expect(storeUrl(c, {})).toBe(url);
    const secret = 'postgres://fedscore:s3cret@db.internal/bank';
    expect(storeUrl(short, { FEDSCORE_STORE_URL: secret })).toBe(secret);
  });

  it('validateStoreConfig: a store section alone (the CLI --store flags), as the config validates it', () => {
    const url = 'postgres://fedscore@db.internal:5432/bank';
    const lease = { leaseMs: DEFAULT_LEASE_MS, leaseRenewMs: DEFAULT_LEASE_RENEW_MS };
    expect(validateStoreConfig({ kind: 'postgres', url, schema: 'bank' })).toEqual(
      validateNodeConfig({ ...base, store: { kind: 'postgres', url, schema: 'bank' } }).store,
    );
    expect(validateStoreConfig({ kind: 'postgres', urlEnv: 'BANK_DB' })).toEqual({
      kind: 'postgres',
      urlEnv: 'BANK_DB',
      busyTimeoutMs: 5000,
      ...lease,
    });
    expect(validateStoreConfig('sqlite')).toEqual({ kind: 'sqlite' });
    for (const [value, field] of [
      [{ kind: 'postgres', url: 'postgres://u:s3cret@db/bank' }, 'store.url'],
      [{ kind: 'postgres', url, schema: 'Bad-Schema' }, 'store.schema'],
      [{ kind: 'postgres', urlEnv: 'lower' }, 'store.urlEnv'],
    ] as const) {
      let error: unknown;
      try {
        validateStoreConfig(value);
      } catch (e) {
        error = e;
      }
      expect(isFedscoreError(error) && error.code === 'invalid_config' && error.field, field).toBe(field);
      expect(String((error as Error).message)).not.toContain('s3cret');
    }
  });

  it.each([
    [{ kind: 'postgres', url: 'postgres://u:s3cret@db/bank' }, 'store.url'],
    [{ kind: 'postgres', url: 'mysql://db/bank' }, 'store.url'],
    [{ kind: 'postgres' }, 'store.url'],
    [{ kind: 'postgres', url: 'postgres://db/bank', urlEnv: 'X' }, 'store.url'],
    [{ kind: 'postgres', urlEnv: 'lower' }, 'store.urlEnv'],
    [{ kind: 'postgres', urlEnv: 'X', schema: 'Bad-Schema' }, 'store.schema'],
    [{ kind: 'postgres', urlEnv: 'X', busyTimeoutMs: -1 }, 'store.busyTimeoutMs'],
    [{ kind: 'postgres', urlEnv: 'X', extra: 1 }, 'store'],
    [{ kind: 'postgres', urlEnv: 'X', leaseMs: 999 }, 'store.leaseMs'],
    [{ kind: 'postgres', urlEnv: 'X', leaseMs: 600_001 }, 'store.leaseMs'],
    [{ kind: 'postgres', urlEnv: 'X', leaseMs: 2500.5 }, 'store.leaseMs'],
    [{ kind: 'postgres', urlEnv: 'X', leaseMs: '15s' }, 'store.leaseMs'],
    [{ kind: 'postgres', urlEnv: 'X', leaseRenewMs: 99 }, 'store.leaseRenewMs'],
    [{ kind: 'postgres', urlEnv: 'X', leaseRenewMs: 5001 }, 'store.leaseRenewMs'],
    [{ kind: 'postgres', urlEnv: 'X', leaseMs: 3000, leaseRenewMs: 1001 }, 'store.leaseRenewMs'],
    [{ kind: 'mysql' }, 'store.kind'],
    ['redis', 'store'],
  ])('refuses store %j naming %s, without echoing a password', (store, field) => {
    let err: unknown;
    try {
      validateNodeConfig({ ...base, store });
    } catch (e) {
      err = e;
    }
    expect(isFedscoreError(err, 'invalid_config')).toBe(true);
    expect((err as { field?: string }).field).toBe(field);
    expect((err as Error).message).not.toContain('s3cret');
  });

  it('replica lease length and renewal come from the YAML (leaseMs, leaseRenewMs)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedscore-config-'));
    const file = join(dir, 'bank.yaml');
    writeFileSync(
      file,
      [
        'party: bank',
        'listen: 0.0.0.0:7101',
        'stateDir: state',
        'tls: { ca: ca.pem, cert: bank.pem, key: bank-key.pem }',
        'peers: {}',
        'store: { kind: postgres, urlEnv: BANK_DB, leaseMs: 30000, leaseRenewMs: 1000 }',
        '',
      ].join('\n'),
    );
    expect(loadNodeConfig(file).store).toMatchObject({ leaseMs: 30_000, leaseRenewMs: 1000 });
    // The bounds: renewal at most a third of the lease, so a lease outlives two missed renewals.
    expect(
      validateNodeConfig({
        ...base,
        store: { kind: 'postgres', urlEnv: 'X', leaseMs: 3000, leaseRenewMs: 1000 },
      }).store,
    ).toMatchObject({ leaseMs: 3000, leaseRenewMs: 1000 });
  });

  it('a missing or malformed URL variable is an error naming store.urlEnv, not its value', () => {
    const c = validateNodeConfig({ ...base, store: { kind: 'postgres', urlEnv: 'BANK_DB' } }).store;
    if (c.kind !== 'postgres') throw new Error('unreachable');
    expect(fieldOf(() => storeUrl(c, {}))).toBe('store.urlEnv');
    let err: unknown;
    try {
      storeUrl(c, { BANK_DB: 'http://u:s3cret@db' });
    } catch (e) {
      err = e;
    }
    expect((err as { field?: string }).field).toBe('store.urlEnv');
    expect((err as Error).message).not.toContain('s3cret');
  });
});

describe('job spec', () => {
  const job = {
    guest: 'bank',
    hosts: ['government'],
    arbiter: 'arbiter',
    data: { bank: 'loans', government: 'credit' },
  };
  it('applies defaults', () => {
    const s = validateJobSpec(job);
    expect(s.testFraction).toBe(0.3);
    // 0: train on every aligned row (FATE's way); the evaluation is then in-sample.
    expect(validateJobSpec({ ...job, testFraction: 0 }).testFraction).toBe(0);
    expect(s.seed).toBe(1);
    expect(s.train.scheme).toBe('ckks');
    expect(s.binning.enabled).toBe(true);
  });
  it.each([
    [{ ...job, hosts: [] }, 'hosts'],
    [{ ...job, hosts: ['bank'] }, 'hosts'],
    [{ ...job, data: { bank: 'loans' } }, 'data.government'],
    [{ ...job, train: { scheme: 'none' } }, 'train.scheme'],
    [{ ...job, testFraction: 1 }, 'testFraction'],
    [{ ...job, testFraction: -0.1 }, 'testFraction'],
    // No hold-out is for hetero-LR only (SecureBoost's evaluation has no in-sample path).
    [{ ...job, arbiter: undefined, kind: 'secureboost', testFraction: 0 }, 'testFraction'],
    [{ ...job, train: { maxEpochs: 0 } }, 'train.maxEpochs'],
    [{ ...job, id: 'Bad Id' }, 'id'],
  ])('names the field of a bad spec (%#)', (value, field) => {
    expect(fieldOf(() => validateJobSpec(value))).toBe(field);
  });
  it('accepts the plaintext debug scheme only when the spec asks for it (insecure: the deprecated name)', () => {
    expect(
      validateJobSpec({ ...job, allowPlaintextScheme: true, train: { scheme: 'none' } }).train.scheme,
    ).toBe('none');
    expect(validateJobSpec({ ...job, insecure: true, train: { scheme: 'none' } }).train.scheme).toBe('none');
    // Weak parameters are another switch: they do not admit scheme 'none'.
    expect(() => validateJobSpec({ ...job, allowWeakParameters: true, train: { scheme: 'none' } })).toThrow(
      expect.objectContaining({ code: 'invalid_config', field: 'train.scheme' }),
    );
  });

  it('names the NOT SECURE smoke preset only beside allowWeakParameters (bench all --smoke)', () => {
    const smoke = { ...job, train: { ckksPreset: 'ckks-2048-smoke-insecure' } };
    expect(fieldOf(() => validateJobSpec(smoke))).toBe('train.ckksPreset');
    // The plaintext-scheme opt-in is another switch: it does not admit weak parameters.
    expect(fieldOf(() => validateJobSpec({ ...smoke, allowPlaintextScheme: true }))).toBe('train.ckksPreset');
    expect(validateJobSpec({ ...smoke, allowWeakParameters: true }).train.ckksPreset).toBe(
      'ckks-2048-smoke-insecure',
    );
    // The real presets need no opt-in.
    expect(validateJobSpec({ ...job, train: { ckksPreset: 'ckks-8192' } }).train.ckksPreset).toBe(
      'ckks-8192',
    );
  });

  it('a party uses an HE opt-in only if the spec asks for it and its own node config allows it', () => {
    // The node's one policy is `accept`; the stages see it as HE opt-ins (node.ts maps it).
    const node = (accept: { plaintextScheme?: boolean; weakParameters?: boolean }) => {
      const a = validateNodeConfig({ ...base, accept }).accept;
      return { allowPlaintextScheme: a.plaintextScheme, allowWeakParameters: a.weakParameters };
    };
    expect(validateNodeConfig(base).accept).toEqual({
      schemes: ['ckks', 'paillier'],
      plaintextScheme: false,
      weakParameters: false,
    });
    const asks = {
      ...validateJobSpec({ ...job, allowPlaintextScheme: true, allowWeakParameters: true }),
      id: 'j',
    };
    // The guest's spec alone switches nothing on at a host.
    expect(heOptIns(asks, node({}))).toEqual({ allowPlaintextScheme: false, allowWeakParameters: false });
    expect(heOptIns(asks, undefined)).toEqual({ allowPlaintextScheme: false, allowWeakParameters: false });
    expect(heOptIns(asks, node({ weakParameters: true }))).toEqual({
      allowPlaintextScheme: false,
      allowWeakParameters: true,
    });
    const all = node({ plaintextScheme: true, weakParameters: true });
    expect(heOptIns(asks, all)).toEqual({ allowPlaintextScheme: true, allowWeakParameters: true });
    // A config allowing both does not turn them on for a spec that does not ask.
    expect(heOptIns({ ...validateJobSpec(job), id: 'k' }, all)).toEqual({
      allowPlaintextScheme: false,
      allowWeakParameters: false,
    });
  });
});

describe('replicas: the peers listing several addresses, and the address a replica advertises', () => {
  it('peers.<id>.addresses: every replica of a peer, normalised with address = the first', () => {
    const two = ['bank-0.bank.example.org:7101', 'bank-1.bank.example.org:7101'];
    const c = validateNodeConfig({ ...base, peers: { government: { addresses: two } } });
    expect(c.peers['government']).toEqual({ address: two[0], addresses: two });
    // A single address is one listed address; a validated config validates again unchanged.
    const one = validateNodeConfig(base);
    expect(one.peers['government']).toEqual({
      address: 'gov.internal:7102',
      addresses: ['gov.internal:7102'],
    });
    expect(validateNodeConfig(c).peers).toEqual(c.peers);
  });

  it.each([
    [{ government: { addresses: [] } }, 'peers.government.addresses'],
    [{ government: { addresses: ['a:1', 'a:1'] } }, 'peers.government.addresses'],
    [{ government: { addresses: ['a:1', 'nowhere'] } }, 'peers.government.addresses[1]'],
    [{ government: { address: 'b:1', addresses: ['a:1'] } }, 'peers.government.address'],
    [
      { government: { addresses: Array.from({ length: 17 }, (_, i) => `h${i}:1`) } },
      'peers.government.addresses',
    ],
  ])('refuses peers %j naming %s', (peers, field) => {
    expect(fieldOf(() => validateNodeConfig({ ...base, peers }))).toBe(field);
  });

  it('advertise: an address, a variable naming one, else listen unless it is a wildcard', () => {
    const at = (v: object, env: Record<string, string> = {}) =>
      advertisedAddress(validateNodeConfig({ ...base, ...v }), env);
    expect(at({})).toBeUndefined(); // listen 0.0.0.0:7101: no address a peer can dial
    expect(at({ listen: '[::]:7101' })).toBeUndefined();
    expect(at({ listen: '10.0.3.7:7101' })).toBe('10.0.3.7:7101');
    expect(at({ advertise: 'bank-1.bank.example.org:7101' })).toBe('bank-1.bank.example.org:7101');
    expect(at({ advertise: { env: 'POD_ADDRESS' } }, { POD_ADDRESS: '10.0.3.8:7101' })).toBe('10.0.3.8:7101');
    expect(fieldOf(() => at({ advertise: { env: 'POD_ADDRESS' } }))).toBe('advertise.env');
    expect(fieldOf(() => at({ advertise: { env: 'POD_ADDRESS' } }, { POD_ADDRESS: 'not an address' }))).toBe(
      'advertise.env',
    );
    expect(fieldOf(() => validateNodeConfig({ ...base, advertise: 'nowhere' }))).toBe('advertise');
    expect(fieldOf(() => validateNodeConfig({ ...base, advertise: { env: 'lower' } }))).toBe('advertise.env');
  });
});
