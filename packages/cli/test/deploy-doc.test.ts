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
 * - the worker role's SQL in section 7 is exactly what the node grants (`workerGrantSql`);
 * - a compose file with several node replicas: the config they mount (the fenced block headed by its
 *   path) passes `validateNodeConfig`, each replica's advertised address (`advertisedAddress` over the
 *   service's environment) is its own, its host port is the one its service publishes for `listen`, and
 *   the peers' block lists exactly those addresses (a holder named outside that list is never dialled).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { advertisedAddress, validateNodeConfig } from '@fedscore/node';
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
  volumes?: string[];
  ports?: string[];
}

const all = blocks();
const dockerfile = all.find((b) => b.lang === 'dockerfile')!.body;
const compose = all
  .filter((b) => b.lang === 'yaml' && /^services:/m.test(b.body))
  .map((b) => parseYaml(b.body) as { services: Record<string, Service>; secrets?: Record<string, unknown> });
const tag = /docker build -t (\S+) \./.exec(dockerfile)?.[1];

/** The YAML block whose first line is the comment `# <path> ...` (a file the sketches name), parsed. */
function yamlFile(path: string): unknown {
  const b = all.filter((x) => x.lang === 'yaml' && x.body.startsWith(`# ${path} `));
  expect([path, b.length]).toEqual([path, 1]);
  return parseYaml(b[0]!.body);
}

/** The host path a service mounts at the container path `file` lies under (`./host:/container[:ro]`). */
function hostPathOf(svc: Service, file: string): string | undefined {
  for (const v of svc.volumes ?? []) {
    const [host, container] = v.split(':');
    if (host === undefined || container === undefined) continue;
    if (file.startsWith(`${container}/`))
      return `${host.replace(/^\.\//, '')}${file.slice(container.length)}`;
  }
  return undefined;
}

/** The port after the last colon of host:port. */
function portOf(address: string): string {
  return address.slice(address.lastIndexOf(':') + 1);
}

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

  it('compose: every node replica advertises its own published address, and the peers list exactly those', () => {
    let replicated = 0;
    for (const file of compose) {
      const nodes = Object.entries(file.services).filter(
        ([, s]) => s.image === tag && s.command?.[0] === 'node',
      );
      if (nodes.length < 2) continue;
      replicated++;
      const advertised: string[] = [];
      let party: string | undefined;
      for (const [name, s] of nodes) {
        const configPath = s.command![s.command!.indexOf('--config') + 1]!;
        const hostPath = hostPathOf(s, configPath);
        expect([name, hostPath]).toEqual([name, expect.any(String)]);
        const config = validateNodeConfig(yamlFile(hostPath!));
        party ??= config.party;
        expect([name, config.party]).toEqual([name, party]);
        // The variables the config names for its database URLs are set by the service.
        const env = s.environment ?? {};
        const urlEnvs = [config.store, config.queue].map((c) => ('urlEnv' in c ? c.urlEnv : undefined));
        for (const v of urlEnvs.filter((x): x is string => x !== undefined)) {
          expect([name, v, env[v]]).toEqual([name, v, expect.stringMatching(/^postgres:\/\//)]);
        }
        const address = advertisedAddress(config, env);
        expect([name, address]).toEqual([name, expect.any(String)]);
        // Published as HOST:CONTAINER, the container side being listen's port, the host side the advertised one.
        const published = (s.ports ?? []).map((p) => p.split(':'));
        const mapped = published.some(
          ([host, container]) => host === portOf(address!) && container === portOf(config.listen),
        );
        expect([name, address, mapped]).toEqual([name, address, true]);
        advertised.push(address!);
      }
      expect(new Set(advertised).size).toBe(advertised.length);
      const peers = yamlFile('government.yaml') as { peers: Record<string, { addresses?: string[] }> };
      expect([...(peers.peers[party!]?.addresses ?? [])].sort()).toEqual([...advertised].sort());
    }
    expect(replicated).toBeGreaterThanOrEqual(1);
  });

  it("section 7's worker role SQL is what the node grants", () => {
    const sql = all.find((b) => b.lang === 'sql' && b.body.includes('GRANT USAGE ON SCHEMA pgboss'));
    expect(sql?.body.trim()).toBe(workerGrantSql('fedscore_worker').trim());
  });
});
