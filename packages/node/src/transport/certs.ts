/**
 * Development PKI for party nodes: a certificate authority and one certificate per party, so that every
 * node authenticates every other with mutual TLS and takes the peer's party id from its certificate.
 *
 * Identity: a party certificate carries its party id as a SAN URI `urn:fedscore:party:<id>` (the only
 * value the transport trusts; `partyIdOf`), as its subject CN (for people reading it), and DNS/IP SANs
 * for the addresses the node is reached at. TLS checks the chain against the CA; the transport then reads
 * the party id from the URI, so a node may be addressed by any name and a certificate issued for `bank`
 * can never speak as `government`.
 *
 * How: Node's crypto makes the keys (ECDSA P-256), signs, and parses certificates, but cannot assemble
 * one; `der.ts` writes the RFC 5280 structure (a few dozen lines of DER), and every certificate made here
 * is read back with Node's `X509Certificate` and verified against its issuer before it is returned. No
 * dependency and no `openssl` binary: a user's machine may have neither. Production deployments bring
 * their own PKI (docs/deploy.md): any CA works if each party certificate has the SAN URI above and the
 * serverAuth and clientAuth extended key usages.
 */
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto';
import { isIP } from 'node:net';
import { FedscoreError } from '@fedscore/core';
import {
  bitString,
  boolean,
  children,
  type Der,
  explicit,
  ia5String,
  implicitPrimitive,
  octetString,
  oid,
  readElement,
  sequence,
  set,
  smallInteger,
  time,
  tlv,
  unsignedInteger,
  utf8String,
} from './der.ts';

/** A party id: lower-case letters, digits and dashes, 1-63 characters, starting alphanumeric. */
export const PARTY_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** The SAN URI prefix that carries the party id. */
export const PARTY_URI_PREFIX = 'urn:fedscore:party:';

const DAY_MS = 86_400_000;
const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  rsaWithSha256: '1.2.840.113549.1.1.11',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** PEM text of a certificate and its private key (PKCS#8). */
export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

export interface CreateCaOptions {
  /** Subject common name (default "fedscore development CA"). */
  readonly name?: string;
  /** Validity in days (default 365). */
  readonly days?: number;
}

export interface IssuePartyOptions {
  /** The issuing CA (ECDSA P-256 or RSA key). */
  readonly ca: PemPair;
  readonly party: string;
  /** Host names or IP addresses the node is reached at (default localhost, 127.0.0.1, ::1). */
  readonly hosts?: readonly string[];
  /** Validity in days (default 365). */
  readonly days?: number;
}

export function assertPartyId(value: unknown, field: string): string {
  if (typeof value !== 'string' || !PARTY_ID_PATTERN.test(value)) {
    throw new FedscoreError(
      'invalid_argument',
      'a party id is 1-63 lower-case letters, digits or dashes, starting with a letter or digit',
      { field },
    );
  }
  return value;
}

function validity(value: number | undefined, field: string): Der {
  const d = value ?? 365;
  if (!Number.isInteger(d) || d < 1 || d > 3650) {
    throw new FedscoreError('out_of_range', `validity of ${d} days is outside [1, 3650]`, { field });
  }
  const now = Date.now();
  // Back-dated a minute so that a peer whose clock is slightly behind accepts a fresh certificate.
  return sequence(time(new Date(now - 60_000)), time(new Date(now + d * DAY_MS)));
}

function name(attrs: readonly [string, string][]): Der {
  return sequence(...attrs.map(([type, value]) => set(sequence(oid(type), utf8String(value)))));
}

function extension(id: string, critical: boolean, value: Der): Der {
  return critical
    ? sequence(oid(id), boolean(true), octetString(value))
    : sequence(oid(id), octetString(value));
}

/** RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING contents. */
function keyId(spki: Uint8Array): Uint8Array {
  const top = readElement(spki, 0);
  const key = children(spki, top)[1]!;
  return createHash('sha1')
    .update(spki.subarray(key.contentStart + 1, key.end))
    .digest();
}

function spkiOf(key: KeyObject): Uint8Array {
  return new Uint8Array(key.export({ type: 'spki', format: 'der' }));
}

function signatureAlgorithm(signer: KeyObject): Der {
  if (signer.asymmetricKeyType === 'ec') return sequence(oid(OID.ecdsaWithSha256));
  if (signer.asymmetricKeyType === 'rsa')
    return sequence(oid(OID.rsaWithSha256), tlv(0x05, new Uint8Array()));
  throw new FedscoreError('unsupported', `a CA key of type ${signer.asymmetricKeyType}`, { field: 'ca.key' });
}

function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}

