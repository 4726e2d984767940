/**
 * The node's configuration file (`fedscore node --config party.yaml`), validated with zod. Every error is
 * `FedscoreError('invalid_config')` naming the file and the field (`peers.government.address`), and
 * relative paths are resolved against the file's directory so that a config can move with its folder.
 *
 *   party: bank                       # this node's party id (must match its certificate)
 *   listen: 0.0.0.0:7101              # gRPC (mutual TLS) address for the other nodes
 *   advertise: bank-0.bank.example.org:7101  # replicas (store: postgres): where the peers reach THIS
 *                                     #   replica, recorded with each job lease it takes; or
 *                                     #   { env: FEDSCORE_ADVERTISE } (default: listen, unless it binds
 *                                     #   a wildcard address; docs/deploy.md section 8)
 *   http: 127.0.0.1:9101              # optional: /healthz and /metrics (plain HTTP; keep it internal)
 *   stateDir: ./state/bank            # the node's store (jobs, audit log, consent, models)
 *   store: sqlite                     # default: fedscore.sqlite in stateDir; replicas of one party share
 *                                     #   { kind: postgres, urlEnv: FEDSCORE_STORE_URL, schema: bank }
 *                                     #   (url: postgres://user@host:5432/db also works; passwords go in
 *                                     #   PGPASSWORD, ~/.pgpass or the variable urlEnv names, never here;
 *                                     #   replicas: leaseMs: 15000, leaseRenewMs: 500, docs/deploy.md 8)
 *   tls: { ca: certs/ca.pem, cert: certs/bank.pem, key: certs/bank-key.pem }
 *   peers:
 *     government: { address: gov.internal:7102 }
 *     # a peer run as replicas: every replica's advertised address (a load balancer may be one); sends
 *     # stick to one, move on when it is unreachable or names another as its job's lease holder
 *     # bank: { addresses: [bank-0.bank.example.org:7101, bank-1.bank.example.org:7101] }
 *     arbiter: { address: platform.internal:7103 }
 *   data:
 *     loans: { path: data/bank.csv, id: uscc, label: default_12m }
 *   limits: { maxMessageBytes: 67108864, deadlineMs: 120000, retries: 5, peerDownSeconds: 300,
 *             jobPollMs: 500, stagePollMs: 300 }   # how often the store and a stage's parties are polled
 *   governance:                       # as a job's host: only enterprises that consented take part, and
 *     requireConsent: true            # PSI runs on them only; a guest may submit at most 5M ids and 50
 *     psi: { maxSubmittedIds: 5000000, maxSubmittedRatio: 50 }  # per enterprise in that set
 *   monitoring: { government: government, pollSeconds: 60, rescoreModel: sme-credit-line@production,
 *                 rescoreThresholds: [0.5, -0.5, -1.5] }   # (bank; the government node sets { serve: true })
 *   scoring:                          # online scoring (docs/scoring-api.md, docs/protocols/online-scoring.md)
 *     serve: true                     # government: answer the banks' scoring sessions (consent-gated)
 *     data: credit                    # government: dataset of its partial scores (else the model's job's)
 *     allowExactMode: false           # government: policy (band mode only by default, <= 4 thresholds,
 *     maxThresholds: 4                #   per (bank, enterprise) 4 requests per 30 days, 1 per hour)
 *     quota: { requests: 4, windowSeconds: 2592000 }
 *     rate: { requests: 1, windowSeconds: 3600 }
 *     api:                            # bank: POST /v1/score for the risk engine
 *       listen: 127.0.0.1:9443
 *       government: government
 *       model: sme-credit-line@production
 *       mode: band                    # default; exact only against a government with allowExactMode
 *       rules: rules/credit.yaml      # bands and pre-approved lines (fedscore.credit-rules)
 *       tokens: [{ id: risk-engine-1, sha256: <64 hex digits from `fedscore node token`> }]
 *   accept: { schemes: [ckks, paillier], plaintextScheme: false, weakParameters: false }
 *                                     # what jobs this node takes part in (default: secure schemes only)
 *   audit: { refusalWindowSeconds: 60, acknowledgedBreaks: [] }
 *   catalogue: { publishOnStart: true, publishTo: [government] }   # publish the feature profile of
 *                                     #   `data` (docs/protocols/feature-catalogue.md); the government
 *                                     #   node keeps the catalogue (serve: default on where it serves);
 *                                     #   default on a node whose monitoring.government or
 *                                     #   scoring.api.government names its platform peer (to that peer)
 *   console: { enabled: true }        # the web console under /console/ on the http address (docs/console.md;
 *                                     #   default on for a node that serves monitoring or scoring)
 *     selfEstimate:                   # bank: the enterprise's page under /estimate/ (no login)
 *       { scorecard: models/card.json, rules: rules/credit.yaml, product: SME line, assets: web/estimate }
 *   log: { level: info }             # the least severe level this node logs
 *   queue: none                       # default: HE batch work on this process's threads; or (docs/deploy.md 7)
 *   queue: { kind: pgboss, url: postgres://fedscore@db:5432/bank, split: 1, minColumns: 64 }
 *                                     # hetero-LR packed products as tasks for `fedscore worker` processes
 *                                     #   (no password in url, as for store; or urlEnv: FEDSCORE_QUEUE_URL;
 *                                     #   task results of done jobs are pruned, others after
 *                                     #   resultRetentionHours: 168; workerRole: fedscore_worker, the
 *                                     #   workers' database role, granted the queue's tables only)
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { FedscoreError } from '@fedscore/core';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DEFAULT_SCORING_POLICY } from '../scoring-policy/scoring-policy.ts';
import { PARTY_ID_PATTERN } from '../transport/certs.ts';
import { KEEPALIVE_TIME_MS } from '../transport/grpc/options.ts';

/** Default bound on the ids a guest submits to one PSI run with this node as host. */
export const DEFAULT_MAX_SUBMITTED_IDS = 5_000_000;
/** Default bound on a guest's submitted ids per enterprise in this node's (consented) PSI set. */
export const DEFAULT_MAX_SUBMITTED_RATIO = 50;

