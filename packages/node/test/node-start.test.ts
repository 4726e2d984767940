/**
 * What a node refuses at start (issue 12, the node): each case is started for real (in process, and the
 * CLI as an OS process for the exit code) and must end in a typed error naming the field, with nothing
 * left open -- no port bound, no store held -- and the process able to exit:
 *   - the HTTP port (or the gRPC port) is taken: `io` naming `http` (`listen`); the gRPC port the node had
 *     already bound is free again (before, the node printed an error and kept serving gRPC);
 *   - `stateDir` under /proc (before: a recursive mkdir spinning at 94 % CPU for ever), under /sys, or
 *     through a file: `io` naming `stateDir`, within a second;
 *   - a store truncated to 0 bytes, deleted, replaced by another store, or with damaged pages: `store`
 *     naming `stateDir` (before: silently re-created, consents, audit and jobs gone); a store of an older
 *     build (no marker) is adopted; a read-only open of an empty database says so instead of "module
 *     'audit' is at schema 0";
 *   - a tampered audit chain: `audit_tampered` naming the entry; an operator's acknowledgement of exactly
 *     that entry lets the node start, recorded once in the log;
 *   - TLS material that is not the node's own: another party's certificate and key, a key of another
 *     certificate, a leaf certificate as CA, a certificate of another CA: `invalid_config` naming
 *     `tls.cert`, `tls.key` or `tls.ca`, before the state directory is even created;
 *   - store files are private: directory 0700, database, -wal, -shm and marker 0600, and older, looser
 *     modes are tightened with a warning;
 *   - `log.level` is applied to what the node logs.
 */
import { execFile } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { isFedscoreError, memoryLogger } from '@fedscore/core';
import {
  AuditLog,
  checkOwnTlsMaterial,
  createDevCa,
  issuePartyCert,
  NodeStore,
  PartyNode,
  STORE_FILE,
  STORE_MARKER,
  type TlsMaterial,
  validateNodeConfig,
} from '@fedscore/node';
import { afterAll, describe, expect, it } from 'vitest';

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../cli/src/main.ts');
const root = mkdtempSync(join(tmpdir(), 'fedscore-node-start-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const ca = createDevCa();
const own: TlsMaterial = { ca: ca.cert, ...issuePartyCert({ ca, party: 'government' }) };
let n = 0;
const freshDir = (): string => join(root, `case-${n++}`);

function config(stateDir: string, extra: Record<string, unknown> = {}) {
  return validateNodeConfig({
    party: 'government',
    listen: '127.0.0.1:0',
    stateDir,
    tls: { ca: 'x', cert: 'x', key: 'x' },
    peers: { bank: { address: '127.0.0.1:1' } },
    ...extra,
  });
}

async function refusal(
  p: Promise<unknown>,
): Promise<{ code: string; field: string | undefined; message: string }> {
  const e = await p.then(
    () => {
      throw new Error('the node started');
    },
    (x: unknown) => x,
  );
  if (!isFedscoreError(e)) throw e;
  return { code: e.code, field: e.field, message: e.message };
}

function listen(port = 0): Promise<Server> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(port, '127.0.0.1', () => res(s));
  });
}
const portOf = (s: Server): number => (s.address() as { port: number }).port;
const close = (s: Server): Promise<void> => new Promise((r) => s.close(() => r()));

/** A node started and stopped once on `dir`, with a few audit entries and a job-free store. */
async function initialised(dir: string): Promise<void> {
  const node = await PartyNode.start({ config: config(dir), tls: own });
  node.audit.append({ kind: 'consent_change', actor: 'government', details: { n: 1 } });
  node.audit.append({ kind: 'consent_change', actor: 'government', details: { n: 2 } });
  node.audit.append({ kind: 'consent_change', actor: 'government', details: { n: 3 } });
  await node.stop();
}

