/**
 * Secure aggregation, client role (protocol and security story: protocol.ts). `SecAggClient` is the
 * state machine (one method per message, each refusing to run out of order); `runSecAggClient` drives
 * it over a `ProtocolSession`. Order: send advertise-keys → receive neighbour-keys → send
 * encrypted-shares → receive forwarded-shares → send masked-input → receive unmask-request → send
 * unmask-shares.
 */
import { FedscoreError, type ProtocolSession, type Rng, type StepDef } from '@fedscore/core';
import {
  agreeKey,
  expandMask,
  generateKeyPair,
  KEY_BYTES,
  type KeyPair,
  open,
  randomSeed,
  seal,
} from './crypto.ts';
import { addInto, encodeFixedPoint, subtractInto } from './fixed-point.ts';
import {
  ADVERTISE_KEYS,
  type CheckedConfig,
  checkConfig,
  decodeIndices,
  ENCRYPTED_SHARES,
  encodeWords,
  FORWARDED_SHARES,
  MASKED_INPUT,
  NEIGHBOUR_KEY_BYTES,
  NEIGHBOUR_KEYS,
  readU32,
  type SecAggConfig,
  SHARE_KIND,
  SHARE_PLAIN_BYTES,
  U32,
  UNMASK_REQUEST,
  UNMASK_SHARE_BYTES,
  UNMASK_SHARES,
  writeU32,
} from './protocol.ts';
import { SHARE_BYTES, type Share, shamirSplit } from './shamir.ts';

type Phase = 'start' | 'advertised' | 'shared' | 'masked' | 'unmasked';

interface Peer {
  readonly index: number;
  readonly cPk: Uint8Array;
  readonly sPk: Uint8Array;
}

function refuse(message: string, field: string): never {
  throw new FedscoreError('policy_refused', message, { field });
}

export class SecAggClient {
  readonly config: CheckedConfig;
  readonly index: number;
  readonly #rng: Rng;
  #phase: Phase = 'start';
  readonly #cKeys: KeyPair;
  readonly #sKeys: KeyPair;
  readonly #selfSeed: Uint8Array;
  #peers = new Map<number, Peer>();
  /**
   * Shares this client holds, by owner: its neighbours whose shares it received (P(u)) and itself.
   */
  #held = new Map<number, { maskKey: Uint8Array; selfSeed: Uint8Array }>();

  constructor(config: SecAggConfig, party: string, rng: Rng) {
    this.config = checkConfig(config);
    this.index = this.config.clients.indexOf(party);
    if (this.index < 0) {
      throw new FedscoreError('invalid_config', `'${party}' is not a client of this aggregation`, {
        field: 'clients',
      });
    }
    this.#rng = rng;
    this.#cKeys = generateKeyPair(rng);
    this.#sKeys = generateKeyPair(rng);
    this.#selfSeed = randomSeed(rng);
  }