const partyId = z.string().regex(PARTY_ID_PATTERN, 'a party id is 1-63 lower-case letters, digits or dashes');
const address = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port (IPv6 in brackets)')
  .refine((a) => Number(a.slice(a.lastIndexOf(':') + 1)) <= 65535, 'port above 65535');
const path = z.string().min(1, 'an empty path');

/**
 * One peer: `address`, or `addresses` for a peer party run as several replicas (docs/deploy.md section 8).
 * Normalised to both: `address` is the first listed (what single-address code reads), `addresses` all.
 */
const peerConfig = z
  .object({
    address: address.optional(),
    addresses: z
      .array(address)
      .min(1, 'list at least one address')
      .max(16, 'at most 16 addresses')
      .refine((a) => new Set(a).size === a.length, 'an address is listed twice')
      .optional(),
  })
  .strict()
  // Both only as validation leaves them (a validated config validates again unchanged).
  .refine(
    (p) =>
      p.addresses === undefined
        ? p.address !== undefined
        : p.address === undefined || p.address === p.addresses[0],
    { message: 'give either address or addresses', path: ['address'] },
  )
  .transform((p): { address: string; addresses: string[] } => {
    const all = p.addresses ?? [p.address!];
    return { address: all[0]!, addresses: all };
  });

/** Where this replica is reached: `host:port`, or `{ env: NAME }` naming a variable that holds it. */
const advertiseConfig = z.union([
  address,
  z.object({ env: z.string().regex(/^[A-Z_][A-Z0-9_]{0,127}$/, 'an environment variable name') }).strict(),
]);
const positive = z.number().refine((v) => Number.isFinite(v) && v > 0, 'must be a finite number > 0');

const scoringApi = z
  .object({
    /** host:port of the scoring API (HTTP, or HTTPS with `tls`); port 0 picks a free one. */
    listen: address,
    /**
     * The government node the bank scores with (a configured peer). A tree model of several hosts must
     * name it among its hosts; the session then spans every host the model names (configured peers).
     */
    government: partyId,
    /** The registry model to serve, e.g. `sme-credit-line@production` (resolved on every request). */
    model: z.string().min(1),
    /**
     * band (default): only the rating band reaches the bank (needs `rules`; their thresholds must fit the
     * government's `scoring.maxThresholds`); exact: the joint score, served only by a government whose
     * policy sets `allowExactMode` (a default government refuses it: 403 policy_refused).
     */
    mode: z.enum(['exact', 'band']).default('band'),
    /** Credit rules (fedscore.credit-rules YAML/JSON): rating bands and pre-approved lines. */
    rules: path.optional(),
    /** Points scale: score = offset - factor x logit, factor = pdo / ln 2 (scorecard convention). */
    scaling: z
      .object({
        baseScore: z.number().default(600),
        baseOdds: positive.default(50),
        pdo: positive.default(20),
      })
      .strict()
      .default({ baseScore: 600, baseOdds: 50, pdo: 20 }),
    /** Scoring sessions kept open with the government (keys warm; one request at a time each). */
    sessions: z.number().int().min(1).max(64).default(4),
    /** Requests waiting for a session before new ones get 503 overloaded. */
    maxQueued: z.number().int().min(1).max(1_000_000).default(1024),
    /**
     * Micro-batching (scoring.online v3): requests arriving within `windowMs` of the first waiting one
     * share one round of the protocol, up to `maxApplicants` (one ciphertext, each applicant admitted,
     * looked up and audited on its own). `maxApplicants: 1` scores each request in its own round.
     */
    batch: z
      .object({
        maxApplicants: z.number().int().min(1).max(64).default(8),
        windowMs: z.number().min(0).max(50).default(1),
      })
      .strict()
      .default({ maxApplicants: 8, windowMs: 1 }),
    /** A request not answered by the government within this time gets 503 (its session is dropped). */
    requestTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
    maxBodyBytes: z.number().int().min(1024).max(16_777_216).default(65_536),
    /** `retry-after` of a 429 (the government's quota or rate refused): its `scoring.rate` window. */
    retryAfterSeconds: z.number().int().min(1).max(31_536_000).default(3600),
    /** SHA-256 of each API token (`fedscore node token <id>` prints a token and its entry). */
    tokens: z
      .array(
        z
          .object({
            id: z
              .string()
              .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a token id is 1-64 of A-Z a-z 0-9 . _ -'),
            sha256: z
              .string()
              .regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits (SHA-256 of the token)'),
          })
          .strict(),
      )
      .min(1, 'at least one token'),
    /** Serve HTTPS with this certificate (PEM files); without it, plain HTTP (bind to a private address). */
    tls: z.object({ cert: path, key: path }).strict().optional(),
  })
  .strict();

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
/** https, or http on a loopback host only (a provider in a test or on the same machine). */
const oidcUrl = z
  .string()
  .url()
  .refine((u) => {
    const url = new URL(u);
    return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname));
  }, 'expected an https URL (http on a loopback host only)');
