/**
 * Secure aggregation, server role (protocol and security story: protocol.ts). Order: receive
 * advertise-keys (U1) → send neighbour-keys → receive encrypted-shares (U2) → send forwarded-shares →
 * receive masked-input (U3) → send unmask-request → receive unmask-shares (U4) → rebuild the self-mask
 * seeds of U3 and the mask keys of U2 \ U3, remove those masks, decode the sum.
 *
 * Every phase has a deadline: a client whose message has not arrived by then, or that the server's
 * message to it could not reach by then, is a dropout for the rest of the run (its late message is
 * ignored). The server asks each survivor for exactly one kind
 * of share per client: self-mask seed shares for clients whose masked input it holds, mask-key shares
 * for clients whose masked input it does not.
 */
import { FedscoreError, type ProtocolSession } from '@fedscore/core';
import sodium from 'libsodium-wrappers-sumo';
import { collectByDeadline } from '../strategy.ts';
import { agreeKey, expandMask, KEY_BYTES } from './crypto.ts';
import { addInto, decodeFixedPoint, subtractInto } from './fixed-point.ts';
import {
  ADVERTISE_KEYS,
  type CheckedConfig,
  checkConfig,
  decodeWords,
  ENCRYPTED_SHARES,
  encodeIndices,
  FORWARDED_SHARES,
  MASKED_INPUT,
  NEIGHBOUR_KEY_BYTES,
  NEIGHBOUR_KEYS,
  readU32,
  type SecAggConfig,
  SHARE_KIND,
  U32,
  UNMASK_REQUEST,
  UNMASK_SHARES,
  writeU32,
} from './protocol.ts';
import { type Share, shamirCombine } from './shamir.ts';

export interface SecAggServerOptions {
  /** Per-phase deadline (ms) after which missing clients are dropouts (default: wait for everyone). */
  readonly phaseDeadlineMs?: number;
  /**
   * Deadline (ms) of the first phase (advertise-keys) when it differs: in a training round a client
   * trains locally before it advertises its keys, so this phase also covers local training.
   */
  readonly firstPhaseDeadlineMs?: number;
}

export interface SecAggResult {
  /** Σ x_u over `included`, decoded from fixed point. */
  readonly sum: Float64Array;
  /** Clients whose masked input is in the sum (U3). */
  readonly included: readonly string[];
  /** Clients that dropped at some phase before their masked input arrived. */
  readonly dropped: readonly string[];
  /** Clients that sent their masked input but not their unmasking shares (U3 \ U4). */
  readonly lateDropped: readonly string[];
}

function fail(message: string, field: string): never {
  throw new FedscoreError('invalid_state', `secagg: ${message}`, { field });
}

async function gather<T>(
  cfg: CheckedConfig,
  from: readonly number[],
  receive: (party: string) => Promise<T>,
  deadlineMs: number | undefined,
): Promise<Map<number, T>> {
  const got = await collectByDeadline(
    from.map((i) => receive(cfg.clients[i]!)),
    deadlineMs,
  );
  const out = new Map<number, T>();
  from.forEach((i, k) => {
    const v = got[k];
    if (v !== undefined) out.set(i, v);
  });
  return out;
}

/**
 * Send to each of `to` (side by side). With a deadline, a client the message cannot reach by then (its
 * node is down, or slow to accept) is left out of the next phase, exactly as a client whose reply misses
 * the deadline; without one, a failed send fails the run. Resolves with the clients reached.
 */
async function sendEach(
  to: readonly number[],
  send: (u: number) => Promise<void>,
  deadlineMs: number | undefined,
): Promise<number[]> {
  if (deadlineMs === undefined) {
    await Promise.all(to.map((u) => send(u)));
    return [...to];
  }
  const got = await collectByDeadline(
    to.map((u) => send(u).then(() => true)),
    deadlineMs,
  );
  return to.filter((_, i) => got[i] === true);
}

