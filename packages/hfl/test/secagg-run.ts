/** Test harness: one secure aggregation on the in-memory network, with simulated dropouts. */
import {
  createInMemoryNetwork,
  cryptoRng,
  type InMemoryNetwork,
  ProtocolSession,
  runParties,
} from '@fedscore/core';
import {
  runSecAggClient,
  runSecAggServer,
  SECAGG_PROTOCOL,
  SECAGG_VERSION,
  type SecAggClientRun,
  type SecAggConfig,
  type SecAggResult,
  secAggReady,
} from '@fedscore/hfl';
import { envelopeCodec } from '@fedscore/wire';

export function config(n: number, length: number, over: Partial<SecAggConfig> = {}): SecAggConfig {
  const k = over.neighbours ?? n - 1;
  return {
    clients: Array.from({ length: n }, (_, i) => `bank-${i}`),
    server: 'platform',
    length,
    neighbours: k,
    threshold: Math.floor((k + 1) / 2) + 1,
    graphSeed: 17,
    ...over,
  };
}

export async function runAggregation(
  cfg: SecAggConfig,
  inputs: readonly Float64Array[],
  dropouts: Readonly<Record<string, SecAggClientRun['dropOut']>> = {},
  phaseDeadlineMs = 1500,
): Promise<{ result: SecAggResult; network: InMemoryNetwork }> {
  await secAggReady();
  const network = createInMemoryNetwork([cfg.server, ...cfg.clients], envelopeCodec, { capture: true });
  const spec = { protocol: SECAGG_PROTOCOL, version: SECAGG_VERSION, session: 'round-1' };
  const roles: Record<string, () => Promise<unknown>> = {
    [cfg.server]: () =>
      runSecAggServer(new ProtocolSession(network.channel(cfg.server), spec), cfg, { phaseDeadlineMs }),
  };
  cfg.clients.forEach((c, i) => {
    const dropOut = dropouts[c];
    roles[c] = () =>
      runSecAggClient(
        new ProtocolSession(network.channel(c), spec),
        cfg,
        inputs[i]!,
        cryptoRng(),
        dropOut === undefined ? {} : { dropOut },
      );
  });
  const out = await runParties(network, roles);
  return { result: out[cfg.server] as SecAggResult, network };
}