const roleName = z.enum(['platform-operator', 'bank-analyst', 'auditor']);

/**
 * OIDC login for the console (authorization code flow with PKCE; console/oidc.ts). The client secret
 * is never written in the YAML: name an environment variable or a file holding it.
 */
const oidcConfig = z
  .object({
    /** Shown on the login page: "Sign in with <name>". */
    name: z.string().min(1).max(80),
    /** The provider's issuer URL (discovery at <issuer>/.well-known/openid-configuration). */
    issuer: oidcUrl,
    clientId: z.string().min(1).max(512),
    /** The environment variable holding the client secret. */
    clientSecretEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')
      .optional(),
    /** A file holding the client secret (one line; trailing whitespace is dropped). */
    clientSecretFile: path.optional(),
    /** This console's callback as registered at the provider: <origin>/console/oidc/callback. */
    redirectUri: oidcUrl.refine(
      (u) => new URL(u).pathname === '/console/oidc/callback',
      'the redirect URI ends in /console/oidc/callback',
    ),
    /**
     * Where the provider sends the browser after a logout the console started there (OpenID Connect
     * RP-Initiated Logout 1.0), as registered at the provider, e.g. <origin>/console/login. Absent: the
     * provider shows its own signed-out page.
     */
    postLogoutRedirectUri: oidcUrl.optional(),
    /** Scopes asked for (openid is always added). */
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope token')).default([]),
    /** The ID-token claim holding the user's groups or roles (a string or an array of strings). */
    roleClaim: z.string().min(1).max(200).default('groups'),
    /** Claim value -> console role; the first listed value the user holds decides. */
    roles: z.record(z.string().min(1).max(512), roleName).refine((r) => Object.keys(r).length > 0, {
      message: 'map at least one claim value to a role',
    }),
    /** The ID-token claim holding a bank analyst's bank (a party id). */
    bankClaim: z.string().min(1).max(200).default('bank'),
    /** A bank analyst whose token has no bank claim gets this bank (a bank's own node: its party). */
    defaultBank: partyId.optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    if ((o.clientSecretEnv === undefined) === (o.clientSecretFile === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['clientSecretEnv'],
        message: 'set exactly one of clientSecretEnv or clientSecretFile (never the secret itself)',
      });
    }
  });

/**
 * The data-model lab console (packages/node/src/console, docs/console.md), served under /console/ by the
 * node's `http` endpoint. `enabled` defaults to on for a government/platform node (one that serves
 * monitoring or scoring to its peers) that has an `http` address, off otherwise.
 */
const consoleConfig = z
  .object({
    enabled: z.boolean().optional(),
    /** A session ends after this many minutes without a request. */
    idleMinutes: z.number().int().min(1).max(1440).default(30),
    /** A session ends this many hours after its login, whatever its activity. */
    maxSessionHours: z.number().int().min(1).max(168).default(12),
    /** Failed logins in a row before an account is locked. */
    maxFailedLogins: z.number().int().min(1).max(100).default(5),
    /** How long a locked account stays locked. */
    lockoutSeconds: z.number().int().min(1).max(86_400).default(900),
    /** Login attempts per remote address and minute (any account). */
    loginsPerMinute: z.number().int().min(1).max(10_000).default(20),
    /** Local accounts (username and password); `false` leaves OIDC as the only way in. */
    localAccounts: z.boolean().default(true),
    /** Sign-in through the bank's own OpenID Connect provider (console/oidc.ts, docs/console.md). */
    oidc: oidcConfig.optional(),
    /**
     * The enterprise's self-estimate page under /estimate/ (no login; console/self-estimate.ts), served
     * on the http address whether or not the console is enabled.
     */
    selfEstimate: z
      .object({
        /** The scorecard (fedscore scorecard JSON, `fedscore scorecard`). */
        scorecard: path,
        /** Credit rules (fedscore.credit-rules YAML/JSON). */
        rules: path,
        /** The product's name shown in the form. */
        product: z.string().min(1).max(200),
        /** The built client (examples/self-estimate-browser/build.ts: estimate-page.js, seal_throws.wasm). */
        assets: path,
        /** Show the enterprise its exact score (default: band and line only). */
        revealScore: z.boolean().default(false),
        /** Estimates per remote address and minute. */
        perMinute: z.number().int().min(1).max(1000).default(6),
      })
      .strict()
      .optional(),
  })
  .strict();

const dataSource = z
  .object({
    path,
    /** Header of the id column (USCCs). */
    id: z.string().min(1),
    /** Header of the 0/1 label column (the guest's data only). */
    label: z.string().min(1).optional(),
    /** Columns that are not features (besides id and label). */
    exclude: z.array(z.string().min(1)).default([]),
    /**
     * What each feature means, by column header, for the console's indicator catalogue (docs/console.md):
     * plain text of at most 200 characters; a column the file lacks is never shown.
     */
    descriptions: z
      .record(
        z.string().min(1),
        z
          .string()
          .min(1)
          .max(200)
          .regex(/^[^\p{Cc}]*$/u, 'a description is one line of text without control characters'),
      )
      .default({}),
  })
  .strict();