function certificate(tbsFields: Der[], signer: KeyObject): string {
  const alg = signatureAlgorithm(signer);
  const serial = randomBytes(16);
  serial[0]! &= 0x7f; // positive, at most 20 octets (RFC 5280 4.1.2.2)
  const tbs = sequence(explicit(0, smallInteger(2)), unsignedInteger(serial), alg, ...tbsFields);
  const signature = sign('sha256', tbs, signer);
  return toPem(sequence(tbs, alg, bitString(signature)), 'CERTIFICATE');
}

function loadKey(pem: string, field: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (e) {
    throw new FedscoreError('invalid_argument', 'not a PEM private key', { field, cause: e });
  }
}

function loadCert(pem: string, field: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw new FedscoreError('invalid_argument', 'not a PEM X.509 certificate', { field, cause: e });
  }
}

/** The DER subject Name and SPKI of a certificate, byte for byte (an issuer name must match exactly). */
function subjectAndSpki(cert: X509Certificate): { subject: Uint8Array; spki: Uint8Array } {
  const raw = new Uint8Array(cert.raw);
  const tbs = children(raw, readElement(raw, 0))[0]!;
  const f = children(raw, tbs);
  const off = f[0]!.tag === 0xa0 ? 1 : 0; // explicit version present
  const subject = f[off + 4]!;
  const spki = f[off + 5]!;
  return {
    subject: raw.subarray(subject.start, subject.end),
    spki: raw.subarray(spki.start, spki.end),
  };
}

/** A self-signed development CA (ECDSA P-256, path length 0: it signs party certificates only). */
export function createDevCa(options: CreateCaOptions = {}): PemPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = spkiOf(publicKey);
  const subject = name([[OID.commonName, options.name ?? 'fedscore development CA']]);
  const ski = keyId(spki);
  const cert = certificate(
    [
      subject,
      validity(options.days, 'days'),
      subject,
      spki,
      explicit(
        3,
        sequence(
          extension(OID.basicConstraints, true, sequence(boolean(true), smallInteger(0))),
          // keyCertSign (bit 5) and cRLSign (bit 6): 0b00000110 with 1 unused bit.
          extension(OID.keyUsage, true, bitString(Uint8Array.of(0x06), 1)),
          extension(OID.subjectKeyId, false, octetString(ski)),
        ),
      ),
    ],
    privateKey,
  );
  const pair = { cert, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
  checkIssued(pair.cert, pair.cert);
  return pair;
}

