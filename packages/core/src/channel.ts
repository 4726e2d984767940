/**
 * The Channel: the only way protocol roles talk to each other.
 *
 * A `Channel` moves `Envelope`s between named parties. Protocol code never sees it directly: it opens a
 * `ProtocolSession` (protocol name, version, session id) and sends and receives typed values through
 * `StepDef`s, which pair a step name with the wire codec of its payload. Steps are defined once per
 * protocol and shared by every role file, so the roles cannot drift apart.
 *
 * The session checks every incoming envelope: a different protocol version, a step other than the one
 * the receiver expects, or a sequence number other than the next one (replay, reordering, loss) is a
 * typed `FedscoreError`, never a silent skip.
 *
 * core defines the envelope codec as an interface and takes it as a parameter; packages/wire provides
 * the protobuf implementation. So core imports nothing above it, yet the in-memory network below encodes
 * and decodes every message with the real wire format and counts real bytes.
 */
import { FedscoreError, isFedscoreError } from './errors.ts';

export type PartyId = string;

/** One message on the wire. */
export interface Envelope {
  readonly protocol: string;
  readonly version: number;
  readonly session: string;
  readonly step: string;
  readonly sender: PartyId;
  readonly receiver: PartyId;
  /** Per (session, sender, receiver) counter starting at 0. */
  readonly seq: number;
  readonly payload: Uint8Array;
}

/** Encodes envelopes to bytes and back (implemented by packages/wire). Decode errors must be typed. */
export interface EnvelopeCodec {
  encode(envelope: Envelope): Uint8Array;
  decode(bytes: Uint8Array): Envelope;
}

/** A protocol step: its name and the codec of its payload. */
export interface StepDef<T> {
  readonly name: string;
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

export function defineStep<T>(
  name: string,
  codec: { encode(v: T): Uint8Array; decode(b: Uint8Array): T },
): StepDef<T> {
  return { name, encode: codec.encode, decode: codec.decode };
}

/** Byte and message counts of one party's channel, per peer and direction. */
export interface ChannelStats {
  readonly bytesSent: Record<PartyId, number>;
  readonly bytesReceived: Record<PartyId, number>;
  readonly messagesSent: Record<PartyId, number>;
  readonly messagesReceived: Record<PartyId, number>;
}

export interface Channel {
  /** The party this end belongs to. */
  readonly party: PartyId;
  /** Send one envelope (its `sender` must be `party`). Resolves when the transport has accepted it. */
  send(envelope: Envelope): Promise<void>;
  /** The next envelope from `from` in `session`, in order of sending. */
  receive(from: PartyId, session: string): Promise<Envelope>;
  /** Counts so far. */
  stats(): ChannelStats;
  /** Stop: pending and later receives fail with `channel_closed`. */
  close(reason?: Error): void;
}

export interface SessionSpec {
  readonly protocol: string;
  readonly version: number;
  readonly session: string;
}

/** A typed view of a channel for one run of one protocol. */
export class ProtocolSession {
  readonly channel: Channel;
  readonly spec: SessionSpec;
  readonly #nextSeqOut = new Map<PartyId, number>();
  readonly #nextSeqIn = new Map<PartyId, number>();

  constructor(channel: Channel, spec: SessionSpec) {
    this.channel = channel;
    this.spec = spec;
  }

  get party(): PartyId {
    return this.channel.party;
  }

  async send<T>(to: PartyId, step: StepDef<T>, value: T): Promise<void> {
    const seq = this.#nextSeqOut.get(to) ?? 0;
    this.#nextSeqOut.set(to, seq + 1);
    await this.channel.send({
      protocol: this.spec.protocol,
      version: this.spec.version,
      session: this.spec.session,
      step: step.name,
      sender: this.channel.party,
      receiver: to,
      seq,
      payload: step.encode(value),
    });
  }

  /** Send the same value to several parties (encoded once per receiver, as the wire would). */
  async broadcast<T>(to: readonly PartyId[], step: StepDef<T>, value: T): Promise<void> {
    for (const p of to) await this.send(p, step, value);
  }

