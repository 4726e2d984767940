/**
 * Secure aggregation (Bonawitz et al. CCS 2017; SecAgg+ graph of Bell et al. CCS 2020): the server's
 * result equals the plain sum of the surviving clients' inputs to the fixed-point precision, with and
 * without dropouts, and the coordinator's captured bytes never hold one client's input.
 */
import {
  createInMemoryNetwork,
  cryptoRng,
  isFedscoreError,
  ProtocolSession,
  type Rng,
  seededRng,
  uniform,
} from '@fedscore/core';
import {
  DEFAULT_SCALE_BITS,
  decodeFixedPoint,
  encodeFixedPoint,
  maxAbsInput,
  neighbourGraph,
  runSecAggClient,
  SECAGG_PROTOCOL,
  SECAGG_VERSION,
  SHAMIR_PRIME,
  secAggReady,
  shamirCombine,
  shamirSplit,
} from '@fedscore/hfl';
import { envelopeCodec } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';
import { config, runAggregation } from './secagg-run.ts';

/** n clients × length values in [−scale, scale], distinct per client. */
function inputs(n: number, length: number, seed: number, scale = 50): Float64Array[] {
  const rng = seededRng(seed);
  return Array.from({ length: n }, () => Float64Array.from({ length }, () => (uniform(rng) * 2 - 1) * scale));
}

function plainSum(xs: readonly Float64Array[], which: readonly number[]): Float64Array {
  const out = new Float64Array(xs[0]!.length);
  for (const i of which) for (let j = 0; j < out.length; j++) out[j]! += xs[i]![j]!;
  return out;
}

// Each client's encoding rounds by ≤ 2^−25; n clients ≤ n · 2^−25 (3·10^−7 for n = 10).
const tolerance = (n: number) => n * 2 ** -(DEFAULT_SCALE_BITS + 1) + 1e-9;

function expectClose(a: Float64Array, b: Float64Array, tol: number): void {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  expect(worst).toBeLessThanOrEqual(tol);
}

describe('Shamir over GF(2^521 − 1)', () => {
  it('any t of n shares rebuild the secret; the field is the stated Mersenne prime', () => {
    expect(SHAMIR_PRIME).toBe(2n ** 521n - 1n);
    const secret = cryptoRng().fillBytes(new Uint8Array(32));
    const shares = shamirSplit(secret, [1, 2, 3, 4, 5], 3, cryptoRng());
    for (const pick of [
      [0, 1, 2],
      [4, 2, 0],
      [1, 3, 4],
      [0, 1, 2, 3, 4],
    ]) {
      expect(
        Buffer.from(
          shamirCombine(
            pick.map((i) => shares[i]!),
            3,
          ),
        ),
      ).toEqual(Buffer.from(secret));
    }
    // t − 1 shares interpolate to something else (a random field element, almost never a 32-byte value)
    let wrong = 0;
    try {
      const two = shamirCombine([shares[0]!, shares[1]!], 2);
      if (Buffer.compare(Buffer.from(two), Buffer.from(secret)) !== 0) wrong++;
    } catch (e) {
      if (isFedscoreError(e)) wrong++;
    }
    expect(wrong).toBe(1);
  });

  it('refuses a seeded generator for the coefficients', () => {
    expect(() => shamirSplit(new Uint8Array(32), [1, 2], 2, seededRng(1))).toThrow(/cryptographic/);
  });

  it('refuses a seeded generator that merely claims to be cryptographic', () => {
    const spoofed = { ...seededRng(1), cryptographic: true } as unknown as Rng;
    let code: string | undefined;
    try {
      shamirSplit(new Uint8Array(32), [1, 2], 2, spoofed);
    } catch (e) {
      if (isFedscoreError(e)) code = e.code;
    }
    expect(code).toBe('insecure_rng');
  });
});

describe('fixed point mod 2^64', () => {
  it('round-trips to within 2^−25 and refuses values that could overflow the sum (typed)', () => {
    const x = Float64Array.from([0, 1.5, -2.25, 1e-7, -123456.789]);
    const back = decodeFixedPoint(encodeFixedPoint(x, 24, 3), 24);
    expectClose(back, x, 2 ** -25);
    expect(maxAbsInput(24, 10)).toBe(2 ** 39 / 10);
    try {
      encodeFixedPoint(Float64Array.from([2 ** 39 / 10 + 1]), 24, 10);
      expect.unreachable();
    } catch (e) {
      expect(isFedscoreError(e) && e.code === 'out_of_range' && e.field === 'input').toBe(true);
    }
  });
});

