/**
 * A long-lived child process that runs CLI invocations for the sweep, one at a time, in-process (as
 * packages/cli/test/run-cli.ts does): `main(argv)` with the working directory set to the case's directory
 * and stdout/stderr captured. It saves the CLI's start-up (loading every command module) per case; the
 * sweep starts a fresh host after a case that crashed or hung, so a fault cannot leak into later cases
 * unnoticed for long (it would show as a crash there too).
 *
 * Protocol over the IPC channel: parent -> { args, cwd }; child -> { code, stdout, stderr }, or
 * { internal } when main itself threw.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// scripts/ is not a workspace package, so '@fedscore/cli' does not resolve from here: load the package's
// public entry ("exports": ".") through its package.json, as a dependent package would.
const cliDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'packages', 'cli');
const entry = (JSON.parse(readFileSync(join(cliDir, 'package.json'), 'utf8')) as { exports: { '.': string } })
  .exports['.'];
const { main } = (await import(pathToFileURL(join(cliDir, entry)).href)) as {
  main: (argv: readonly string[]) => Promise<number>;
};

interface Request {
  readonly args: string[];
  readonly cwd: string;
}

const originalOut = process.stdout.write.bind(process.stdout);
const originalErr = process.stderr.write.bind(process.stderr);

async function runOne(req: Request): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const capture =
    (append: (s: string) => void) =>
    (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      append(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    };
  process.stdout.write = capture((s) => {
    if (stdout.length < 1 << 20) stdout += s;
  }) as typeof process.stdout.write;
  process.stderr.write = capture((s) => {
    if (stderr.length < 1 << 20) stderr += s;
  }) as typeof process.stderr.write;
  const before = process.cwd();
  try {
    process.chdir(req.cwd);
    const code = await main(req.args);
    return { code, stdout, stderr };
  } catch (e) {
    return {
      code: 1,
      stdout,
      stderr: `${stderr}fedscore: internal error: ${e instanceof Error ? e.stack : String(e)}\n`,
    };
  } finally {
    process.chdir(before);
    process.stdout.write = originalOut;
    process.stderr.write = originalErr;
  }
}

let queue = Promise.resolve();
process.on('message', (req: Request) => {
  queue = queue.then(async () => {
    const res = await runOne(req);
    process.send?.(res);
  });
});
process.on('disconnect', () => process.exit(0));