  #step(expected: Phase, next: Phase, what: string): void {
    if (this.#phase !== expected) {
      throw new FedscoreError('protocol_step', `secagg client: ${what} at phase '${this.#phase}'`, {
        field: 'step',
      });
    }
    this.#phase = next;
  }

  /** Round 1: the two public keys. */
  advertiseKeys(): Uint8Array[] {
    this.#step('start', 'advertised', 'advertise-keys');
    return [this.#cKeys.publicKey, this.#sKeys.publicKey];
  }

  /** Round 2: neighbour keys in, encrypted shares of s_sk_u and b_u out (one per neighbour in U1). */
  shareKeys(neighbourKeys: readonly Uint8Array[]): Uint8Array[] {
    this.#step('advertised', 'shared', 'share-keys');
    const mine = new Set(this.config.graph[this.index]);
    const peers = new Map<number, Peer>();
    for (const item of neighbourKeys) {
      const index = readU32(item, 0);
      if (!mine.has(index) || peers.has(index)) {
        throw new FedscoreError('wire_decode', `neighbour-keys: ${index} is not a (new) neighbour`, {
          field: 'neighbour-keys',
        });
      }
      peers.set(index, {
        index,
        cPk: item.slice(U32, U32 + KEY_BYTES),
        sPk: item.slice(U32 + KEY_BYTES, NEIGHBOUR_KEY_BYTES),
      });
    }
    if (peers.size + 1 < this.config.threshold) {
      refuse(
        `only ${peers.size} neighbours advertised keys, need ${this.config.threshold - 1}`,
        'neighbour-keys',
      );
    }
    this.#peers = peers;
    // Holders: the live neighbours and this client itself (its own share stays here, as in Bonawitz et al.).
    const order = [...peers.keys(), this.index].sort((a, b) => a - b);
    const xs = order.map((v) => v + 1);
    const keyShares = shamirSplit(this.#sKeys.secretKey, xs, this.config.threshold, this.#rng);
    const seedShares = shamirSplit(this.#selfSeed, xs, this.config.threshold, this.#rng);
    const out: Uint8Array[] = [];
    order.forEach((v, i) => {
      if (v === this.index) {
        this.#held.set(v, { maskKey: keyShares[i]!.y, selfSeed: seedShares[i]!.y });
        return;
      }
      const plain = new Uint8Array(SHARE_PLAIN_BYTES);
      writeU32(plain, 0, this.index);
      writeU32(plain, U32, v);
      plain.set(keyShares[i]!.y, 2 * U32);
      plain.set(seedShares[i]!.y, 2 * U32 + SHARE_BYTES);
      const box = seal(plain, this.#encryptionKey(v), this.#rng);
      const item = new Uint8Array(U32 + box.length);
      writeU32(item, 0, v);
      item.set(box, U32);
      out.push(item);
    });
    return out;
  }

  #encryptionKey(v: number): Uint8Array {
    const peer = this.#peers.get(v)!;
    return agreeKey(
      this.#cKeys.secretKey,
      this.#cKeys.publicKey,
      this.index,
      peer.cPk,
      v,
      'share-encryption',
    );
  }

  /** Round 3: shares from neighbours in, masked input out. */
  maskedInput(forwarded: readonly Uint8Array[], input: Float64Array): Uint8Array {
    this.#step('shared', 'masked', 'masked-input');
    const cfg = this.config;
    if (input.length !== cfg.length) {
      throw new FedscoreError(
        'invalid_argument',
        `input has ${input.length} values, expected ${cfg.length}`,
        {
          field: 'input',
        },
      );
    }
    for (const item of forwarded) {
      const from = readU32(item, 0);
      if (!this.#peers.has(from) || this.#held.has(from)) {
        throw new FedscoreError('wire_decode', `forwarded-shares: unexpected sender ${from}`, {
          field: 'forwarded-shares',
        });
      }
      const plain = open(item.subarray(U32), this.#encryptionKey(from), 'forwarded-shares');
      if (
        plain.length !== SHARE_PLAIN_BYTES ||
        readU32(plain, 0) !== from ||
        readU32(plain, U32) !== this.index
      ) {
        throw new FedscoreError('wire_decode', 'forwarded-shares: a share names the wrong pair', {
          field: 'forwarded-shares',
        });
      }
      this.#held.set(from, {
        maskKey: plain.slice(2 * U32, 2 * U32 + SHARE_BYTES),
        selfSeed: plain.slice(2 * U32 + SHARE_BYTES),
      });
    }
    const y = encodeFixedPoint(input, cfg.scaleBits, cfg.clients.length);
    if (cfg.insecureMasking !== 'none') {
      if (cfg.insecureMasking !== 'pairwise-only') addInto(y, expandMask(this.#selfSeed, cfg.length));
      for (const v of this.#held.keys()) {
        if (v === this.index) continue;
        const peer = this.#peers.get(v)!;
        const key = agreeKey(this.#sKeys.secretKey, this.#sKeys.publicKey, this.index, peer.sPk, v, 'mask');
        const mask = expandMask(key, cfg.length);
        if (this.index < v) addInto(y, mask);
        else subtractInto(y, mask);
      }
    }
    return encodeWords(y);
  }

  /**
   * Round 4: one share per neighbour in P(u) -- of b_v when v is alive, of s_sk_v when v dropped.
   * Refuses a request that would reveal both kinds for one client (Bonawitz et al. §4: the server must
   * never hold b_v and s_sk_v together), names this client as dropped, or has fewer than t alive.
   */
  unmask(request: readonly Uint8Array[]): Uint8Array[] {
    this.#step('masked', 'unmasked', 'unmask');
    const n = this.config.clients.length;
    const alive = decodeIndices(request[0]!, n, 'unmask-request.alive');
    const dropped = decodeIndices(request[1]!, n, 'unmask-request.dropped');
    const aliveSet = new Set(alive);
    if (dropped.some((v) => aliveSet.has(v))) {
      refuse('unmask-request names a client both alive and dropped (double unmasking)', 'unmask-request');
    }
    if (!aliveSet.has(this.index) || dropped.includes(this.index)) {
      refuse('unmask-request does not list this client as alive', 'unmask-request');
    }
    if (alive.length < this.config.threshold) {
      refuse(`unmask-request lists ${alive.length} alive clients, fewer than t`, 'unmask-request');
    }
    const out: Uint8Array[] = [];
    const answer = (v: number, kind: number, y: Uint8Array) => {
      const item = new Uint8Array(UNMASK_SHARE_BYTES);
      writeU32(item, 0, v);
      item[U32] = kind;
      item.set(y, U32 + 1);
      out.push(item);
    };
    for (const v of alive) {
      const held = this.#held.get(v);
      if (held) answer(v, SHARE_KIND.selfMaskSeed, held.selfSeed);
    }
    for (const v of dropped) {
      const held = this.#held.get(v);
      if (held) answer(v, SHARE_KIND.maskKey, held.maskKey);
    }
    return out;
  }

  /** This client's Shamir point (for tests of the share format). */
  get shamirX(): Share['x'] {
    return this.index + 1;
  }
}

export interface SecAggClientRun {
  /** Simulate a dropout (tests and benchmarks): stop before sending masked input, or right after it. */
  readonly dropOut?: 'before-masked-input' | 'after-masked-input';
  /**
   * Give up (typed `timeout`) when the server's next message takes longer than this: a server that
   * dropped this client (its message came after a deadline) sends it nothing more.
   */
  readonly receiveDeadlineMs?: number;
  /**
   * Called after this client sent its encrypted shares and after it sent its masked input; the client
   * waits for it before going on (a fault hook of the node's dropout tests: a promise that never settles
   * is a client that stops answering at that point).
   */
  readonly afterStep?: (step: 'shares-sent' | 'masked-input-sent') => Promise<void> | void;
}

async function receiveBy<T>(
  session: ProtocolSession,
  from: string,
  step: StepDef<T>,
  deadlineMs: number | undefined,
): Promise<T> {
  if (deadlineMs === undefined) return session.receive(from, step);
  const pending = session.receive(from, step);
  // a receive that loses the race may still fail later (channel closed): expected, not an error
  pending.catch(() => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new FedscoreError('timeout', `no '${step.name}' from the server within ${deadlineMs} ms`, {
            field: step.name,
          }),
        ),
      deadlineMs,
    );
  });
  try {
    return await Promise.race([pending, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Drive one client through the protocol over `session`. Resolves when its part is done. */
export async function runSecAggClient(
  session: ProtocolSession,
  config: SecAggConfig,
  input: Float64Array,
  rng: Rng,
  run: SecAggClientRun = {},
): Promise<void> {
  const client = new SecAggClient(config, session.party, rng);
  const server = config.server;
  const wait = run.receiveDeadlineMs;
  await session.send(server, ADVERTISE_KEYS, client.advertiseKeys());
  const keys = await receiveBy(session, server, NEIGHBOUR_KEYS, wait);
  await session.send(server, ENCRYPTED_SHARES, client.shareKeys(keys));
  await run.afterStep?.('shares-sent');
  const forwarded = await receiveBy(session, server, FORWARDED_SHARES, wait);
  const masked = client.maskedInput(forwarded, input);
  if (run.dropOut === 'before-masked-input') return;
  await session.send(server, MASKED_INPUT, [masked]);
  if (run.dropOut === 'after-masked-input') return;
  await run.afterStep?.('masked-input-sent');
  const request = await receiveBy(session, server, UNMASK_REQUEST, wait);
  await session.send(server, UNMASK_SHARES, client.unmask(request));
}
