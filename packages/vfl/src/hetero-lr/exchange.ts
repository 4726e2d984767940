/** Small pieces every role uses to move encrypted vectors and public contexts over the session. */
import { FedscoreError, type PartyId, type ProtocolSession, type StepDef } from '@fedscore/core';
import type { CiphertextBatch } from '@fedscore/wire';
import type { EncVector, LrCipherProvider, LrCipherPublic, LrCipherSecret } from './cipher.ts';
import type { HeteroLrScheme } from './options.ts';
import { type PublicContextMessage, SCHEME_TO_WIRE } from './steps.ts';

export async function loadContext(
  provider: LrCipherProvider,
  m: { scheme: number; context: Uint8Array; fingerprint: string },
  scheme: HeteroLrScheme,
): Promise<LrCipherPublic> {
  if (m.scheme !== SCHEME_TO_WIRE[scheme]) {
    throw new FedscoreError('he_context_mismatch', `expected a ${scheme} context`, { field: 'scheme' });
  }
  const pk = await provider.load(m.context);
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
