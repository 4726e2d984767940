/** Small pieces every role uses to move encrypted vectors and public contexts over the session. */
import {
  type Channel,
  type CryptoRng,
  type Envelope,
  FedscoreError,
  isFedscoreError,
  type PartyId,
  type ProtocolSession,
  type StepDef,
} from '@fedscore/core';
import { ABORT_STEP, abortFromError, abortToError, type CiphertextBatch } from '@fedscore/wire';
import type { CipherRuntime, EncVector, LrCipherProvider, LrCipherPublic, LrCipherSecret } from './cipher.ts';
import type { HeteroLrScheme } from './options.ts';
import { subtract, uniformMask } from './plan.ts';
import { ABORT, type PublicContextMessage, SCHEME_TO_WIRE } from './steps.ts';

export async function loadContext(
  provider: LrCipherProvider,
  m: { scheme: number; context: Uint8Array; fingerprint: string },
  scheme: HeteroLrScheme,
  runtime?: CipherRuntime,
): Promise<LrCipherPublic> {
  if (m.scheme !== SCHEME_TO_WIRE[scheme]) {
    throw new FedscoreError('he_context_mismatch', `expected a ${scheme} context`, { field: 'scheme' });
  }
  const pk = await provider.load(m.context, runtime);
  if (pk.fingerprint !== m.fingerprint) {
    pk.dispose();
    throw new FedscoreError('he_context_mismatch', 'context fingerprint differs from the announced one', {
      field: 'fingerprint',
    });
  }
  return pk;
}

export function contextMessage(sk: LrCipherSecret, scheme: HeteroLrScheme): PublicContextMessage {
  return {
    scheme: SCHEME_TO_WIRE[scheme],
    context: sk.serializePublic(),
    fingerprint: sk.fingerprint,
    insecure: sk.insecure,
  } as PublicContextMessage;
}

/** Run `f` and dispose `input` afterwards (WASM memory). */
export function consume<T>(input: EncVector, f: () => T): T {
  try {
    return f();
  } finally {
    input.dispose();
  }
}

/** Await `f` and dispose `input` afterwards (WASM memory). */
export async function consumeAsync<T>(input: EncVector, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } finally {
    input.dispose();
  }
}

/**
 * Run a role's body; if it fails (for any reason other than a peer's abort or a closed channel), send
 * every peer an `abort` naming the error code and field (never data values: `abortFromError`) so that
 * they stop at once instead of waiting, then rethrow. Sending is best effort.
 */
export async function withAbort<T>(
  s: ProtocolSession,
  peers: readonly PartyId[],
  body: () => Promise<T>,
): Promise<T> {
  try {
    return await body();
  } catch (e) {
    if (!isFedscoreError(e, 'protocol_abort') && !isFedscoreError(e, 'channel_closed')) {
      const info = abortFromError(e);
      for (const p of peers) {
        try {
          await s.send(p, ABORT, info);
        } catch {
          // The peer may be gone already; the local error is what matters.
        }
      }
    }
    throw e;
  }
}

/**
 * A channel whose receive turns a peer's `abort` envelope into that peer's error (`protocol_abort`, with
 * the peer's code and field) instead of a step mismatch. Sessions over it report why a peer stopped.
 */
export function abortAwareChannel(channel: Channel): Channel {
  return {
    party: channel.party,
    send: (envelope: Envelope) => channel.send(envelope),
    async receive(from: PartyId, session: string): Promise<Envelope> {
      const env = await channel.receive(from, session);
      if (env.step === ABORT_STEP) throw abortToError(ABORT.decode(env.payload), from);
      return env;
    },
    stats: () => channel.stats(),
    close: (reason?: Error) => channel.close(reason),
  };
}

export async function sendEncrypted(
  s: ProtocolSession,
  to: PartyId,
  step: StepDef<CiphertextBatch>,
  cipher: LrCipherPublic,
  v: EncVector,
): Promise<void> {
  let batch: CiphertextBatch;
  try {
    batch = cipher.toBatch(v);
  } finally {
    v.dispose();
  }
  await s.send(to, step, batch);
}

/** The two forms a key holder releases a masked vector in. */
export interface ReleaseSteps {
  /** Float64 values (CKKS: flooded; none). */
  readonly values: StepDef<Float64Array>;
  /** Residues mod n of a value masked uniformly mod n (exact schemes: Paillier). */
  readonly residues: StepDef<Uint8Array[]>;
}

/**
 * The masking side of a release: `v` (consumed) plus this party's mask -- uniform modulo n for exact
 * schemes (Paillier: the key holder decrypts a uniform residue, perfect hiding), uniform on +-2^bits
 * otherwise -- and the function that reads the key holder's release back into values.
 */
export function maskForRelease(
  key: LrCipherPublic,
  v: EncVector,
  rng: CryptoRng,
  bits: number,
  steps: ReleaseSteps,
  field: string,
): { masked: EncVector; read(s: ProtocolSession, from: PartyId): Promise<Float64Array> } {
  if (key.exactMask !== undefined) {
    const { masked, unmask } = consume(v, () => key.exactMask!(v, rng));
    return { masked, read: async (s, from) => unmask(await s.receive(from, steps.residues)) };
  }
  const mask = uniformMask(rng, v.length, bits);
  return {
    masked: consume(v, () => key.addPlain(v, mask)),
    read: async (s, from) => subtract(await s.receive(from, steps.values), mask, field),
  };
}

/**
 * The key holder's side: release a received masked vector `v` (consumed) to `to`; CKKS floods it with
 * noise from `noise` (the release's key-derived stream, `MaskSource.forFlooding`; default the CSPRNG).
 */
export async function releaseMasked(
  s: ProtocolSession,
  to: PartyId,
  sk: LrCipherSecret,
  v: EncVector,
  steps: ReleaseSteps,
  noise?: CryptoRng,
): Promise<void> {
  if (sk.decryptResidues !== undefined) {
    const residues = consume(v, () => sk.decryptResidues!(v));
    await s.send(to, steps.residues, residues);
    return;
  }
  const out = consume(v, () => sk.decryptForRelease(v, noise));
  await s.send(to, steps.values, out);
}
