/**
 * The feature catalogue (docs/protocols/feature-catalogue.md): published feature profiles between real
 * party nodes on loopback (gRPC, mutual TLS).
 *
 * - profile: type, coverage and missing rate against hand counts, the rate step and row rounding, the
 *   release floor (a dataset below it refused with `privacy_floor` naming it);
 * - decode: a malformed profile is `wire_decode` naming its field (zod over the decoded message), and
 *   random bytes, bit flips and truncations never raise anything else;
 * - store: both store backends keep the newest publication of each owner;
 * - nodes: a bank publishes to the government; the government's Indicators page shows the bank's features
 *   with type, coverage, missing rate, owner and time received; another bank receives them in the
 *   government's catalogue and shows them too; publication and receipt are audited on both sides;
 * - privacy: raw values planted in the bank's data (a number, a category, the enterprise ids) occur in
 *   no captured byte of the exchange, while the same search finds each of them planted in a copy;
 * - floor: a bank whose dataset is below the floor publishes nothing (typed error, nothing received);
 * - malformed message over the wire: refused, audited as a security event naming the field, the node
 *   stays up and takes the next good publication;
 * - triggers: a request queued in the store (`fedscore datasets publish-profile`'s path) and
 *   `catalogue.publishOnStart` each make the running node publish;
 * - the default: a bank naming its platform peer publishes to it at start with no setting, and retries
 *   until a platform that was down when the bank started holds its profile.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTable, FedscoreError, generateUniqueUsccs, ProtocolSession, seededRng } from '@fedscore/core';
import { findSecret } from '@fedscore/core/testing';
import {
  CATALOGUE_PROTOCOL,
  CATALOGUE_VERSION,
  ConsoleAccounts,
  cataloguePublishOnStart,
  catalogueTargets,
  FEATURE_CATALOGUE,
  FEATURE_PROFILES,
  FeatureCatalogue,
  type FeatureProfileSet,
  type InboundBytes,
  NodeStore,
  type PartyNode,
  profileDataset,
  rateStepBp,
  validateNodeConfig,
} from '@fedscore/node';
import { NodeCluster, waitUntil } from '@fedscore/node/testing';
import { fedscore } from '@fedscore/wire';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleClient, PASSWORD } from './console-fixture.ts';
import { describeStores } from './store-backends.ts';

const SECRET_NUMBER = 7345.125;
const SECRET_CATEGORY = 'KINGFISHER-5521';

/** bank-a's loans: 120 rows, loan_balance missing on 18, sector missing on 1 (hand counts below). */
function loansCsv(ids: readonly string[]): string {
  const sectors = ['manufacturing', 'retail', 'logistics'];
  const lines = ids.map((id, i) => {
    const balance = i === 5 ? String(SECRET_NUMBER) : i % 20 < 3 ? '' : String(1000 + i * 13.5);
    const sector = i === 0 ? '' : i === 7 ? SECRET_CATEGORY : sectors[i % 3]!;
    return `${id},${i % 7 === 0 ? 1 : 0},${balance},${i % 2},${sector}`;
  });
  return `uscc,default_12m,loan_balance,has_collateral,sector\n${lines.join('\n')}\n`;
}

function numericCsv(ids: readonly string[], column: string): string {
  return `uscc,${column}\n${ids.map((id, i) => `${id},${i % 9 === 0 ? '' : i * 3}`).join('\n')}\n`;
}

