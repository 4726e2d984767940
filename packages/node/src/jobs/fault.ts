/**
 * Test-only fault injection: a node that kills itself at an exact point of a training run, so the
 * multi-process resume test (packages/node/test/integration.test.ts) does not race a poll of the stores.
 *
 * `FEDSCORE_TEST_KILL_AFTER_EPOCH=<n>` makes the node SIGKILL its own process at the first training
 * progress report after it has committed its epoch-<n> checkpoint. On a host that report is the end of
 * the first batch of epoch n+1, which starts only when the guest's epoch-control message for that epoch
 * arrives, and the guest sends that message only after committing its own epoch-<n> checkpoint; with
 * more than one batch per epoch the guest cannot finish epoch n+1 without the host's later batches. The arbiter
 * commits its epoch-<n> checkpoint right after it releases the validation scores and before its next
 * receive, so the host's death cannot stop that commit either. The next attempt therefore resumes every
 * party from epoch n, deterministically. (On a guest the first report after its epoch-<n> checkpoint is
 * the end of epoch n+1; the ordering above is a host's.)
 *
 * The variable is honoured only with NODE_ENV=test (the test sets both on the child process): a node
 * started with it otherwise refuses to start (`invalid_config`, field FEDSCORE_TEST_KILL_AFTER_EPOCH),
 * so a stray variable in a deployment stops the node loudly instead of killing it mid-job. An environment
 * variable rather than a config field keeps it out of every config file and schema an operator reads.
 */
import { FedscoreError } from '@fedscore/core';

export const TEST_KILL_AFTER_EPOCH_ENV = 'FEDSCORE_TEST_KILL_AFTER_EPOCH';

/** A fault to inject into this node's training stage (tests only). */
export interface TestFault {
  /** Kill this process at the first training progress report after its checkpoint of this epoch. */
  readonly killAfterEpoch: number;
}

/** The test fault the environment asks for, if any; refused unless NODE_ENV=test or malformed. */
export function testFaultFromEnv(env: Readonly<Record<string, string | undefined>>): TestFault | undefined {
  const raw = env[TEST_KILL_AFTER_EPOCH_ENV];
  if (raw === undefined || raw === '') return undefined;
  if (env['NODE_ENV'] !== 'test') {
    throw new FedscoreError(
      'invalid_config',
      `${TEST_KILL_AFTER_EPOCH_ENV} is a test-only fault injection and needs NODE_ENV=test; unset it`,
      { field: TEST_KILL_AFTER_EPOCH_ENV },
    );
  }
  const n = Number(raw);
  if (!/^[1-9][0-9]*$/.test(raw) || !Number.isSafeInteger(n)) {
    throw new FedscoreError('invalid_config', `expected an epoch number >= 1, got '${raw}'`, {
      field: TEST_KILL_AFTER_EPOCH_ENV,
    });
  }
  return { killAfterEpoch: n };
}
