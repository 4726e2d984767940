/**
 * What a node accepts in a job, decided by its own config (`accept`), never by the job: a guest's
 * `insecure: true` only says that the guest is willing to run insecurely; each party's node decides for
 * itself whether its data may travel under the plaintext scheme or under parameters below 128-bit
 * security. Checked when a job is submitted (the guest's node), when it is offered and before each stage
 * attempt is prepared (every other party), so a config tightened between attempts stops the job too.
 *
 * Schemes, as the job uses them: the binning stage's `binning.scheme` (when binning is on) and the train
 * stage's `train.scheme`. `none` sends labels (binning) and partial predictions and gradients (training)
 * in plaintext. Weak parameters: a job with `insecure: true` that uses an HE scheme lets the HE libraries
 * accept sub-128-bit parameters from a peer (HomomorphicEncryption.org security standard, Albrecht et al.
 * 2018, for CKKS; NIST SP 800-57 Part 1 for the Paillier modulus), as does an explicit Paillier modulus
 * below `PAILLIER_MIN_SECURE_BITS`.
 */
import { FedscoreError } from '@fedscore/core';
import { PAILLIER_MIN_SECURE_BITS } from '@fedscore/he';
import type { JobSpec } from './spec.ts';

export type AcceptedScheme = 'ckks' | 'paillier';

/** A node's `accept` config. */
export interface AcceptPolicy {
  readonly schemes: readonly AcceptedScheme[];
  readonly plaintextScheme: boolean;
  readonly weakParameters: boolean;
}

/** The default: secure HE schemes only. */
export const SECURE_ONLY: AcceptPolicy = {
  schemes: ['ckks', 'paillier'],
  plaintextScheme: false,
  weakParameters: false,
};

type PolicySpec = Pick<JobSpec, 'binning' | 'train' | 'insecure'> &
  Partial<Pick<JobSpec, 'kind' | 'hfl'>> & { readonly id?: string | undefined };

/** Throws `policy` naming the config field that refuses `spec`; returns when the node accepts it. */
export function checkJobPolicy(spec: PolicySpec, policy: AcceptPolicy, party: string): void {
  const job = spec.id === undefined ? 'the job' : `job '${spec.id}'`;
  if (spec.kind === 'hfl') {
    // An HFL job uses no HE; without secure aggregation the coordinator sees each bank's update.
    if (spec.hfl?.secureAgg === false && !policy.plaintextScheme) {
      throw new FedscoreError(
        'policy',
        `${job} aggregates without secure aggregation (each bank's update in the clear to the coordinator); ${party} does not accept plaintext (its config accept.plaintextScheme is false)`,
        { field: 'accept.plaintextScheme', details: { stage: 'train', secureAgg: false } },
      );
    }
    return;
  }
  const uses: { stage: 'binning' | 'train'; scheme: 'ckks' | 'paillier' | 'none' }[] = [
    // Only hetero-LR runs the binning stage (SecureBoost bins inside its own protocol).
    ...(spec.binning.enabled && (spec.kind ?? 'hetero-lr') === 'hetero-lr'
      ? [{ stage: 'binning' as const, scheme: spec.binning.scheme }]
      : []),
    { stage: 'train', scheme: spec.train.scheme },
  ];
  for (const u of uses) {
    if (u.scheme === 'none') {
      if (!policy.plaintextScheme) {
        throw new FedscoreError(
          'policy',
          `${job} runs ${u.stage} with scheme 'none' (${u.stage === 'binning' ? 'labels' : 'partial predictions and gradients'} in plaintext); ${party} does not accept the plaintext scheme (its config accept.plaintextScheme is false)`,
          { field: 'accept.plaintextScheme', details: { stage: u.stage, scheme: u.scheme } },
        );
      }
    } else if (!policy.schemes.includes(u.scheme)) {
      throw new FedscoreError(
        'policy',
        `${job} runs ${u.stage} with scheme '${u.scheme}'; ${party} accepts ${policy.schemes.join(', ') || 'no HE scheme'} (accept.schemes)`,
        { field: 'accept.schemes', details: { stage: u.stage, scheme: u.scheme } },
      );
    }
  }
  if (policy.weakParameters) return;
  const he = uses.find((u) => u.scheme !== 'none');
  if (spec.insecure && he !== undefined) {
    throw new FedscoreError(
      'policy',
      `${job} sets insecure: true with scheme '${he.scheme}', which lets HE parameters below 128-bit security through; ${party} does not accept weak parameters (its config accept.weakParameters is false)`,
      { field: 'accept.weakParameters', details: { stage: he.stage, scheme: he.scheme } },
    );
  }
  const bits = spec.train.paillierBits;
  if (spec.train.scheme === 'paillier' && bits !== undefined && bits < PAILLIER_MIN_SECURE_BITS) {
    throw new FedscoreError(
      'policy',
      `${job} asks for a ${bits}-bit Paillier modulus (below ${PAILLIER_MIN_SECURE_BITS}); ${party} does not accept weak parameters (accept.weakParameters)`,
      { field: 'accept.weakParameters', details: { stage: 'train', scheme: 'paillier' } },
    );
  }
}
