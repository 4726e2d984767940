/**
 * Local accounts and sessions of the console, in the node's store (tables `console_accounts`,
 * `console_sessions`).
 *
 * Passwords: scrypt (RFC 7914) from node:crypto with a random 16-byte salt, N = 2^17, r = 8, p = 1 -- the
 * OWASP Password Storage Cheat Sheet's minimum for scrypt -- stored as
 * `scrypt$<log2 N>$<r>$<p>$<salt b64>$<hash b64>` so the cost can be raised later without breaking old
 * hashes. Verification is constant-time (`timingSafeEqual`), and an unknown user costs one scrypt too
 * (against a dummy hash), so timing does not tell which accounts exist.
 *
 * Lockout: `maxFailedLogins` wrong passwords in a row lock the account for `lockoutSeconds` (a correct
 * password during the lock is refused as well); a success resets the count.
 *
 * Sessions: the session id is 256 random bits given to the browser once (cookie); the store keeps only its
 * SHA-256, so a copy of the store does not hold a live session. Each session has its own CSRF token
 * (256 random bits). A session ends after `idleMinutes` without a request, `maxSessionHours` after its
 * login, at logout, and when its account is removed or its password changes.
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { FedscoreError } from '@fedscore/core';
import type { NodeStore, StoreMigrations } from '../store/index.ts';
import { PARTY_ID_PATTERN } from '../transport/certs.ts';

export const CONSOLE_ROLES = ['platform-operator', 'bank-analyst', 'auditor'] as const;
/**
 * platform-operator: every page and every bank; bank-analyst: its own bank's jobs, models, indicators,
 * samples and usage; auditor: read-only audit log, consent and usage.
 */
export type ConsoleRole = (typeof CONSOLE_ROLES)[number];

export const CONSOLE_MIGRATIONS: StoreMigrations = {
  module: 'console',
  steps: [
    `CREATE TABLE console_accounts (
       username TEXT PRIMARY KEY,
       role TEXT NOT NULL,
       bank TEXT,
       password_hash TEXT NOT NULL,
       failed_logins INTEGER NOT NULL DEFAULT 0,
       locked_until INTEGER NOT NULL DEFAULT 0,
       created_at INTEGER NOT NULL,
       password_changed_at INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE console_sessions (
       id_sha256 TEXT PRIMARY KEY,
       username TEXT NOT NULL REFERENCES console_accounts(username) ON DELETE CASCADE,
       csrf TEXT NOT NULL,
       created_at INTEGER NOT NULL,
       last_seen INTEGER NOT NULL
     ) STRICT;`,
  ],
};

/** scrypt cost: log2 of N, block size r, parallelism p. */
export interface ScryptCost {
  readonly logN: number;
  readonly r: number;
  readonly p: number;
}

/** OWASP Password Storage Cheat Sheet: scrypt N = 2^17, r = 8, p = 1 (128 MiB). */
export const DEFAULT_SCRYPT_COST: ScryptCost = { logN: 17, r: 8, p: 1 };

const USERNAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const MIN_PASSWORD = 12;
const MAX_PASSWORD = 1024;

export interface ConsoleAccount {
  readonly username: string;
  readonly role: ConsoleRole;
  /** The bank of a bank analyst (a party id); absent for the other roles. */
  readonly bank?: string;
  readonly createdAt: number;
}

export interface ConsoleSession {
  readonly account: ConsoleAccount;
  readonly csrf: string;
  readonly createdAt: number;
}

export type LoginResult =
  | { readonly ok: true; readonly sessionId: string; readonly session: ConsoleSession }
  | { readonly ok: false; readonly reason: 'bad_credentials' | 'locked' };

export interface ConsoleAccountsOptions {
  readonly cost?: ScryptCost;
  readonly idleMinutes?: number;
  readonly maxSessionHours?: number;
  readonly maxFailedLogins?: number;
  readonly lockoutSeconds?: number;
  readonly now?: () => number;
}

