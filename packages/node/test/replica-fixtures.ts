/**
 * What the node's resume, cancel and replica tests share (jobs.test.ts, jobs-cancel.test.ts,
 * jobs-replica.test.ts, lease-route.test.ts, replica-kill.test.ts,
 * attacks/stale-coordinator.attack.test.ts): the credit-line hetero-LR job they run (bank = guest and
 * coordinator, government = host, arbiter; binning off), the training consents the government grants
 * before it, and the float64 bytes their bit-for-bit model comparisons are made on. How each test starts
 * its nodes, and what it interrupts, stays in the test.
 */
import { readCsvFile } from '@fedscore/core/node';
import { ID_COLUMN } from '@fedscore/datasets';
import type { JobSpecInput, PartyNode, TrainCheckpoint } from '@fedscore/node';
import { trainingConsents } from '@fedscore/node/testing';

type Train = NonNullable<JobSpecInput['train']>;

/**
 * Exact arithmetic (scheme 'none'), 4 epochs. Batch 80: the batch-size floor is 2 x the government's ~34
 * one-hot columns (vfl `minBatchRows`).
 */
export const EXACT_TRAIN = { scheme: 'none', maxEpochs: 4, batchSize: 80 } as const satisfies Train;

/**
 * The credit-line job `id` over the bank's `loans` and the government's `credit` data sets, with the
 * plaintext scheme allowed (every node of these tests opts in too). Default: seed 7 and `EXACT_TRAIN`.
 */
export function creditLineJob(
  id: string,
  options: { readonly train?: Train; readonly seed?: number } = {},
): JobSpecInput & { id: string } {
  return {
    id,
    guest: 'bank',
    hosts: ['government'],
    arbiter: 'arbiter',
    data: { bank: 'loans', government: 'credit' },
    seed: options.seed ?? 7,
    allowPlaintextScheme: true,
    binning: { enabled: false },
    train: options.train ?? EXACT_TRAIN,
  };
}

/**
 * A trained model's weights and intercept as the hex of their float64 bytes: equal strings mean a
 * bit-identical model (tolerance 0).
 */
export function modelHex(t: TrainCheckpoint): string {
  return Buffer.from(Float64Array.from([...t.model!.weights, t.model!.intercept]).buffer).toString('hex');
}

/**
 * The government grants the bank a training consent for every enterprise in its CSV `governmentCsv`,
 * unless its store already holds consents (a node restarted on the same state or schema).
 */
export async function grantTrainingConsents(government: PartyNode, governmentCsv: string): Promise<void> {
  if (government.consents.list().length > 0) return;
  const t = await readCsvFile(governmentCsv, { idColumn: ID_COLUMN, impute: 'keep' });
  government.consents.grantAll(trainingConsents(t.ids, 'bank'));
}
