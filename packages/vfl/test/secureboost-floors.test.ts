/**
 * SecureBoost's floors and opt-ins, each checked at its boundary (the scoped mutation run
 * stryker/vfl-secureboost.config.json runs this file; conventions.md "Mutation testing"):
 *   - `resolveSecureBoost`: the defaults of the row floor (`MIN_NODE_ROWS`), the leaf minimum and GOSS
 *     (off, not accepted); `minNodeRows` / `minLeafRows` refused outside [1, 2^31] or non-integer with the
 *     field named; GOSS (a + b < 1, exactly 1 is off) refused with `policy` unless
 *     `acceptGossLabelLeakage` is exactly true; GOSS with subsample < 1 refused; `childFloor` is the
 *     larger of the two; `bestBinSplit` never returns a cut its admissibility test refuses.
 *   - the host's own row floor against the plan (`privacy_floor` one below it, accepted at it, the
 *     default floor when the host sets none);
 *   - the host's refusal of a histogram request below the floor, whatever the guest asks: a guest whose
 *     level-tasks are rewritten in transit to put k rows in the root is refused one row below
 *     2 x max(child floor, host floor) and served at it (the child floor from the plan's leaf minimum
 *     above its row floor, above the host's own floor);
 *   - the admissible-cut bits the host sends for the root, recomputed from its own bins: a cut is
 *     admissible iff both sides keep at least max(child floor, host floor) rows, with a cut exactly at
 *     the floor present;
 *   - the flooding of released CKKS sums (ckks-8192, whose circuit bound is 2^-16): the host's sd is
 *     `floodingStdDev(bound, release budget, 30)` (he's LMSS sizing), the decrypted root histogram's gradient and
 *     hessian sums each carry noise of that sd (within a factor 2; unflooded it is below the bound), a preset without a measured
 *     bound is refused (`unsupported`, field params), and `none` releases no noise.
 *   - seeded (non-cryptographic) generators refused by guest and host (`insecure_rng`, field rng).
 */
import {
  type Channel,
  createInMemoryNetwork,
  type Envelope,
  type FedscoreError,
  isFedscoreError,
  ProtocolSession,
  runParties,
  seededRng,
} from '@fedscore/core';
import { type AdditiveHeSecret, floodingStdDev } from '@fedscore/he';
import {
  abortAwareChannel,
  applyBins,
  bestBinSplit,
  binGroups,
  childFloor,
  gossOn,
  HISTOGRAM_ERROR_BOUND,
  HISTOGRAM_FLOODING_BITS,
  MIN_NODE_ROWS,
  resolveSecureBoost,
  SECUREBOOST_PROTOCOL,
  SECUREBOOST_VERSION,
  SecureBoostGuest,
  SecureBoostHost,
  type SecureBoostHyperparams,
  trainSecureBoost,
} from '@fedscore/vfl';
import { envelopeCodec, fedscore } from '@fedscore/wire';
import { describe, expect, it, vi } from 'vitest';
import { syntheticSplit } from './synthetic.ts';

const keys: AdditiveHeSecret[] = [];
vi.mock('@fedscore/he', async (importOriginal) => {
  const he = await importOriginal<typeof import('@fedscore/he')>();
  return {
    ...he,
    createAdditiveHe: async (...args: Parameters<typeof he.createAdditiveHe>) => {
      const key = await he.createAdditiveHe(...args);
      // The guest disposes its key set at the end of the run: keep a usable copy of the secret.
      if (key.scheme === 'ckks') keys.push(await he.loadAdditiveHeSecret(key.serializeSecret()));
      return key;
    },
  };
});

const N = 400;
const data = syntheticSplit(N, 1, [2], 41);
const spec = { protocol: SECUREBOOST_PROTOCOL, version: SECUREBOOST_VERSION, session: 'floors' };

