/**
 * The one set-up of the scoring API's end-to-end tests (scoring-api.test.ts with a scorecard,
 * scoring-api-trees.test.ts with a SecureBoost model): a bank node and a government node on loopback
 * (`@fedscore/node/testing`'s NodeCluster: gRPC + mutual TLS, generated certificates), the generated
 * population written as each party's CSV, the rows both hold, the credit rules file, an API token, each
 * node's config (the bank's `scoring.api` in a mode of the test's choosing, the government's policy of
 * the test's choosing), scoring consents, and the HTTP calls of the risk engine. What each test trains
 * and registers is its own.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Table } from '@fedscore/core';
import { readCsvFile } from '@fedscore/core/node';
import { encodeValue } from '@fedscore/core/testing';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import { type ConsentPurpose, createApiToken, type PartyNode, partyFeatures } from '@fedscore/node';
import { type InProcessStartOptions, NodeCluster, type NodeConfigOverrides } from '@fedscore/node/testing';

export const PARTIES = ['bank', 'government'] as const;
export type Party = (typeof PARTIES)[number];

/**
 * The credit rules of the SecureBoost scoring tests (scoring-api-trees.test.ts, tree-score-job.test.ts):
 * four bands on the score, the line a multiple of the revenue figure.
 */
export const BAND_RULES = `format: fedscore.credit-rules
version: 1
figures: { revenue: account_turnover_12m }
rounding: 10000
baseRateBp: 435
bands:
  - { name: A, minScore: 600, revenueMultiple: 0.3, maxLine: 5000000, rateDiscountBp: 20 }
  - { name: B, minScore: 570, revenueMultiple: 0.2, maxLine: 2000000 }
  - { name: C, minScore: 540, revenueMultiple: 0.1, maxLine: 500000 }
  - { name: D, approve: false }
`;

/** `x` as a float64 in both byte orders: what a leaked score would look like in captured bytes. */
export function float64Patterns(x: number): Uint8Array[] {
  return [encodeValue(x, 'f64le'), encodeValue(x, 'f64be')];
}

type ScoringInput = NonNullable<NodeConfigOverrides['scoring']>;
/** The government's policy part of `scoring` (serve and data are the fixture's). */
export type GovernmentPolicy = Omit<ScoringInput, 'serve' | 'data' | 'api'>;
/** The bank's `scoring.api` without listen, government, rules, tokens and mode (the fixture's). */
export type ApiSettings = Omit<
  NonNullable<ScoringInput['api']>,
  'listen' | 'government' | 'rules' | 'tokens' | 'mode'
>;

export interface ScoringPairOptions {
  readonly population: {
    readonly enterprises: number;
    readonly bankCustomers: number;
    readonly seed: number;
  };
  /** The credit rules (YAML) the bank's API reads. */
  readonly rules: string;
  readonly api: ApiSettings;
  /** The government's policy when a start names none. */
  readonly policy: GovernmentPolicy;
}

/** How one node starts: the bank's mode ('default': none named, i.e. band), the government's policy. */
export interface PairStart extends Omit<InProcessStartOptions, 'config'> {
  readonly mode?: 'exact' | 'band' | 'default';
  readonly policy?: GovernmentPolicy;
}

export class ScoringPair {
  readonly cluster: NodeCluster<Party>;
  readonly token: string;
  readonly files: Readonly<Record<Party, string>>;
  readonly bankTable: Table;
  readonly govTable: Table;
  /** The enterprises both parties hold, in the bank's row order. */
  readonly aligned: readonly string[];
  /** The bank's rows of `aligned`, and the government's. */
  readonly bankRows: readonly number[];
  readonly govRows: readonly number[];
  nodes = {} as Record<Party, PartyNode>;
  readonly #o: ScoringPairOptions;
  readonly #entry: ReturnType<typeof createApiToken>['entry'];

  private constructor(
    o: ScoringPairOptions,
    cluster: NodeCluster<Party>,
    token: ReturnType<typeof createApiToken>,
    files: Record<Party, string>,
    tables: { bank: Table; government: Table },
  ) {
    this.#o = o;
    this.cluster = cluster;
    this.token = token.token;
    this.#entry = token.entry;
    this.files = files;
    this.bankTable = tables.bank;
    this.govTable = tables.government;
    const govRow = new Map(tables.government.ids.map((id, i) => [id, i]));
    this.bankRows = tables.bank.ids.map((_, i) => i).filter((i) => govRow.has(tables.bank.ids[i]!));
    this.aligned = this.bankRows.map((i) => tables.bank.ids[i]!);
    this.govRows = this.aligned.map((id) => govRow.get(id)!);
  }

