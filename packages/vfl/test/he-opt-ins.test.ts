/**
 * The two HE opt-ins of the algorithm packages (issue 11, finding 8), where another party's keys are
 * loaded: the plaintext debug scheme ('none') and weak parameters are separate switches, neither stands
 * in for the other, and a key is checked against the receiving party's plan (scheme, Paillier size).
 */
import { memoryLogger } from '@fedscore/core';
import { createAdditiveHe } from '@fedscore/he';
import { cipherProvider } from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { QUANTILE_10, runBoth, synthetic } from './woe-binning-fixtures.ts';

describe("HE opt-ins where a peer's keys are loaded", () => {
  it("WOE binning host: scheme 'none' needs allowPlaintextScheme; allowWeakParameters is not it", async () => {
    const data = synthetic(400);
    const guest = { labels: data.labels, scheme: 'none' as const, allowPlaintextScheme: true };
    await expect(
      runBoth(guest, {
        columns: data.host,
        binning: QUANTILE_10,
        allowSchemes: ['none'],
        allowWeakParameters: true,
      }),
    ).rejects.toMatchObject({ code: 'protocol_abort', field: 'scheme' });
    const logger = memoryLogger();
    const ok = await runBoth(guest, {
      columns: data.host,
      binning: QUANTILE_10,
      allowSchemes: ['none'],
      allowPlaintextScheme: true,
      logger,
    });
    expect(ok.guest.features.length).toBe(data.host.length);
    // The host that accepted plaintext labels said so.
    expect(logger.records.some((r) => r.level === 'warn' && r.message.includes('NOT encrypted'))).toBe(true);
  }, 120_000);

  it("hetero-LR Paillier loader: the plan's key size and scheme are checked; weak keys need the opt-in", async () => {
    const weak = await createAdditiveHe({
      scheme: 'paillier',
      bits: 1024,
      allowWeakParameters: true,
      logger: memoryLogger(),
    });
    const none = await createAdditiveHe({ scheme: 'none', logger: memoryLogger() });
    const bytes = weak.serializePublic();
    await expect(cipherProvider('paillier').load(bytes)).rejects.toMatchObject({
      code: 'he_insecure_params',
      field: 'n',
    });
    await expect(
      cipherProvider('paillier', { paillierBits: 2048, allowWeakParameters: true }).load(bytes),
    ).rejects.toMatchObject({ code: 'he_context_mismatch', field: 'n' });
    // A 'none' blob under a Paillier plan, whatever the opt-ins.
    await expect(
      cipherProvider('paillier', { allowWeakParameters: true }).load(none.serializePublic()),
    ).rejects.toMatchObject({ code: 'he_context_mismatch', field: 'scheme' });
    const logger = memoryLogger();
    const loaded = await cipherProvider('paillier', {
      paillierBits: 1024,
      allowWeakParameters: true,
      logger,
    }).load(bytes);
    expect(loaded.insecure).toBe(true);
    expect(logger.records.some((r) => r.level === 'warn' && r.message.includes('INSECURE'))).toBe(true);
  });
});
