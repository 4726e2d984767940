/**
 * The deployment sketches of docs/deploy.md (sections 5, 7 and 8) against the code they name. They stay
 * untested as deployments -- nothing here starts Docker -- but what can be checked without it is:
 *
 * - the Dockerfile's ENTRYPOINT is the CLI without a subcommand, and its CMD is a command the CLI has;
 * - every fenced compose block parses as YAML (the repository's `yaml`); each service running the
 *   fedscore image uses the tag section 5 builds, and its `command:` is a CLI command whose `--help`
 *   succeeds and lists every flag the command passes;
 * - node and workers have their own database users (the workers' is not the node's), each process's
 *   `PGPASSFILE` is a secret mounted into it and defined at the top level, node services have a health
 *   check and workers disable the image's; no `PGPASSWORD_FILE` (which nothing reads) is left;
 * - the worker role's SQL in section 7 is exactly what the node grants (`workerGrantSql`).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { workerGrantSql } from '@fedscore/queue';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { runCli } from './run-cli.ts';

const DOC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'deploy.md');
const text = readFileSync(DOC, 'utf8');

/** Fenced blocks (also those indented in a list item), dedented, with their info string. */
function blocks(): { lang: string; body: string }[] {
  const out: { lang: string; body: string }[] = [];
  const re = /^( *)```(\w*)\n([\s\S]*?)^\1```$/gm;
  for (const m of text.matchAll(re)) {
    const indent = m[1]!.length;
    const body = m[3]!
      .split('\n')
      .map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length)))
      .join('\n');
    out.push({ lang: m[2]!, body });
  }
  return out;
}

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  secrets?: string[];
  healthcheck?: { disable?: boolean; test?: string[] };
}

const all = blocks();
const dockerfile = all.find((b) => b.lang === 'dockerfile')!.body;
const compose = all
  .filter((b) => b.lang === 'yaml' && /^services:/m.test(b.body))
  .map((b) => parseYaml(b.body) as { services: Record<string, Service>; secrets?: Record<string, unknown> });
const tag = /docker build -t (\S+) \./.exec(dockerfile)?.[1];

/** The CLI command's help text (`fedscore <command> --help` in-process), failing the test if it fails. */
async function helpOf(command: string): Promise<string> {
  const r = await runCli([command, '--help']);
  expect([command, r.code]).toEqual([command, 0]);
  return r.stdout;
}

function userOf(url: string | undefined): string | undefined {
  return url === undefined ? undefined : new URL(url).username;
}

describe('docs/deploy.md sketches', () => {
  it('the image runs the CLI: ENTRYPOINT without a subcommand, CMD a CLI command', async () => {
    expect(tag).toBe('fedscore-node');
    const entry = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
    expect(entry.at(-1)).toBe('packages/cli/src/main.ts');
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
    expect(cmd[0]).toBe('node');
    const help = await helpOf(cmd[0]!);
    for (const flag of cmd.filter((a) => a.startsWith('--'))) expect(help).toContain(flag);
  });

  it('compose: commands exist with their flags; the image is the one section 5 builds', async () => {
    expect(compose.length).toBeGreaterThanOrEqual(1);
    let checked = 0;
    for (const file of compose) {
      for (const [name, svc] of Object.entries(file.services)) {
        if (!svc.image?.startsWith('fedscore')) continue;
        expect([name, svc.image]).toEqual([name, tag]);
        const command = svc.command!;
        const help = await helpOf(command[0]!);
        for (const flag of command.filter((a) => a.startsWith('--'))) {
          expect([name, flag, help.includes(flag)]).toEqual([name, flag, true]);
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(2);
  });

  it('compose: node and workers have their own credentials, from mounted secrets; health checks fit', () => {
    expect(text).not.toContain('PGPASSWORD_FILE');
    for (const file of compose) {
      const services = Object.entries(file.services).filter(([, s]) => s.image === tag);
      const nodes = services.filter(([, s]) => s.command?.[0] === 'node');
      const workers = services.filter(([, s]) => s.command?.[0] === 'worker');
      expect(nodes.length).toBeGreaterThanOrEqual(1);
      expect(workers.length).toBeGreaterThanOrEqual(1);
      const nodeUsers = new Set(
        nodes.flatMap(([, s]) =>
          [s.environment?.FEDSCORE_STORE_URL, s.environment?.FEDSCORE_QUEUE_URL].map(userOf),
        ),
      );
      for (const [name, s] of workers) {
        const user = userOf(s.environment?.FEDSCORE_QUEUE_URL);
        expect([name, user !== undefined && !nodeUsers.has(user)]).toEqual([name, true]);
        expect([name, s.healthcheck?.disable]).toEqual([name, true]);
      }
      for (const [name, s] of nodes)
        expect([name, s.healthcheck?.test?.join(' ')]).toEqual([name, expect.stringContaining('/healthz')]);
      for (const [name, s] of services) {
        const file_ = s.environment?.PGPASSFILE;
        expect([name, file_]).toEqual([name, expect.stringMatching(/^\/run\/secrets\/\w+$/)]);
        const secret = file_!.slice('/run/secrets/'.length);
        expect([name, s.secrets?.includes(secret)]).toEqual([name, true]);
        expect(Object.keys(file.secrets ?? {})).toContain(secret);
        // No password in any URL of the file.
        for (const v of Object.values(s.environment ?? {})) {
          if (v.startsWith('postgres')) expect(new URL(v).password).toBe('');
        }
      }
    }
  });

  it("section 7's worker role SQL is what the node grants", () => {
    const sql = all.find((b) => b.lang === 'sql' && b.body.includes('GRANT USAGE ON SCHEMA pgboss'));
    expect(sql?.body.trim()).toBe(workerGrantSql('fedscore_worker').trim());
  });
});