describe('SecAgg+ neighbour graph', () => {
  it('is k-regular and symmetric; k = n − 1 is the complete graph', () => {
    for (const [n, k] of [
      [10, 4],
      [10, 5],
      [7, 6],
      [50, 8],
    ] as const) {
      const g = neighbourGraph(n, k, 3);
      g.forEach((nb, i) => {
        expect(nb).toHaveLength(k);
        expect(nb).not.toContain(i);
        for (const v of nb) expect(g[v]).toContain(i);
      });
    }
    expect(neighbourGraph(4, 3, 1)).toEqual([
      [1, 2, 3],
      [0, 2, 3],
      [0, 1, 3],
      [0, 1, 2],
    ]);
  });
});

describe('secure aggregation equals the plain sum of the survivors', () => {
  it('3 clients, no dropout', async () => {
    const xs = inputs(3, 40, 1);
    const { result } = await runAggregation(config(3, 40), xs);
    expect(result.included).toEqual(['bank-0', 'bank-1', 'bank-2']);
    expect(result.dropped).toEqual([]);
    expectClose(result.sum, plainSum(xs, [0, 1, 2]), tolerance(3));
  });

  it('1 of 3 drops before sending its masked input: its pairwise masks are rebuilt from shares', async () => {
    const xs = inputs(3, 40, 2);
    const { result } = await runAggregation(config(3, 40), xs, { 'bank-1': 'before-masked-input' }, 400);
    expect(result.included).toEqual(['bank-0', 'bank-2']);
    expect(result.dropped).toEqual(['bank-1']);
    expectClose(result.sum, plainSum(xs, [0, 2]), tolerance(3));
  });

  it('1 of 3 drops right after its masked input: its input counts, its self-mask is rebuilt', async () => {
    const xs = inputs(3, 40, 3);
    const { result } = await runAggregation(config(3, 40), xs, { 'bank-2': 'after-masked-input' }, 400);
    expect(result.included).toEqual(['bank-0', 'bank-1', 'bank-2']);
    expect(result.lateDropped).toEqual(['bank-2']);
    expectClose(result.sum, plainSum(xs, [0, 1, 2]), tolerance(3));
  });

  it('10 clients (SecAgg+, k = 8, t = 5): 3 drop before and 1 after their masked input', async () => {
    const xs = inputs(10, 64, 4);
    const cfg = config(10, 64, { neighbours: 8, threshold: 5 });
    const { result } = await runAggregation(
      cfg,
      xs,
      {
        'bank-1': 'before-masked-input',
        'bank-4': 'before-masked-input',
        'bank-8': 'before-masked-input',
        'bank-6': 'after-masked-input',
      },
      500,
    );
    const survivors = [0, 2, 3, 5, 6, 7, 9];
    expect(result.included).toEqual(survivors.map((i) => `bank-${i}`));
    expect(result.dropped).toEqual(['bank-1', 'bank-4', 'bank-8']);
    expectClose(result.sum, plainSum(xs, survivors), tolerance(10));
  });

  it('10 clients on the complete graph (original SecAgg), no dropout', async () => {
    const xs = inputs(10, 16, 5);
    const { result } = await runAggregation(config(10, 16), xs);
    expectClose(result.sum, plainSum(xs, [...Array(10).keys()]), tolerance(10));
  });
});

/** Every offset where `needle` occurs in `hay`. */
function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** The 8-byte encodings a coordinator could spot: float64 LE/BE, fixed-point u64 LE, its low u32 word. */
function encodings(x: number): Uint8Array[] {
  const f = new DataView(new ArrayBuffer(8));
  f.setFloat64(0, x, true);
  const fbe = new DataView(new ArrayBuffer(8));
  fbe.setFloat64(0, x, false);
  const fp = encodeFixedPoint(Float64Array.of(x), DEFAULT_SCALE_BITS, 10)[0]!;
  const q = new DataView(new ArrayBuffer(8));
  q.setBigUint64(0, fp, true);
  return [
    new Uint8Array(f.buffer),
    new Uint8Array(fbe.buffer),
    new Uint8Array(q.buffer),
    new Uint8Array(q.buffer).slice(0, 4),
  ];
}

