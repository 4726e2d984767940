/**
 * The settings of a 'secureboost' job kind in a job spec (spec.ts): a module of its own so that spec.ts
 * and secureboost.ts import it without importing one another. The HE scheme and its parameters are the
 * spec's `train` block (`scheme`, `ckksPreset`, `paillierBits`); `secureboost` holds vfl's
 * `SecureBoostHyperparams` as given. Which fields exist and what values they take are vfl's rules
 * (`resolveSecureBoost`), read at validation: a field vfl adds to its hyperparameters is accepted here
 * without a change, a field vfl does not know is refused (a typo is never silently ignored).
 */
import { FedscoreError } from '@fedscore/core';
import { SECUREBOOST_MODEL } from '@fedscore/pipeline';
import { resolveSecureBoost, type SecureBoostHyperparams } from '@fedscore/vfl';
import { z } from 'zod';

export const SECUREBOOST_JOB_KIND = SECUREBOOST_MODEL;

/** A 'secureboost' job's hyperparameters: a JSON object checked against vfl's own rules. */
export const secureBoostJobSchema = z
  .record(z.string(), z.unknown())
  .transform((v) => v as SecureBoostHyperparams);

/** The first problem of `settings` by vfl's rules (an unknown field or a value out of range), if any. */
export function secureBoostSettingsIssue(
  settings: SecureBoostHyperparams,
): { path: string[]; message: string } | undefined {
  const known = new Set(Object.keys(resolveSecureBoost()));
  const unknown = Object.keys(settings).find((k) => !known.has(k));
  if (unknown !== undefined) {
    return {
      path: [unknown],
      message: `unknown SecureBoost hyperparameter (known: ${[...known].join(', ')})`,
    };
  }
  try {
    resolveSecureBoost(settings);
    return undefined;
  } catch (e) {
    if (!(e instanceof FedscoreError)) throw e;
    return { path: e.field === undefined ? [] : [e.field], message: e.message };
  }
}
