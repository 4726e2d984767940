/**
 * What a SecureBoost host refuses on its own, whatever the guest plans: the plaintext scheme unless it
 * allows it (`policy`), a plan below its row floor (`privacy_floor`, in secureboost-none.test.ts), and
 * more histogram releases than the plan's budget its flooding was sized for (`release_budget`): here
 * the guest grows two trees while the plan the host received (rewritten in transit) announced one, and
 * the host stops at the first histogram of the second tree; and the opt-in `lowProductLevel` while the
 * per-bin floor is on (`invalid_argument`). The guest sees each refusal as the host's
 * abort (`protocol_abort` with the host's code), never a hang.
 */
import {
  type Channel,
  createInMemoryNetwork,
  type Envelope,
  type FedscoreError,
  isFedscoreError,
  ProtocolSession,
  runParties,
} from '@fedscore/core';
import {
  abortAwareChannel,
  SECUREBOOST_PROTOCOL,
  SECUREBOOST_VERSION,
  SecureBoostGuest,
  SecureBoostHost,
} from '@fedscore/vfl';
import { envelopeCodec, fedscore } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';
import { syntheticSplit } from './synthetic.ts';

const data = syntheticSplit(400, 1, [2], 31);
const spec = { protocol: SECUREBOOST_PROTOCOL, version: SECUREBOOST_VERSION, session: 'refusals' };

/** A guest channel that rewrites the plan it sends (a tampering or lying guest). */
function rewritingPlan(channel: Channel, edit: (plan: fedscore.secureboost.TrainPlan) => void): Channel {
  return {
    ...channel,
    party: channel.party,
    send: (env: Envelope) => {
      if (env.step !== 'train-plan') return channel.send(env);
      const plan = fedscore.secureboost.TrainPlan.decode(env.payload);
      edit(plan);
      return channel.send({ ...env, payload: fedscore.secureboost.TrainPlan.encode(plan).finish() });
    },
    receive: (from, session) => channel.receive(from, session),
    stats: () => channel.stats(),
    close: (reason) => channel.close(reason),
  };
}

async function run(options: {
  scheme: 'ckks' | 'none';
  allowPlaintextScheme: boolean;
  edit?: (plan: fedscore.secureboost.TrainPlan) => void;
  lowProductLevel?: boolean;
}): Promise<{ guest: unknown; host: unknown }> {
  const network = createInMemoryNetwork(['guest', 'host'], envelopeCodec);
  const guestChannel = abortAwareChannel(network.channel('guest'));
  const outcome: { guest: unknown; host: unknown } = { guest: undefined, host: undefined };
  await runParties(network, {
    guest: () =>
      new SecureBoostGuest({
        session: new ProtocolSession(
          options.edit === undefined ? guestChannel : rewritingPlan(guestChannel, options.edit),
          spec,
        ),
        hosts: ['host'],
        features: data.guest,
        labels: data.labels,
        scheme: options.scheme,
        hyperparams: { trees: 2, depth: 1, bins: 4 },
      })
        .run()
        .catch((e: unknown) => {
          outcome.guest = e;
        }),
    host: () =>
      new SecureBoostHost({
        session: new ProtocolSession(abortAwareChannel(network.channel('host')), spec),
        guest: 'guest',
        features: data.hosts[0]!,
        allowPlaintextScheme: options.allowPlaintextScheme,
        ...(options.lowProductLevel !== undefined && { lowProductLevel: options.lowProductLevel }),
      })
        .run()
        .catch((e: unknown) => {
          outcome.host = e;
        }),
  }).catch(() => undefined);
  return outcome;
}

describe('a SecureBoost host refuses on its own', () => {
  it('the plaintext scheme unless allowed', async () => {
    const r = await run({ scheme: 'none', allowPlaintextScheme: false });
    expect(isFedscoreError(r.host, 'policy')).toBe(true);
    expect(isFedscoreError(r.guest, 'protocol_abort')).toBe(true);
    expect((r.guest as FedscoreError).details).toMatchObject({ peerCode: 'policy' });
  });

  it('the opt-in lower product level with the per-bin floor on (its merged-bin sums could not meet it)', async () => {
    const r = await run({ scheme: 'none', allowPlaintextScheme: true, lowProductLevel: true });
    expect(isFedscoreError(r.host, 'invalid_argument')).toBe(true);
    expect((r.host as FedscoreError).field).toBe('lowProductLevel');
    expect(isFedscoreError(r.guest, 'protocol_abort')).toBe(true);
  });

  it('more histogram releases than the plan it received budgets for', async () => {
    const honest = await run({ scheme: 'none', allowPlaintextScheme: true });
    expect(honest.host).toBeUndefined();
    expect(honest.guest).toBeUndefined();
    const lying = await run({
      scheme: 'none',
      allowPlaintextScheme: true,
      edit: (plan) => {
        plan.trees = 1;
      },
    });
    expect(isFedscoreError(lying.host, 'release_budget')).toBe(true);
    expect(isFedscoreError(lying.guest, 'protocol_abort')).toBe(true);
  });
});
