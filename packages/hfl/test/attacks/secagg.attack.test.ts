/**
 * Attack: an honest-but-curious coordinator tries to read one bank's model update out of secure
 * aggregation. Source: K. Bonawitz et al., "Practical Secure Aggregation for Privacy-Preserving Machine
 * Learning", CCS 2017, §4 (why masks are doubled: a server that claims a client dropped after receiving
 * its masked input gets the shares of its pairwise mask key and removes those masks).
 * It would recover: client v's exact fixed-point update x̄_v.
 *   1. Masking switched off (weakened `insecureMasking: 'none'`): y_v = x̄_v, read directly.
 *   2. Self-mask switched off (`insecureMasking: 'pairwise-only'`): the server receives y_v, then asks
 *      the others for v's mask-key shares as if v had dropped, rebuilds s_sk_v and strips v's pairwise
 *      masks: x̄_v exactly.
 * With the default double masking both attacks fail (the self-mask PRG(b_v) remains), and a request for
 * both kinds of share for one client is refused by every client (double-unmasking protection).
 */
import { cryptoRng, isFedscoreError, seededRng, uniform } from '@fedscore/core';
import {
  agreeKey,
  checkConfig,
  decodeFixedPoint,
  decodeWords,
  encodeFixedPoint,
  encodeIndices,
  expandMask,
  SecAggClient,
  type SecAggConfig,
  SHARE_KIND,
  type Share,
  secAggReady,
  shamirCombine,
} from '@fedscore/hfl';
import { describe, expect, it } from 'vitest';
import { config } from '../secagg-run.ts';

const N = 5;
const LEN = 24;
const TARGET = 2;

function updates(): Float64Array[] {
  const rng = seededRng(2024);
  return Array.from({ length: N }, () => Float64Array.from({ length: LEN }, () => (uniform(rng) - 0.5) * 8));
}

const u32 = (b: Uint8Array, o: number) =>
  new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(o, true);
function withIndex(v: number, ...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(4 + parts.reduce((s, p) => s + p.length, 0));
  new DataView(out.buffer).setUint32(0, v, true);
  let o = 4;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Rounds 1-3 played by a coordinator that relays honestly; it keeps every byte it sees. */
async function collectMaskedInputs(cfg: SecAggConfig, xs: readonly Float64Array[]) {
  await secAggReady();
  const { graph } = checkConfig(cfg);
  const clients = cfg.clients.map((c) => new SecAggClient(cfg, c, cryptoRng()));
  const keys = clients.map((c) => c.advertiseKeys());
  const boxes = clients.map((c, u) =>
    c.shareKeys(graph[u]!.map((v) => withIndex(v, keys[v]![0]!, keys[v]![1]!))),
  );
  const inbox: Uint8Array[][] = clients.map(() => []);
  boxes.forEach((items, u) => {
    for (const it of items) inbox[u32(it, 0)]!.push(withIndex(u, it.subarray(4)));
  });
  const masked = clients.map((c, u) => decodeWords(c.maskedInput(inbox[u]!, xs[u]!), LEN, 'masked-input'));
  return { clients, keys, masked, graph };
}

/** The curious coordinator's attack on TARGET: claim it dropped, rebuild its mask key, strip pairwise masks. */
async function claimDroppedAndStrip(cfg: SecAggConfig, xs: readonly Float64Array[]): Promise<Float64Array> {
  const { clients, keys, masked, graph } = await collectMaskedInputs(cfg, xs);
  const others = clients.map((_, i) => i).filter((i) => i !== TARGET);
  const request = [encodeIndices(others), encodeIndices([TARGET])];
  const shares: Share[] = [];
  for (const h of others) {
    for (const item of clients[h]!.unmask(request)) {
      if (u32(item, 0) === TARGET && item[4] === SHARE_KIND.maskKey)
        shares.push({ x: h + 1, y: item.slice(5) });
    }
  }
  const sk = shamirCombine(shares, cfg.threshold);
  const pk = keys[TARGET]![1]!;
  const y = masked[TARGET]!.slice();
  for (const w of graph[TARGET]!) {
    const mask = expandMask(agreeKey(sk, pk, TARGET, keys[w]![1]!, w, 'mask'), LEN);
    for (let i = 0; i < LEN; i++) y[i] = TARGET < w ? y[i]! - mask[i]! : y[i]! + mask[i]!;
  }
  return decodeFixedPoint(y, cfg.scaleBits ?? 24);
}

const exact = (xs: readonly Float64Array[]) => decodeFixedPoint(encodeFixedPoint(xs[TARGET]!, 24, N), 24);

describe("attack: the coordinator reads one bank's update", () => {
  it('weakened (no masking): the masked input IS the update, recovered exactly', async () => {
    const xs = updates();
    const { masked } = await collectMaskedInputs(config(N, LEN, { insecureMasking: 'none' }), xs);
    expect(Array.from(decodeFixedPoint(masked[TARGET]!, 24))).toEqual(Array.from(exact(xs)));
  });

  it('default: the masked input alone says nothing (far from the update in every coordinate)', async () => {
    const xs = updates();
    const { masked } = await collectMaskedInputs(config(N, LEN), xs);
    const seen = decodeFixedPoint(masked[TARGET]!, 24);
    for (let i = 0; i < LEN; i++) expect(Math.abs(seen[i]! - xs[TARGET]![i]!)).toBeGreaterThan(1);
  });

  it('weakened (pairwise masks only): "claim it dropped" rebuilds the mask key and recovers the update exactly', async () => {
    const xs = updates();
    const got = await claimDroppedAndStrip(config(N, LEN, { insecureMasking: 'pairwise-only' }), xs);
    expect(Array.from(got)).toEqual(Array.from(exact(xs)));
  });

  it('default (double masking): the same attack leaves the self-mask on, the update is not recovered', async () => {
    const xs = updates();
    const got = await claimDroppedAndStrip(config(N, LEN), xs);
    for (let i = 0; i < LEN; i++) expect(Math.abs(got[i]! - xs[TARGET]![i]!)).toBeGreaterThan(1);
  });

  it('double unmasking is refused: no client answers a request naming one client both alive and dropped, or a second request', async () => {
    const xs = updates();
    const cfg = config(N, LEN);
    const { clients } = await collectMaskedInputs(cfg, xs);
    const all = clients.map((_, i) => i);
    const greedy = [encodeIndices(all), encodeIndices([TARGET])];
    for (const c of clients) {
      try {
        c.unmask(greedy);
        expect.unreachable('a client answered a double-unmasking request');
      } catch (e) {
        expect(isFedscoreError(e) && e.code === 'policy_refused').toBe(true);
      }
    }
    // An honest request is answered once; asking again (for the other kind) is out of order.
    const { clients: fresh } = await collectMaskedInputs(cfg, xs);
    const honest = [encodeIndices(all), encodeIndices([])];
    const first = fresh[0]!.unmask(honest);
    expect(first.every((item) => item[4] === SHARE_KIND.selfMaskSeed)).toBe(true);
    const again = [encodeIndices(all.filter((i) => i !== TARGET)), encodeIndices([TARGET])];
    expect(() => fresh[0]!.unmask(again)).toThrow(expect.objectContaining({ code: 'protocol_step' }));
  });
});
