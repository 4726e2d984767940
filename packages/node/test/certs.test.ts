/**
 * `fedscore certs init` (the real CLI, as a separate process) and TLS-level certificate checks between
 * transports using the files it writes:
 *   - the files: a CA certificate (basicConstraints CA) and, per party, a certificate issued and signed
 *     by it (checked with node:crypto's X509Certificate, an implementation independent of our DER
 *     writer) carrying the SAN URI urn:fedscore:party:<id> and the serverAuth + clientAuth extended key
 *     usages, and a matching private key written with mode 0600; a second run adds a party with the same
 *     CA and refuses to overwrite an existing one without --force;
 *   - two transports built from those files connect;
 *   - a server presenting a certificate of another CA is refused by the client's TLS; a server
 *     presenting a federation certificate of another party is refused by the identity check; a client
 *     with a certificate of another CA is refused during the TLS handshake, before any node code runs
 *     (no rejection event), and the server keeps serving.
 */
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isFedscoreError } from '@fedscore/core';
import { createDevCa, GrpcTransport, issuePartyCert, type RejectionEvent } from '@fedscore/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../cli/src/main.ts');
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

async function certsInit(args: string[]): Promise<{ code: number; json: Record<string, unknown> }> {
  try {
    const r = await promisify(execFile)(process.execPath, [
      '--disable-warning=ExperimentalWarning',
      CLI,
      'certs',
      'init',
      ...args,
      '--json',
    ]);
    return { code: 0, json: JSON.parse(r.stdout.trim().split('\n').at(-1)!) };
  } catch (e) {
    const x = e as { code: number; stdout: string };
    return { code: x.code, json: JSON.parse(x.stdout.trim().split('\n').at(-1)!) };
  }
}

describe('fedscore certs init and TLS-level certificate checks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedscore-certs-'));
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  const tlsOf = (p: string) => ({ ca: read('ca.pem'), cert: read(`${p}.pem`), key: read(`${p}-key.pem`) });
  const transports: GrpcTransport[] = [];
  const start = async (party: string, tls: { ca: string; cert: string; key: string }, peers = {}) => {
    const rejected: RejectionEvent[] = [];
    const t = await GrpcTransport.start({
      party,
      listen: '127.0.0.1:0',
      tls,
      peers,
      limits: { retries: 0 },
      onRejected: (e) => rejected.push(e),
    });
    transports.push(t);
    return { t, rejected };
  };

  beforeAll(async () => {
    const r = await certsInit(['--dir', dir, '--party', 'bank', '--party', 'government']);
    expect(r.code).toBe(0);
  });
  afterAll(async () => {
    await Promise.all(transports.map((t) => t.close()));
  });

  it('writes a CA and party certificates it signed, with the party URI and both key usages', async () => {
    const ca = new X509Certificate(read('ca.pem'));
    expect(ca.ca).toBe(true);
    for (const party of ['bank', 'government']) {
      const cert = new X509Certificate(read(`${party}.pem`));
      expect(cert.ca).toBe(false);
      expect(cert.checkIssued(ca)).toBe(true);
      expect(cert.verify(ca.publicKey)).toBe(true);
      expect(cert.subjectAltName).toContain(`URI:urn:fedscore:party:${party}`);
      expect(cert.keyUsage).toEqual(expect.arrayContaining([SERVER_AUTH, CLIENT_AUTH]));
      expect(cert.checkPrivateKey(createPrivateKey(read(`${party}-key.pem`)))).toBe(true);
      expect(statSync(join(dir, `${party}-key.pem`)).mode & 0o077).toBe(0);
      expect(new Date(cert.validTo).getTime()).toBeGreaterThan(Date.now() + 300 * 86_400_000);
    }
    expect(statSync(join(dir, 'ca-key.pem')).mode & 0o077).toBe(0);
    // A later run adds a party with the same CA; an existing party is not overwritten without --force.
    const more = await certsInit(['--dir', dir, '--party', 'arbiter']);
    expect(more.json).toMatchObject({ caCreated: false });
    expect(new X509Certificate(read('arbiter.pem')).checkIssued(ca)).toBe(true);
    const again = await certsInit(['--dir', dir, '--party', 'bank']);
    expect(again.code).not.toBe(0);
    expect(again.json).toMatchObject({ error: { field: '--party' } });
  });

  it('transports built from those files connect; wrong certificates are refused', async () => {
    const gov = await start('government', tlsOf('government'), { bank: '127.0.0.1:1' });
    const { t: bank } = await start('bank', tlsOf('bank'), { government: `127.0.0.1:${gov.t.port}` });
    expect((await bank.health('government')).party).toBe('government');

    // A server whose certificate is from another CA: the client's TLS refuses it.
    const other = createDevCa({ name: 'not the federation CA' });
    const fake = await start('government', {
      ca: read('ca.pem'),
      ...issuePartyCert({ ca: other, party: 'government' }),
    });
    bank.setPeer('government', `127.0.0.1:${fake.t.port}`);
    const e1 = await bank.health('government', 3000).catch((x: unknown) => x);
    expect(isFedscoreError(e1)).toBe(true);
    expect(['peer_identity', 'io']).toContain((e1 as { code: string }).code);
    expect(fake.rejected).toEqual([]);

    // A server with a federation certificate of another party: the client's identity check refuses it.
    const arbiter = await start('arbiter', tlsOf('arbiter'));
    bank.setPeer('government', `127.0.0.1:${arbiter.t.port}`);
    const e2 = await bank.health('government', 3000).catch((x: unknown) => x);
    expect(isFedscoreError(e2, 'peer_identity')).toBe(true);
    expect(String((e2 as Error).message)).toMatch(/arbiter/);

    // A client whose certificate is from another CA is refused by the server's own check, before any
    // handler reads a message, and reported for the audit log (wrong-cert.test.ts goes further).
    const { t: mallory } = await start(
      'bank',
      { ca: read('ca.pem'), ...issuePartyCert({ ca: other, party: 'bank' }) },
      { government: `127.0.0.1:${gov.t.port}` },
    );
    const e3 = await mallory.health('government', 3000).catch((x: unknown) => x);
    expect(isFedscoreError(e3, 'peer_identity')).toBe(true);
    expect(gov.rejected).toMatchObject([{ rpc: 'Health', code: 'peer_identity', field: 'certificate' }]);

    // The real pair still works.
    bank.setPeer('government', `127.0.0.1:${gov.t.port}`);
    expect((await bank.health('government')).party).toBe('government');
  });
});
