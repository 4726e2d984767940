/**
 * `fedscore worker --queue postgres://... --name QUEUE`: a work-distribution worker process. It takes a
 * party's HE batch tasks (hetero-LR packed products, portfolio scoring's per-block scores, the WOE
 * binning's bin sums, SecureBoost's host histograms, PSI's blinding) from the pg-boss queue in the party's
 * PostgreSQL database, evaluates them with the public CKKS context each task carries (or the queue's), and
 * stores each result once under its task id (@fedscore/queue, docs/deploy.md "Work distribution").
 * It never receives a secret key. Runs until SIGINT/SIGTERM (running tasks finish first).
 */
import { FedscoreError } from '@fedscore/core';
import { bool, type Command, num, str } from '../command.ts';
import { connectionStringOf } from '../postgres-url.ts';

export const command: Command = {
  path: ['worker'],
  summary: "run a worker for a party's distributed HE batch tasks (pg-boss on PostgreSQL)",
  description: `
Connects to the party's PostgreSQL database (--queue-env VAR: the URL in that environment variable, where
a password may be; or --queue URL without a password, which would show in ps and shell history: use
PGPASSWORD or ~/.pgpass with it) and evaluates the queue's HE tasks (hetero-LR
packed products, portfolio scoring's per-block scores, WOE binning's bin sums, SecureBoost host
histograms, PSI blinding with its run's ephemeral key) until SIGINT or SIGTERM, each under the public CKKS context it carries (loaded once per job and kept;
a task without one uses the context published for the queue). A hetero-LR batch's encoded diagonals are kept
between tasks under the digest of its columns (--diagonal-cache-mib per context, least recently used
evicted), so the batch's next epoch skips its encodes. It never receives a secret key. A task delivered twice (a worker killed mid-task, a retry) stores one
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
    transfer: {
      type: 'string',
      default: 'copy',
      choices: ['copy', 'base64'],
      placeholder: 'HOW',
      description:
        'how task bytes are read from PostgreSQL: copy (binary COPY) or base64 (text; the earlier path, for a proxy that refuses COPY)',
    },
    'diagonal-cache-mib': {
      type: 'integer',
      default: 1024,
      placeholder: 'MIB',
      description:
        "encoded packed-product diagonals kept per job's context, MiB, least recently used evicted (the node's HE threads keep 1024 each; 0 = encode per task)",
    },
    'allow-weak-parameters': {
      type: 'boolean',
      default: false,
      description: 'accept a context below 128-bit security (tests only)',
    },
  },
  check(o) {
    connectionStringOf(o, 'queue', process.env, true);
    if (num(o, 'diagonal-cache-mib') < 0) {
      throw new FedscoreError('invalid_argument', '--diagonal-cache-mib must be >= 0', {
        field: '--diagonal-cache-mib',
      });
    }
  },
  async run(o, _p, ctx) {
    // As the node config's queue.url: no password on the command line (src/postgres-url.ts).
    const url = connectionStringOf(o, 'queue', process.env, true)!;
    // Loaded here, not at start-up: every other command would pay for pg and pg-boss otherwise.
    const { runHeTaskWorker } = await import('@fedscore/queue');
    // The kinds whose evaluation lives above the queue package (it serves he's kinds itself).
    const { binSumTaskHandler, histogramTaskHandler } = await import('@fedscore/vfl');
    // PSI's blinding needs no CKKS context: each task carries its run's ephemeral scalar (psi offload.ts).
    const { psiTaskHandler } = await import('@fedscore/psi');
    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const worker = await runHeTaskWorker({
      kinds: { binSums: binSumTaskHandler, sbHistogram: histogramTaskHandler },
      plainKinds: { psiHash: psiTaskHandler, psiBlind: psiTaskHandler },
      connectionString: url,
      queue: str(o, 'name'),
      concurrency: num(o, 'concurrency'),
      allowWeakParameters: bool(o, 'allow-weak-parameters'),
      diagonalCacheBytes: num(o, 'diagonal-cache-mib') * 2 ** 20,
      transfer: str(o, 'transfer') as 'copy' | 'base64',
      logger: ctx.logger,
      signal: stop.signal,
    });
    // A line supervisors and tests can wait for, on stderr so --json stdout stays one object.
    process.stderr.write(`fedscore worker ready queue=${str(o, 'name')}\n`);
    await worker.stopped;
    return { queue: str(o, 'name'), handled: worker.handled };
  },
};