const requestWindow = z
  .object({
    requests: z.number().int().min(1).max(1_000_000),
    windowSeconds: z
      .number()
      .int()
      .min(1)
      .max(366 * 86_400),
  })
  .strict();

const limits = z
  .object({
    maxMessageBytes: z
      .number()
      .int()
      .min(1024)
      .max(2 ** 31 - 1)
      .default(64 * 1024 * 1024),
    chunkBytes: z
      .number()
      .int()
      .min(1024)
      .max(16 * 1024 * 1024)
      .default(1024 * 1024),
    deadlineMs: z.number().int().min(100).max(86_400_000).default(120_000),
    retries: z.number().int().min(0).max(100).default(5),
    retryBaseMs: z.number().int().min(1).max(60_000).default(200),
    maxQueuedBytes: z
      .number()
      .int()
      .min(1024)
      .default(256 * 1024 * 1024),
    /**
     * gRPC keepalive (transport/grpc/options.ts): ping after `keepaliveTimeMs`, drop the connection when a
     * ping goes unanswered for `keepaliveTimeoutMs` (default: `deadlineMs`). The timeout must outlast the
     * longest event-loop stall of either node (CPU-bound work on a loaded machine), or live calls drop.
     */
    keepaliveTimeMs: z.number().int().min(100).max(86_400_000).default(KEEPALIVE_TIME_MS),
    keepaliveTimeoutMs: z.number().int().min(100).max(86_400_000).optional(),
    /** How long a coordinator waits for a lost party to come back before failing the job. */
    peerDownSeconds: z.number().int().min(1).max(86_400).default(300),
    /** Stage attempts per stage before the job fails. */
    maxAttempts: z.number().int().min(1).max(100).default(5),
    /** How often the node looks in its store for jobs to start, resume or notify about (ms). */
    jobPollMs: z.number().int().min(10).max(60_000).default(500),
    /** How often a job's coordinator asks its parties how a running stage is doing (ms). */
    stagePollMs: z.number().int().min(10).max(60_000).default(300),
  })
  .strict();

/** A `store: postgres` config (`url` or `urlEnv`, exactly one). */
export interface PostgresStoreConfig {
  readonly kind: 'postgres';
  readonly url?: string | undefined;
  readonly urlEnv?: string | undefined;
  readonly schema?: string | undefined;
  readonly busyTimeoutMs: number;
  /** How long a replica's lease on coordinating a job lasts without renewal (ms). */
  readonly leaseMs: number;
  /** How often the replica holding a lease renews it (ms; at most a third of `leaseMs`). */
  readonly leaseRenewMs: number;
}

/** Default `store.leaseMs`: a replica that died is replaced this long after its last renewal. */
export const DEFAULT_LEASE_MS = 15_000;
/** Default `store.leaseRenewMs` (the job runner's poll). */
export const DEFAULT_LEASE_RENEW_MS = 500;

/**
 * A postgres:// URL in the config file, refused when it holds a password (the config is not a secret;
 * the password goes in PGPASSWORD, ~/.pgpass, or the variable `urlEnv` names). The store's and the
 * queue's URLs are checked alike.
 */
const postgresUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\/[^\s]+$/, 'a postgres:// URL')
  .refine((u) => {
    try {
      return new URL(u).password === '';
    } catch {
      return false;
    }
  }, 'no password in the config file: use PGPASSWORD, ~/.pgpass, or urlEnv');
/** The name of an environment variable holding a postgres:// URL (where a password may be). */
const urlEnvName = z.string().regex(/^[A-Z_][A-Z0-9_]{0,127}$/, 'an environment variable name');

/** Where the node's store lives (docs/deploy.md: several replicas of one party need postgres). */
const storeConfig = z.preprocess(
  // `store: sqlite` and `store: postgres` (URL in FEDSCORE_STORE_URL) are shorthands of the objects.
  (v) =>
    v === 'sqlite'
      ? { kind: 'sqlite' }
      : v === 'postgres'
        ? { kind: 'postgres', urlEnv: 'FEDSCORE_STORE_URL' }
        : v,
  z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('sqlite') }).strict(),
    z
      .object({
        kind: z.literal('postgres'),
        url: postgresUrl.optional(),
        urlEnv: urlEnvName.optional(),
        schema: z
          .string()
          .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case SQL identifier')
          .optional(),
        busyTimeoutMs: z.number().int().min(0).max(600_000).default(5000),
        // Replicas (docs/deploy.md section 8): a longer lease survives longer database or network stalls
        // without a false takeover; a shorter one replaces a dead replica sooner.
        leaseMs: z.number().int().min(1000).max(600_000).default(DEFAULT_LEASE_MS),
        leaseRenewMs: z.number().int().min(100).max(200_000).default(DEFAULT_LEASE_RENEW_MS),
      })
      .strict()
      .refine((s) => (s.url === undefined) !== (s.urlEnv === undefined), {
        message: 'give either url or urlEnv',
        path: ['url'],
      })
      .refine((s) => s.leaseRenewMs * 3 <= s.leaseMs, {
        message: 'leaseRenewMs must be at most a third of leaseMs (a lease outlives two missed renewals)',
        path: ['leaseRenewMs'],
      })
      .transform((s): PostgresStoreConfig => s),
  ]),
);