function refusal(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

function expectRefused(err: unknown, code: string, field: string): void {
  expect(isFedscoreError(err, code as never), `${code} ${String(err)}`).toBe(true);
  expect((err as FedscoreError).field).toBe(field);
}

/** A guest channel that edits a message of `step` before sending it (a lying or tampering guest). */
function editing(channel: Channel, step: string, edit: (payload: Uint8Array) => Uint8Array): Channel {
  return {
    ...channel,
    party: channel.party,
    send: (env: Envelope) => channel.send(env.step === step ? { ...env, payload: edit(env.payload) } : env),
    receive: (from, session) => channel.receive(from, session),
    stats: () => channel.stats(),
    close: (reason) => channel.close(reason),
  };
}

/** One guest and one host over scheme none; returns each side's error (undefined: finished). */
async function run(o: {
  hyperparams: SecureBoostHyperparams;
  hostFloor?: number;
  step?: string;
  edit?: (payload: Uint8Array) => Uint8Array;
  guestRng?: unknown;
  hostRng?: unknown;
}): Promise<{ guest: unknown; host: unknown }> {
  const network = createInMemoryNetwork(['guest', 'host'], envelopeCodec);
  const g = abortAwareChannel(network.channel('guest'));
  const out: { guest: unknown; host: unknown } = { guest: undefined, host: undefined };
  await runParties(network, {
    guest: () =>
      new SecureBoostGuest({
        session: new ProtocolSession(o.edit === undefined ? g : editing(g, o.step!, o.edit), spec),
        hosts: ['host'],
        features: data.guest,
        labels: data.labels,
        scheme: 'none',
        hyperparams: o.hyperparams,
        ...(o.guestRng !== undefined && { rng: o.guestRng as never }),
      })
        .run()
        .catch((e: unknown) => {
          out.guest = e;
        }),
    host: () =>
      new SecureBoostHost({
        session: new ProtocolSession(abortAwareChannel(network.channel('host')), spec),
        guest: 'guest',
        features: data.hosts[0]!,
        allowPlaintextScheme: true,
        ...(o.hostFloor !== undefined && { minNodeRows: o.hostFloor }),
        ...(o.hostRng !== undefined && { rng: o.hostRng as never }),
      })
        .run()
        .catch((e: unknown) => {
          out.host = e;
        }),
  }).catch(() => undefined);
  return out;
}

/** Rewrite the first level-tasks (the root of tree 1) so that only the first k rows are in the root. */
function rootOf(k: number): (payload: Uint8Array) => Uint8Array {
  let first = true;
  return (payload) => {
    if (!first) return payload;
    first = false;
    const m = fedscore.secureboost.LevelTasks.decode(payload);
    m.nodeOfRow = m.nodeOfRow.map((v, i) => (i < k ? v : -1));
    return fedscore.secureboost.LevelTasks.encode(m).finish();
  };
}

describe('SecureBoost option floors and the GOSS opt-in', () => {
  it('defaults: the row floor is MIN_NODE_ROWS, one leaf row, GOSS off and not accepted', () => {
    const r = resolveSecureBoost();
    expect(MIN_NODE_ROWS).toBe(50);
    expect(r.minNodeRows).toBe(MIN_NODE_ROWS);
    expect(r.minLeafRows).toBe(1);
    expect(r.gossTopRate).toBe(0);
    expect(r.gossOtherRate).toBe(1);
    expect(r.acceptGossLabelLeakage).toBe(false);
    expect(gossOn(r)).toBe(false);
    const set = resolveSecureBoost({ minNodeRows: 120, minLeafRows: 7 });
    expect(set.minNodeRows).toBe(120);
    expect(set.minLeafRows).toBe(7);
  });

  it('minNodeRows and minLeafRows: integers in [1, 2^31], the field named', () => {
    for (const field of ['minNodeRows', 'minLeafRows'] as const) {
      for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 31 + 1]) {
        expectRefused(
          refusal(() => resolveSecureBoost({ [field]: bad })),
          'out_of_range',
          field,
        );
      }
      for (const ok of [1, 2 ** 31]) expect(resolveSecureBoost({ [field]: ok })[field]).toBe(ok);
    }
  });

  it('GOSS is refused (policy) unless acceptGossLabelLeakage is exactly true; a + b = 1 is not GOSS', () => {
    const goss = { gossTopRate: 0.2, gossOtherRate: 0.1 };
    expect(gossOn(goss)).toBe(true);
    expectRefused(
      refusal(() => resolveSecureBoost(goss)),
      'policy',
      'acceptGossLabelLeakage',
    );
    expectRefused(
      refusal(() => resolveSecureBoost({ ...goss, acceptGossLabelLeakage: false })),
      'policy',
      'acceptGossLabelLeakage',
    );
    expectRefused(
      refusal(() => resolveSecureBoost({ ...goss, acceptGossLabelLeakage: 'yes' as unknown as boolean })),
      'policy',
      'acceptGossLabelLeakage',
    );
    const on = resolveSecureBoost({ ...goss, acceptGossLabelLeakage: true });
    expect(on.gossTopRate).toBe(0.2);
    expect(on.acceptGossLabelLeakage).toBe(true);
    // a + b = 1 keeps every row: not GOSS, nothing to accept, subsample allowed.
    expect(gossOn({ gossTopRate: 0.25, gossOtherRate: 0.75 })).toBe(false);
    expect(gossOn({ gossTopRate: 0.25, gossOtherRate: 0.74 })).toBe(true);
    expect(resolveSecureBoost({ gossTopRate: 0.25, gossOtherRate: 0.75, subsample: 0.5 }).subsample).toBe(
      0.5,
    );
    // GOSS and subsample < 1 are exclusive, even when accepted.
    expectRefused(
      refusal(() => resolveSecureBoost({ ...goss, acceptGossLabelLeakage: true, subsample: 0.5 })),
      'invalid_argument',
      'subsample',
    );
    expect(resolveSecureBoost({ ...goss, acceptGossLabelLeakage: true, subsample: 1 }).subsample).toBe(1);
    // The rates themselves are range-checked.
    expectRefused(
      refusal(() => resolveSecureBoost({ gossTopRate: 1 })),
      'out_of_range',
      'gossTopRate',
    );
    expectRefused(
      refusal(() => resolveSecureBoost({ gossTopRate: -0.1 })),
      'out_of_range',
      'gossTopRate',
    );
    expectRefused(
      refusal(() => resolveSecureBoost({ gossTopRate: 0.5, gossOtherRate: 0.6 })),
      'out_of_range',
      'gossOtherRate',
    );
    expectRefused(
      refusal(() => resolveSecureBoost({ gossOtherRate: 0 })),
      'out_of_range',
      'gossOtherRate',
    );
    expect(
      resolveSecureBoost({ gossTopRate: 0, gossOtherRate: 0.5, acceptGossLabelLeakage: true }).gossOtherRate,
    ).toBe(0.5);
  });

  it('the child floor is the larger of the leaf minimum and the row floor; refused cuts are never chosen', () => {
    expect(childFloor(1, 50)).toBe(50);
    expect(childFloor(80, 50)).toBe(80);
    // Two features of 3 bins; the best cut by gain is feature 0 bin 0 (all negative g on the left).
    const g = [-4, 2, 2, 1, -1, 0];
    const h = [1, 1, 1, 1, 1, 1];
    const cfg = { l2: 1, minChildWeight: 0 };
    const all = bestBinSplit(g, h, [3, 3], () => true, 0, 6, cfg);
    expect(all).toMatchObject({ feature: 0, bin: 0 });
    const without = bestBinSplit(g, h, [3, 3], (c) => c !== 0, 0, 6, cfg);
    expect(without).toBeDefined();
    expect(without!.feature * 3 + without!.bin).not.toBe(0);
    expect(bestBinSplit(g, h, [3, 3], () => false, 0, 6, cfg)).toBeUndefined();
  });
});