/** Run the server's side over `session`; resolves with the sum of the surviving clients' inputs. */
export async function runSecAggServer(
  session: ProtocolSession,
  config: SecAggConfig,
  options: SecAggServerOptions = {},
): Promise<SecAggResult> {
  const cfg = checkConfig(config);
  const t = cfg.threshold;
  const deadline = options.phaseDeadlineMs;
  const all = cfg.clients.map((_, i) => i);

  // Round 1: public keys.
  const keys = await gather(
    cfg,
    all,
    (p) => session.receive(p, ADVERTISE_KEYS),
    options.firstPhaseDeadlineMs ?? deadline,
  );
  const u1 = [...keys.keys()];
  const inU1 = new Set(u1);
  for (const u of u1) {
    const live = cfg.graph[u]!.filter((v) => inU1.has(v));
    if (live.length + 1 < t)
      fail(`client ${u} has ${live.length} live neighbours after round 1, need ${t - 1}`, 'U1');
  }
  const keysSent = await sendEach(
    u1,
    (u) =>
      session.send(
        cfg.clients[u]!,
        NEIGHBOUR_KEYS,
        cfg.graph[u]!.filter((v) => inU1.has(v)).map((v) => {
          const item = new Uint8Array(NEIGHBOUR_KEY_BYTES);
          writeU32(item, 0, v);
          item.set(keys.get(v)![0]!, U32);
          item.set(keys.get(v)![1]!, U32 + KEY_BYTES);
          return item;
        }),
      ),
    deadline,
  );

  // Round 2: encrypted shares, relayed.
  const shares = await gather(cfg, keysSent, (p) => session.receive(p, ENCRYPTED_SHARES), deadline);
  const u2 = [...shares.keys()];
  const inU2 = new Set(u2);
  const inbox = new Map<number, Uint8Array[]>(u2.map((u) => [u, []]));
  for (const u of u2) {
    const expected = new Set(cfg.graph[u]!.filter((v) => inU1.has(v)));
    const items = shares.get(u)!;
    if (items.length !== expected.size)
      fail(`client ${u} sent ${items.length} shares, expected ${expected.size}`, 'encrypted-shares');
    for (const item of items) {
      const to = readU32(item, 0);
      if (!expected.delete(to))
        fail(`client ${u} addressed a share to ${to}, not a live neighbour`, 'encrypted-shares');
      if (!inU2.has(to)) continue; // the recipient dropped: its box is never delivered
      const relayed = item.slice();
      writeU32(relayed, 0, u);
      inbox.get(to)!.push(relayed);
    }
  }
  for (const u of u2) {
    if (inbox.get(u)!.length + 1 < t) {
      fail(`client ${u} would hold ${inbox.get(u)!.length} neighbours' shares, need ${t - 1}`, 'U2');
    }
  }
  const sharesSent = await sendEach(
    u2,
    (u) => session.send(cfg.clients[u]!, FORWARDED_SHARES, inbox.get(u)!),
    deadline,
  );

  // Round 3: masked inputs.
  const masked = await gather(cfg, sharesSent, (p) => session.receive(p, MASKED_INPUT), deadline);
  const u3 = [...masked.keys()].sort((a, b) => a - b);
  if (u3.length < t) fail(`${u3.length} masked inputs arrived, need at least ${t}`, 'U3');
  const inU3 = new Set(u3);
  const droppedAfterShares = u2.filter((u) => !inU3.has(u)).sort((a, b) => a - b);
  const sum = new BigUint64Array(cfg.length);
  for (const u of u3) addInto(sum, decodeWords(masked.get(u)![0]!, cfg.length, 'masked-input'));

  // Round 4: unmasking. One request for everyone: alive = U3, dropped = U2 \ U3.
  const request = [encodeIndices(u3), encodeIndices(droppedAfterShares)];
  const asked = await sendEach(u3, (u) => session.send(cfg.clients[u]!, UNMASK_REQUEST, request), deadline);
  const replies = await gather(cfg, asked, (p) => session.receive(p, UNMASK_SHARES), deadline);
  const seedShares = new Map<number, Share[]>();
  const keyShares = new Map<number, Share[]>();
  const dropped = new Set(droppedAfterShares);
  for (const [holder, items] of replies) {
    for (const item of items) {
      const owner = readU32(item, 0);
      const kind = item[U32];
      const partners = (owner === holder || cfg.graph[holder]!.includes(owner)) && inU2.has(owner);
      const expectedKind = inU3.has(owner)
        ? SHARE_KIND.selfMaskSeed
        : dropped.has(owner)
          ? SHARE_KIND.maskKey
          : -1;
      if (!partners || kind !== expectedKind)
        fail(`client ${holder} sent an unrequested share`, 'unmask-shares');
      const bucket = kind === SHARE_KIND.selfMaskSeed ? seedShares : keyShares;
      const list = bucket.get(owner) ?? [];
      list.push({ x: holder + 1, y: item.slice(U32 + 1) });
      bucket.set(owner, list);
    }
  }

  if (cfg.insecureMasking === undefined) {
    for (const u of u3) {
      const got = seedShares.get(u) ?? [];
      if (got.length < t) fail(`${got.length} shares of client ${u}'s self-mask seed, need ${t}`, 'U4');
      subtractInto(sum, expandMask(shamirCombine(got, t), cfg.length));
    }
  }
  if (cfg.insecureMasking !== 'none') {
    for (const v of droppedAfterShares) {
      const got = keyShares.get(v) ?? [];
      if (got.length < t) fail(`${got.length} shares of dropped client ${v}'s mask key, need ${t}`, 'U4');
      const sk = shamirCombine(got, t);
      const pk = keys.get(v)![1]!;
      if (!sodium.memcmp(sodium.crypto_scalarmult_base(sk), pk)) {
        fail(`the rebuilt mask key of client ${v} does not match its public key`, 'unmask-shares');
      }
      for (const w of cfg.graph[v]!) {
        if (!inU3.has(w)) continue;
        // w added +PRG(s_wv) if w < v, else −PRG(s_wv): take it back out.
        const mask = expandMask(agreeKey(sk, pk, v, keys.get(w)![1]!, w, 'mask'), cfg.length);
        if (w < v) subtractInto(sum, mask);
        else addInto(sum, mask);
      }
    }
  }
  const ids = (xs: Iterable<number>) => [...xs].map((i) => cfg.clients[i]!);
  return {
    sum: decodeFixedPoint(sum, cfg.scaleBits),
    included: ids(u3),
    dropped: ids(all.filter((u) => !inU3.has(u))),
    lateDropped: ids(u3.filter((u) => !replies.has(u))),
  };
}
