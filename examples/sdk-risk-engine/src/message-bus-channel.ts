/**
 * A `Channel` over a bank's own transport (docs/sdk.md, "Carrying the messages over your own
 * transport"). fedscore's protocols only ever call the four methods below; whatever moves the bytes --
 * a message queue, an HTTPS endpoint, the bank's service mesh -- needs to do three things:
 *
 *   1. carry each encoded envelope's bytes unchanged (the wire codec decodes and checks them);
 *   2. deliver the messages of one sender, in one session, in the order they were sent, each once
 *      (`ProtocolSession` refuses a replayed, reordered or lost message with `protocol_sequence`);
 *   3. say which party a message really came from (mutual TLS or the bus's own authentication): the
 *      channel refuses an envelope whose `sender` is not the authenticated peer.
 */
import { type Channel, type ChannelStats, type Envelope, FedscoreError, type PartyId } from '@fedscore/core';
import { envelopeCodec } from '@fedscore/wire';

/** What the bank's transport offers: opaque bytes to a named peer, and a handler for incoming bytes. */
export interface ByteTransport {
  /** Hand `bytes` to the transport for `to`; resolve once it has accepted them. */
  send(to: PartyId, bytes: Uint8Array): Promise<void>;
  /** Called for every message addressed to this party, with the peer the transport authenticated. */
  onMessage(handler: (from: PartyId, bytes: Uint8Array) => void): void;
}

interface Queue {
  readonly envelopes: Envelope[];
  readonly waiting: { resolve: (e: Envelope) => void; reject: (e: Error) => void }[];
}

/** The channel of `party` over `transport`, using fedscore's protobuf envelope codec. */
export function channelOverTransport(party: PartyId, transport: ByteTransport): Channel {
  const queues = new Map<string, Queue>();
  const stats: ChannelStats = { bytesSent: {}, bytesReceived: {}, messagesSent: {}, messagesReceived: {} };
  let closed: Error | undefined;

  const queueOf = (from: PartyId, session: string): Queue => {
    const key = `${session}\0${from}`;
    let q = queues.get(key);
    if (q === undefined) {
      q = { envelopes: [], waiting: [] };
      queues.set(key, q);
    }
    return q;
  };
  const add = (counts: Record<PartyId, number>, peer: PartyId, n: number) => {
    counts[peer] = (counts[peer] ?? 0) + n;
  };

  const channel: Channel = {
    party,
    async send(envelope) {
      if (closed) throw closed;
      if (envelope.sender !== party) {
        throw new FedscoreError('invalid_argument', `sender '${envelope.sender}' is not '${party}'`, {
          field: 'sender',
        });
      }
      const bytes = envelopeCodec.encode(envelope);
      await transport.send(envelope.receiver, bytes);
      add(stats.bytesSent, envelope.receiver, bytes.length);
      add(stats.messagesSent, envelope.receiver, 1);
    },
    receive(from, session) {
      if (closed) return Promise.reject(closed);
      const q = queueOf(from, session);
      const next = q.envelopes.shift();
      if (next !== undefined) return Promise.resolve(next);
      return new Promise((resolve, reject) => q.waiting.push({ resolve, reject }));
    },
    stats: () => structuredClone(stats),
    close(reason) {
      if (closed) return;
      closed =
        reason ?? new FedscoreError('channel_closed', `channel of '${party}' closed`, { field: 'channel' });
      for (const q of queues.values()) for (const w of q.waiting.splice(0)) w.reject(closed);
    },
  };

  transport.onMessage((from, bytes) => {
    if (closed) return;
    let envelope: Envelope;
    try {
      envelope = envelopeCodec.decode(bytes); // typed wire_decode / wire_too_large on bad bytes
      if (envelope.sender !== from || envelope.receiver !== party) {
        throw new FedscoreError(
          'peer_identity',
          `an envelope from '${envelope.sender}' to '${envelope.receiver}' arrived from '${from}' at '${party}'`,
          { field: 'sender' },
        );
      }
    } catch (e) {
      // A message that cannot be trusted ends the channel: the protocol fails with the typed error
      // instead of waiting for a message that will never come.
      channel.close(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    add(stats.bytesReceived, from, bytes.length);
    add(stats.messagesReceived, from, 1);
    const q = queueOf(envelope.sender, envelope.session);
    const waiter = q.waiting.shift();
    if (waiter) waiter.resolve(envelope);
    else q.envelopes.push(envelope);
  });
  return channel;
}