describe('feature profile of a dataset', () => {
  const ids = generateUniqueUsccs(seededRng(17), 120);

  it('gives type, coverage and missing rate by hand counts, rounded to the step', () => {
    const n = 120;
    const balance = Float64Array.from({ length: n }, (_, i) => (i % 20 < 3 ? Number.NaN : i));
    const table = createTable({
      ids,
      columns: [
        { kind: 'numeric', name: 'balance', values: balance, missing: 18 },
        {
          kind: 'numeric',
          name: 'flag',
          values: Float64Array.from({ length: n }, (_, i) => i % 2),
          missing: 0,
        },
        {
          kind: 'categorical',
          name: 'sector',
          codes: Int32Array.from({ length: n }, (_, i) => (i === 0 ? -1 : i % 3)),
          categories: ['a', 'b', 'c'],
          missing: 1,
        },
      ],
    });
    const d = profileDataset('loans', table, { balance: 'what it is' });
    expect(d).toEqual({
      dataset: 'loans',
      rows: 120,
      rateStepBp: 100,
      features: [
        // 102 of 120 = 85 %, 18 of 120 = 15 %
        { name: 'balance', description: 'what it is', type: 'numeric', coverageBp: 8500, missingBp: 1500 },
        { name: 'flag', description: '', type: 'binary', coverageBp: 10_000, missingBp: 0 },
        // 119 of 120 = 99.17 % -> 99 %, 1 of 120 = 0.83 % -> 1 %
        { name: 'sector', description: '', type: 'categorical', coverageBp: 9900, missingBp: 100 },
      ],
    });
  });

  it('widens the step so that one row moves a rate by at most one step, and rounds rows down to 10', () => {
    expect([50, 51, 99, 100, 5000].map(rateStepBp)).toEqual([200, 200, 200, 100, 100]);
    for (const rows of [50, 63, 99, 100, 137]) expect(rateStepBp(rows) * rows).toBeGreaterThanOrEqual(10_000);
    const table = createTable({
      ids: ids.slice(0, 57),
      columns: [{ kind: 'numeric', name: 'x', values: new Float64Array(57).fill(2), missing: 0 }],
    });
    expect(profileDataset('d', table)).toMatchObject({ rows: 50, rateStepBp: 200 });
  });

  it('refuses a dataset below the floor of 50 rows with privacy_floor naming it', () => {
    const table = createTable({
      ids: ids.slice(0, 49),
      columns: [{ kind: 'numeric', name: 'x', values: new Float64Array(49), missing: 0 }],
    });
    expect(() => profileDataset('tiny', table)).toThrow(
      expect.objectContaining({ code: 'privacy_floor', field: 'data.tiny' }),
    );
  });
});

