/**
 * `fedscore worker --queue postgres://... --name QUEUE`: a work-distribution worker process. It takes a
 * party's HE batch tasks (hetero-LR packed products, portfolio scoring's per-block scores, the WOE
 * binning's bin sums, SecureBoost's host histograms) from the pg-boss queue in the party's
 * PostgreSQL database, evaluates them with the public CKKS context each task carries (or the queue's), and
 * stores each result once under its task id (@fedscore/queue, docs/deploy.md "Work distribution").
 * It never receives a secret key. Runs until SIGINT/SIGTERM (running tasks finish first).
 */
import { FedscoreError } from '@fedscore/core';
import { bool, type Command, num, optStr, type ParsedOptions, str } from '../command.ts';

export const command: Command = {
  path: ['worker'],
  summary: "run a worker for a party's distributed HE batch tasks (pg-boss on PostgreSQL)",
  description: `
Connects to the party's PostgreSQL database (--queue-env VAR: the URL in that environment variable, where
a password may be; or --queue URL without a password, which would show in ps and shell history: use
PGPASSWORD or ~/.pgpass with it) and evaluates the queue's HE tasks (hetero-LR
packed products, portfolio scoring's per-block scores, WOE binning's bin sums, SecureBoost host
histograms) until SIGINT or SIGTERM, each under the public CKKS context it carries (loaded once per job and kept;
a task without one uses the context published for the queue). It never receives a secret key. A task delivered twice (a worker killed mid-task, a retry) stores one
result: results are keyed by the task's id, which ends with the digest of its bytes.

Example:
  FEDSCORE_QUEUE_URL=postgres://fedscore:...@db:5432/bank \\
    fedscore worker --queue-env FEDSCORE_QUEUE_URL --name he-packed-product --concurrency 2`,
  options: {
    queue: {
      type: 'string',
      placeholder: 'URL',
      description:
        "the party's PostgreSQL connection string without a password (postgres://user@host:port/db); or --queue-env",
    },
    'queue-env': {
      type: 'string',
      placeholder: 'VAR',
      description: 'the environment variable holding the connection string (a password may be in it)',
    },
    name: {
      type: 'string',
      default: 'he-packed-product',
      placeholder: 'QUEUE',
      description: 'the queue to serve',
    },
    concurrency: { type: 'integer', default: 1, placeholder: 'N', description: 'tasks run at once' },
    'allow-weak-parameters': {
      type: 'boolean',
      default: false,
      description: 'accept a context below 128-bit security (tests only)',
    },
  },
  check(o) {
    queueUrlOf(o, process.env);
  },
  async run(o, _p, ctx) {
    const url = queueUrlOf(o, process.env);
    // Loaded here, not at start-up: every other command would pay for pg and pg-boss otherwise.
    const { runHeTaskWorker } = await import('@fedscore/queue');
    // The kinds whose evaluation lives above the queue package (it serves he's kinds itself).
    const { binSumTaskHandler, histogramTaskHandler } = await import('@fedscore/vfl');
    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const worker = await runHeTaskWorker({
      kinds: { binSums: binSumTaskHandler, sbHistogram: histogramTaskHandler },
      connectionString: url,
      queue: str(o, 'name'),
      concurrency: num(o, 'concurrency'),
      allowWeakParameters: bool(o, 'allow-weak-parameters'),
      logger: ctx.logger,
      signal: stop.signal,
    });
    // A line supervisors and tests can wait for, on stderr so --json stdout stays one object.
    process.stderr.write(`fedscore worker ready queue=${str(o, 'name')}\n`);
    await worker.stopped;
    return { queue: str(o, 'name'), handled: worker.handled };
  },
};

/**
 * The connection string of `--queue` or `--queue-env` (exactly one). As the node config's `queue.url`, a
 * URL on the command line may not hold a password (ps and shell history show it); the variable
 * `--queue-env` names may. `check` runs it before the command (a usage error, exit 2), `run` again for
 * the URL. No message ever holds the variable's value or a password.
 */
function queueUrlOf(o: ParsedOptions, env: Readonly<Record<string, string | undefined>>): string {
  const flag = optStr(o, 'queue');
  const envName = optStr(o, 'queue-env');
  if ((flag === undefined) === (envName === undefined)) {
    throw new FedscoreError('invalid_argument', 'give either --queue or --queue-env', { field: '--queue' });
  }
  if (flag !== undefined) {
    if (!POSTGRES_URL.test(flag)) {
      throw new FedscoreError('invalid_argument', 'expected a postgres:// connection string', {
        field: '--queue',
      });
    }
    if (passwordIn(flag)) {
      throw new FedscoreError(
        'invalid_argument',
        'no password in --queue (ps and shell history show it): use PGPASSWORD, ~/.pgpass, or --queue-env',
        { field: '--queue' },
      );
    }
    return flag;
  }
  if (!/^[A-Z_][A-Z0-9_]{0,127}$/.test(envName!)) {
    throw new FedscoreError('invalid_argument', 'expected an environment variable name', {
      field: '--queue-env',
    });
  }
  const value = env[envName!];
  if (value === undefined || value === '') {
    throw new FedscoreError('invalid_argument', `--queue-env names ${envName}, which is not set`, {
      field: '--queue-env',
    });
  }
  if (!POSTGRES_URL.test(value)) {
    throw new FedscoreError('invalid_argument', `${envName} does not hold a postgres:// connection string`, {
      field: '--queue-env',
    });
  }
  return value;
}

const POSTGRES_URL = /^postgres(ql)?:\/\/\S+$/;

/** Whether a postgres:// URL carries a password (an unparsable one is refused by pg later, unechoed). */
function passwordIn(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    // Not a WHATWG URL (pg parses more): look for user:password@ before the host.
    return /^postgres(ql)?:\/\/[^/@\s]*:[^/@\s]*@/.test(url);
  }
}
