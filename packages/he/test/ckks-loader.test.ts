/**
 * What the CKKS loaders refuse before any SEAL object is built (issue 19, mutation-checked by
 * stryker/he-release.config.json): a blob of another scheme, a CKKS blob under a plan of another
 * scheme, a meta without parameters, key id or rotations, a fingerprint that does not match the
 * parameters (edited parameters, e.g. a weaker modulus chain passed off under a known fingerprint), a
 * public blob with a secret-key section and a secret blob without one. Blobs are rebuilt here with the
 * public `decodeBlob`/`encodeBlob` (the edits an attacker controls: meta, flags, sections).
 */
import { memoryLogger } from '@fedscore/core';
import {
  BLOB_KIND,
  type CkksSecretContext,
  createAdditiveHe,
  createCkksContext,
  decodeBlob,
  encodeBlob,
  loadCkksPublicContext,
  loadCkksSecretContext,
} from '@fedscore/he';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const refused = (code: string, field: string) => expect.objectContaining({ code, field });

let ctx: CkksSecretContext;
beforeAll(async () => {
  ctx = await createCkksContext({ params: 'ckks-8192' });
});
afterAll(() => ctx?.dispose());

function edited(bytes: Uint8Array, kind: number, edit: (meta: Record<string, unknown>) => void): Uint8Array {
  const blob = decodeBlob(bytes, kind as never);
  const meta = structuredClone(blob.meta);
  edit(meta);
  return encodeBlob({ ...blob, meta });
}

describe('CKKS loaders', () => {
  it('refuse a blob of another scheme, and a CKKS blob under a plan of another scheme', async () => {
    const none = await createAdditiveHe({ scheme: 'none', logger: memoryLogger() });
    await expect(loadCkksPublicContext(none.serializePublic())).rejects.toThrow(
      refused('invalid_argument', 'scheme'),
    );
    const bytes = ctx.serialize();
    await expect(loadCkksPublicContext(bytes, { expected: { scheme: 'paillier' } })).rejects.toThrow(
      refused('he_context_mismatch', 'scheme'),
    );
    const ok = await loadCkksPublicContext(bytes, { expected: { scheme: 'ckks' } });
    expect(ok.fingerprint).toBe(ctx.fingerprint);
    ok.dispose();
  });

  it('refuse an incomplete meta and parameters that do not match the fingerprint', async () => {
    const bytes = ctx.serialize();
    const kind = BLOB_KIND.publicContext;
    for (const drop of ['params', 'keyId', 'rotations']) {
      await expect(loadCkksPublicContext(edited(bytes, kind, (m) => delete m[drop]))).rejects.toThrow(
        refused('he_corrupt', 'meta'),
      );
    }
    await expect(
      loadCkksPublicContext(edited(bytes, kind, (m) => Object.assign(m, { keyId: 7 }))),
    ).rejects.toThrow(refused('he_corrupt', 'meta'));
    await expect(
      loadCkksPublicContext(edited(bytes, kind, (m) => Object.assign(m, { rotations: 'all' }))),
    ).rejects.toThrow(refused('he_corrupt', 'meta'));
    await expect(
      loadCkksPublicContext(edited(bytes, kind, (m) => Object.assign(m, { keyId: `${m.keyId}0` }))),
    ).rejects.toThrow(refused('he_corrupt', 'fingerprint'));
    await expect(
      loadCkksPublicContext(
        edited(bytes, kind, (m) => Object.assign(m, { params: { ...(m.params as object), scaleBits: 39 } })),
      ),
    ).rejects.toThrow(refused('he_corrupt', 'fingerprint'));
  });

  it('a public loader refuses a secret blob, a secret loader a public one', async () => {
    const pub = ctx.serialize();
    const sec = ctx.serializeSecret();
    // The kinds differ: each loader checks the kind byte first.
    await expect(loadCkksPublicContext(sec)).rejects.toThrow(refused('invalid_argument', 'kind'));
    await expect(loadCkksSecretContext(pub)).rejects.toThrow(refused('invalid_argument', 'kind'));
    // Same kind byte, other sections: a secret payload relabelled public, a public one relabelled secret.
    const s = decodeBlob(sec, BLOB_KIND.secretContext);
    const asPublic = encodeBlob({ ...s, kind: BLOB_KIND.publicContext });
    await expect(loadCkksPublicContext(asPublic)).rejects.toThrow(refused('he_corrupt', 'secretKey'));
    const p = decodeBlob(pub, BLOB_KIND.publicContext);
    const asSecret = encodeBlob({ ...p, kind: BLOB_KIND.secretContext });
    await expect(loadCkksSecretContext(asSecret)).rejects.toThrow(refused('he_corrupt', 'secretKey'));
    const back = await loadCkksSecretContext(sec);
    expect(back.fingerprint).toBe(ctx.fingerprint);
    back.dispose();
  });

  it('weak parameters: refused with the bound in the error; the deprecated insecure flag opts in only when true', async () => {
    // N = 4096 with log q = 60 + 40 + 40 + 60 = 200 > 109 (HomomorphicEncryption.org, 128-bit classical).
    const weak = { polyModulusDegree: 4096, coeffModulusBits: [60, 40, 40, 60], scaleBits: 40 };
    await expect(createCkksContext({ params: weak })).rejects.toThrow(
      expect.objectContaining({
        code: 'he_insecure_params',
        field: 'params.coeffModulusBits',
        details: { logQ: 200, max: 109 },
      }),
    );
    await expect(createCkksContext({ params: weak, insecure: false })).rejects.toThrow(
      refused('he_insecure_params', 'params.coeffModulusBits'),
    );
    const logger = memoryLogger();
    const c = await createCkksContext({ params: weak, insecure: true, logger });
    try {
      expect(c.insecure).toBe(true);
      const bytes = c.serialize();
      await expect(loadCkksPublicContext(bytes, { insecure: false })).rejects.toThrow(
        refused('he_insecure_params', 'params.coeffModulusBits'),
      );
      const loaded = await loadCkksPublicContext(bytes, { insecure: true, logger });
      expect(loaded.insecure).toBe(true);
      loaded.dispose();
    } finally {
      c.dispose();
    }
  });

  it('secure parameters load without a warning', async () => {
    const logger = memoryLogger();
    const loaded = await loadCkksPublicContext(ctx.serialize(), { logger });
    expect(loaded.insecure).toBe(false);
    loaded.dispose();
    expect(logger.records.filter((r) => r.level === 'warn')).toEqual([]);
  });
});