describe("a SecureBoost host's row floor", () => {
  const hp = { trees: 1, depth: 1, bins: 8 };

  it('refuses a plan one row below its own floor and accepts one at it; the default is MIN_NODE_ROWS', async () => {
    const below = await run({ hyperparams: { ...hp, minNodeRows: 59 }, hostFloor: 60 });
    expectRefused(below.host, 'privacy_floor', 'minNodeRows');
    expect(isFedscoreError(below.guest, 'protocol_abort')).toBe(true);
    const at = await run({ hyperparams: { ...hp, minNodeRows: 60 }, hostFloor: 60 });
    expect(at.host).toBeUndefined();
    expect(at.guest).toBeUndefined();
    const belowDefault = await run({ hyperparams: { ...hp, minNodeRows: MIN_NODE_ROWS - 1 } });
    expectRefused(belowDefault.host, 'privacy_floor', 'minNodeRows');
    const atDefault = await run({ hyperparams: { ...hp, minNodeRows: MIN_NODE_ROWS } });
    expect(atDefault.host).toBeUndefined();
  });

  it('refuses a histogram of a node below 2 x max(child floor, own floor), whatever the guest asks', async () => {
    // The plan's child floor is the leaf minimum 60 (above its row floor 50, above the host's 30): a
    // node needs 120 rows. The guest is rewritten in transit to put only the first k rows in the root.
    const plan = { ...hp, minNodeRows: 50, minLeafRows: 60 };
    const tooSmall = await run({ hyperparams: plan, hostFloor: 30, step: 'level-tasks', edit: rootOf(119) });
    expectRefused(tooSmall.host, 'privacy_floor', 'nodeOfRow');
    const atFloor = await run({ hyperparams: plan, hostFloor: 30, step: 'level-tasks', edit: rootOf(120) });
    expect(isFedscoreError(atFloor.host, 'privacy_floor')).toBe(false);
    // The plan's row floor alone (leaf minimum 1): 2 x 50 = 100 rows.
    const plan50 = { ...hp, minNodeRows: 50, minLeafRows: 1 };
    const small50 = await run({ hyperparams: plan50, hostFloor: 30, step: 'level-tasks', edit: rootOf(99) });
    expectRefused(small50.host, 'privacy_floor', 'nodeOfRow');
    const at50 = await run({ hyperparams: plan50, hostFloor: 30, step: 'level-tasks', edit: rootOf(100) });
    expect(isFedscoreError(at50.host, 'privacy_floor')).toBe(false);
  });

  it("sends the root's admissible cuts: both sides keep max(child floor, own floor) rows", async () => {
    const hostRoot = async (minLeafRows: number) => {
      const r = await trainSecureBoost({
        guest: { features: data.guest, labels: data.labels },
        hosts: [{ features: data.hosts[0]!, minNodeRows: 30 }],
        scheme: 'none',
        hyperparams: { ...hp, minNodeRows: 50, minLeafRows },
        capture: true,
      });
      const msg = r.captured.find((m) => m.step === 'histograms')!;
      const root = fedscore.secureboost.Histograms.decode(msg.payload).nodes.find(
        (x) => (x.node ?? 0) === 0,
      )!;
      return { bins: r.hosts[0]!.bins, bits: root.admissible ?? new Uint8Array(0) };
    };
    // A first run gives the host's bins; pick the leaf minimum equal to the rows left of feature 0's
    // second cut, so a cut sits exactly at the floor.
    const first = await hostRoot(1);
    const binned = applyBins(data.hosts[0]!, first.bins);
    const cum = binned.counts.map((bins, f) => {
      const c = new Array<number>(bins).fill(0);
      for (let i = 0; i < N; i++) c[binned.index[f]![i]!]!++;
      for (let b = 1; b < bins; b++) c[b]! += c[b - 1]!;
      return c;
    });
    const floor = cum[0]![1]!;
    expect(floor).toBeGreaterThan(50);
    expect(floor).toBeLessThan(N / 2);
    const { bits } = await hostRoot(floor);
    const cells = binned.counts.reduce((a, b) => a + b, 0);
    expect(bits.length).toBe(Math.ceil(cells / 8));
    // The per-bin floor: cuts only between the root's bin groups of >= floor rows each.
    const rootCounts = new Float64Array(cells);
    binned.counts.forEach((bins, f, all) => {
      const o = all.slice(0, f).reduce((a, b) => a + b, 0);
      for (let b = 0; b < bins; b++) rootCounts[o + b] = cum[f]![b]! - (b > 0 ? cum[f]![b - 1]! : 0);
    });
    const ends = binGroups(
      binned.counts,
      Int32Array.from({ length: cells }, (_, c) => c),
      rootCounts,
      undefined,
      floor,
    );
    let off = 0;
    let on = 0;
    let offBits = 0;
    let grouped = 0;
    binned.counts.forEach((bins, f) => {
      for (let b = 0; b < bins; b++) {
        const byRows = b + 1 < bins && cum[f]![b]! >= floor && N - cum[f]![b]! >= floor;
        if (byRows && ends[off + b] !== off + b) grouped++;
        const want = byRows && ends[off + b] === off + b;
        const got = ((bits[(off + b) >> 3]! >> ((off + b) & 7)) & 1) === 1;
        expect(got, `feature ${f} bin ${b}`).toBe(want);
        if (want) on++;
        else offBits++;
      }
      off += bins;
    });
    expect(on).toBeGreaterThan(0);
    expect(offBits).toBeGreaterThan(0);
    // Some cuts that keep both children above the floor are refused by the per-bin floor alone.
    expect(grouped).toBeGreaterThan(0);
    // The cut exactly at the floor is admissible.
    expect(bits[0]! & 2).toBe(2);
  });

  it('seeded generators are refused by the guest and the host (insecure_rng, field rng)', async () => {
    const guestSeeded = await run({ hyperparams: hp, guestRng: seededRng(1) });
    expectRefused(guestSeeded.guest, 'insecure_rng', 'rng');
    const hostSeeded = await run({ hyperparams: hp, hostRng: seededRng(1) });
    expectRefused(hostSeeded.host, 'insecure_rng', 'rng');
  });

  it('the guest asks for a node of exactly 2 x the child floor, not one row fewer', async () => {
    const rootTasks = async (minNodeRows: number) => {
      const r = await trainSecureBoost({
        guest: { features: data.guest, labels: data.labels },
        hosts: [{ features: data.hosts[0]!, minNodeRows: 150 }],
        scheme: 'none',
        hyperparams: { ...hp, minNodeRows },
        capture: true,
      });
      return r.captured
        .filter((m) => m.step === 'level-tasks')
        .flatMap((m) => fedscore.secureboost.LevelTasks.decode(m.payload).tasks.map((t) => t.node ?? 0));
    };
    expect(await rootTasks(N / 2)).toContain(0);
    expect(await rootTasks(N / 2 + 1)).not.toContain(0);
  });
});