/**
 * Products narrower than this stay on the node's threads by default: measured (benchmarks/results/
 * queue.md, batch 4096, ckks-16384-release, loaded machine) the queue adds ~90-110 ms a task, 7 % of a
 * 30-column product's 1.3 s and 3.2 % of a 100-column one's 3.4 s; the target is <= 5 %.
 */
export const DEFAULT_QUEUE_MIN_COLUMNS = 64;

/**
 * Where the node's heavy HE batch work runs (issue 18): `none` (its own threads), or `pgboss`: the
 * hetero-LR packed products become tasks on a pg-boss queue in the party's PostgreSQL database, run by
 * `fedscore worker` processes that receive public contexts only (the secret keys stay on this node).
 */
const queueConfig = z.preprocess(
  (v) => (v === 'none' || v === 'pgboss' ? { kind: v } : v),
  z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('none') }).strict(),
    z
      .object({
        kind: z.literal('pgboss'),
        /**
         * postgres://user@host:port/db of the party's database (the workers use the same one), without a
         * password (as `store.url`); or `urlEnv`, the variable holding the URL.
         */
        url: postgresUrl.optional(),
        urlEnv: urlEnvName.optional(),
        /** The queue the workers serve (`fedscore worker --name`). */
        name: z
          .string()
          .regex(/^[A-Za-z0-9_.-]{1,100}$/, 'a queue name is 1 to 100 of [A-Za-z0-9_.-]')
          .default('he-packed-product'),
        /** Tasks each product is cut into: about the number of worker processes (1: one per product). */
        split: z.number().int().min(1).max(64).default(1),
        /** Products of fewer columns run on this node's threads (queue overhead vs task time). */
        minColumns: z.number().int().min(1).default(DEFAULT_QUEUE_MIN_COLUMNS),
        /** A task a worker holds longer than this is delivered again (a killed worker's), seconds. */
        expireSeconds: z.number().int().min(1).default(300),
        /**
         * Task results are pruned once their job is done (the coordinator, `NodeQueue`); those of other
         * jobs (failed, cancelled: a retry reuses them) and untagged ones after this many hours.
         */
        resultRetentionHours: z.number().int().min(1).max(8760).default(168),
        /**
         * The database role `fedscore worker` processes connect as (docs/deploy.md section 7): at start the
         * node grants it the queue's tables and pg-boss's schema and nothing else, and refuses to start
         * if it can use any other table of the database (the store's, when it shares the database). The
         * role is created, with its password, by the database's administrator. Unset: no grants (workers
         * then need a role with those privileges, or the node's own, which reaches the store).
         */
        workerRole: z
          .string()
          .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case SQL identifier')
          .optional(),
      })
      .strict()
      .refine((q) => (q.url === undefined) !== (q.urlEnv === undefined), {
        message: 'give either url or urlEnv',
        path: ['url'],
      }),
  ]),
);

export type QueueConfig = z.infer<typeof queueConfig>;