interface AccountRow {
  username: string;
  role: string;
  bank: string | null;
  password_hash: string;
  failed_logins: number;
  locked_until: number;
  created_at: number;
}

function scrypt(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  const N = 2 ** cost.logN;
  return new Promise((resolve, reject) =>
    scryptCb(
      password.normalize('NFC'),
      salt,
      32,
      { N, r: cost.r, p: cost.p, maxmem: 256 * N * cost.r },
      (e, key) => (e ? reject(e) : resolve(key)),
    ),
  );
}

/** Hash a password for storage (`scrypt$...`). */
export async function hashPassword(
  password: string,
  cost: ScryptCost = DEFAULT_SCRYPT_COST,
): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, cost);
  return `scrypt$${cost.logN}$${cost.r}$${cost.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Check a password against a stored hash in constant time; a malformed hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [logN, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![logN, r, p].every((x) => Number.isInteger(x) && x >= 1 && x <= 32)) return false;
  const salt = Buffer.from(parts[4]!, 'base64');
  const expected = Buffer.from(parts[5]!, 'base64');
  if (expected.length !== 32) return false;
  const key = await scrypt(password, salt, { logN, r, p });
  return timingSafeEqual(key, expected);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function toAccount(r: AccountRow): ConsoleAccount {
  return {
    username: r.username,
    role: r.role as ConsoleRole,
    ...(r.bank !== null && { bank: r.bank }),
    createdAt: r.created_at,
  };
}

function checkPassword(password: unknown): string {
  if (typeof password !== 'string' || password.length < MIN_PASSWORD || password.length > MAX_PASSWORD) {
    throw new FedscoreError(
      'invalid_argument',
      `a console password has ${MIN_PASSWORD} to ${MAX_PASSWORD} characters`,
      { field: 'password' },
    );
  }
  return password;
}

export class ConsoleAccounts {
  readonly store: NodeStore;
  readonly #cost: ScryptCost;
  readonly #idleMs: number;
  readonly #maxMs: number;
  readonly #maxFailed: number;
  readonly #lockMs: number;
  readonly #now: () => number;
  /** Verified against for unknown users, so that their logins cost the same time. */
  #dummy: Promise<string> | undefined;

  constructor(store: NodeStore, options: ConsoleAccountsOptions = {}) {
    this.store = store;
    store.migrate(CONSOLE_MIGRATIONS);
    this.#cost = options.cost ?? DEFAULT_SCRYPT_COST;
    this.#idleMs = (options.idleMinutes ?? 30) * 60_000;
    this.#maxMs = (options.maxSessionHours ?? 12) * 3_600_000;
    this.#maxFailed = options.maxFailedLogins ?? 5;
    this.#lockMs = (options.lockoutSeconds ?? 900) * 1000;
    this.#now = options.now ?? Date.now;
  }

  /** Create an account (or replace its password and role with `replace`). Ends its sessions. */
  async create(input: {
    username: string;
    role: ConsoleRole;
    bank?: string;
    password: string;
    replace?: boolean;
  }): Promise<ConsoleAccount> {
    if (typeof input.username !== 'string' || !USERNAME.test(input.username)) {
      throw new FedscoreError('invalid_argument', 'a username is 1-64 of a-z 0-9 . _ - (starting a-z 0-9)', {
        field: 'username',
      });
    }
    if (!(CONSOLE_ROLES as readonly string[]).includes(input.role)) {
      throw new FedscoreError('invalid_argument', `a role is one of ${CONSOLE_ROLES.join(', ')}`, {
        field: 'role',
      });
    }
    if (input.role === 'bank-analyst') {
      if (typeof input.bank !== 'string' || !PARTY_ID_PATTERN.test(input.bank)) {
        throw new FedscoreError('invalid_argument', 'a bank analyst needs the party id of its bank', {
          field: 'bank',
        });
      }
    } else if (input.bank !== undefined) {
      throw new FedscoreError('invalid_argument', `a ${input.role} belongs to no bank`, { field: 'bank' });
    }
    const hash = await hashPassword(checkPassword(input.password), this.#cost);
    const now = this.#now();
    return this.store.transaction(() => {
      const old = this.store.get<AccountRow>(
        'SELECT * FROM console_accounts WHERE username = ?',
        input.username,
      );
      if (old !== undefined && input.replace !== true) {
        throw new FedscoreError('invalid_state', `the console account '${input.username}' exists`, {
          field: 'username',
        });
      }
      this.store.run('DELETE FROM console_sessions WHERE username = ?', input.username);
      this.store.run(
        `INSERT INTO console_accounts (username, role, bank, password_hash, failed_logins, locked_until,
           created_at, password_changed_at) VALUES (?, ?, ?, ?, 0, 0, ?, ?)
         ON CONFLICT(username) DO UPDATE SET role = excluded.role, bank = excluded.bank,
           password_hash = excluded.password_hash, failed_logins = 0, locked_until = 0,
           password_changed_at = excluded.password_changed_at`,
        input.username,
        input.role,
        input.bank ?? null,
        hash,
        old?.created_at ?? now,
        now,
      );
      return this.get(input.username)!;
    });
  }

  get(username: string): ConsoleAccount | undefined {
    const r = this.store.get<AccountRow>('SELECT * FROM console_accounts WHERE username = ?', username);
    return r === undefined ? undefined : toAccount(r);
  }

  list(): ConsoleAccount[] {
    return this.store.all<AccountRow>('SELECT * FROM console_accounts ORDER BY username').map(toAccount);
  }

  /** Remove an account and its sessions. */
  remove(username: string): boolean {
    return this.store.transaction(() => {
      this.store.run('DELETE FROM console_sessions WHERE username = ?', username);
      return this.store.run('DELETE FROM console_accounts WHERE username = ?', username).changes > 0;
    });
  }

  /** Check a username and password; on success open a new session (a fresh id: no fixation). */
  async login(username: unknown, password: unknown): Promise<LoginResult> {
    const name = typeof username === 'string' ? username : '';
    const pass = typeof password === 'string' && password.length <= MAX_PASSWORD ? password : '';
    const row = USERNAME.test(name)
      ? this.store.get<AccountRow>('SELECT * FROM console_accounts WHERE username = ?', name)
      : undefined;
    if (row === undefined) {
      this.#dummy ??= hashPassword('not a password of anyone', this.#cost);
      await verifyPassword(pass, await this.#dummy);
      return { ok: false, reason: 'bad_credentials' };
    }
    const now = this.#now();
    if (row.locked_until > now) return { ok: false, reason: 'locked' };
    const good = await verifyPassword(pass, row.password_hash);
    if (!good) {
      const failed = this.store.transaction(() => {
        const cur = this.store.get<AccountRow>('SELECT * FROM console_accounts WHERE username = ?', name);
        if (cur === undefined) return 0;
        const n = cur.failed_logins + 1;
        const lock = n >= this.#maxFailed ? now + this.#lockMs : cur.locked_until;
        this.store.run(
          'UPDATE console_accounts SET failed_logins = ?, locked_until = ? WHERE username = ?',
          n >= this.#maxFailed ? 0 : n,
          lock,
          name,
        );
        return n;
      });
      return { ok: false, reason: failed >= this.#maxFailed ? 'locked' : 'bad_credentials' };
    }
    const sessionId = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    this.store.transaction(() => {
      this.store.run(
        'UPDATE console_accounts SET failed_logins = 0, locked_until = 0 WHERE username = ?',
        name,
      );
      this.store.run(
        'DELETE FROM console_sessions WHERE last_seen < ? OR created_at < ?',
        now - this.#idleMs,
        now - this.#maxMs,
      );
      this.store.run(
        'INSERT INTO console_sessions (id_sha256, username, csrf, created_at, last_seen) VALUES (?, ?, ?, ?, ?)',
        sha256(sessionId),
        name,
        csrf,
        now,
        now,
      );
    });
    return { ok: true, sessionId, session: { account: toAccount(row), csrf, createdAt: now } };
  }

  /**
   * Open a session for a user an external identity provider vouched for (oidc.ts): the account
   * `oidc:<sub>` is created or updated with the role and bank of this login, holds no password (its hash
   * field never verifies, and password logins refuse a name with ':'), and gets a fresh session id.
   */
  openExternalSession(identity: { username: string; role: ConsoleRole; bank?: string }): {
    sessionId: string;
    session: ConsoleSession;
  } {
    if (!/^oidc:[A-Za-z0-9._@-]{1,64}$/.test(identity.username)) {
      throw new FedscoreError('invalid_argument', 'an external username is oidc:<subject>', {
        field: 'username',
      });
    }
    if (!(CONSOLE_ROLES as readonly string[]).includes(identity.role)) {
      throw new FedscoreError('invalid_argument', `a role is one of ${CONSOLE_ROLES.join(', ')}`, {
        field: 'role',
      });
    }
    if ((identity.role === 'bank-analyst') !== (identity.bank !== undefined)) {
      throw new FedscoreError('invalid_argument', 'a bank analyst, and only one, has a bank', {
        field: 'bank',
      });
    }
    const now = this.#now();
    const sessionId = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    const row = this.store.transaction(() => {
      const old = this.store.get<AccountRow>(
        'SELECT * FROM console_accounts WHERE username = ?',
        identity.username,
      );
      // A changed role or bank ends the sessions of the old one.
      if (old !== undefined && (old.role !== identity.role || old.bank !== (identity.bank ?? null))) {
        this.store.run('DELETE FROM console_sessions WHERE username = ?', identity.username);
      }
      this.store.run(
        `INSERT INTO console_accounts (username, role, bank, password_hash, failed_logins, locked_until,
           created_at, password_changed_at) VALUES (?, ?, ?, 'external', 0, 0, ?, ?)
         ON CONFLICT(username) DO UPDATE SET role = excluded.role, bank = excluded.bank`,
        identity.username,
        identity.role,
        identity.bank ?? null,
        now,
        now,
      );
      this.store.run(
        'DELETE FROM console_sessions WHERE last_seen < ? OR created_at < ?',
        now - this.#idleMs,
        now - this.#maxMs,
      );
      this.store.run(
        'INSERT INTO console_sessions (id_sha256, username, csrf, created_at, last_seen) VALUES (?, ?, ?, ?, ?)',
        sha256(sessionId),
        identity.username,
        csrf,
        now,
        now,
      );
      return this.store.get<AccountRow>(
        'SELECT * FROM console_accounts WHERE username = ?',
        identity.username,
      )!;
    });
    return { sessionId, session: { account: toAccount(row), csrf, createdAt: now } };
  }

  /** The live session of a session id (refreshing its idle timer), or undefined. */
  session(sessionId: string | undefined): ConsoleSession | undefined {
    if (sessionId === undefined || !/^[A-Za-z0-9_-]{43}$/.test(sessionId)) return undefined;
    const id = sha256(sessionId);
    const row = this.store.get<{ username: string; csrf: string; created_at: number; last_seen: number }>(
      'SELECT username, csrf, created_at, last_seen FROM console_sessions WHERE id_sha256 = ?',
      id,
    );
    if (row === undefined) return undefined;
    const now = this.#now();
    if (row.last_seen < now - this.#idleMs || row.created_at < now - this.#maxMs) {
      this.store.run('DELETE FROM console_sessions WHERE id_sha256 = ?', id);
      return undefined;
    }
    const account = this.get(row.username);
    if (account === undefined) return undefined;
    this.store.run('UPDATE console_sessions SET last_seen = ? WHERE id_sha256 = ?', now, id);
    return { account, csrf: row.csrf, createdAt: row.created_at };
  }

  logout(sessionId: string): void {
    this.store.run('DELETE FROM console_sessions WHERE id_sha256 = ?', sha256(sessionId));
  }
}
