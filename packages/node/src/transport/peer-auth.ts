/**
 * Who is calling: the node's own check of a caller's TLS client certificate.
 *
 * TLS asks every caller for a certificate but does not end the handshake when the certificate is
 * missing or untrusted (grpc.ts): the node checks it here, once per connection, and refuses every call
 * of a connection that failed with a typed `peer_identity` error -- returned to the caller as a gRPC
 * status and written to the audit log with the presented certificate's fingerprint, subject and issuer.
 * A failure the TLS layer would have hidden becomes an audited refusal; nothing weaker is accepted:
 *
 *   - a certificate must be presented (the `clientAuth` usage where extended key usage is given);
 *   - it must chain to one of the node's CA certificates (signature checked with the issuer's public key,
 *     issuer name matching), through at most `MAX_INTERMEDIATES` presented CA certificates;
 *   - it and every certificate of the chain must be within its validity dates at `now`;
 *   - it must carry exactly one SAN URI `urn:fedscore:party:<id>` (certs.ts) naming a configured peer.
 * OpenSSL's own verification (`TLSSocket.authorized`, against the same CA) must agree as well: both
 * checks have to pass, so a gap in either is not enough to get in.
 *
 * The details recorded are public parts of the certificate only (SHA-256 fingerprint, subject, issuer,
 * serial, the party it claims): never key material.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { FedscoreError, type PartyId } from '@fedscore/core';
import { partyIdFromSan } from './certs.ts';

/** CA certificates a client may present between its own certificate and the node's CA. */
export const MAX_INTERMEDIATES = 3;
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Public facts about a presented certificate, for the audit log (no key material). */
export interface PresentedCertificate {
  /** SHA-256 fingerprint as Node prints it (`AB:CD:...`). */
  readonly fingerprint256: string;
  readonly subject: string;
  readonly issuer: string;
  readonly serialNumber: string;
  /** The party its SAN URI claims, when it names exactly one. */
  readonly claimedParty?: PartyId;
}

/** A verified caller. */
export interface VerifiedPeer {
  readonly party: PartyId;
  readonly certificate: PresentedCertificate;
}

export interface VerifyPeerOptions {
  /** Parties allowed to call (the configured peers). */
  readonly peers: ReadonlySet<PartyId>;
  /** This node's party id (for messages). */
  readonly self: PartyId;
  /** OpenSSL's verdict on the same chain (`TLSSocket.authorized`, `authorizationError`). */
  readonly tlsAuthorized: boolean;
  readonly tlsError?: string;
  /** The time to check validity at (ms since the epoch). Default now. */
  readonly now?: number;
}

/** The certificates of a PEM bundle; a bundle without one is an `invalid_config`. */
export function parseCaBundle(pem: string, field = 'tls.ca'): X509Certificate[] {
  const blocks = pem.match(PEM_CERT) ?? [];
  const out: X509Certificate[] = [];
  for (const b of blocks) {
    try {
      out.push(new X509Certificate(b));
    } catch (e) {
      throw new FedscoreError('invalid_config', 'a CA bundle entry is not an X.509 certificate', {
        field,
        cause: e,
      });
    }
  }
  if (out.length === 0) {
    throw new FedscoreError('invalid_config', 'the CA bundle holds no PEM certificate', { field });
  }
  return out;
}

/** Public facts of a certificate (for the audit log). */
export function describeCertificate(cert: X509Certificate): PresentedCertificate {
  let claimedParty: string | undefined;
  try {
    claimedParty = partyIdFromSan(cert.subjectAltName);
  } catch {
    claimedParty = undefined;
  }
  return {
    fingerprint256: cert.fingerprint256,
    subject: cert.subject.replaceAll('\n', ', '),
    issuer: cert.issuer.replaceAll('\n', ', '),
    serialNumber: cert.serialNumber,
    ...(claimedParty !== undefined && { claimedParty }),
  };
}

function refuse(
  message: string,
  presented: PresentedCertificate | undefined,
  cause?: unknown,
): FedscoreError {
  return new FedscoreError('peer_identity', message, {
    field: 'certificate',
    ...(cause !== undefined && { cause }),
    ...(presented !== undefined && {
      details: {
        fingerprint256: presented.fingerprint256,
        subject: presented.subject,
        issuer: presented.issuer,
        serialNumber: presented.serialNumber,
        ...(presented.claimedParty !== undefined && { claimedParty: presented.claimedParty }),
      },
    }),
  });
}

function withinValidity(cert: X509Certificate, now: number): boolean {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  return Number.isFinite(from) && Number.isFinite(to) && from <= now && now <= to;
}