describe('a received profile, validated', () => {
  const good = (): fedscore.catalogue.IFeatureProfiles => ({
    party: 'bank-a',
    publishedAtMs: 1_700_000_000_000,
    datasets: [
      {
        name: 'loans',
        rows: 120,
        rateStepBp: 100,
        features: [
          {
            name: 'x',
            description: 'd',
            type: fedscore.catalogue.FeatureType.FEATURE_TYPE_NUMERIC,
            coverageBp: 8500,
            missingBp: 1500,
          },
        ],
      },
    ],
  });
  const encode = (m: fedscore.catalogue.IFeatureProfiles): Uint8Array =>
    fedscore.catalogue.FeatureProfiles.encode(m).finish();
  const refusal = (m: fedscore.catalogue.IFeatureProfiles): FedscoreError => {
    try {
      FEATURE_PROFILES.decode(encode(m));
    } catch (e) {
      if (e instanceof FedscoreError) return e;
      throw e;
    }
    throw new Error('decoded');
  };

  it('decodes a good one', () => {
    expect(FEATURE_PROFILES.decode(encode(good()))).toEqual({
      party: 'bank-a',
      publishedAt: 1_700_000_000_000,
      datasets: [
        {
          dataset: 'loans',
          rows: 120,
          rateStepBp: 100,
          features: [{ name: 'x', description: 'd', type: 'numeric', coverageBp: 8500, missingBp: 1500 }],
        },
      ],
    });
  });

  type Edit = {
    readonly party?: string;
    readonly publishedAtMs?: number;
    readonly dataset?: Partial<fedscore.catalogue.IDatasetProfile>;
    readonly feature?: Partial<fedscore.catalogue.IFeatureProfile>;
  };
  const cases: readonly (readonly [string, Edit, string])[] = [
    ['below the floor', { dataset: { rows: 40 } }, 'profile.datasets[0].rows'],
    ['rows not rounded', { dataset: { rows: 121 } }, 'profile.datasets[0].rows'],
    ['a step finer than a row', { dataset: { rows: 60 } }, 'profile.datasets[0].rateStepBp'],
    ['an unlisted step', { dataset: { rateStepBp: 150 } }, 'profile.datasets[0].rateStepBp'],
    ['a rate off the step', { feature: { coverageBp: 8550 } }, 'profile.datasets[0].features[0].coverageBp'],
    ['a rate above 1', { feature: { missingBp: 10_100 } }, 'profile.datasets[0].features[0].missingBp'],
    ['no feature type', { feature: { type: 0 } }, 'profile.datasets[0].features[0].type'],
    [
      'a control character',
      { feature: { description: 'a\nb' } },
      'profile.datasets[0].features[0].description',
    ],
    ['no feature name', { feature: { name: '' } }, 'profile.datasets[0].features[0].name'],
    ['not a party id', { party: 'Bank A' }, 'profile.party'],
    ['a date in the future', { publishedAtMs: Date.now() + 2 * 86_400_000 }, 'profile.publishedAt'],
  ];
  it.each(cases)('refuses %s with wire_decode naming the field', (_what, change, field) => {
    const m = good();
    if (change.party !== undefined) m.party = change.party;
    if (change.publishedAtMs !== undefined) m.publishedAtMs = change.publishedAtMs;
    Object.assign(m.datasets![0]!, change.dataset);
    Object.assign(m.datasets![0]!.features![0]!, change.feature);
    const e = refusal(m);
    expect(e.code).toBe('wire_decode');
    expect(e.field).toBe(field);
  });

  it('refuses a catalogue with a bad profile in it, naming the profile and field', () => {
    const m = good();
    m.datasets![0]!.features![0]!.coverageBp = 10_001;
    const bytes = fedscore.catalogue.FeatureCatalogue.encode({ profiles: [good(), m] }).finish();
    expect(() => FEATURE_CATALOGUE.decode(bytes)).toThrow(
      expect.objectContaining({
        code: 'wire_decode',
        field: 'catalogue.profiles[1].datasets[0].features[0].coverageBp',
      }),
    );
  });

  it('decodes random bytes and bit flips of a good profile to a value or a wire_decode error, never else', () => {
    const valid = encode(good());
    const outcome = (bytes: Uint8Array): void => {
      for (const step of [FEATURE_PROFILES, FEATURE_CATALOGUE] as const) {
        try {
          step.decode(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(FedscoreError);
          expect((e as FedscoreError).code).toBe('wire_decode');
        }
      }
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (b) => outcome(b)),
      { seed: 17, numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.nat({ max: valid.length * 8 - 1 }), fc.nat({ max: valid.length }), (bit, cut) => {
        const b = Uint8Array.from(valid);
        b[bit >> 3]! ^= 1 << (bit & 7);
        outcome(b);
        outcome(valid.subarray(0, cut));
      }),
      { seed: 17, numRuns: 1000 },
    );
  });

  it('refuses bytes that are no profile', () => {
    expect(() => FEATURE_PROFILES.decode(Uint8Array.of(0x0a, 0xff, 0xff))).toThrow(
      expect.objectContaining({ code: 'wire_decode' }),
    );
  });
});

describeStores('feature catalogue store', (backend) => {
  const profile = (publishedAt: number, features: readonly string[]): FeatureProfileSet => ({
    party: 'bank-a',
    publishedAt,
    datasets: [
      {
        dataset: 'loans',
        rows: 120,
        rateStepBp: 100,
        features: features.map((name) => ({
          name,
          description: '',
          type: 'numeric',
          coverageBp: 10_000,
          missingBp: 0,
        })),
      },
    ],
  });

  it('keeps the newest publication of each owner, with who sent it and when', () => {
    const c = new FeatureCatalogue(backend.newStore());
    expect(c.save(profile(2000, ['a', 'b']), 'bank-a', 5000)).toBe(true);
    // A stale relay does not roll the catalogue back.
    expect(c.save(profile(1000, ['old']), 'government', 6000)).toBe(false);
    expect(c.list()).toEqual([
      {
        ...profile(2000, ['a', 'b']).datasets[0],
        owner: 'bank-a',
        receivedFrom: 'bank-a',
        publishedAt: 2000,
        receivedAt: 5000,
      },
    ]);
    expect(c.save(profile(3000, ['c']), 'government', 7000)).toBe(true);
    expect(c.list().map((p) => [p.receivedFrom, p.features.map((f) => f.name)])).toEqual([
      ['government', ['c']],
    ]);
    expect(c.profiles('bank-a')).toEqual([]);
    expect(c.profiles('bank-b')).toEqual([profile(3000, ['c'])]);
  });

  it('hands the running node each queued publication request once, merging their peers', () => {
    const c = new FeatureCatalogue(backend.newStore());
    expect(c.takeRequests()).toBeUndefined();
    c.requestPublication('cli', ['government']);
    c.requestPublication('cli', ['bank-b', 'government']);
    expect(c.takeRequests()).toEqual(['government', 'bank-b']);
    expect(c.takeRequests()).toBeUndefined();
    // A request for the default targets wins over named ones.
    c.requestPublication('cli', ['bank-b']);
    c.requestPublication('cli');
    expect(c.takeRequests()).toBeNull();
  });
});

