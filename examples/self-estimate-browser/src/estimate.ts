/**
 * One self-estimate with both roles in this JavaScript realm (browser or Node) over the in-memory
 * network and the real wire encoding. The enterprise's key is made here and never leaves `client`.
 * Default: the compact protocol (scoring.self-estimate-compact, ~0.23 MiB); `full` runs the full one
 * (scoring.self-estimate: the bank checks the encoding, ~9 MiB). docs/protocols/self-estimate.md.
 */
import { createInMemoryNetwork, ProtocolSession, runParties } from '@fedscore/core';
import {
  buildSelfEstimateCompactModel,
  buildSelfEstimateModel,
  type EnterpriseInputs,
  SCORING_VERSION,
  SELF_ESTIMATE_COMPACT_PROTOCOL,
  SELF_ESTIMATE_PROTOCOL,
  type SelfEstimate,
  SelfEstimateBank,
  SelfEstimateClient,
  SelfEstimateCompactBank,
  SelfEstimateCompactClient,
} from '@fedscore/scoring';
import { envelopeCodec } from '@fedscore/wire';
import { RULES, SCORECARD } from './product.ts';

export async function selfEstimate(
  inputs: EnterpriseInputs,
  options: { full?: boolean } = {},
): Promise<SelfEstimate & { bytes: number; ms: number }> {
  const form = { product: 'demo credit line', revealScore: true };
  const network = createInMemoryNetwork(['bank', 'enterprise'], envelopeCodec);
  const full = options.full === true;
  const spec = {
    protocol: full ? SELF_ESTIMATE_PROTOCOL : SELF_ESTIMATE_COMPACT_PROTOCOL,
    version: SCORING_VERSION,
    session: 'page',
  };
  const t0 = performance.now();
  const bankSession = new ProtocolSession(network.channel('bank'), spec);
  const clientSession = new ProtocolSession(network.channel('enterprise'), spec);
  const out = await runParties(network, {
    bank: () =>
      full
        ? new SelfEstimateBank({ model: buildSelfEstimateModel(SCORECARD, RULES, form) }).serve(
            bankSession,
            'enterprise',
          )
        : new SelfEstimateCompactBank({ model: buildSelfEstimateCompactModel(SCORECARD, RULES, form) }).serve(
            bankSession,
            'enterprise',
          ),
    client: () =>
      full
        ? new SelfEstimateClient().estimate(clientSession, 'bank', inputs)
        : new SelfEstimateCompactClient().estimate(clientSession, 'bank', inputs),
  });
  const stats = network.channel('enterprise').stats();
  return {
    ...out.client,
    bytes: (stats.bytesSent['bank'] ?? 0) + (stats.bytesReceived['bank'] ?? 0),
    ms: performance.now() - t0,
  };
}
