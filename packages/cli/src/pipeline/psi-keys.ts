/**
 * The keys PSI aligns on. fedscore's PSI (packages/psi) takes Unified Social Credit Codes: it normalizes
 * and validates each one (GB 32100) before hashing it to the group. Enterprise data keyed by USCC goes in
 * as is. Data keyed by anything else (the public benchmark sets use row numbers) goes in through a
 * public pseudonym: every party maps each of its ids, locally and identically, to an 18-character code
 * of the USCC form, and PSI aligns those.
 *
 * The pseudonym of id x: SHA-256("fedscore/psi-opaque-id/v1" || 0x00 || UTF-8(x)) chooses positions 1-2
 * (any of the 31 USCC characters), 3-8 (digits) and 9-17 (USCC characters; the GB 11714
 * organization-code check is therefore switched off for such keys), and position 18 is the GB 32100
 * MOD 31 check character, so every pseudonym validates. That is 31^11 x 10^6 = 2.5e22 codes: among a
 * million ids a collision has probability ~2e-11, and one is detected and refused, never merged.
 *
 * Privacy: the mapping is public and deterministic, so it hides nothing by itself, exactly like a raw
 * USCC; what PSI reveals is unchanged (the intersection, and the set sizes).
 */
import { createHash } from 'node:crypto';
import { FedscoreError, normalizeUscc, USCC_ALPHABET, USCC_LENGTH, validateUscc } from '@fedscore/core';

/** 'uscc': ids are USCCs; 'opaque': ids of any other form, aligned through their pseudonyms. */
export type PsiIdKind = 'uscc' | 'opaque';

export const OPAQUE_ID_DOMAIN = 'fedscore/psi-opaque-id/v1';

export interface PsiKeys {
  readonly kind: PsiIdKind;
  /** One key per input id, in input order. */
  readonly keys: string[];
  /** Whether PSI should check the GB 11714 organization-code character (false for pseudonyms). */
  readonly orgCheck: boolean;
}

/** True when every id is a valid USCC (after normalization), the GB 11714 check included. */
export function allUscc(ids: readonly string[]): boolean {
  for (const id of ids) if (!validateUscc(normalizeUscc(id)).ok) return false;
  return ids.length > 0;
}

/** GB 32100 overall check character of a 17-character body (weights 3^(i-1) mod 31). */
export function usccCheckCharacter(body: string): string {
  if (body.length !== USCC_LENGTH - 1) {
    throw new FedscoreError('internal', `a USCC body has ${USCC_LENGTH - 1} characters`, { field: 'body' });
  }
  let sum = 0;
  let weight = 1;
  for (let i = 0; i < body.length; i++) {
    const v = USCC_ALPHABET.indexOf(body[i]!);
    if (v < 0) throw new FedscoreError('internal', 'not a USCC character', { field: 'body' });
    sum += v * weight;
    weight = (weight * 3) % 31;
  }
  const c = 31 - (sum % 31);
  return USCC_ALPHABET[c === 31 ? 0 : c]!;
}

/** The public pseudonym of one id (see the file comment). */
export function opaqueIdKey(id: string): string {
  const h = createHash('sha256')
    .update(OPAQUE_ID_DOMAIN)
    .update(new Uint8Array([0]))
    .update(id, 'utf8')
    .digest();
  // 17 body characters from 17 little-endian 16-bit words of the digest (bias below 31/65536).
  let body = '';
  for (let i = 0; i < 17; i++) {
    const w = h[2 * i]! | (h[2 * i + 1]! << 8);
    body += i >= 2 && i < 8 ? String(w % 10) : USCC_ALPHABET[w % 31]!;
  }
  return body + usccCheckCharacter(body);
}

/**
 * The PSI keys of one party's ids, for a kind all parties agreed on (`psiIdKind` of their id sets). A
 * pseudonym collision between two distinct ids is a `duplicate_id` error (never a silent merge).
 */
export function psiKeys(ids: readonly string[], kind: PsiIdKind, file?: string): PsiKeys {
  if (kind === 'uscc') return { kind, keys: ids.slice(), orgCheck: true };
  const keys = ids.map(opaqueIdKey);
  const owner = new Map<string, string>();
  keys.forEach((k, row) => {
    const prev = owner.get(k);
    if (prev !== undefined && prev !== ids[row]) {
      throw new FedscoreError('duplicate_id', 'two distinct ids share a PSI pseudonym (probability ~1e-22)', {
        field: 'id',
        line: row + 2,
        ...(file !== undefined && { file }),
      });
    }
    owner.set(k, ids[row]!);
  });
  return { kind, keys, orgCheck: false };
}

/** The kind every party uses: 'uscc' when every party's ids are valid USCCs, else 'opaque'. */
export function psiIdKind(idSets: readonly (readonly string[])[]): PsiIdKind {
  return idSets.every(allUscc) ? 'uscc' : 'opaque';
}
