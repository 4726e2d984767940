/**
 * `fedscore certs init`: a development certificate authority and one certificate per party, for running
 * nodes with mutual TLS on one machine or a test network. Production: bring your own PKI
 * (docs/deploy.md): each party certificate needs the SAN URI urn:fedscore:party:<id> and the serverAuth
 * and clientAuth extended key usages.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FedscoreError } from '@fedscore/core';
import { assertPartyId, createDevCa, issuePartyCert, type PemPair } from '@fedscore/node';
import { bool, type Command, num, str, strs } from '../command.ts';

export const command: Command = {
  path: ['certs', 'init'],
  summary: 'create a development CA and a certificate + key per party (ECDSA P-256) for node mTLS',
  description: `
Writes into --dir: ca.pem and ca-key.pem (the CA; keep ca-key.pem away from the nodes), and for each
--party P: P.pem and P-key.pem (give each node only its own pair and ca.pem). An existing CA in --dir
is reused to issue new party certificates (add a party later); --force replaces everything.
Each party certificate carries its party id as SAN URI urn:fedscore:party:<P> -- the identity the
nodes check -- and --host names (DNS or IP) for the addresses it is reached at.

Example: fedscore certs init --dir certs --party bank --party government --party arbiter`,
  options: {
    dir: { type: 'string', required: true, placeholder: 'DIR', description: 'output directory' },
    party: {
      type: 'string',
      multiple: true,
      required: true,
      placeholder: 'ID',
      description: 'a party id (repeat)',
    },
    host: {
      type: 'string',
      multiple: true,
      placeholder: 'NAME',
      description: 'host name or IP in every party certificate (repeat; default localhost, 127.0.0.1, ::1)',
    },
    days: { type: 'integer', default: 365, description: 'validity of the certificates' },
    force: { type: 'boolean', default: false, description: 'replace an existing CA and certificates' },
  },
  async run(o, _positionals, ctx) {
    const dir = resolve(ctx.cwd, str(o, 'dir'));
    const parties = strs(o, 'party').map((p) => assertPartyId(p, '--party'));
    if (new Set(parties).size !== parties.length) {
      throw new FedscoreError('invalid_argument', 'a party is named twice', { field: '--party' });
    }
    const hosts = strs(o, 'host');
    const days = num(o, 'days');
    mkdirSync(dir, { recursive: true });
    const caCert = join(dir, 'ca.pem');
    const caKey = join(dir, 'ca-key.pem');
    let ca: PemPair;
    let created = false;
    if (existsSync(caCert) && existsSync(caKey) && !bool(o, 'force')) {
      ca = { cert: readFileSync(caCert, 'utf8'), key: readFileSync(caKey, 'utf8') };
      ctx.print(`reusing the CA in ${caCert}`);
    } else {
      ca = createDevCa({ days });
      writeFileSync(caCert, ca.cert);
      writeFileSync(caKey, ca.key, { mode: 0o600 });
      created = true;
      ctx.print(`created a development CA: ${caCert} (key ${caKey})`);
    }
    const out: { party: string; cert: string; key: string }[] = [];
    for (const party of parties) {
      const cert = join(dir, `${party}.pem`);
      const key = join(dir, `${party}-key.pem`);
      if (existsSync(cert) && !bool(o, 'force')) {
        throw new FedscoreError('invalid_argument', `${cert} exists; use --force to replace it`, {
          field: '--party',
        });
      }
      const pair = issuePartyCert({ ca, party, days, ...(hosts.length > 0 && { hosts }) });
      writeFileSync(cert, pair.cert);
      writeFileSync(key, pair.key, { mode: 0o600 });
      chmodSync(key, 0o600);
      out.push({ party, cert, key });
      ctx.print(`${party}: ${cert} (key ${key})`);
    }
    return { dir, ca: caCert, caCreated: created, parties: out };
  },
};
