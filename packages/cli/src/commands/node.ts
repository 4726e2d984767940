/**
 * `fedscore node --config party.yaml`: run this party's node until SIGINT/SIGTERM.
 * `fedscore node submit --config bank.yaml --job job.yaml [--wait]`: hand a job to the (guest's) node.
 * `fedscore node status --config party.yaml [--job ID]`: jobs, stages and checkpoints in the node's store.
 * `fedscore node cancel|retry --config bank.yaml --job ID`: cancel a running job, retry a failed or
 *   cancelled one (on its coordinator's node; the running node acts on it within half a second; audited).
 *
 * Submission and status go through the node's store in its state directory (SQLite, safe across
 * processes): only whoever operates the node -- who can read its state directory -- can submit jobs to
 * it; there is no remote submission endpoint to protect.
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { atLevel, FedscoreError, type LogLevel } from '@fedscore/core';
import {
  AuditLog,
  cancelJob,
  ENDED_STATUSES,
  type EvaluateCheckpoint,
  JobStore,
  loadNodeConfig,
  openNodeStore,
  PartyNode,
  type PublishCheckpoint,
  retryJob,
  submitJob,
} from '@fedscore/node';
import { parse as parseYaml } from 'yaml';
import { bool, type Command, type CommandContext, num, optStr, str } from '../command.ts';
import { loadReportAssets } from '../report/html.ts';

const configOption = {
  type: 'string',
  required: true,
  placeholder: 'FILE',
  description: 'the node config (YAML): party, listen, tls, peers, data, stateDir, limits',
} as const;

const runCommand: Command = {
  path: ['node'],
  summary: 'run a party node (gRPC + mutual TLS) until interrupted',
  description: `
Starts this party's node: listens for the other nodes on 'listen', serves /healthz and /metrics on
'http' when set, resumes the jobs it coordinates from its store, and takes part in the jobs other
nodes offer. Stops cleanly on SIGINT or SIGTERM; a job interrupted by a stop or a crash resumes from
its last completed stage when the node is back. See docs/deploy.md.`,
  options: { config: configOption },
  async run(o, _p, ctx) {
    const loaded = loadNodeConfig(resolve(ctx.cwd, str(o, 'config')));
    // --log-level, when given, overrides the config's log.level (the node filters at that level).
    const level = (optStr(o, 'log-level') as LogLevel | undefined) ?? loaded.log.level;
    const config = { ...loaded, log: { level } };
    // The console's model charts are the report's (uPlot and its chart script, from this package).
    const node = await PartyNode.start({
      config,
      logger: ctx.logger,
      progress: ctx.progress,
      consoleCharts: loadReportAssets(),
    });
    ctx.print(
      `node ${config.party}: gRPC on port ${node.grpcPort}${node.httpPort !== undefined ? `, http on port ${node.httpPort}` : ''}; state in ${config.stateDir}`,
    );
    // A line supervisors and tests can wait for, on stderr so --json stdout stays one object.
    process.stderr.write(
      `fedscore node ready party=${config.party} grpc=${node.grpcPort} http=${node.httpPort ?? ''} scoring=${node.scoringApiPort ?? ''}\n`,
    );
    const signal = await new Promise<string>((r) => {
      process.once('SIGINT', () => r('SIGINT'));
      process.once('SIGTERM', () => r('SIGTERM'));
    });
    await node.stop();
    return { party: config.party, stopped: signal };
  },
};

function readJob(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new FedscoreError('io', `cannot read the job file (${(e as NodeJS.ErrnoException).code})`, {
      file,
      field: '--job',
      cause: e,
    });
  }
  try {
    return parseYaml(text);
  } catch (e) {
    throw new FedscoreError('invalid_config', `not valid YAML (${(e as Error).message.split('\n')[0]})`, {
      file,
      cause: e,
    });
  }
}

async function waitForJob(jobs: JobStore, id: string, timeoutS: number, ctx: CommandContext): Promise<void> {
  const t0 = Date.now();
  let last = '';
  for (;;) {
    const j = jobs.require(id);
    const where = `${j.status} ${j.stage ?? ''} attempt ${j.attempt}`;
    if (where !== last) {
      ctx.logger.info('job', { job: id, status: j.status, stage: j.stage ?? undefined, attempt: j.attempt });
      last = where;
    }
    if (ENDED_STATUSES.has(j.status)) return;
    if (Date.now() - t0 > timeoutS * 1000) {
      throw new FedscoreError('timeout', `job '${id}' is still ${j.status} after ${timeoutS} s`, {
        field: '--timeout',
      });
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

function jobReport(jobs: JobStore, id: string): Record<string, unknown> {
  const j = jobs.require(id);
  const ev = jobs.checkpoint<EvaluateCheckpoint>(id, 'evaluate')?.output;
  const pub = jobs.checkpoint<PublishCheckpoint>(id, 'publish')?.output;
  return {
    job: id,
    status: j.status,
    stage: j.stage,
    attempt: j.attempt,
    ...(j.error !== undefined && { error: j.error }),
    ...(ev !== undefined && { test: ev }),
    ...(pub !== undefined && { files: pub.files }),
    attemptsFailed: jobs.events(id).filter((e) => e.kind === 'attempt_failed').length,
  };
}

const submitCommand: Command = {
  path: ['node', 'submit'],
  summary: "submit a job (YAML) to this node's store; the running node starts it",
  description: `
The node must be the job's guest (the label holder, which coordinates). The running node picks the job
up within a second and offers it to the other parties. With --wait, waits for it to finish and prints
the evaluation and where the models were written.`,
  options: {
    config: configOption,
    job: { type: 'string', required: true, placeholder: 'FILE', description: 'the job spec (YAML or JSON)' },
    wait: { type: 'boolean', default: false, description: 'wait until the job is done or failed' },
    timeout: { type: 'integer', default: 3600, description: 'seconds to wait with --wait' },
  },
  async run(o, _p, ctx) {
    const config = loadNodeConfig(resolve(ctx.cwd, str(o, 'config')));
    const jobFile = resolve(ctx.cwd, str(o, 'job'));
    const store = openNodeStore(config);
    try {
      const jobs = new JobStore(store);
      // This node's own policy (config accept) refuses an insecure job before it is recorded.
      const rec = submitJob(jobs, config.party, readJob(jobFile), jobFile, config.accept);
      ctx.print(`submitted job ${rec.id} to ${config.party}`);
      if (!bool(o, 'wait')) return { job: rec.id, status: rec.status };
      await waitForJob(jobs, rec.id, num(o, 'timeout'), ctx);
      const report = jobReport(jobs, rec.id);
      ctx.print(JSON.stringify(report, null, 2));
      if (report['status'] === 'failed') {
        const e = report['error'] as { code: string; message: string };
        throw new FedscoreError('job_state', `job ${rec.id} failed: [${e.code}] ${e.message}`, {
          field: 'job',
        });
      }
      if (report['status'] === 'cancelled') {
        throw new FedscoreError('job_state', `job ${rec.id} was cancelled (fedscore node retry resumes it)`, {
          field: 'job',
        });
      }
      return report;
    } finally {
      store.close();
    }
  },
};

const statusCommand: Command = {
  path: ['node', 'status'],
  summary: "jobs in this node's store (one job with --job: stages, attempts, results)",
  options: {
    config: configOption,
    job: { type: 'string', placeholder: 'ID', description: 'one job' },
  },
  async run(o, _p, ctx) {
    const config = loadNodeConfig(resolve(ctx.cwd, str(o, 'config')));
    const store = openNodeStore(config);
    try {
      const jobs = new JobStore(store);
      const id = optStr(o, 'job');
      if (id !== undefined) {
        const report = { ...jobReport(jobs, id), events: jobs.events(id) };
        ctx.print(JSON.stringify(report, null, 2));
        return report;
      }
      const list = jobs.list().map((j) => ({
        job: j.id,
        coordinator: j.coordinator,
        status: j.status,
        stage: j.stage,
        attempt: j.attempt,
      }));
      for (const j of list)
        ctx.print(
          `${j.job}  ${j.status.padEnd(9)} ${j.stage ?? '-'} (attempt ${j.attempt}) coordinator ${j.coordinator}`,
        );
      return { party: config.party, jobs: list };
    } finally {
      store.close();
    }
  },
};

/** Who asks, for the audit entry: `cli:` and the operating-system user (characters outside the id set as _). */
function cliActor(): string {
  let name = 'unknown';
  try {
    name = userInfo().username || name;
  } catch {
    // No passwd entry for this uid (containers): the audit entry says 'cli:unknown'.
  }
  return `cli:${name.replace(/[^A-Za-z0-9._@-]/g, '_').slice(0, 100)}`;
}