export const nodeConfigSchema = z
  .object({
    party: partyId,
    listen: address,
    /**
     * This replica's own gRPC address as the peers reach it (replicas on one PostgreSQL store): recorded
     * in the lease of each job it coordinates, and named by the other replicas to a peer whose message
     * for the job reached them. Default: `listen`, unless that binds a wildcard address (then none).
     */
    advertise: advertiseConfig.optional(),
    http: address.optional(),
    stateDir: path,
    store: storeConfig.default({ kind: 'sqlite' }),
    tls: z.object({ ca: path, cert: path, key: path }).strict(),
    peers: z.record(partyId, peerConfig),
    data: z
      .record(
        z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'dataset names are 1-64 of A-Z a-z 0-9 _ . -'),
        dataSource,
      )
      .default({}),
    limits: limits.default(() => limits.parse({})),
    governance: z
      .object({
        /**
         * As a job's host (a data owner such as the government node), use only aligned enterprises with a
         * valid consent in this node's registry for the job's guest, purpose and categories.
         */
        requireConsent: z.boolean().default(true),
        /**
         * As a job's host: bounds on the id set a guest submits to PSI (checked on its PSI hello, before
         * this node sends anything; a refusal is `psi_policy`, audited on both nodes). The guest's set
         * may hold at most `maxSubmittedIds` ids and at most `maxSubmittedRatio` times as many as this
         * node's PSI set (its enterprises that consented to that guest for the job's use; 0 = no ratio
         * bound). docs/deploy.md.
         */
        psi: z
          .object({
            maxSubmittedIds: z.number().int().min(1).max(4_294_967_295).default(DEFAULT_MAX_SUBMITTED_IDS),
            maxSubmittedRatio: z.number().min(0).max(1_000_000).default(DEFAULT_MAX_SUBMITTED_RATIO),
          })
          .strict()
          .default(() => ({
            maxSubmittedIds: DEFAULT_MAX_SUBMITTED_IDS,
            maxSubmittedRatio: DEFAULT_MAX_SUBMITTED_RATIO,
          })),
      })
      .strict()
      .default(() => ({
        requireConsent: true,
        psi: { maxSubmittedIds: DEFAULT_MAX_SUBMITTED_IDS, maxSubmittedRatio: DEFAULT_MAX_SUBMITTED_RATIO },
      })),
    monitoring: z
      .object({
        /** Government: answer the peers' alert polls and encrypted rescoring requests (consent-gated). */
        serve: z.boolean().default(false),
        /** Bank: the government node to poll for post-loan alerts. */
        government: partyId.optional(),
        /** Bank: seconds between polls; 0 = poll only on demand. */
        pollSeconds: z.number().int().min(0).max(86_400).default(60),
        /** Bank: after a poll with new alerts, rescore them with this registry model (e.g. name@production). */
        rescoreModel: z.string().min(1).optional(),
        /**
         * Bank: rescore in band mode against these thresholds (strictly decreasing, on the model's score
         * scale); without them rescoring asks for exact scores, which a government serves only if its
         * `scoring.allowExactMode` is set.
         */
        rescoreThresholds: z.array(z.number().finite()).min(1).max(64).optional(),
      })
      .strict()
      .default({ serve: false, pollSeconds: 60 }),
    /**
     * What this node accepts in a job, whoever offers it (docs/threat-model.md): the HE schemes, and
     * whether the plaintext debug scheme 'none' (labels and partial predictions in the clear) and
     * parameters below 128-bit security are allowed. A job's own `insecure: true` is not enough: the
     * default accepts secure schemes only.
     */
    accept: z
      .object({
        schemes: z.array(z.enum(['ckks', 'paillier'])).default(['ckks', 'paillier']),
        plaintextScheme: z.boolean().default(false),
        weakParameters: z.boolean().default(false),
      })
      .strict()
      .default({ schemes: ['ckks', 'paillier'], plaintextScheme: false, weakParameters: false }),
    audit: z
      .object({
        /**
         * Refused calls of unauthenticated callers are counted per source and written as one audit entry
         * per window of this many seconds (and at shutdown), so a flood cannot fill the append-only log.
         */
        refusalWindowSeconds: z.number().int().min(1).max(3600).default(60),
        /**
         * Entries at which the operator has examined a broken audit chain and lets the node run on it (each
         * is recorded once as a security event). Any other break refuses the start.
         */
        acknowledgedBreaks: z.array(z.number().int().min(1)).default([]),
      })
      .strict()
      .default({ refusalWindowSeconds: 60, acknowledgedBreaks: [] }),
    scoring: z
      .object({
        /** Government: answer the peers' online scoring sessions (consent-gated, audited per request). */
        serve: z.boolean().default(false),
        /** Government: the dataset partial scores come from when the model's job is not on this node. */
        data: z.string().min(1).optional(),
        /** Government: concurrent scoring sessions per bank. */
        maxSessionsPerPeer: z.number().int().min(1).max(1024).default(64),
        /** Government: serve online scoring in exact mode (the bank then learns our partial score). */
        allowExactMode: z.boolean().default(DEFAULT_SCORING_POLICY.allowExactMode),
        /** Government: most band-mode thresholds per session (the registered band count). */
        maxThresholds: z.number().int().min(1).max(64).default(DEFAULT_SCORING_POLICY.maxThresholds),
        /** Government: per (bank, enterprise), requests per long window (`quota_exceeded` beyond). */
        quota: requestWindow.default(DEFAULT_SCORING_POLICY.quota),
        /** Government: per (bank, enterprise), requests per short window (`rate_limited` beyond). */
        rate: requestWindow.default(DEFAULT_SCORING_POLICY.rate),
        /** Bank: the scoring API for the risk engine. */
        api: scoringApi.optional(),
      })
      .strict()
      .default({ serve: false, maxSessionsPerPeer: 64, ...DEFAULT_SCORING_POLICY }),
    console: consoleConfig.default(() => consoleConfig.parse({})),
    /** The feature catalogue (docs/protocols/feature-catalogue.md): published feature profiles. */
    catalogue: z
      .object({
        /**
         * Keep the catalogue: answer a peer that publishes with the other parties' profiles. Default: on
         * for a node that serves monitoring or scoring (the platform/government node), off otherwise.
         */
        serve: z.boolean().optional(),
        /**
         * Publish this node's profile (every `data` dataset) to `publishTo` when the node starts (and
         * again later to a peer that was not reachable then). Default: on for a node that does not keep
         * the catalogue and names its platform/government peer (`monitoring.government` or
         * `scoring.api.government`) -- a bank of the platform; off otherwise (`cataloguePublishOnStart`).
         */
        publishOnStart: z.boolean().optional(),
        /**
         * The peers to publish to; default the platform peer(s) the node names (`monitoring.government`,
         * `scoring.api.government`), else every configured peer (`catalogueTargets`).
         */
        publishTo: z.array(partyId).min(1).optional(),
      })
      .strict()
      .default({}),
    log: z
      .object({ level: z.enum(['debug', 'info', 'warn', 'error']).default('info') })
      .strict()
      .default({ level: 'info' }),
    queue: queueConfig.default({ kind: 'none' }),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.peers[c.party] !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['peers', c.party], message: 'a node is not its own peer' });
    }
    (c.catalogue.publishTo ?? []).forEach((p, k) => {
      if (c.peers[p] === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['catalogue', 'publishTo', k],
          message: `'${p}' is not a configured peer`,
        });
      }
    });
    const gov = c.monitoring.government;
    if (gov !== undefined && c.peers[gov] === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['monitoring', 'government'],
        message: `'${gov}' is not a configured peer`,
      });
    }
    const api = c.scoring.api;
    if (api !== undefined && c.peers[api.government] === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['scoring', 'api', 'government'],
        message: `'${api.government}' is not a configured peer`,
      });
    }
    if (api !== undefined && api.mode === 'band' && api.rules === undefined) {
      ctx.addIssue({ code: 'custom', path: ['scoring', 'api', 'rules'], message: 'band mode needs rules' });
    }
    if (c.accept.schemes.length === 0 && !c.accept.plaintextScheme) {
      ctx.addIssue({ code: 'custom', path: ['accept', 'schemes'], message: 'this node would accept no job' });
    }
    const t = c.monitoring.rescoreThresholds ?? [];
    for (let k = 1; k < t.length; k++) {
      if (!(t[k]! < t[k - 1]!)) {
        ctx.addIssue({
          code: 'custom',
          path: ['monitoring', 'rescoreThresholds', k],
          message: 'thresholds must be strictly decreasing',
        });
      }
    }
    if (c.console.selfEstimate !== undefined && c.http === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['console', 'selfEstimate'],
        message: 'the self-estimate page is served by the http endpoint: set http (host:port)',
      });
    }
    if (c.console.enabled === true && c.http === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['console', 'enabled'],
        message: 'the console is served by the http endpoint: set http (host:port)',
      });
    }
    if (!c.console.localAccounts && c.console.oidc === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['console', 'localAccounts'],
        message: 'with local accounts off, configure console.oidc (or nobody can log in)',
      });
    }
    if (c.monitoring.rescoreModel !== undefined && gov === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['monitoring', 'rescoreModel'],
        message: 'rescoring needs monitoring.government',
      });
    }
  });