describe('a failed start closes everything it opened', () => {
  it('HTTP port taken: io naming http, and the gRPC port it had bound is free again', async () => {
    const blocker = await listen();
    const grpcFree = await listen();
    const grpcPort = portOf(grpcFree);
    await close(grpcFree);
    const dir = freshDir();
    const r = await refusal(
      PartyNode.start({
        config: config(dir, { listen: `127.0.0.1:${grpcPort}`, http: `127.0.0.1:${portOf(blocker)}` }),
        tls: own,
      }),
    );
    expect(r).toMatchObject({ code: 'io', field: 'http' });
    expect(r.message).toContain('EADDRINUSE');
    // Nothing listens on the gRPC port any more: it can be bound again at once.
    await close(await listen(grpcPort));
    await close(blocker);
    // The store was closed: the same state directory starts cleanly.
    const node = await PartyNode.start({ config: config(dir), tls: own });
    await node.stop();
  });

  it('gRPC port taken: io naming listen', async () => {
    const blocker = await listen();
    const r = await refusal(
      PartyNode.start({ config: config(freshDir(), { listen: `127.0.0.1:${portOf(blocker)}` }), tls: own }),
    );
    expect(r).toMatchObject({ code: 'io', field: 'listen' });
    await close(blocker);
  });

  it('the CLI exits 1 on a taken HTTP port, naming the field, and does not keep serving gRPC', async () => {
    const blocker = await listen();
    const dir = freshDir();
    mkdirSync(dir);
    const certs = join(dir, 'certs');
    mkdirSync(certs);
    writeFileSync(join(certs, 'ca.pem'), ca.cert);
    writeFileSync(join(certs, 'gov.pem'), own.cert);
    writeFileSync(join(certs, 'gov-key.pem'), own.key);
    writeFileSync(
      join(dir, 'gov.yaml'),
      [
        'party: government',
        'listen: 127.0.0.1:0',
        `http: 127.0.0.1:${portOf(blocker)}`,
        'stateDir: ./state',
        'tls: { ca: certs/ca.pem, cert: certs/gov.pem, key: certs/gov-key.pem }',
        "peers: { bank: { address: '127.0.0.1:1' } }",
      ].join('\n'),
    );
    const t0 = Date.now();
    const r = await new Promise<{ code: number | null; stderr: string }>((res) => {
      const child = execFile(
        process.execPath,
        ['--disable-warning=ExperimentalWarning', CLI, 'node', '--config', join(dir, 'gov.yaml')],
        { timeout: 30_000 },
        (_e, _out, stderr) => res({ code: child.exitCode, stderr }),
      );
    });
    await close(blocker);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error \[io\].*field 'http'.*EADDRINUSE/);
    expect(Date.now() - t0).toBeLessThan(30_000);
  });

  it('stateDir under /proc or /sys, or through a file: io naming stateDir within a second', async () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    for (const dir of ['/proc/fedscore/state', '/proc/self/fedscore', '/sys/fedscore', join(file, 'state')]) {
      const t0 = Date.now();
      const r = await refusal(PartyNode.start({ config: config(dir), tls: own }));
      expect(r).toMatchObject({ code: 'io', field: 'stateDir' });
      expect(Date.now() - t0).toBeLessThan(1000);
    }
  });
});

