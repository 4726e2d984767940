/**
 * One self-estimate with both roles in this JavaScript realm (browser or Node) over the in-memory
 * network and the real wire encoding. The enterprise's key is made here and never leaves `client`.
 */
import { createInMemoryNetwork, ProtocolSession, runParties } from '@fedscore/core';
import {
  buildSelfEstimateModel,
  type EnterpriseInputs,
  SCORING_VERSION,
  SELF_ESTIMATE_PROTOCOL,
  type SelfEstimate,
  SelfEstimateBank,
  SelfEstimateClient,
} from '@fedscore/scoring';
import { envelopeCodec } from '@fedscore/wire';
import { RULES, SCORECARD } from './product.ts';

export async function selfEstimate(
  inputs: EnterpriseInputs,
): Promise<SelfEstimate & { bytes: number; ms: number }> {
  const model = buildSelfEstimateModel(SCORECARD, RULES, { product: 'demo credit line', revealScore: true });
  const network = createInMemoryNetwork(['bank', 'enterprise'], envelopeCodec);
  const spec = { protocol: SELF_ESTIMATE_PROTOCOL, version: SCORING_VERSION, session: 'page' };
  const t0 = performance.now();
  const out = await runParties(network, {
    bank: () =>
      new SelfEstimateBank({ model }).serve(new ProtocolSession(network.channel('bank'), spec), 'enterprise'),
    client: () =>
      new SelfEstimateClient().estimate(
        new ProtocolSession(network.channel('enterprise'), spec),
        'bank',
        inputs,
      ),
  });
  const stats = network.channel('enterprise').stats();
  return {
    ...out.client,
    bytes: (stats.bytesSent['bank'] ?? 0) + (stats.bytesReceived['bank'] ?? 0),
    ms: performance.now() - t0,
  };
}