const controlCommand = (action: 'cancel' | 'retry'): Command => ({
  path: ['node', action],
  summary: action === 'cancel' ? 'cancel a submitted or running job' : 'retry a failed or cancelled job',
  options: {
    config: configOption,
    job: { type: 'string', required: true, placeholder: 'ID', description: 'the job id' },
  },
  async run(o, _p, ctx) {
    const config = loadNodeConfig(resolve(ctx.cwd, str(o, 'config')));
    const store = openNodeStore(config);
    try {
      const jobs = new JobStore(store);
      const audit = new AuditLog(store);
      const id = str(o, 'job');
      const j = (action === 'cancel' ? cancelJob : retryJob)(jobs, audit, config.party, id, cliActor());
      ctx.print(
        action === 'cancel'
          ? `asked to cancel job ${id}; the running node stops it on every party`
          : `job ${id} retried from ${j.stage === null ? 'the start' : `stage ${j.stage}`}`,
      );
      return { job: id, action, status: j.status, stage: j.stage };
    } finally {
      store.close();
    }
  },
});

/** One command: `fedscore node [run|submit|status] --config FILE ...` (run when no action is given). */
export const command: Command = {
  path: ['node'],
  summary: 'run a party node (gRPC + mutual TLS); submit a job to it; show its jobs',
  description: `
  fedscore node --config party.yaml                          run the node until SIGINT/SIGTERM
  fedscore node submit --config bank.yaml --job job.yaml     submit a job to the guest's node [--wait]
  fedscore node status --config party.yaml [--job ID]        jobs, stages, attempts, results
  fedscore node cancel --config bank.yaml --job ID           cancel a submitted or running job
  fedscore node retry --config bank.yaml --job ID            retry a failed or cancelled job
${runCommand.description ?? ''}
Submission and status use the node's store in its state directory (safe while the node runs): only
the node's operator, who can read that directory, can submit jobs; there is no remote submit endpoint.`,
  positionals: [{ name: 'ACTION', description: 'run (default) | submit | status | cancel | retry' }],
  options: {
    config: configOption,
    job: {
      type: 'string',
      placeholder: 'FILE|ID',
      description: 'submit: the job spec file; status, cancel, retry: a job id',
    },
    wait: { type: 'boolean', default: false, description: 'submit: wait until the job is done or failed' },
    timeout: { type: 'integer', default: 3600, description: 'submit --wait: seconds to wait' },
    'log-level': {
      type: 'string',
      choices: ['debug', 'info', 'warn', 'error'],
      placeholder: 'LEVEL',
      description: "log level on stderr (run: default the config's log.level; submit, status: warn)",
    },
  },
  run(o, positionals, ctx) {
    const action = positionals[0] ?? 'run';
    if (action === 'run') return runCommand.run(o, positionals, ctx);
    // submit and status log as every other command does (--log-level, default warn).
    ctx = { ...ctx, logger: atLevel(ctx.logger, (optStr(o, 'log-level') as LogLevel | undefined) ?? 'warn') };
    if (action === 'submit') {
      if (optStr(o, 'job') === undefined) {
        throw new FedscoreError('invalid_argument', 'submit needs --job FILE', { field: '--job' });
      }
      return submitCommand.run(o, positionals, ctx);
    }
    if (action === 'status') return statusCommand.run(o, positionals, ctx);
    if (action === 'cancel' || action === 'retry') {
      if (optStr(o, 'job') === undefined) {
        throw new FedscoreError('invalid_argument', `${action} needs --job ID`, { field: '--job' });
      }
      return controlCommand(action).run(o, positionals, ctx);
    }
    throw new FedscoreError(
      'invalid_argument',
      `unknown action '${action}' (run, submit, status, cancel, retry)`,
      {
        field: 'ACTION',
      },
    );
  },
};
