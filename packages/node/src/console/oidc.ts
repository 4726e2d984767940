/**
 * OIDC login for the console: a bank signs its staff in through its own identity provider (Keycloak,
 * Azure AD / Entra ID, ...). OpenID Connect Core 1.0 authorization code flow (section 3.1) with PKCE
 * (RFC 7636, S256), `state` (RFC 6749 section 10.12) and `nonce` (OIDC Core section 15.5.2), through
 * `openid-client` 6 (its authorization-code grant validates the ID token: issuer, audience, azp,
 * expiry, iat, nonce; `enableNonRepudiationChecks` adds the JWS signature against the provider's JWKS,
 * so a token that did not come from the provider's keys is refused even over a trusted channel).
 *
 * The provider's claims decide the console role and bank (`roleClaim` -> `roles`, `bankClaim`); a user
 * whose token maps to no role is refused. The accepted user gets an ordinary console session
 * (accounts.ts `openExternalSession`) under the username `oidc:<sub>`; role and bank are taken again
 * from the token at each login.
 *
 * The pending login (state, nonce, PKCE verifier) stays on the server, keyed by a random id in a
 * short-lived cookie: the browser never holds the verifier, and each pending login is used once.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { FedscoreError } from '@fedscore/core';
import * as client from 'openid-client';
import type { ConsoleConfig } from '../config/config.ts';
import { PARTY_ID_PATTERN } from '../transport/certs.ts';
import type { ConsoleRole } from './accounts.ts';

export type ConsoleOidcConfig = NonNullable<ConsoleConfig['oidc']>;

/** The fetch used towards the provider (default: the global fetch; a proxy-aware one may go here). */
export type OidcFetch = client.CustomFetch;

export interface ConsoleOidcOptions {
  /** Environment to read `clientSecretEnv` from (default: process.env). */
  readonly env?: NodeJS.ProcessEnv;
  readonly fetch?: OidcFetch;
  /** Seconds a started login may take to come back. Default 600. */
  readonly pendingSeconds?: number;
  readonly now?: () => number;
}

/** The console identity an accepted OIDC login maps to. */
export interface OidcIdentity {
  readonly username: string;
  readonly role: ConsoleRole;
  readonly bank?: string;
}

export type OidcOutcome =
  | {
      readonly ok: true;
      readonly identity: OidcIdentity;
      /** The validated ID token (kept for the logout at the provider: its `id_token_hint`). */
      readonly idToken?: string;
    }
  | {
      readonly ok: false;
      /**
       * pending: no (or an expired, or a used) pending login for this browser; state: the callback's
       * state is not the pending login's; denied: the provider answered with an error; token: the code
       * exchange or the ID token failed validation; no_role / no_bank: the claims map to no role, or a
       * bank analyst to no bank.
       */
      readonly reason: 'pending' | 'state' | 'denied' | 'token' | 'no_role' | 'no_bank';
      /** For the log: the validation failure's code (never a token or a claim value). */
      readonly detail?: string;
    };

interface Pending {
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
  readonly expires: number;
}

const MAX_PENDING = 10_000;
const SUB = /^[A-Za-z0-9._@-]{1,64}$/;

/** Read the client secret from the environment variable or file the config names. */
export function readOidcClientSecret(
  config: ConsoleOidcConfig,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (config.clientSecretEnv !== undefined) {
    const v = env[config.clientSecretEnv];
    if (v === undefined || v === '') {
      throw new FedscoreError(
        'invalid_config',
        `the environment variable ${config.clientSecretEnv} (console.oidc.clientSecretEnv) is not set`,
        { field: 'console.oidc.clientSecretEnv' },
      );
    }
    return v;
  }
  const file = config.clientSecretFile!;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new FedscoreError('io', 'cannot read console.oidc.clientSecretFile', {
      file,
      field: 'console.oidc.clientSecretFile',
      cause: e,
    });
  }
  const secret = text.trimEnd();
  if (secret === '') {
    throw new FedscoreError('invalid_config', 'console.oidc.clientSecretFile is empty', {
      file,
      field: 'console.oidc.clientSecretFile',
    });
  }
  return secret;
}