  static async create(o: ScoringPairOptions): Promise<ScoringPair> {
    const cluster = await NodeCluster.create({ parties: PARTIES });
    const w = await writePopulation(o.population, join(cluster.dir, 'data'));
    writeFileSync(join(cluster.dir, 'rules.yaml'), o.rules);
    const bank = await readCsvFile(w.bank.path, {
      idColumn: ID_COLUMN,
      labelColumn: DEFAULT_LABEL_COLUMN,
      impute: 'keep',
    });
    const government = await readCsvFile(w.government.path, { idColumn: ID_COLUMN, impute: 'keep' });
    return new ScoringPair(
      o,
      cluster,
      createApiToken('risk-engine-test'),
      { bank: w.bank.path, government: w.government.path },
      { bank, government },
    );
  }

  /** `party`'s config overrides for one start. */
  config(party: Party, s: Pick<PairStart, 'mode' | 'policy'> = {}): NodeConfigOverrides {
    const mode = s.mode ?? 'exact';
    return {
      data:
        party === 'bank'
          ? { loans: { path: this.files.bank, id: ID_COLUMN, label: DEFAULT_LABEL_COLUMN } }
          : { credit: { path: this.files.government, id: ID_COLUMN } },
      limits: { retries: 1, retryBaseMs: 50 },
      scoring:
        party === 'government'
          ? { serve: true, data: 'credit', ...(s.policy ?? this.#o.policy) }
          : {
              api: {
                listen: '127.0.0.1:0',
                government: 'government',
                ...(mode !== 'default' && { mode }),
                rules: join(this.cluster.dir, 'rules.yaml'),
                tokens: [this.#entry],
                ...this.#o.api,
              },
            },
    };
  }

  /** Start `party` (stopping its running node first). */
  async start(party: Party, s: PairStart = {}): Promise<PartyNode> {
    const running = this.nodes[party];
    if (running !== undefined) await this.cluster.stop(running);
    const { mode, policy, ...rest } = s;
    this.nodes[party] = await this.cluster.start(party, {
      ...rest,
      config: this.config(party, {
        ...(mode !== undefined && { mode }),
        ...(policy !== undefined && { policy }),
      }),
    });
    return this.nodes[party];
  }

  /** Stop `party`'s node (the API answers 503 while the government is down). */
  async stop(party: Party): Promise<void> {
    await this.cluster.stop(this.nodes[party]);
  }

  get url(): string {
    return `http://127.0.0.1:${this.nodes.bank.scoringApiPort}`;
  }

  /** POST /v1/score as the risk engine (a string body is sent as it is). */
  async post(
    body: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
    const res = await fetch(`${this.url}/v1/score`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown>, headers: res.headers };
  }

  /** POST /v1/score/batch with `applicants`. */
  async postBatch(
    applicants: readonly unknown[],
  ): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
    const res = await fetch(`${this.url}/v1/score/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ applicants }),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown>, headers: res.headers };
  }

  /** Every value of `table`'s row of `id`, as the models' features name them (NaN: missing). */
  row(table: Table, id: string): Map<string, number> {
    const i = table.ids.indexOf(id);
    if (i < 0) throw new Error(`no row ${id}`);
    const f = partyFeatures(
      table,
      table.columns.map((c) => c.name),
      [i],
    );
    return new Map(f.names.map((n, j) => [n, f.columns[j]![0]!]));
  }

  /** The request's `features` of `id`: the bank's values of `names` (null: missing). */
  features(names: readonly string[], id: string): Record<string, number | null> {
    const row = this.row(this.bankTable, id);
    return Object.fromEntries(
      names.map((n) => {
        const x = row.get(n) ?? 0;
        return [n, Number.isNaN(x) ? null : x];
      }),
    );
  }

  /** Scoring consents at the government for `ids` (a day long, from a minute ago). */
  grantScoringConsents(ids: readonly string[], purpose: ConsentPurpose = 'scoring'): void {
    const now = Date.now();
    for (const enterprise of ids) {
      this.nodes.government.consents.grant({
        enterprise,
        grantee: 'bank',
        purpose,
        scope: ['*'],
        grantedAt: now - 60_000,
        expiresAt: now + 86_400_000,
      });
    }
  }

  /** Stop both nodes (the bank first: it tells the government its sessions are over) and clean up. */
  async close(): Promise<void> {
    if (this.nodes.bank !== undefined) await this.cluster.stop(this.nodes.bank);
    await this.cluster.close();
  }
}