  async receive<T>(from: PartyId, step: StepDef<T>): Promise<T> {
    const env = await this.channel.receive(from, this.spec.session);
    const expectedSeq = this.#nextSeqIn.get(from) ?? 0;
    if (env.protocol !== this.spec.protocol) {
      throw new FedscoreError(
        'protocol_step',
        `expected protocol '${this.spec.protocol}' from ${from}, got '${env.protocol}'`,
        { field: 'protocol' },
      );
    }
    if (env.version !== this.spec.version) {
      throw new FedscoreError(
        'protocol_version',
        `${this.spec.protocol}: expected version ${this.spec.version} from ${from}, got ${env.version}`,
        { field: 'version' },
      );
    }
    if (env.seq !== expectedSeq) {
      throw new FedscoreError(
        'protocol_sequence',
        `${this.spec.protocol}: expected message ${expectedSeq} from ${from}, got ${env.seq} (replayed, reordered or lost)`,
        { field: 'seq' },
      );
    }
    this.#nextSeqIn.set(from, expectedSeq + 1);
    if (env.step !== step.name) {
      throw new FedscoreError(
        'protocol_step',
        `${this.spec.protocol}: expected step '${step.name}' from ${from}, got '${env.step}'`,
        { field: 'step' },
      );
    }
    try {
      return step.decode(env.payload);
    } catch (e) {
      if (e instanceof FedscoreError) throw e;
      throw new FedscoreError(
        'wire_decode',
        `${this.spec.protocol}: cannot decode step '${step.name}' from ${from}`,
        {
          field: step.name,
          cause: e,
        },
      );
    }
  }
}

/** One message as captured by the in-memory network (for privacy tests). */
export interface CapturedMessage {
  readonly from: PartyId;
  readonly to: PartyId;
  readonly protocol: string;
  readonly session: string;
  readonly step: string;
  readonly seq: number;
  /** The encoded envelope exactly as it would cross the network. */
  readonly bytes: Uint8Array;
  /** The step payload as decoded from those bytes. */
  readonly payload: Uint8Array;
}

export interface InMemoryNetworkOptions {
  /** Called for every delivered message, after encoding and decoding. */
  readonly onMessage?: (message: CapturedMessage) => void;
  /** Keep every message in `network.captured` (default false: benchmarks should not hold them). */
  readonly capture?: boolean;
  /** Fail a receive that waits longer than this (ms). 0 = wait forever (default). */
  readonly receiveTimeoutMs?: number;
}

export interface InMemoryNetwork {
  channel(party: PartyId): Channel;
  readonly parties: readonly PartyId[];
  /** Every message, in delivery order (only with `capture: true`). */
  readonly captured: CapturedMessage[];
  /** Messages received by `party`, optionally of one protocol (only with `capture: true`). */
  receivedBy(party: PartyId, protocol?: string): CapturedMessage[];
  /** Close every channel, failing pending receives with `reason`. */
  closeAll(reason?: Error): void;
}

interface Queue {
  items: Uint8Array[];
  waiters: { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }[];
}

/**
 * An in-process network between `parties`. Each message is encoded with `codec` on send and decoded on
 * receive, so tests exercise the wire format and byte counts are those of the real encoding.
 */
export function createInMemoryNetwork(
  parties: readonly PartyId[],
  codec: EnvelopeCodec,
  options: InMemoryNetworkOptions = {},
): InMemoryNetwork {
  if (new Set(parties).size !== parties.length) {
    throw new FedscoreError('invalid_argument', 'party names must be unique', { field: 'parties' });
  }
  const queues = new Map<string, Queue>();
  const captured: CapturedMessage[] = [];
  const channels = new Map<PartyId, Channel>();
  let closedReason: Error | undefined;

  const queueOf = (receiver: PartyId, sender: PartyId, session: string): Queue => {
    const key = `${receiver}\u0000${sender}\u0000${session}`;
    let q = queues.get(key);
    if (q === undefined) {
      q = { items: [], waiters: [] };
      queues.set(key, q);
    }
    return q;
  };

  const makeChannel = (party: PartyId): Channel => {
    const stats = { bytesSent: {}, bytesReceived: {}, messagesSent: {}, messagesReceived: {} } as {
      bytesSent: Record<string, number>;
      bytesReceived: Record<string, number>;
      messagesSent: Record<string, number>;
      messagesReceived: Record<string, number>;
    };
    let localClosed: Error | undefined;
    return {
      party,
      async send(envelope: Envelope): Promise<void> {
        const reason = localClosed ?? closedReason;
        if (reason)
          throw new FedscoreError('channel_closed', `channel of ${party} is closed`, { cause: reason });
        if (envelope.sender !== party) {
          throw new FedscoreError(
            'invalid_argument',
            `envelope sender '${envelope.sender}' is not '${party}'`,
            {
              field: 'sender',
            },
          );
        }
        if (!channels.has(envelope.receiver) && !parties.includes(envelope.receiver)) {
          throw new FedscoreError('invalid_argument', `unknown receiver '${envelope.receiver}'`, {
            field: 'receiver',
          });
        }
        const bytes = codec.encode(envelope);
        stats.bytesSent[envelope.receiver] = (stats.bytesSent[envelope.receiver] ?? 0) + bytes.length;
        stats.messagesSent[envelope.receiver] = (stats.messagesSent[envelope.receiver] ?? 0) + 1;
        const q = queueOf(envelope.receiver, party, envelope.session);
        const waiter = q.waiters.shift();
        if (waiter) waiter.resolve(bytes);
        else q.items.push(bytes);
      },
      receive(from: PartyId, session: string): Promise<Envelope> {
        const reason = localClosed ?? closedReason;
        if (reason) {
          return Promise.reject(
            new FedscoreError('channel_closed', `channel of ${party} is closed`, { cause: reason }),
          );
        }
        const q = queueOf(party, from, session);
        const decode = (bytes: Uint8Array): Envelope => {
          const env = codec.decode(bytes);
          stats.bytesReceived[from] = (stats.bytesReceived[from] ?? 0) + bytes.length;
          stats.messagesReceived[from] = (stats.messagesReceived[from] ?? 0) + 1;
          const msg: CapturedMessage = {
            from: env.sender,
            to: env.receiver,
            protocol: env.protocol,
            session: env.session,
            step: env.step,
            seq: env.seq,
            bytes,
            payload: env.payload,
          };
          if (options.capture) captured.push(msg);
          options.onMessage?.(msg);
          return env;
        };
        const ready = q.items.shift();
        if (ready !== undefined) return Promise.resolve().then(() => decode(ready));
        return new Promise<Envelope>((resolve, reject) => {
          let timer: ReturnType<typeof setTimeout> | undefined;
          const waiter = {
            resolve: (b: Uint8Array) => {
              if (timer) clearTimeout(timer);
              try {
                resolve(decode(b));
              } catch (e) {
                reject(e as Error);
              }
            },
            reject: (e: Error) => {
              if (timer) clearTimeout(timer);
              reject(e);
            },
          };
          q.waiters.push(waiter);
          const ms = options.receiveTimeoutMs ?? 0;
          if (ms > 0) {
            timer = setTimeout(() => {
              const i = q.waiters.indexOf(waiter);
              if (i >= 0) q.waiters.splice(i, 1);
              reject(new FedscoreError('timeout', `${party} waited more than ${ms} ms for ${from}`));
            }, ms);
          }
        });
      },
      stats: () => structuredClone(stats),
      close(reason?: Error): void {
        localClosed = reason ?? new Error('closed');
        for (const [key, q] of queues) {
          if (!key.startsWith(`${party}\u0000`)) continue;
          for (const w of q.waiters.splice(0)) {
            w.reject(
              new FedscoreError('channel_closed', `channel of ${party} closed`, { cause: localClosed }),
            );
          }
        }
      },
    };
  };

  for (const p of parties) channels.set(p, makeChannel(p));

  return {
    parties,
    captured,
    channel(party: PartyId): Channel {
      const c = channels.get(party);
      if (!c) throw new FedscoreError('invalid_argument', `unknown party '${party}'`, { field: 'party' });
      return c;
    },
    receivedBy(party: PartyId, protocol?: string): CapturedMessage[] {
      return captured.filter((m) => m.to === party && (protocol === undefined || m.protocol === protocol));
    },
    closeAll(reason?: Error): void {
      closedReason = reason ?? new Error('network closed');
      for (const c of channels.values()) c.close(closedReason);
    },
  };
}

/**
 * Run the roles of one protocol concurrently (one async function per party). If any role fails, the
 * network is closed so the others stop waiting, and the error that caused it is rethrown: the first one
 * that is not a peer's abort or a closed channel (those only echo it), else the first.
 */
export async function runParties<R extends Record<string, () => Promise<unknown>>>(
  network: Pick<InMemoryNetwork, 'closeAll'>,
  roles: R,
): Promise<{ [K in keyof R]: Awaited<ReturnType<R[K]>> }> {
  const names = Object.keys(roles);
  let firstError: unknown;
  // The role whose own failure started it all: the others only report its abort or the closed channel.
  let causeError: unknown;
  const results = await Promise.all(
    names.map((name) =>
      roles[name]!().catch((e: unknown) => {
        if (firstError === undefined) {
          firstError = e;
          network.closeAll(e instanceof Error ? e : new Error(String(e)));
        }
        if (
          causeError === undefined &&
          !isFedscoreError(e, 'protocol_abort') &&
          !isFedscoreError(e, 'channel_closed')
        )
          causeError = e;
        return undefined;
      }),
    ),
  );
  if (firstError !== undefined) throw causeError ?? firstError;
  const out: Record<string, unknown> = {};
  names.forEach((n, i) => {
    out[n] = results[i];
  });
  return out as { [K in keyof R]: Awaited<ReturnType<R[K]>> };
}