function issues(issuer: X509Certificate, cert: X509Certificate): boolean {
  return issuer.ca && cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

/**
 * Check a caller's certificate chain (`chain[0]` the caller's own certificate, then the CA certificates
 * it sent, as DER): returns the caller's party or throws `peer_identity` naming what failed, with the
 * presented certificate's public facts in `details`.
 */
export function verifyPeerCertificate(
  chain: readonly Uint8Array[],
  anchors: readonly X509Certificate[],
  options: VerifyPeerOptions,
): VerifiedPeer {
  const now = options.now ?? Date.now();
  const first = chain[0];
  if (first === undefined || first.length === 0) {
    throw refuse(`the caller presented no certificate (${options.self} requires one)`, undefined);
  }
  const certs: X509Certificate[] = [];
  for (const der of chain.slice(0, MAX_INTERMEDIATES + 1)) {
    try {
      certs.push(new X509Certificate(Buffer.from(der)));
    } catch (e) {
      throw refuse('the caller presented bytes that are not an X.509 certificate', undefined, e);
    }
  }
  const leaf = certs[0]!;
  const presented = describeCertificate(leaf);
  if (leaf.ca) throw refuse('the caller presented a CA certificate, not a party certificate', presented);
  const eku = leaf.keyUsage;
  if (eku !== undefined && eku.length > 0 && !eku.includes(CLIENT_AUTH)) {
    throw refuse('the certificate is not for client authentication (extended key usage)', presented);
  }
  // Walk up: each certificate must be issued by a trust anchor or by the next presented CA certificate.
  let anchored = false;
  for (let i = 0; i < certs.length && !anchored; i++) {
    const c = certs[i]!;
    if (!withinValidity(c, now)) {
      throw refuse(
        i === 0
          ? `the certificate is outside its validity (${c.validFrom} to ${c.validTo})`
          : `a CA certificate of the chain is outside its validity (${c.validTo})`,
        presented,
      );
    }
    const anchor = anchors.find((a) => issues(a, c));
    if (anchor !== undefined) {
      if (!withinValidity(anchor, now)) throw refuse("this node's CA certificate has expired", presented);
      anchored = true;
    } else {
      const next = certs[i + 1];
      if (next === undefined || !issues(next, c)) break;
    }
  }
  if (!anchored) {
    throw refuse(`the certificate is not issued by ${options.self}'s CA (${presented.issuer})`, presented);
  }
  if (!options.tlsAuthorized) {
    throw refuse(
      `TLS verification of the certificate failed (${options.tlsError ?? 'not authorized'})`,
      presented,
    );
  }
  let party: PartyId;
  try {
    party = partyIdFromSan(leaf.subjectAltName, 'certificate');
  } catch (e) {
    throw refuse(e instanceof Error ? e.message : String(e), presented, e);
  }
  if (!options.peers.has(party)) {
    throw refuse(`'${party}' is not a configured peer of ${options.self}`, presented);
  }
  return { party, certificate: presented };
}

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

/**
 * Check a node's own TLS material at start, so that a node never runs on another party's certificate and
 * key, or trusts a leaf certificate as its CA: every `tls.ca` certificate must be a CA certificate
 * (basic constraints CA); `tls.cert` must name `party` in its SAN URI, not be a CA, allow server and client
 * authentication (where it lists extended key usages), be within its validity dates, and chain to `tls.ca`
 * (directly or through CA certificates that follow it in the same file); `tls.key` must be the private
 * key of `tls.cert`. Throws `invalid_config` naming the field (`tls.ca`, `tls.cert`, `tls.key`).
 */
export function checkOwnTlsMaterial(
  tls: { readonly ca: string; readonly cert: string; readonly key: string },
  party: PartyId,
  now = Date.now(),
): void {
  const bad = (field: string, message: string, cause?: unknown): FedscoreError =>
    new FedscoreError('invalid_config', message, { field, ...(cause !== undefined && { cause }) });
  const anchors = parseCaBundle(tls.ca);
  for (const a of anchors) {
    if (!a.ca) {
      throw bad(
        'tls.ca',
        `the CA bundle holds a certificate that is not a CA (${a.subject.replaceAll('\n', ', ')}): a leaf certificate cannot be a trust anchor`,
      );
    }
  }
  const chain = (tls.cert.match(PEM_CERT) ?? []).map((b) => {
    try {
      return new X509Certificate(b);
    } catch (e) {
      throw bad('tls.cert', 'not a PEM X.509 certificate', e);
    }
  });
  const leaf = chain[0];
  if (leaf === undefined) throw bad('tls.cert', 'no PEM certificate in the file');
  if (leaf.ca) throw bad('tls.cert', "the node's certificate is a CA certificate, not a party certificate");
  let named: PartyId;
  try {
    named = partyIdFromSan(leaf.subjectAltName, 'tls.cert');
  } catch (e) {
    throw bad('tls.cert', e instanceof Error ? e.message : String(e), e);
  }
  if (named !== party) {
    throw bad('tls.cert', `the certificate is party '${named}''s, this node is '${party}'`);
  }
  const eku = leaf.keyUsage;
  if (eku !== undefined && eku.length > 0 && !(eku.includes(SERVER_AUTH) && eku.includes(CLIENT_AUTH))) {
    throw bad('tls.cert', 'the certificate must allow both server and client authentication');
  }
  if (!withinValidity(leaf, now)) {
    throw bad('tls.cert', `the certificate is outside its validity (${leaf.validFrom} to ${leaf.validTo})`);
  }
  // (An expired CA in the bundle is allowed -- bundles carry old and new CAs during a rotation -- but
  // the one this certificate chains to must be valid.)
  let anchored = false;
  for (let i = 0; i < chain.length && !anchored; i++) {
    const c = chain[i]!;
    const anchor = anchors.find((a) => issues(a, c));
    if (anchor !== undefined) {
      if (!withinValidity(anchor, now)) {
        throw bad(
          'tls.ca',
          `the CA certificate that issued tls.cert is outside its validity (${anchor.validTo})`,
        );
      }
      anchored = true;
    } else if (chain[i + 1] === undefined || !issues(chain[i + 1]!, c)) break;
  }
  if (!anchored) {
    throw bad(
      'tls.cert',
      `the certificate is not issued by the CA of tls.ca (its issuer: ${leaf.issuer.replaceAll('\n', ', ')})`,
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(tls.key);
  } catch (e) {
    throw bad('tls.key', 'not a PEM private key', e);
  }
  if (!leaf.checkPrivateKey(key)) {
    throw bad('tls.key', "the private key does not belong to the node's certificate (tls.cert)");
  }
}
