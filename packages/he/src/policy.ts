/**
 * What a party accepts from HE bytes another party sent, and how it says so when it accepts something
 * weak. The receiver decides: the sender's `insecure` flag and scheme byte are checked against the
 * receiver's own options and plan, never believed (issue 11, finding 8: a Paillier blob flagged
 * insecure by its sender loaded with a 256-bit modulus anyone can factor). Two separate opt-ins:
 *
 * - `allowWeakParameters`: CKKS parameters beyond the 128-bit HomomorphicEncryption.org bound, a
 *   Paillier modulus below 2048 bits (NIST SP 800-57 Part 1, Table 2: 112-bit security);
 * - `allowPlaintextScheme`: scheme 'none', which encrypts nothing (protocol debugging).
 *
 * Accepting either always warns: through the caller's logger when one is given, otherwise through
 * `process.emitWarning` (once per process and message: stderr, never stdout), so a weak setting cannot
 * pass silently in a library call without a logger.
 */
import type { Logger } from '@fedscore/core';
import type { HeLoadOptions } from './types.ts';

export interface HePolicy {
  readonly allowWeakParameters: boolean;
  readonly allowPlaintextScheme: boolean;
  readonly logger: Logger | undefined;
}

/** The two opt-ins of `options` (`insecure`, deprecated, means `allowWeakParameters` only). */
export function hePolicy(options: HeLoadOptions | undefined): HePolicy {
  return {
    allowWeakParameters: options?.allowWeakParameters === true || options?.insecure === true,
    allowPlaintextScheme: options?.allowPlaintextScheme === true,
    logger: options?.logger,
  };
}

const emitted = new Set<string>();

/** Warn that weak parameters or the plaintext scheme are in use (no values, keys or data in `fields`). */
export function warnWeak(
  logger: Logger | undefined,
  message: string,
  fields: Readonly<Record<string, string | number | boolean>>,
): void {
  if (logger !== undefined) {
    logger.warn(message, fields);
    return;
  }
  const text = `${message} (${Object.entries(fields)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ')})`;
  if (emitted.has(text)) return;
  emitted.add(text);
  process.emitWarning(text, { code: 'FEDSCORE_HE_INSECURE' });
}