/** A claim by its exact name, else by a dotted path (Keycloak's `realm_access.roles`). */
function claimAt(claims: Readonly<Record<string, unknown>>, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name];
  let cur: unknown = claims;
  for (const key of name.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

function claimValues(v: unknown): Set<string> {
  if (typeof v === 'string') return new Set([v]);
  if (Array.isArray(v)) return new Set(v.filter((x): x is string => typeof x === 'string'));
  return new Set();
}

/**
 * Map an ID token's claims to a console identity: the first configured claim value (in the order of
 * `roles`) the user holds gives the role; a bank analyst's bank comes from `bankClaim` (a party id), else
 * `defaultBank`.
 */
export function mapOidcClaims(
  config: ConsoleOidcConfig,
  claims: Readonly<Record<string, unknown>>,
): { ok: true; identity: OidcIdentity } | { ok: false; reason: 'no_role' | 'no_bank' } {
  const held = claimValues(claimAt(claims, config.roleClaim));
  const match = Object.entries(config.roles).find(([value]) => held.has(value));
  if (match === undefined) return { ok: false, reason: 'no_role' };
  const role = match[1];
  const sub = String(claims['sub'] ?? '');
  const username = `oidc:${SUB.test(sub) ? sub : createHash('sha256').update(sub).digest('hex').slice(0, 32)}`;
  if (role !== 'bank-analyst') return { ok: true, identity: { username, role } };
  const claimed = claimAt(claims, config.bankClaim);
  const bank = typeof claimed === 'string' ? claimed : config.defaultBank;
  if (bank === undefined || !PARTY_ID_PATTERN.test(bank)) return { ok: false, reason: 'no_bank' };
  return { ok: true, identity: { username, role, bank } };
}

export class ConsoleOidc {
  readonly config: ConsoleOidcConfig;
  readonly #secret: string;
  readonly #fetch: OidcFetch | undefined;
  readonly #pendingMs: number;
  readonly #now: () => number;
  readonly #pending = new Map<string, Pending>();
  #discovered: Promise<client.Configuration> | undefined;

  /** Reads the client secret now (a missing secret fails at start); discovery waits for the first login. */
  constructor(config: ConsoleOidcConfig, options: ConsoleOidcOptions = {}) {
    this.config = config;
    this.#secret = readOidcClientSecret(config, options.env);
    this.#fetch = options.fetch;
    this.#pendingMs = (options.pendingSeconds ?? 600) * 1000;
    this.#now = options.now ?? Date.now;
  }

  get name(): string {
    return this.config.name;
  }

  #configuration(): Promise<client.Configuration> {
    if (this.#discovered === undefined) {
      const issuer = new URL(this.config.issuer);
      const insecure = issuer.protocol === 'http:';
      const p = client
        .discovery(
          issuer,
          this.config.clientId,
          { redirect_uris: [this.config.redirectUri] },
          // client_secret_basic: the default method of OIDC Dynamic Client Registration 1.0 section 2.
          client.ClientSecretBasic(this.#secret),
          {
            execute: [client.enableNonRepudiationChecks, ...(insecure ? [client.allowInsecureRequests] : [])],
            ...(this.#fetch !== undefined && { [client.customFetch]: this.#fetch }),
          },
        )
        .then((c) => {
          // Discovery's own fetch went through the option; later requests need it on the configuration.
          if (this.#fetch !== undefined) c[client.customFetch] = this.#fetch;
          return c;
        });
      // A provider that is down now is asked again at the next login.
      p.catch(() => {
        if (this.#discovered === p) this.#discovered = undefined;
      });
      this.#discovered = p;
    }
    return this.#discovered.then((c) => c);
  }

  /** Start a login: the provider's authorization URL and the pending login's id (for a cookie). */
  async begin(): Promise<{ url: string; pendingId: string }> {
    let config: client.Configuration;
    try {
      config = await this.#configuration();
    } catch (e) {
      throw new FedscoreError('io', 'the OIDC provider did not answer its discovery', {
        field: 'console.oidc.issuer',
        cause: e,
      });
    }
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: this.config.redirectUri,
      response_type: 'code',
      scope: ['openid', ...this.config.scopes.filter((s) => s !== 'openid')].join(' '),
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const t = this.#now();
    if (this.#pending.size >= MAX_PENDING) {
      for (const [k, v] of this.#pending) if (v.expires <= t) this.#pending.delete(k);
      // Still full: drop the oldest (insertion order) rather than refuse every new login.
      while (this.#pending.size >= MAX_PENDING) this.#pending.delete(this.#pending.keys().next().value!);
    }
    const pendingId = randomBytes(32).toString('base64url');
    this.#pending.set(pendingId, { state, nonce, verifier, expires: t + this.#pendingMs });
    return { url: url.href, pendingId };
  }

  /** Finish a login at the callback: `query` is the callback's query string. */
  async finish(pendingId: string | undefined, query: URLSearchParams): Promise<OidcOutcome> {
    const pending = pendingId === undefined ? undefined : this.#pending.get(pendingId);
    if (pendingId !== undefined) this.#pending.delete(pendingId);
    if (pending === undefined || pending.expires <= this.#now()) return { ok: false, reason: 'pending' };
    const state = query.get('state');
    if (state === null || state !== pending.state) return { ok: false, reason: 'state' };
    if (query.has('error'))
      return { ok: false, reason: 'denied', detail: (query.get('error') ?? '').slice(0, 64) };
    let claims: Record<string, unknown> | undefined;
    let idToken: string | undefined;
    try {
      const config = await this.#configuration();
      const current = new URL(this.config.redirectUri);
      current.search = query.toString();
      const tokens = await client.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: pending.verifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims() as Record<string, unknown> | undefined;
      idToken = tokens.id_token;
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      return { ok: false, reason: 'token', detail: typeof code === 'string' ? code : 'invalid' };
    }
    if (claims === undefined) return { ok: false, reason: 'token', detail: 'no_id_token' };
    const out = mapOidcClaims(this.config, claims);
    return out.ok && idToken !== undefined ? { ...out, idToken } : out;
  }

  /**
   * The provider's end-session URL for a user signing out of the console (OpenID Connect RP-Initiated
   * Logout 1.0): `id_token_hint` (the session's ID token, when this process still holds it), `client_id`,
   * and `post_logout_redirect_uri` when configured. Undefined when the provider publishes no
   * `end_session_endpoint` or does not answer its discovery: the console session is ended either way.
   */
  async endSessionUrl(idToken?: string): Promise<string | undefined> {
    let config: client.Configuration;
    try {
      config = await this.#configuration();
    } catch {
      return undefined;
    }
    if (config.serverMetadata().end_session_endpoint === undefined) return undefined;
    const params: Record<string, string> = { client_id: this.config.clientId };
    if (idToken !== undefined) params['id_token_hint'] = idToken;
    if (this.config.postLogoutRedirectUri !== undefined) {
      params['post_logout_redirect_uri'] = this.config.postLogoutRedirectUri;
    }
    return client.buildEndSessionUrl(config, params).href;
  }
}