describe('a store that existed is never silently re-created', () => {
  it('truncated to 0 bytes: refused at start and by read-only commands', async () => {
    const dir = freshDir();
    await initialised(dir);
    truncateSync(join(dir, STORE_FILE), 0);
    const r = await refusal(PartyNode.start({ config: config(dir), tls: own }));
    expect(r).toMatchObject({ code: 'store', field: 'stateDir' });
    expect(r.message).toContain('0 bytes');
    // Nothing was re-created: still 0 bytes.
    expect(statSync(join(dir, STORE_FILE)).size).toBe(0);
    expect(() => NodeStore.open(dir, { readOnly: true })).toThrow(
      expect.objectContaining({ code: 'store', field: 'stateDir' }),
    );
  });

  it('deleted, or replaced by another store: refused', async () => {
    const dir = freshDir();
    await initialised(dir);
    const other = freshDir();
    await initialised(other);
    renameSync(join(dir, STORE_FILE), join(root, 'moved.sqlite'));
    expect((await refusal(PartyNode.start({ config: config(dir), tls: own }))).message).toContain('deleted');
    writeFileSync(join(dir, STORE_FILE), readFileSync(join(other, STORE_FILE)));
    const r = await refusal(PartyNode.start({ config: config(dir), tls: own }));
    expect(r).toMatchObject({ code: 'store', field: 'stateDir' });
    expect(r.message).toContain('not the store this directory was initialised with');
  });

  it('an empty store file without a marker (an older build, truncated) is refused too', async () => {
    const dir = freshDir();
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, STORE_FILE), '');
    expect((await refusal(PartyNode.start({ config: config(dir), tls: own }))).code).toBe('store');
  });

  it('a store of an older build (no marker) is adopted and keeps its entries', async () => {
    const dir = freshDir();
    await initialised(dir);
    unlinkSync(join(dir, STORE_MARKER));
    const node = await PartyNode.start({ config: config(dir), tls: own });
    expect(node.audit.head().entries).toBe(3);
    await node.stop();
    expect(existsSync(join(dir, STORE_MARKER))).toBe(true);
  });

  it('damaged pages: refused by the quick check', async () => {
    const dir = freshDir();
    await initialised(dir);
    const file = join(dir, STORE_FILE);
    const bytes = readFileSync(file);
    // Overwrite page 2 onwards (b-tree pages) with garbage; page 1 (header, schema) stays readable.
    const page = bytes.readUInt16BE(16) === 1 ? 65536 : bytes.readUInt16BE(16);
    bytes.fill(0xa5, page, Math.min(bytes.length, page * 3));
    writeFileSync(file, bytes);
    const r = await refusal(PartyNode.start({ config: config(dir), tls: own }));
    expect(['store', 'audit_tampered']).toContain(r.code);
    expect(r.field === 'stateDir' || r.field?.startsWith('audit_log')).toBe(true);
  });

  it('a read-only open of an empty database names the problem, not "schema 0"', () => {
    const dir = freshDir();
    mkdirSync(dir);
    new DatabaseSync(join(dir, STORE_FILE)).exec('CREATE TABLE unrelated (x INTEGER)');
    const store = NodeStore.open(dir, { readOnly: true });
    try {
      let err: unknown;
      try {
        new AuditLog(store);
      } catch (e) {
        err = e;
      }
      expect(isFedscoreError(err, 'store')).toBe(true);
      expect((err as Error).message).not.toContain('schema 0');
      expect((err as Error).message).toContain('holds no fedscore store');
    } finally {
      store.close();
    }
  });
});

describe('a tampered audit chain', () => {
  /** Rewrite one entry's actor behind the node's back (dropping the append-only trigger). */
  function tamper(dir: string, seq: number): void {
    const db = new DatabaseSync(join(dir, STORE_FILE));
    db.exec('DROP TRIGGER audit_log_no_update');
    db.prepare("UPDATE audit_log SET actor = 'mallory' WHERE seq = ?").run(seq);
    db.close();
  }

  it('refuses to start, naming the entry; an acknowledgement of exactly that entry lets it run, recorded once', async () => {
    const dir = freshDir();
    await initialised(dir);
    tamper(dir, 2);
    const r = await refusal(PartyNode.start({ config: config(dir), tls: own }));
    expect(r).toMatchObject({ code: 'audit_tampered', field: 'audit_log[2]' });
    expect(r.message).toContain('entry 2');
    // Acknowledging another entry does not help.
    const wrong = config(dir, { audit: { acknowledgedBreaks: [3] } });
    expect((await refusal(PartyNode.start({ config: wrong, tls: own }))).field).toBe('audit_log[2]');
    const ack = config(dir, { audit: { acknowledgedBreaks: [2] } });
    for (let i = 0; i < 2; i++) {
      const node = await PartyNode.start({ config: ack, tls: own });
      const acks = [...node.audit.entries({ kind: 'security_event' })].filter(
        (e) => e.details?.['acknowledgedBreak'] === 2,
      );
      expect(acks.length).toBe(1);
      expect(node.audit.verify({ acknowledged: [2] }).ok).toBe(true);
      await node.stop();
    }
  });
});

