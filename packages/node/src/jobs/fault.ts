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
 * the end of epoch n+1; the ordering above is a host's.) A SecureBoost job's train stage checkpoints
 * trees, not epochs: the same variable then names a tree count, and a host's first report after its
 * tree-n checkpoint is the end of its first level of tree n+1 (its histograms released, its split records
 * not yet sent), so the guest, which checkpoints tree n before starting tree n+1, cannot finish tree n+1:
 * every party resumes from tree n.
 *
 * `FEDSCORE_TEST_STOP_BEFORE_EPOCH=<n>` stops the node with SIGSTOP just before it commits its epoch-<n>
 * (a SecureBoost job: tree-<n>) checkpoint: the process is frozen (timers, sockets, lease renewal) until
 * the test sends SIGCONT, as a VM or long GC pause would freeze it, and the first thing it does when it
 * resumes is that write. The replica tests use it to stall the lease holder past its lease and check
 * that the write is fenced off (packages/node/test/replica-kill.test.ts).
 *
 * `FEDSCORE_TEST_HFL_DROPOUT=<round>:<step>[:kill]` makes a bank of an 'hfl' job drop out of round
 * <round> right after the secure-aggregation step <step> (`shares-sent`: after key agreement and its
 * encrypted shares, before its masked input; `masked-input-sent`: after its masked input, before its
 * unmasking shares). By default it stalls there (its role never goes on; the node still answers control
 * calls, as a hung process would); with `:kill` it SIGKILLs its own process (child-process tests).
 *
 * `FEDSCORE_TEST_IGNORE_LEASE_EPOCH=1` switches off a follower's check of the lease epoch its
 * coordinator's control requests carry (runner.ts `#checkEpoch`): the deliberately weakened
 * configuration of the stale-coordinator attack test (test/attacks/stale-coordinator.attack.test.ts),
 * under which a coordinator replica that lost the job's lease still opens attempts at this party.
 *
 * The variables are honoured only with NODE_ENV=test (the test sets both on the child process): a node
 * started with it otherwise refuses to start (`invalid_config`, field FEDSCORE_TEST_KILL_AFTER_EPOCH),
 * so a stray variable in a deployment stops the node loudly instead of killing it mid-job. An environment
 * variable rather than a config field keeps it out of every config file and schema an operator reads.
 */
import { FedscoreError } from '@fedscore/core';

export const TEST_KILL_AFTER_EPOCH_ENV = 'FEDSCORE_TEST_KILL_AFTER_EPOCH';
export const TEST_HFL_DROPOUT_ENV = 'FEDSCORE_TEST_HFL_DROPOUT';
export const TEST_STOP_BEFORE_EPOCH_ENV = 'FEDSCORE_TEST_STOP_BEFORE_EPOCH';
export const TEST_IGNORE_LEASE_EPOCH_ENV = 'FEDSCORE_TEST_IGNORE_LEASE_EPOCH';

/** Where an 'hfl' bank drops out (`HflSecAggStep` of @fedscore/pipeline). */
export const HFL_DROPOUT_STEPS = ['shares-sent', 'masked-input-sent'] as const;

/** A fault to inject into this node's training stage (tests only). */
export interface TestFault {
  /** Kill this process at the first training progress report after its checkpoint of this epoch. */
  readonly killAfterEpoch?: number;
  /** Stop (SIGSTOP) this process just before it commits this epoch's checkpoint, until SIGCONT. */
  readonly stopBeforeEpoch?: number;
  /** An 'hfl' bank: drop out of this round after this secure-aggregation step, stalled or killed. */
  readonly hflDropout?: {
    readonly round: number;
    readonly step: (typeof HFL_DROPOUT_STEPS)[number];
    readonly how: 'stall' | 'kill';
  };
  /** A follower: accept control requests whatever lease epoch they carry (the weakened configuration). */
  readonly ignoreLeaseEpoch?: boolean;
}

function positive(raw: string, field: string, what: string): number {
  const n = Number(raw);
  if (!/^[1-9][0-9]*$/.test(raw) || !Number.isSafeInteger(n)) {
    throw new FedscoreError('invalid_config', `expected ${what} >= 1, got '${raw}'`, { field });
  }
  return n;
}

/** The test fault the environment asks for, if any; refused unless NODE_ENV=test or malformed. */
export function testFaultFromEnv(env: Readonly<Record<string, string | undefined>>): TestFault | undefined {
  const kill = env[TEST_KILL_AFTER_EPOCH_ENV];
  const drop = env[TEST_HFL_DROPOUT_ENV];
  const stop = env[TEST_STOP_BEFORE_EPOCH_ENV];
  const ignoreEpoch = env[TEST_IGNORE_LEASE_EPOCH_ENV];
  const set = [kill, drop, stop, ignoreEpoch].some((v) => v !== undefined && v !== '');
  if (!set) return undefined;
  if (env['NODE_ENV'] !== 'test') {
    const name =
      kill !== undefined && kill !== ''
        ? TEST_KILL_AFTER_EPOCH_ENV
        : stop !== undefined && stop !== ''
          ? TEST_STOP_BEFORE_EPOCH_ENV
          : drop !== undefined && drop !== ''
            ? TEST_HFL_DROPOUT_ENV
            : TEST_IGNORE_LEASE_EPOCH_ENV;
    throw new FedscoreError(
      'invalid_config',
      `${name} is a test-only fault injection and needs NODE_ENV=test; unset it`,
      { field: name },
    );
  }
  let fault: TestFault = {};
  if (kill !== undefined && kill !== '') {
    fault = { killAfterEpoch: positive(kill, TEST_KILL_AFTER_EPOCH_ENV, 'an epoch number') };
  }
  if (stop !== undefined && stop !== '') {
    fault = { ...fault, stopBeforeEpoch: positive(stop, TEST_STOP_BEFORE_EPOCH_ENV, 'an epoch number') };
  }
  if (ignoreEpoch !== undefined && ignoreEpoch !== '') {
    if (ignoreEpoch !== '1') {
      throw new FedscoreError('invalid_config', `expected 1, got '${ignoreEpoch}'`, {
        field: TEST_IGNORE_LEASE_EPOCH_ENV,
      });
    }
    fault = { ...fault, ignoreLeaseEpoch: true };
  }
  if (drop !== undefined && drop !== '') {
    const [round = '', step = '', how = 'stall', ...rest] = drop.split(':');
    const okStep = (HFL_DROPOUT_STEPS as readonly string[]).includes(step);
    if (!okStep || (how !== 'stall' && how !== 'kill') || rest.length > 0) {
      throw new FedscoreError(
        'invalid_config',
        `expected <round>:<${HFL_DROPOUT_STEPS.join('|')}>[:kill], got '${drop}'`,
        { field: TEST_HFL_DROPOUT_ENV },
      );
    }
    fault = {
      ...fault,
      hflDropout: {
        round: positive(round, TEST_HFL_DROPOUT_ENV, 'a round number'),
        step: step as (typeof HFL_DROPOUT_STEPS)[number],
        how,
      },
    };
  }
  return fault;
}