/** A party certificate signed by `ca`, for both server and client authentication. */
export function issuePartyCert(options: IssuePartyOptions): PemPair {
  const party = assertPartyId(options.party, 'party');
  const hosts = options.hosts ?? ['localhost', '127.0.0.1', '::1'];
  const caCert = loadCert(options.ca.cert, 'ca.cert');
  const caKey = loadKey(options.ca.key, 'ca.key');
  if (!caCert.ca) throw new FedscoreError('invalid_argument', 'not a CA certificate', { field: 'ca.cert' });
  if (!caCert.checkPrivateKey(caKey)) {
    throw new FedscoreError('invalid_argument', 'the CA key does not match the CA certificate', {
      field: 'ca.key',
    });
  }
  const ca = subjectAndSpki(caCert);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = spkiOf(publicKey);
  const san: Der[] = [implicitPrimitive(6, new TextEncoder().encode(`${PARTY_URI_PREFIX}${party}`))];
  for (const h of hosts) {
    if (typeof h !== 'string' || h.length === 0 || h.length > 253) {
      throw new FedscoreError('invalid_argument', 'a host name must be 1-253 characters', { field: 'hosts' });
    }
    const family = isIP(h);
    if (family === 4) san.push(implicitPrimitive(7, Uint8Array.from(h.split('.').map(Number))));
    else if (family === 6) san.push(implicitPrimitive(7, ipv6Bytes(h)));
    else san.push(tlv(0x82, ia5String(h).subarray(2)));
  }
  const cert = certificate(
    [
      ca.subject,
      validity(options.days, 'days'),
      name([
        [OID.commonName, party],
        [OID.organization, 'fedscore party'],
      ]),
      spki,
      explicit(
        3,
        sequence(
          extension(OID.basicConstraints, true, sequence()),
          // digitalSignature (bit 0): 0b10000000 with 7 unused bits.
          extension(OID.keyUsage, true, bitString(Uint8Array.of(0x80), 7)),
          extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth), oid(OID.clientAuth))),
          extension(OID.subjectAltName, false, sequence(...san)),
          extension(OID.subjectKeyId, false, octetString(keyId(spki))),
          extension(OID.authorityKeyId, false, sequence(implicitPrimitive(0, keyId(ca.spki)))),
        ),
      ),
    ],
    caKey,
  );
  checkIssued(cert, options.ca.cert);
  return { cert, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

function ipv6Bytes(h: string): Uint8Array {
  const [head, tail] = h.includes('::') ? h.split('::') : [h, undefined];
  const parse = (s: string | undefined): number[] =>
    s ? s.split(':').map((g) => Number.parseInt(g, 16)) : [];
  const a = parse(head);
  const b = parse(tail);
  const groups = tail === undefined ? a : [...a, ...new Array<number>(8 - a.length - b.length).fill(0), ...b];
  return Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff]));
}

/** Read back what was written and verify its signature, so that a malformed certificate never leaves. */
function checkIssued(certPem: string, issuerPem: string): void {
  const cert = new X509Certificate(certPem);
  const issuer = new X509Certificate(issuerPem);
  if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
    throw new FedscoreError('internal', 'a generated certificate does not verify against its issuer', {
      field: 'certificate',
    });
  }
}

/**
 * The party id a certificate speaks for: its SAN URI `urn:fedscore:party:<id>`. Exactly one such URI
 * must be present; the CN is not trusted (it is free text in many PKIs).
 */
export function partyIdOf(cert: string | Uint8Array, field = 'certificate'): string {
  let san: string | undefined;
  try {
    san = new X509Certificate(typeof cert === 'string' ? cert : Buffer.from(cert)).subjectAltName;
  } catch (e) {
    throw new FedscoreError('peer_identity', 'not an X.509 certificate', { field, cause: e });
  }
  return partyIdFromSan(san, field);
}

/** The party id in a `subjectAltName` string as Node prints it (`URI:..., DNS:...`). */
export function partyIdFromSan(san: string | undefined, field = 'certificate'): string {
  const ids = (san ?? '')
    .split(/,\s*/)
    .filter((e) => e.startsWith(`URI:${PARTY_URI_PREFIX}`))
    .map((e) => e.slice(`URI:${PARTY_URI_PREFIX}`.length));
  if (ids.length !== 1 || !PARTY_ID_PATTERN.test(ids[0]!)) {
    throw new FedscoreError(
      'peer_identity',
      `the certificate must carry exactly one SAN URI ${PARTY_URI_PREFIX}<party id> (found ${ids.length})`,
      { field },
    );
  }
  return ids[0]!;
}