describe("the node's own TLS material", () => {
  const other = createDevCa({ name: 'another CA' });
  const bankPair = issuePartyCert({ ca, party: 'bank' });
  const cases: [string, TlsMaterial, string][] = [
    ["another party's certificate and key", { ca: ca.cert, ...bankPair }, 'tls.cert'],
    ['a key of another certificate', { ca: ca.cert, cert: own.cert, key: bankPair.key }, 'tls.key'],
    ['a leaf certificate as CA', { ca: own.cert, cert: own.cert, key: own.key }, 'tls.ca'],
    [
      'a certificate of another CA',
      { ca: ca.cert, ...issuePartyCert({ ca: other, party: 'government' }) },
      'tls.cert',
    ],
    ['a CA certificate as its own', { ca: ca.cert, cert: ca.cert, key: ca.key }, 'tls.cert'],
  ];
  it('checks validity at an injected clock, and accepts a bundle of several CAs (rotation)', () => {
    const day = 86_400_000;
    expect(() => checkOwnTlsMaterial(own, 'government', Date.now() + 400 * day)).toThrow(
      expect.objectContaining({ code: 'invalid_config', field: 'tls.cert' }),
    );
    expect(() => checkOwnTlsMaterial({ ...own, ca: other.cert + ca.cert }, 'government')).not.toThrow();
    expect(() => checkOwnTlsMaterial(own, 'bank')).toThrow(expect.objectContaining({ field: 'tls.cert' }));
  });

  for (const [name, tls, field] of cases) {
    it(`refuses ${name} (${field}) before creating anything`, async () => {
      const dir = freshDir();
      const r = await refusal(PartyNode.start({ config: config(dir), tls }));
      expect(r).toMatchObject({ code: 'invalid_config', field });
      expect(existsSync(dir)).toBe(false);
    });
  }
});

describe('store files are private', () => {
  it('directory 0700; database, -wal, -shm and marker 0600; looser modes are tightened with a warning', async () => {
    const dir = freshDir();
    const logger = memoryLogger();
    const node = await PartyNode.start({ config: config(dir), tls: own, logger });
    node.audit.append({ kind: 'consent_change', actor: 'government' });
    const mode = (f: string): number => statSync(join(dir, f)).mode & 0o777;
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of [STORE_FILE, `${STORE_FILE}-wal`, `${STORE_FILE}-shm`, STORE_MARKER]) {
      expect([f, mode(f)]).toEqual([f, 0o600]);
    }
    await node.stop();
    chmodSync(dir, 0o755);
    chmodSync(join(dir, STORE_FILE), 0o644);
    const again = await PartyNode.start({ config: config(dir), tls: own, logger });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(mode(STORE_FILE)).toBe(0o600);
    const tightened = logger.records.filter((r) => r.message === 'store access tightened');
    // (SQLite made the -wal and -shm of the reopened file with its loose mode, so they are tightened too.)
    expect(tightened.map((r) => r.fields['file'])).toEqual(
      expect.arrayContaining([dir, join(dir, STORE_FILE)]),
    );
    for (const f of [STORE_FILE, `${STORE_FILE}-wal`, `${STORE_FILE}-shm`]) {
      if (existsSync(join(dir, f))) expect(mode(f)).toBe(0o600);
    }
    await again.stop();
  });
});

describe('log.level', () => {
  it('drops records below the configured level', async () => {
    for (const [level, infos] of [
      ['warn', false],
      ['info', true],
    ] as const) {
      const logger = memoryLogger('debug');
      const node = await PartyNode.start({
        config: config(freshDir(), { log: { level } }),
        tls: own,
        logger,
      });
      await node.stop();
      expect(logger.records.some((r) => r.level === 'info')).toBe(infos);
      expect(logger.records.some((r) => r.level === 'debug')).toBe(false);
    }
  });
});