export type NodeConfig = z.infer<typeof nodeConfigSchema>;
export type NodeConfigInput = z.input<typeof nodeConfigSchema>;
export type DataSource = z.infer<typeof dataSource>;
export type ScoringApiConfig = z.infer<typeof scoringApi>;
export type ConsoleConfig = z.infer<typeof consoleConfig>;
/** The node's store: the SQLite file in `stateDir`, or a PostgreSQL database shared by replicas. */
export type StoreConfig = { readonly kind: 'sqlite' } | PostgresStoreConfig;

/**
 * The PostgreSQL URL of a `store: postgres` config: `url`, or the value of the environment variable
 * `urlEnv` (where a password may be). A missing or malformed variable is an `invalid_config` error naming
 * `store.urlEnv` (its value never appears in the message).
 */
export function storeUrl(
  store: PostgresStoreConfig,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  return urlOf(store, 'store', 'FEDSCORE_STORE_URL', env);
}

/**
 * A `store` section on its own, validated and defaulted as in a node config: how a command that opens a
 * party's store without its config (the CLI's `--store`, `--store-env`, `--store-schema`) names the same
 * store, for `openNodeStore`. An `invalid_config` error names `store.<field>`.
 */
export function validateStoreConfig(value: unknown): StoreConfig {
  const r = storeConfig.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new FedscoreError('invalid_config', `store: ${issue.message}`, {
      field: fieldOf(['store', ...issue.path]),
    });
  }
  return r.data;
}

/**
 * Where the peers reach this replica (config `advertise`; docs/deploy.md section 8): the address, the
 * value of the variable `advertise.env` names, else `listen` unless it binds a wildcard address
 * (0.0.0.0, [::]: not an address a peer can dial), else undefined. A missing or malformed variable is an
 * `invalid_config` error naming `advertise.env`.
 */