describe('feature catalogue between nodes on loopback', () => {
  type P = 'government' | 'bank-a' | 'bank-b';
  let cluster: NodeCluster<P>;
  let nodes: Record<P, PartyNode>;
  const captured: { party: string; bytes: Uint8Array }[] = [];
  const capture = (party: string) => (e: InboundBytes) =>
    captured.push({ party, bytes: Uint8Array.from(e.bytes) });
  const ids = generateUniqueUsccs(seededRng(1717), 260);
  const loansIds = ids.slice(0, 120);

  beforeAll(async () => {
    cluster = await NodeCluster.create<P>({ parties: ['government', 'bank-a', 'bank-b'], http: true });
    const data = join(cluster.dir, 'data');
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'loans.csv'), loansCsv(loansIds));
    writeFileSync(join(data, 'credit.csv'), numericCsv(ids.slice(120, 180), 'tax_arrears'));
    writeFileSync(join(data, 'deposits.csv'), numericCsv(ids.slice(180, 260), 'avg_balance'));
    writeFileSync(join(data, 'tiny.csv'), numericCsv(ids.slice(180, 220), 'avg_balance'));
    nodes = await cluster.startAll(
      {},
      {
        government: {
          config: {
            monitoring: { serve: true },
            data: { credit: { path: join(data, 'credit.csv'), id: 'uscc' } },
          },
          onInbound: capture('government'),
        },
        'bank-a': {
          config: {
            data: {
              loans: {
                path: join(data, 'loans.csv'),
                id: 'uscc',
                label: 'default_12m',
                descriptions: { loan_balance: 'Outstanding loan balance, CNY' },
              },
            },
            catalogue: { publishTo: ['government'] },
          },
          onInbound: capture('bank-a'),
        },
        'bank-b': {
          onInbound: capture('bank-b'),
          config: {
            console: { enabled: true },
            data: { deposits: { path: join(data, 'deposits.csv'), id: 'uscc' } },
            catalogue: { publishTo: ['government'] },
          },
        },
      },
    );
  }, 120_000);
  afterAll(() => cluster?.close());

  const login = async (
    node: PartyNode,
    account: Parameters<ConsoleAccounts['create']>[0],
  ): Promise<ConsoleClient> => {
    await new ConsoleAccounts(node.store, { cost: { logN: 10, r: 8, p: 1 } }).create(account);
    const c = new ConsoleClient(`http://127.0.0.1:${node.httpPort}`);
    expect(await c.login(account.username)).toBe(303);
    return c;
  };

  it("shows a bank's published features on the government's Indicators page, audited on both sides", async () => {
    const t0 = Date.now();
    expect(await nodes['bank-a'].publishProfiles()).toEqual([{ peer: 'government', received: 0 }]);
    const held = nodes.government.catalogue.catalogue.list();
    expect(held.map((p) => [p.owner, p.dataset, p.receivedFrom, p.rows])).toEqual([
      ['bank-a', 'loans', 'bank-a', 120],
    ]);
    expect(held[0]!.receivedAt).toBeGreaterThanOrEqual(t0);

    const c = await login(nodes.government, {
      username: 'olga',
      role: 'platform-operator',
      password: PASSWORD,
    });
    const page = (await c.request('/console/indicators')).body;
    const row = (feature: string, type: string, coverage: string, missing: string, description: string) =>
      new RegExp(
        `<td>bank-a</td><td>loans</td><td>${feature}</td><td>${type}</td><td>${coverage}</td><td>${missing}</td><td>120</td><td>${description}</td><td>\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC</td><td>bank-a</td>`,
      );
    // Hand counts over loans.csv: loan_balance missing on rows i % 20 < 3 (18 of 120); sector on row 0.
    expect(page).toMatch(row('loan_balance', 'numeric', '85 %', '15 %', 'Outstanding loan balance, CNY'));
    expect(page).toMatch(row('has_collateral', 'binary', '100 %', '0 %', '-'));
    expect(page).toMatch(row('sector', 'categorical', '99 %', '1 %', '-'));
    expect(page).not.toContain('default_12m');
    expect(page).not.toContain(SECRET_CATEGORY);

    const received = [...nodes.government.audit.entries({ kind: 'catalogue_change' })];
    expect(received.map((e) => [e.actor, e.details?.['action'], e.details?.['features']])).toEqual([
      ['bank-a', 'received', 3],
    ]);
    const published = [...nodes['bank-a'].audit.entries({ kind: 'catalogue_change' })];
    expect(published.map((e) => [e.actor, e.details?.['action'], e.details?.['peer']])).toEqual([
      ['bank-a', 'published', 'government'],
    ]);
  }, 60_000);

  it("gives another bank the government's catalogue: the bank's and the government's features, not its own", async () => {
    expect(await nodes.government.publishProfiles(['bank-b'])).toEqual([{ peer: 'bank-b', received: 0 }]);
    const r = await nodes['bank-b'].publishProfiles();
    // The government relays bank-a's profile and its own (the same publication bank-b holds: kept again).
    expect(r).toEqual([{ peer: 'government', received: 2 }]);
    const held = nodes['bank-b'].catalogue.catalogue.list();
    expect(held.map((p) => [p.owner, p.dataset, p.receivedFrom])).toEqual([
      ['bank-a', 'loans', 'government'],
      ['bank-b', 'deposits', 'bank-b'],
      ['government', 'credit', 'government'],
    ]);
    const c = await login(nodes['bank-b'], {
      username: 'ben',
      role: 'bank-analyst',
      bank: 'bank-b',
      password: PASSWORD,
    });
    const page = (await c.request('/console/indicators')).body;
    expect(page).toMatch(
      /<td>bank-a<\/td><td>loans<\/td><td>loan_balance<\/td><td>numeric<\/td><td>85 %<\/td><td>15 %<\/td><td>120<\/td><td>Outstanding loan balance, CNY<\/td><td>[^<]+<\/td><td>government<\/td>/,
    );
    // 60 rows: step 2 %; tax_arrears missing on rows i % 9 == 0 (7 of 60 = 11.7 % -> 12 %).
    expect(page).toMatch(
      /<td>government<\/td><td>credit<\/td><td>tax_arrears<\/td><td>numeric<\/td><td>88 %<\/td><td>12 %<\/td><td>60<\/td>/,
    );
  }, 60_000);

  it('carries no raw value of the bank in any captured byte of the exchange (positive controls found)', () => {
    const hay = captured.map((c) => c.bytes);
    const all = Buffer.concat(hay);
    // The exchange was captured: the profile's feature names are in it.
    expect(all.includes(Buffer.from('loan_balance'))).toBe(true);
    const f64 = (x: number, le: boolean): Uint8Array => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setFloat64(0, x, le);
      return b;
    };
    const needles: [string, Uint8Array][] = [
      ['number as text', new TextEncoder().encode(String(SECRET_NUMBER))],
      ['number as float64 LE', f64(SECRET_NUMBER, true)],
      ['number as float64 BE', f64(SECRET_NUMBER, false)],
      ['category', new TextEncoder().encode(SECRET_CATEGORY)],
      ...loansIds.map((id, i): [string, Uint8Array] => [`id ${i}`, new TextEncoder().encode(id)]),
    ];
    for (const [what, needle] of needles) {
      expect(findSecret(hay, needle), what).toBeUndefined();
      // The same search finds the needle planted in a copy of the captured bytes.
      const planted = Buffer.concat([all.subarray(0, 1000), needle, all.subarray(1000)]);
      expect(findSecret(planted, needle), `${what} (control)`).toBeDefined();
    }
  });

  it('refuses a malformed profile over the wire, audited naming the field, and stays up', async () => {
    const bank = nodes['bank-a'];
    const session = `catalogue/bank-a/publish/${'x'.repeat(12)}`;
    bank.transport.grant({
      key: session,
      parties: ['bank-a', 'government'],
      protocols: { [CATALOGUE_PROTOCOL]: CATALOGUE_VERSION },
    });
    const raw = { name: FEATURE_PROFILES.name, encode: (b: Uint8Array) => b, decode: (b: Uint8Array) => b };
    const bad = fedscore.catalogue.FeatureProfiles.encode({
      party: 'bank-a',
      publishedAtMs: Date.now(),
      datasets: [
        {
          name: 'loans',
          rows: 30,
          rateStepBp: 500,
          features: [{ name: 'x', type: 1, coverageBp: 10_000, missingBp: 0 }],
        },
      ],
    }).finish();
    const before = [...nodes.government.audit.entries({ kind: 'security_event' })].length;
    const s = new ProtocolSession(bank.transport.channel(), {
      protocol: CATALOGUE_PROTOCOL,
      version: CATALOGUE_VERSION,
      session,
    });
    await s.send('government', raw, bad);
    await waitUntil(
      'the government audits the refusal',
      () => [...nodes.government.audit.entries({ kind: 'security_event' })].length > before,
      20_000,
    );
    bank.transport.revoke(session, new Error('test done'));
    const e = [...nodes.government.audit.entries({ kind: 'security_event' })].at(-1)!;
    expect(e.actor).toBe('bank-a');
    expect(e.details).toMatchObject({
      rpc: 'catalogue.publish',
      code: 'wire_decode',
      field: 'profile.datasets[0].rows',
    });
    // Nothing of it was kept; the node takes the next good publication.
    expect(nodes.government.catalogue.catalogue.list().every((p) => p.rows >= 50)).toBe(true);
    expect(await bank.publishProfiles()).toEqual([{ peer: 'government', received: 2 }]);
  }, 60_000);

  it('publishes when asked through its store (`fedscore datasets publish-profile`), within seconds', async () => {
    const received = () => [...nodes.government.audit.entries({ kind: 'catalogue_change' })].length;
    const before = received();
    // Another connection to the bank's store, as the CLI's process opens it.
    const store = NodeStore.open(cluster.stateDir('bank-a'));
    try {
      new FeatureCatalogue(store).requestPublication('cli', ['government']);
    } finally {
      store.close();
    }
    await waitUntil('the government receives the profile', () => received() > before, 20_000);
    const e = [...nodes['bank-a'].audit.entries({ kind: 'catalogue_change' })].at(-1)!;
    expect(e.details).toMatchObject({ action: 'published', peer: 'government' });
  }, 60_000);

  it('publishes nothing of a dataset below the floor: a typed error before any byte is sent', async () => {
    await cluster.stop(nodes['bank-b']);
    const data = join(cluster.dir, 'data');
    const small = await cluster.start('bank-b', {
      run: 'floor',
      config: {
        data: {
          deposits: { path: join(data, 'deposits.csv'), id: 'uscc' },
          tiny: { path: join(data, 'tiny.csv'), id: 'uscc' },
        },
        catalogue: { publishTo: ['government'] },
      },
    });
    const before = [...nodes.government.audit.entries({ kind: 'catalogue_change' })].length;
    const sessionsBefore = captured.filter((c) => c.party === 'government').length;
    await expect(small.publishProfiles()).rejects.toMatchObject({
      code: 'privacy_floor',
      field: 'data.tiny',
    });
    expect([...nodes.government.audit.entries({ kind: 'catalogue_change' })].length).toBe(before);
    expect(captured.filter((c) => c.party === 'government').length).toBe(sessionsBefore);
    expect(small.catalogue.catalogue.list()).toEqual([]);
    await cluster.stop(small);
  }, 60_000);

  it('publishes on start with catalogue.publishOnStart', async () => {
    const fromB = () =>
      [...nodes.government.audit.entries({ kind: 'catalogue_change' })].filter((e) => e.actor === 'bank-b');
    const before = fromB().length;
    await cluster.start('bank-b', {
      run: 'onstart',
      config: {
        data: { deposits: { path: join(cluster.dir, 'data', 'deposits.csv'), id: 'uscc' } },
        catalogue: { publishOnStart: true, publishTo: ['government'] },
      },
    });
    await waitUntil('the government receives bank-b on its start', () => fromB().length > before, 20_000);
    expect(fromB().at(-1)!.details).toMatchObject({ action: 'received', datasets: 1, features: 1 });
  }, 60_000);

  it('publishes by default from a bank naming its platform peer, again once the platform is up', async () => {
    // bank-a as a bank of the platform: monitoring.government names the platform node; no catalogue
    // setting. The platform is down when the bank starts, so the first try fails and is retried.
    await cluster.stopAll([nodes['bank-a'], nodes.government]);
    const data = join(cluster.dir, 'data');
    const bank = await cluster.start('bank-a', {
      run: 'default-publish',
      config: {
        data: { loans: { path: join(data, 'loans.csv'), id: 'uscc', label: 'default_12m' } },
        monitoring: { government: 'government', pollSeconds: 0 },
      },
    });
    const failed = () =>
      [...bank.audit.entries({ kind: 'security_event' })].filter(
        (e) => e.details?.['rpc'] === 'catalogue.publish',
      );
    await waitUntil('the first publication fails (platform down)', () => failed().length > 0, 30_000);
    const government = await cluster.start('government', {
      config: {
        monitoring: { serve: true },
        data: { credit: { path: join(data, 'credit.csv'), id: 'uscc' } },
      },
    });
    const published = () =>
      [...bank.audit.entries({ kind: 'catalogue_change' })].filter(
        (e) => e.details?.['action'] === 'published',
      );
    await waitUntil('the retry reaches the platform', () => published().length > 0, 30_000);
    expect(published()).toHaveLength(1);
    expect(published()[0]!.details).toMatchObject({ peer: 'government', datasets: 1 });
    // Only to the platform peer (not bank-b), and the platform's catalogue now lists bank-a's features.
    expect(published().map((e) => e.details?.['peer'])).toEqual(['government']);
    const held = government.catalogue.catalogue.list().filter((p) => p.owner === 'bank-a');
    expect(held.map((p) => p.dataset)).toEqual(['loans']);
  }, 120_000);

  it('publishes on start by default only where a platform peer is named and the node keeps no catalogue', () => {
    const targets = (party: P, extra: Record<string, unknown>) =>
      cataloguePublishOnStart(validateNodeConfig({ ...cluster.configInput(party), ...extra }));
    // A bank of the platform (monitoring or the scoring API names it): to that peer only.
    expect(targets('bank-a', { monitoring: { government: 'government' } })).toEqual(['government']);
    expect(
      targets('bank-a', {
        scoring: {
          api: {
            listen: '127.0.0.1:0',
            government: 'government',
            model: 'm@production',
            rules: join(cluster.dir, 'rules.yaml'),
            tokens: [{ id: 'engine', sha256: 'a'.repeat(64) }],
          },
        },
      }),
    ).toEqual(['government']);
    // Opted out, or no platform peer named: none; publishTo kept.
    expect(
      targets('bank-a', { monitoring: { government: 'government' }, catalogue: { publishOnStart: false } }),
    ).toEqual([]);
    expect(targets('bank-a', {})).toEqual([]);
    expect(
      targets('bank-a', { monitoring: { government: 'government' }, catalogue: { publishTo: ['bank-b'] } }),
    ).toEqual(['bank-b']);
    // Set on: publishTo, else the platform peer, else every peer.
    expect(targets('bank-a', { catalogue: { publishOnStart: true } })).toEqual(['government', 'bank-b']);
    expect(
      targets('bank-a', { monitoring: { government: 'government' }, catalogue: { publishOnStart: true } }),
    ).toEqual(['government']);
    // A publication asked for without peers (`fedscore datasets publish-profile`) goes to the same targets.
    const to = (extra: Record<string, unknown>) =>
      catalogueTargets(validateNodeConfig({ ...cluster.configInput('bank-a'), ...extra }));
    expect(to({ monitoring: { government: 'government' } })).toEqual(['government']);
    expect(to({})).toEqual(['government', 'bank-b']);
    expect(to({ catalogue: { publishTo: ['bank-b'] } })).toEqual(['bank-b']);
    // The platform node keeps the catalogue: it publishes at start only when told to.
    expect(targets('government', { monitoring: { serve: true } })).toEqual([]);
  });

  it('validates catalogue.publishTo against the peers', () => {
    expect(() =>
      validateNodeConfig({ ...cluster.configInput('bank-a'), catalogue: { publishTo: ['bank-z'] } }),
    ).toThrow(expect.objectContaining({ code: 'invalid_config', field: 'catalogue.publishTo[0]' }));
  });
});
