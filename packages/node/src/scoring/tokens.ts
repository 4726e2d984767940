/**
 * API tokens of the scoring API. A token is 256 random bits (`fsk_` + base64url); the node keeps only
 * its SHA-256 (config `scoring.api.tokens: [{ id, sha256 }]`), so a leaked config or backup does not
 * let anyone call the API. A fast hash is enough here: the tokens are uniformly random, so there is
 * nothing to guess by dictionary (a password would need a slow KDF; these are not passwords).
 *
 * Lookup is by the hash of the presented token: the time of a map lookup depends on the hash, which an
 * attacker cannot steer towards a stored hash without a SHA-256 preimage, so it leaks nothing useful.
 */
import { createHash, randomBytes } from 'node:crypto';
import { FedscoreError } from '@fedscore/core';

export const API_TOKEN_PREFIX = 'fsk_';
const TOKEN = /^fsk_[A-Za-z0-9_-]{43}$/;
export const TOKEN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface ApiTokenEntry {
  /** Who holds the token (e.g. 'risk-engine-1'); recorded in the audit log, never the token. */
  readonly id: string;
  /** SHA-256 of the token, 64 lowercase hex digits. */
  readonly sha256: string;
}

export function apiTokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A new token for `id` and the entry to put in the node config (the token is shown once, never stored). */
export function createApiToken(id: string): { token: string; entry: ApiTokenEntry } {
  if (!TOKEN_ID_PATTERN.test(id)) {
    throw new FedscoreError('invalid_argument', 'a token id is 1-64 of A-Z a-z 0-9 . _ -', { field: 'id' });
  }
  const token = `${API_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { token, entry: { id, sha256: apiTokenHash(token) } };
}

/** The configured tokens; `authenticate` returns the holder's id or undefined. */
export class ApiTokens {
  readonly #byHash = new Map<string, string>();

  constructor(entries: readonly ApiTokenEntry[]) {
    entries.forEach((e, i) => {
      if (!TOKEN_ID_PATTERN.test(e.id)) {
        throw new FedscoreError('invalid_config', 'a token id is 1-64 of A-Z a-z 0-9 . _ -', {
          field: `scoring.api.tokens[${i}].id`,
        });
      }
      if (!/^[0-9a-f]{64}$/.test(e.sha256)) {
        throw new FedscoreError(
          'invalid_config',
          'expected the SHA-256 of the token, 64 lowercase hex digits',
          {
            field: `scoring.api.tokens[${i}].sha256`,
          },
        );
      }
      this.#byHash.set(e.sha256, e.id);
    });
  }

  get size(): number {
    return this.#byHash.size;
  }

  /** From an `Authorization` header value (`Bearer fsk_...`). */
  authenticate(header: string | undefined): string | undefined {
    if (header === undefined) return undefined;
    const m = /^Bearer[ ]+(\S+)$/i.exec(header.trim());
    if (m === null || !TOKEN.test(m[1]!)) return undefined;
    return this.#byHash.get(apiTokenHash(m[1]!));
  }
}