export function advertisedAddress(
  c: Pick<NodeConfig, 'listen' | 'advertise'>,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string | undefined {
  const a = c.advertise;
  if (typeof a === 'string') return a;
  if (a !== undefined) {
    const r = address.safeParse(env[a.env] ?? '');
    if (!r.success) {
      throw new FedscoreError(
        'invalid_config',
        `node config: advertise.env names ${a.env}, which does not hold host:port`,
        { field: 'advertise.env' },
      );
    }
    return r.data;
  }
  const host = c.listen.slice(0, c.listen.lastIndexOf(':'));
  return host === '0.0.0.0' || host === '[::]' || /^\[0*(:0*)*:?0*\]$/.test(host) ? undefined : c.listen;
}

/** The PostgreSQL URL of a `queue: pgboss` config (`url`, or the variable `urlEnv`), as `storeUrl`. */
export function queueUrl(
  queue: Extract<QueueConfig, { kind: 'pgboss' }>,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  return urlOf(queue, 'queue', 'FEDSCORE_QUEUE_URL', env);
}

function urlOf(
  c: { readonly url?: string | undefined; readonly urlEnv?: string | undefined },
  section: 'store' | 'queue',
  defaultEnv: string,
  env: Readonly<Record<string, string | undefined>>,
): string {
  if (c.url !== undefined) return c.url;
  const name = c.urlEnv ?? defaultEnv;
  const value = env[name];
  if (value === undefined || value === '') {
    throw new FedscoreError(
      'invalid_config',
      `node config: ${section}.urlEnv names ${name}, which is not set`,
      {
        field: `${section}.urlEnv`,
      },
    );
  }
  if (!/^postgres(ql)?:\/\/\S+$/.test(value)) {
    throw new FedscoreError('invalid_config', `node config: ${name} does not hold a postgres:// URL`, {
      field: `${section}.urlEnv`,
    });
  }
  return value;
}

/** Whether this node keeps the feature catalogue: `catalogue.serve`, else on for a node serving its peers. */
export function catalogueServes(c: NodeConfig): boolean {
  return c.catalogue.serve ?? (c.monitoring.serve || c.scoring.serve);
}

/** The platform/government peers this node names (`monitoring.government`, `scoring.api.government`). */
export function platformPeers(c: NodeConfig): string[] {
  const named = [c.monitoring.government, c.scoring.api?.government].filter((p) => p !== undefined);
  return [...new Set(named)].filter((p) => c.peers[p] !== undefined);
}

/**
 * Where a publication goes when none is named (`fedscore datasets publish-profile` without `--to`, the
 * publication at start): `catalogue.publishTo`; else the platform peer(s) of a node that names one and
 * does not keep the catalogue itself (another bank's node keeps no catalogue: it would learn the profile
 * and answer nothing); else every peer.
 */
export function catalogueTargets(c: NodeConfig): string[] {
  if (c.catalogue.publishTo !== undefined) return [...c.catalogue.publishTo];
  const platform = catalogueServes(c) ? [] : platformPeers(c);
  return platform.length > 0 ? platform : Object.keys(c.peers);
}

/**
 * The peers this node publishes its feature profile to when it starts (docs/protocols/feature-catalogue.md,
 * Triggers): with `catalogue.publishOnStart: true` its targets (`catalogueTargets`); with `false` none; by
 * default, on a node that does not keep the catalogue and names its platform peer(s) (`platformPeers`),
 * its targets -- so the platform's Indicators page lists each bank's features; none otherwise.
 */
export function cataloguePublishOnStart(c: NodeConfig): string[] {
  const set = c.catalogue.publishOnStart;
  if (set === false) return [];
  if (set === true) return catalogueTargets(c);
  if (catalogueServes(c) || platformPeers(c).length === 0) return [];
  return catalogueTargets(c);
}

/** Whether this node serves the console: `console.enabled`, else on for a node serving its peers. */
export function consoleEnabled(c: NodeConfig): boolean {
  if (c.http === undefined) return false;
  return c.console.enabled ?? (c.monitoring.serve || c.scoring.serve);
}

function fieldOf(p: readonly PropertyKey[]): string {
  return p
    .map((x) => (typeof x === 'number' ? `[${x}]` : `.${String(x)}`))
    .join('')
    .replace(/^\./, '');
}

/** Validate a parsed config object. Relative paths resolve against `baseDir` (default: the cwd). */
export function validateNodeConfig(
  value: unknown,
  options: { file?: string; baseDir?: string } = {},
): NodeConfig {
  const r = nodeConfigSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new FedscoreError('invalid_config', `node config: ${issue.message}`, {
      field: fieldOf(issue.path) || 'config',
      ...(options.file !== undefined && { file: options.file }),
    });
  }
  const base = options.baseDir ?? process.cwd();
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const c = r.data;
  return {
    ...c,
    stateDir: abs(c.stateDir),
    tls: { ca: abs(c.tls.ca), cert: abs(c.tls.cert), key: abs(c.tls.key) },
    data: Object.fromEntries(Object.entries(c.data).map(([k, d]) => [k, { ...d, path: abs(d.path) }])),
    console: {
      ...c.console,
      ...(c.console.selfEstimate !== undefined && {
        selfEstimate: {
          ...c.console.selfEstimate,
          scorecard: abs(c.console.selfEstimate.scorecard),
          rules: abs(c.console.selfEstimate.rules),
          assets: abs(c.console.selfEstimate.assets),
        },
      }),
      ...(c.console.oidc?.clientSecretFile !== undefined && {
        oidc: { ...c.console.oidc, clientSecretFile: abs(c.console.oidc.clientSecretFile) },
      }),
    },
    scoring: {
      ...c.scoring,
      ...(c.scoring.api !== undefined && {
        api: {
          ...c.scoring.api,
          ...(c.scoring.api.rules !== undefined && { rules: abs(c.scoring.api.rules) }),
          ...(c.scoring.api.tls !== undefined && {
            tls: { cert: abs(c.scoring.api.tls.cert), key: abs(c.scoring.api.tls.key) },
          }),
        },
      }),
    },
  };
}

/** Read and validate a YAML (or JSON) config file. */
export function loadNodeConfig(file: string): NodeConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new FedscoreError(
      'io',
      `cannot read the node config (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      {
        file,
        field: '--config',
        cause: e,
      },
    );
  }
  let value: unknown;
  try {
    value = parseYaml(text, { prettyErrors: false });
  } catch (e) {
    const pos = (e as { linePos?: { line: number; col: number }[] }).linePos?.[0];
    throw new FedscoreError('invalid_config', `not valid YAML (${(e as Error).message.split('\n')[0]})`, {
      file,
      ...(pos !== undefined && { line: pos.line, column: pos.col }),
      cause: e,
    });
  }
  return validateNodeConfig(value, { file, baseDir: dirname(resolve(file)) });
}

/** The TLS material of a config, read from its files (PEM text). */
export function readTlsFiles(config: NodeConfig): { ca: string; cert: string; key: string } {
  const read = (p: string, field: string): string => {
    try {
      return readFileSync(p, 'utf8');
    } catch (e) {
      throw new FedscoreError(
        'io',
        `cannot read ${field} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
        {
          file: p,
          field,
          cause: e,
        },
      );
    }
  };
  return {
    ca: read(config.tls.ca, 'tls.ca'),
    cert: read(config.tls.cert, 'tls.cert'),
    key: read(config.tls.key, 'tls.key'),
  };
}