// Planted values are not round numbers (1000.318..., not 1000, whose fixed-point low word 00 00 00 E8
// framing bytes can contain by chance); a random 4-byte match in ~6 KB of captures has probability ~1e-4.
describe("message capture: the coordinator never receives one client's update", () => {
  const planted = (n: number) =>
    Array.from({ length: n }, (_, c) =>
      Float64Array.from({ length: 12 }, (_, j) => 1000.3183098861837 + c * 17.123456789 + j * 0.987654321),
    );

  async function serverBytes(insecure: boolean): Promise<{ hits: number; bytes: number }> {
    const xs = planted(4);
    const cfg = config(4, 12, insecure ? { insecureMasking: 'none' } : {});
    const { network } = await runAggregation(cfg, xs, { 'bank-3': 'before-masked-input' }, 400);
    const received = network.receivedBy(cfg.server);
    let hits = 0;
    let bytes = 0;
    for (const m of received) {
      bytes += m.bytes.length;
      for (const x of xs) for (const v of x) for (const e of encodings(v)) if (contains(m.bytes, e)) hits++;
    }
    return { hits, bytes };
  }

  it('positive control: with masking off, the planted fixed-point words are found', async () => {
    const { hits } = await serverBytes(true);
    // 3 clients × 12 values sent their masked (here: unmasked) input; each value's u64 and low u32 word
    expect(hits).toBeGreaterThanOrEqual(3 * 12 * 2);
  });

  it('with masking on, no encoding of any planted value appears in any byte the server receives', async () => {
    const { hits, bytes } = await serverBytes(false);
    expect(bytes).toBeGreaterThan(1000);
    expect(hits).toBe(0);
  });
});

describe('who learns what, checked on the captured messages', () => {
  it('the server receives exactly the four client steps, each of the stated size; clients hear only the server', async () => {
    const n = 4;
    const len = 10;
    const xs = inputs(n, len, 9);
    const cfg = config(n, len);
    const { network } = await runAggregation(cfg, xs);
    const toServer = network.receivedBy(cfg.server);
    for (const c of cfg.clients) {
      const steps = toServer.filter((m) => m.from === c);
      expect(steps.map((m) => m.step)).toEqual([
        'advertise-keys',
        'encrypted-shares',
        'masked-input',
        'unmask-shares',
      ]);
      const [keys, shares, masked, unmask] = steps.map((m) => m.payload.length);
      // two 32-byte keys; k = 3 boxes of 4 + 24 + (8 + 2·66) + 16 bytes; 8 bytes a value; 4 shares of 4 + 1 + 66
      expect(keys).toBeLessThan(2 * 32 + 16);
      expect(shares).toBeGreaterThanOrEqual(3 * (4 + 24 + 8 + 2 * 66 + 16));
      expect(shares).toBeLessThan(3 * (4 + 24 + 8 + 2 * 66 + 16) + 16);
      expect(masked).toBeGreaterThanOrEqual(8 * len);
      expect(masked).toBeLessThan(8 * len + 8);
      expect(unmask).toBeGreaterThanOrEqual(4 * 71);
      expect(unmask).toBeLessThan(4 * 71 + 16);
    }
    for (const c of cfg.clients) {
      const got = network.receivedBy(c);
      expect(new Set(got.map((m) => m.from))).toEqual(new Set([cfg.server]));
      expect(got.map((m) => m.step)).toEqual(['neighbour-keys', 'forwarded-shares', 'unmask-request']);
    }
  });

  it('a client the server stopped talking to gives up with a typed timeout', async () => {
    await secAggReady();
    const cfg = config(3, 4);
    const network = createInMemoryNetwork([cfg.server, ...cfg.clients], envelopeCodec);
    const session = new ProtocolSession(network.channel('bank-0'), {
      protocol: SECAGG_PROTOCOL,
      version: SECAGG_VERSION,
      session: 's',
    });
    await expect(
      runSecAggClient(session, cfg, new Float64Array(4), cryptoRng(), { receiveDeadlineMs: 50 }),
    ).rejects.toMatchObject({ code: 'timeout', field: 'neighbour-keys' });
  });
});