describe('SecureBoost flooding sizing (ckks-8192)', () => {
  const M = 240;
  const small = syntheticSplit(M, 1, [2], 43);
  const hp = { trees: 1, depth: 1, bins: 12 };

  async function root(flooding: boolean) {
    keys.length = 0;
    const r = await trainSecureBoost({
      guest: { features: small.guest, labels: small.labels },
      hosts: [{ features: small.hosts[0]!, ...(flooding ? {} : { unsafeNoFlooding: true }) }],
      scheme: 'ckks',
      he: { ckksPreset: 'ckks-8192' },
      hyperparams: hp,
      capture: true,
    });
    const key = keys[0]!;
    try {
      const msg = r.captured.find((m) => m.step === 'histograms')!;
      const node = fedscore.secureboost.Histograms.decode(msg.payload).nodes[0]!;
      const dec = (bytes: Uint8Array) => {
        const c = key.deserializeCiphertext(bytes);
        try {
          return key.decrypt(c);
        } finally {
          c.dispose();
        }
      };
      const g = dec(node.gradients!);
      const h = dec(node.hessians!);
      const binned = applyBins(small.hosts[0]!, r.hosts[0]!.bins);
      const p0 = small.labels.reduce((a, b) => a + b, 0) / M;
      const cells = binned.counts.reduce((a, b) => a + b, 0);
      // The per-bin floor (the default row floor MIN_NODE_ROWS): each group's sums in its last cell.
      const rootCounts = new Float64Array(cells);
      let o = 0;
      binned.counts.forEach((bins, f) => {
        for (let i = 0; i < M; i++) rootCounts[o + binned.index[f]![i]!]!++;
        o += bins;
      });
      const ends = binGroups(
        binned.counts,
        Int32Array.from({ length: cells }, (_, c) => c),
        rootCounts,
        undefined,
        MIN_NODE_ROWS,
      );
      let ssG = 0;
      let ssH = 0;
      let off = 0;
      binned.counts.forEach((bins, f) => {
        const eg = new Float64Array(bins);
        const eh = new Float64Array(bins);
        for (let i = 0; i < M; i++) {
          const b = ends[off + binned.index[f]![i]!]! - off;
          eg[b]! += p0 - small.labels[i]!;
          eh[b]! += p0 * (1 - p0);
        }
        for (let b = 0; b < bins; b++) {
          ssG += (g[off + b]! - eg[b]!) ** 2;
          ssH += (h[off + b]! - eh[b]!) ** 2;
        }
        off += bins;
      });
      // Gradient and hessian sums apart: both are released (packed as one complex vector on the host)
      // and each must carry its own noise.
      return { sdG: Math.sqrt(ssG / cells), sdH: Math.sqrt(ssH / cells), run: r.hostRuns[0]! };
    } finally {
      for (const k of keys) k.dispose();
    }
  }

  it('the host floods with the LMSS sd of its release budget; unflooded only the circuit error', async () => {
    const bound = HISTOGRAM_ERROR_BOUND['ckks-8192']!;
    const on = await root(true);
    expect(on.run.releaseBudget).toBeGreaterThanOrEqual(on.run.released);
    expect(on.run.released).toBeGreaterThan(0);
    expect(on.run.floodingStdDev).toBe(floodingStdDev(bound, on.run.releaseBudget, HISTOGRAM_FLOODING_BITS));
    for (const sd of [on.sdG, on.sdH]) {
      expect(sd).toBeGreaterThan(on.run.floodingStdDev / 2);
      expect(sd).toBeLessThan(on.run.floodingStdDev * 2);
    }
    const off = await root(false);
    expect(off.run.floodingStdDev).toBe(0);
    expect(off.sdG).toBeLessThan(bound);
    expect(off.sdH).toBeLessThan(bound);
  }, 120_000);

  it('a preset without a measured circuit bound is refused; none releases no noise', async () => {
    const err = await trainSecureBoost({
      guest: { features: small.guest, labels: small.labels },
      hosts: [{ features: small.hosts[0]! }],
      scheme: 'ckks',
      he: { ckksPreset: 'ckks-8192-deep' },
      hyperparams: hp,
    }).catch((e: unknown) => e);
    for (const k of keys.splice(0)) k.dispose();
    expect(JSON.stringify(err)).toMatch(/unsupported/);
    expect(JSON.stringify(err)).toMatch(/params/);
    const plain = await trainSecureBoost({
      guest: { features: small.guest, labels: small.labels },
      hosts: [{ features: small.hosts[0]! }],
      scheme: 'none',
      hyperparams: hp,
    });
    expect(plain.hostRuns[0]!.floodingStdDev).toBe(0);
  }, 120_000);
});
