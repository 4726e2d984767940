/**
 * Test support, exported as `@fedscore/queue/testing` (never imported by library code; the queue's and
 * the node's PostgreSQL tests share it). A throwaway PostgreSQL cluster for a test file: `initdb` into a
 * temp directory, `pg_ctl start` on a free loopback port (socket in the same directory, fsync off),
 * stopped with `-m immediate` and deleted afterwards. No global server. As root (CI here) the server runs as the `postgres` user, since PostgreSQL
 * refuses to run as root. Without the binaries the caller skips with the reason printed, except under
 * CI=true, where that is a failure (`.ci/run` machines have PostgreSQL). `startWorker`: a `fedscore worker`
 * process (the CLI command a deployment runs) for the queue, node, cli tests and the queue benchmarks.
 * `copyRows` / `parseCopyBinary`: the binary COPY reader the executor and worker use (copy.ts), for the
 * queue's tests and the byte-path benchmark (it runs the SQL it is given: not for library callers).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export { type CopyRow, copyRows, parseCopyBinary } from './copy.ts';

export interface PgCluster {
  readonly url: string;
  stop(): void;
}

/** The directory holding initdb and pg_ctl, or undefined. */
export function postgresBin(): string | undefined {
  const dirs = ['/usr/local/bin', '/usr/bin'];
  try {
    for (const v of readdirSync('/usr/lib/postgresql').sort().reverse())
      dirs.push(`/usr/lib/postgresql/${v}/bin`);
  } catch {
    // no Debian layout
  }
  return dirs.find((d) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl')));
}

/** Why the PostgreSQL tests cannot run here (undefined when they can); throws under CI=true. */
export function postgresUnavailable(): string | undefined {
  const bin = postgresBin();
  if (bin !== undefined) return undefined;
  const why =
    'PostgreSQL binaries (initdb, pg_ctl) not found in /usr/local/bin, /usr/bin, /usr/lib/postgresql/*/bin';
  if (process.env.CI === 'true') throw new Error(`${why}: CI must have them (apt-get install postgresql)`);
  return why;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

export async function startPgCluster(): Promise<PgCluster> {
  const bin = postgresBin();
  if (bin === undefined) throw new Error('no PostgreSQL binaries');
  const dir = mkdtempSync(join(tmpdir(), 'fedscore-pg-'));
  const asRoot = process.getuid?.() === 0;
  let uid: number | undefined;
  let gid: number | undefined;
  if (asRoot) {
    uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const run = (cmd: string, args: string[]): void => {
    execFileSync(join(bin, cmd), args, {
      stdio: 'ignore',
      ...(uid !== undefined && gid !== undefined && { uid, gid }),
      env: { ...process.env, LC_ALL: 'C.UTF-8' },
      timeout: 60_000,
    });
  };
  const data = join(dir, 'data');
  const port = await freePort();
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
  run('pg_ctl', [
    '-D',
    data,
    '-w',
    '-l',
    join(dir, 'log'),
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`,
    'start',
  ]);
  let stopped = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLI = join(ROOT, 'packages', 'cli', 'src', 'main.ts');

/**
 * A `fedscore worker` process serving `queue` on the PostgreSQL at `url`, pushed onto `children` (the
 * caller kills them) and resolved once it reports ready; rejected if it exits first. The URL goes in the
 * environment variable FEDSCORE_QUEUE_URL (`--queue-env`, as a deployment passes one holding a password);
 * `{ urlFrom: 'flag' }` passes it as `--queue` instead; `transfer` is its `--transfer`. It runs the workspace's CLI source
 * (packages/cli/src/main.ts): for the repository's tests and benchmarks only, not from the packed package.
 */
export function startWorker(
  url: string,
  queue: string,
  children: ChildProcess[],
  options: {
    readonly urlFrom?: 'env' | 'flag';
    readonly transfer?: 'copy' | 'base64';
    /** Its `--log-level` (the CLI's default: warn); `debug` adds a line per task's diagonal cache counts. */
    readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
  } = {},
): Promise<ChildProcess> {
  const byFlag = options.urlFrom === 'flag';
  const child = spawn(
    process.execPath,
    [
      '--disable-warning=ExperimentalWarning',
      CLI,
      'worker',
      ...(byFlag ? ['--queue', url] : ['--queue-env', 'FEDSCORE_QUEUE_URL']),
      '--name',
      queue,
      ...(options.transfer === undefined ? [] : ['--transfer', options.transfer]),
      ...(options.logLevel === undefined ? [] : ['--log-level', options.logLevel]),
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: byFlag ? process.env : { ...process.env, FEDSCORE_QUEUE_URL: url },
    },
  );
  children.push(child);
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      if (err.includes('fedscore worker ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before ready: ${err}`)));
  });
}
