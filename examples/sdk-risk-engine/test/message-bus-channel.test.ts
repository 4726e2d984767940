/**
 * The Channel of docs/sdk.md over a transport of the bank's own (here a worker_threads MessageChannel:
 * every message is copied as bytes through structured clone, as a real transport would). The online
 * scoring protocol runs over it unchanged and returns the sum of the parties' partial scores (tolerance
 * 1e-4: flooding noise sd 2^-20 plus CKKS error ~1e-6 at scale 2^30); a transport that breaks one of the
 * three duties the doc names -- bytes unchanged, each message once and in order, the real sender --
 * makes the protocol fail with the typed error for it (wire_decode, protocol_sequence, peer_identity),
 * never hang or score.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { type Channel, FedscoreError, type PartyId, ProtocolSession, runParties } from '@fedscore/core';
import {
  ONLINE_SCORING_PROTOCOL,
  ONLINE_SCORING_VERSION,
  type OnlineScore,
  OnlineScoringBank,
  OnlineScoringGovernment,
} from '@fedscore/scoring';
import { afterEach, describe, expect, it } from 'vitest';
import { type ByteTransport, channelOverTransport } from '../src/message-bus-channel.ts';

type Fault = (bytes: Uint8Array, deliver: (b: Uint8Array) => void, index: number) => void;

const ports: MessagePort[] = [];
afterEach(() => {
  for (const p of ports.splice(0)) p.close();
});

/** Two ends of a MessageChannel as each party's transport; `fault` may tamper with gov -> bank traffic. */
function transports(fault?: Fault, claimedSender?: PartyId): { bank: ByteTransport; gov: ByteTransport } {
  const { port1, port2 } = new MessageChannel();
  ports.push(port1, port2);
  let toBank = 0;
  const end = (port: MessagePort, peer: PartyId, tamper?: Fault): ByteTransport => ({
    async send(to, bytes) {
      expect(to).toBe(peer);
      const deliver = (b: Uint8Array) => port.postMessage(b);
      if (tamper) tamper(bytes, deliver, toBank++);
      else deliver(bytes);
    },
    onMessage(handler) {
      port.on('message', (b: Uint8Array) => handler(claimedSender ?? peer, new Uint8Array(b)));
    },
  });
  return { bank: end(port1, 'government'), gov: end(port2, 'bank', fault) };
}

const govPartials = new Map([
  ['91110000100000000A', 0.75],
  ['91110000100000001B', -1.25],
  ['91110000100000002C', 0.1],
]);
const bankPartial = (id: string) => (id.charCodeAt(17) - 64) * 0.3 - 1;

async function scoreOver(
  t: { bank: ByteTransport; gov: ByteTransport },
  ids: string[],
): Promise<OnlineScore[]> {
  const bankChannel: Channel = channelOverTransport('bank', t.bank);
  const govChannel: Channel = channelOverTransport('government', t.gov);
  const spec = { protocol: ONLINE_SCORING_PROTOCOL, version: ONLINE_SCORING_VERSION, session: 'bus-1' };
  const scorer = await OnlineScoringBank.create({ mode: 'exact' });
  // Exact mode (the test checks the joint score), which a government serves only when its policy allows it.
  const server = new OnlineScoringGovernment({
    partialScoreOf: (id) => govPartials.get(id),
    policy: { allowExactMode: true },
  });
  try {
    const out = await runParties(
      {
        closeAll: (e) => {
          bankChannel.close(e);
          govChannel.close(e);
        },
      },
      {
        government: () => server.serve(new ProtocolSession(govChannel, spec), 'bank'),
        bank: async () => {
          await scorer.open(new ProtocolSession(bankChannel, spec), 'government', 'model-1');
          const results: OnlineScore[] = [];
          for (const id of ids) results.push(await scorer.score(id, bankPartial(id)));
          await scorer.close();
          return results;
        },
      },
    );
    // Protocol v2: one score-reply per applicant, carrying the joint result when the government knows it
    expect(bankChannel.stats().messagesReceived['government']).toBe(ids.length);
    return out.bank;
  } finally {
    scorer.dispose();
    server.dispose();
  }
}

async function failure(p: Promise<unknown>): Promise<FedscoreError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(FedscoreError);
  return e as FedscoreError;
}

describe('a Channel over the bank transport (docs/sdk.md)', () => {
  it('carries the online scoring protocol unchanged: the joint score is the sum of both parts', async () => {
    const ids = [...govPartials.keys(), '91110000100000009Z'];
    const results = await scoreOver(transports(), ids);
    ids.forEach((id, i) => {
      const gov = govPartials.get(id);
      expect(results[i]!.found).toBe(gov !== undefined);
      if (gov !== undefined)
        expect(Math.abs(results[i]!.score! - (bankPartial(id) + gov))).toBeLessThan(1e-4);
    });
  });

  it('bytes changed on the way (cut short): wire_decode, no score', async () => {
    const cut: Fault = (b, deliver, i) => deliver(i === 1 ? b.subarray(0, b.length - 1) : b);
    const e = await failure(scoreOver(transports(cut), [...govPartials.keys()]));
    expect(e.code).toBe('wire_decode');
  });

  it('a message delivered twice: protocol_sequence, no score', async () => {
    const twice: Fault = (b, deliver, i) => {
      deliver(b);
      if (i === 0) deliver(b);
    };
    const e = await failure(scoreOver(transports(twice), [...govPartials.keys()]));
    expect(e.code).toBe('protocol_sequence');
  });

  it('a sender the transport did not authenticate: peer_identity, no score', async () => {
    const e = await failure(scoreOver(transports(undefined, 'someone-else'), [...govPartials.keys()]));
    expect(e.code).toBe('peer_identity');
  });
});
