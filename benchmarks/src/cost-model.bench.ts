/**
 * `pnpm bench cost-model [--smoke] [--skip-run] [--skip-queue] [--queue-batches 8] [--queue-columns 300]
 *                        [--skip-secureboost-run] [--sb-rows 8192] [--sb-host-features 100]
 *                        [--sb-guest-features 30] [--sb-bins 32]`:
 * measure the per-operation times and sizes the cost model (src/cost-model.ts) needs on this machine (a
 * few seconds each), run one small real hetero-LR in the same minutes (5,000 x (10 + 20), memory
 * profile) to check the model against, check it against the largest committed runs
 * (results/hetero-lr.json, net.json, net-fate-100k-lan.json, binning.json, psi.json), and predict the anchors' shapes (FATE's
 * 100k x (30 + 300), SecretFlow's 800k x 1500, PSI 10M x 10M) on lan/wan, with the anchors' figures and
 * setups beside. Then:
 * - issue 18: bench queue's overhead and throughput parts (a throwaway PostgreSQL, `fedscore worker`
 *   processes) on --queue-batches host products of 4096 x --queue-columns with 1 and 2 workers, checked
 *   against the model, and a hetero-LR epoch at 10M x (30 + 300) predicted on N = 1 .. 32 16-core
 *   worker machines;
 * - issue 20: SecureBoost's histogram operations timed at SECUREBOOST_CKKS_PRESET, one real CKKS tree
 *   at --sb-rows x (--sb-guest-features + --sb-host-features) checked against histogramTreeOps x those
 *   times, and FATE's 100k x (30 + 300) predicted beside FATE 2.0's 114 s per tree on 16 cores.
 * `--smoke` skips every real run (the queue, the trees) and keeps the measurements and predictions.
 * docs/benchmarks.md explains how to read it; the numbers depend on the machine's load, which the
 * results record.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Column,
  createInMemoryNetwork,
  FedscoreError,
  normal,
  ProtocolSession,
  seededRng,
  selectRows,
} from '@fedscore/core';
import { generatePopulation, type PopulationOptions } from '@fedscore/datasets';
import {
  type CkksParams,
  type CkksPresetName,
  type CkksVector,
  createCkksContext,
  createHeWorkerPool,
  packedLayout as hePackedLayout,
  loadCkksPublicContext,
  packedRotationSteps,
  sumRotationSteps,
} from '@fedscore/he';
import { JOB_DEFAULTS } from '@fedscore/pipeline';
import { blindReference, hashToGroupReference, loadSodium } from '@fedscore/psi';
import { startPgCluster } from '@fedscore/queue/testing';
import {
  BINNING_CKKS_PARAMS,
  binFeatures,
  HOST_LAYOUT_STEP,
  type HostLayout,
  histogramTreeOps,
  packedLayout,
  packedMatVec,
  planPackedProduct,
  productLevel,
  releaseBlock,
  resolveWorkers,
  runWoeBinningHost,
  SECUREBOOST_CKKS_PRESET,
  trainHeteroLr,
  trainSecureBoost,
  WOE_BINNING_PROTOCOL,
  WOE_BINNING_VERSION,
} from '@fedscore/vfl';
import { envelopeCodec, idListStep } from '@fedscore/wire';
import { binningPopulation } from './binning.bench.ts';
import {
  arbiterName,
  type BinningShape,
  binningCounts,
  binningMessageBytes,
  ENVELOPE_OVERHEAD_BYTES,
  guestName,
  type HeOpTimes,
  type HeSizes,
  type HeteroLrShape,
  HTTP2_DEFAULT_WINDOW,
  hostName,
  NET_PROFILES,
  type NetProfile,
  type Placement,
  type PsiOpTimes,
  predictBinning,
  predictDistributedHeteroLr,
  predictHeteroLr,
  predictPsi,
  predictQueueEpoch,
  predictSecureBoostTree,
  productTasks,
  type QueueCosts,
  relativeError,
  type SecureBoostOpTimes,
  type SecureBoostSizes,
  taskMs,
} from './cost-model.ts';
import { overheadPart, type TaskTiming, type ThroughputRow, throughputPart } from './queue.bench.ts';
import { type BenchResult, type BenchTable, median } from './report.ts';
import { secureboostPopulation } from './secureboost.bench.ts';

const here = dirname(fileURLToPath(import.meta.url));
/** The committed results the model is checked against (never the smoke directory). */
const COMMITTED = join(here, '..', 'results');

function readCommitted(name: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(join(COMMITTED, `${name}.json`), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function msOf(fn: () => void, runs: number): number {
  const out: number[] = [];
  fn(); // warm-up
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    out.push(performance.now() - t0);
  }
  return median(out);
}

function randomValues(n: number, seed: string, scale = 0.1): Float64Array {
  const rng = seededRng(seed);
  return Float64Array.from({ length: n }, () => normal(rng) * scale);
}

/**
 * Per-operation times and sizes of one CKKS parameter set, through @fedscore/he (the calls cipher.ts and
 * packing.ts make). `classWeighted`: the residual is one rescale below a fresh encryption (hetero-LR's
 * class-weight product), and the packed product rescales once more; binning multiplies at the top level
 * and never rescales.
 */
export async function measureHeOps(
  params: CkksPresetName | CkksParams,
  runs: number,
  heteroLr: boolean,
): Promise<{ times: HeOpTimes; sizes: HeSizes }> {
  const one = await createCkksContext({ params, rotations: [1], relinearization: false });
  const four = await createCkksContext({ params, rotations: [1, 2, 4, 8], relinearization: false });
  try {
    const S = one.slotCount;
    const oneBytes = one.serialize().length;
    const fourBytes = four.serialize().length;
    const perKey = (fourBytes - oneBytes) / 3;
    const ctx = one;
    const v = randomValues(S, 'cost-model/v');
    const w = randomValues(S, 'cost-model/w', 1);
    const fresh = ctx.encrypt(v);
    const encrypt = msOf(() => ctx.encrypt(v).dispose(), runs);
    const mulPlainRescale = msOf(() => fresh.mul(w).dispose(), runs);
    const residual = heteroLr ? fresh.mul(w) : fresh.add(0);
    const addPlain = msOf(() => residual.add(w).dispose(), runs);
    const add = msOf(() => residual.add(residual).dispose(), runs);
    const pt = ctx.encode(w, residual.level);
    const encode = msOf(() => ctx.encode(w, residual.level).dispose(), runs);
    const mulPlain = msOf(() => residual.mul(pt, { rescale: false }).dispose(), runs);
    const rotate = msOf(() => residual.rotate(1).dispose(), runs);
    const raw = residual.mul(pt, { rescale: false });
    const rescale = heteroLr ? msOf(() => raw.rescale().dispose(), runs) : 0;
    // An unweighted residual (fresh) copied down to the product level, as cipher.ts's atProductLevel.
    const modSwitch = heteroLr ? msOf(() => fresh.atLevel(residual.level).dispose(), runs) : 0;
    const product = heteroLr ? raw.rescale() : raw.add(0);
    const ser = (x: typeof fresh) => msOf(() => x.serialize(), runs);
    const des = (x: typeof fresh) => {
      const b = x.serialize();
      return msOf(() => ctx.deserializeVector(b).dispose(), runs);
    };
    const part = product.withLength(64);
    const decrypt = msOf(() => one.decryptForRelease(part, { noiseStdDev: 2 ** -20 }), runs);
    const times: HeOpTimes = {
      encrypt,
      encode,
      mulPlain,
      mulPlainRescale,
      addPlain,
      add,
      rotate,
      rescale,
      modSwitch,
      serialize: { fresh: ser(fresh), residual: ser(residual), product: ser(product) },
      deserialize: { fresh: des(fresh), residual: des(residual), product: des(product) },
      decrypt,
    };
    const sizes: HeSizes = {
      fresh: fresh.serialize().length,
      residual: residual.serialize().length,
      product: product.serialize().length,
      contextBase: oneBytes - perKey,
      contextPerRotationKey: perKey,
      productLevel: residual.level,
      slots: S,
    };
    for (const x of [fresh, residual, raw, product, part]) x.dispose();
    pt.dispose();
    return { times, sizes };
  } finally {
    one.dispose();
    four.dispose();
  }
}

/**
 * The packed product's operations on a fresh encryption (the level bench queue's d is at: it encrypts d
 * afresh, where hetero-LR's residual is one level lower after the class weights), ms.
 */
async function measureFreshLevelOps(
  runs: number,
): Promise<Pick<HeOpTimes, 'encode' | 'mulPlain' | 'rotate' | 'rescale' | 'add'>> {
  const ctx = await createCkksContext({
    params: 'ckks-16384-release',
    rotations: [1],
    relinearization: false,
  });
  try {
    return ctx.scope(() => {
      const d = ctx.encrypt(randomValues(ctx.slotCount, 'cost-model/fresh'));
      const w = randomValues(ctx.slotCount, 'cost-model/fresh-w', 1);
      const pt = ctx.encode(w, d.level);
      const raw = d.mul(pt, { rescale: false });
      return {
        encode: msOf(() => ctx.encode(w, d.level).dispose(), runs),
        mulPlain: msOf(() => d.mul(pt, { rescale: false }).dispose(), runs),
        rotate: msOf(() => d.rotate(1).dispose(), runs),
        rescale: msOf(() => raw.rescale().dispose(), runs),
        add: msOf(() => raw.add(raw).dispose(), runs),
      };
    });
  } finally {
    ctx.dispose();
  }
}

/** ristretto255 hash-to-group and blinding, microseconds per id on this thread (libsodium WASM). */
export async function measurePsiOps(ids: number): Promise<PsiOpTimes> {
  await loadSodium();
  const list = Array.from({ length: ids }, (_, i) => `91110000${String(i).padStart(10, '0')}`);
  const t0 = performance.now();
  const points = list.map((id) => hashToGroupReference(id));
  const hashUs = ((performance.now() - t0) * 1000) / ids;
  const scalar = new Uint8Array(32);
  for (let i = 0; i < 31; i++) scalar[i] = (i * 37 + 11) & 0xff;
  const t1 = performance.now();
  for (const p of points) blindReference(scalar, p);
  const multUs = ((performance.now() - t1) * 1000) / ids;
  return { hashUs, multUs };
}

/**
 * Per-operation times and sizes of SecureBoost's histograms at SECUREBOOST_CKKS_PRESET, through the
 * calls histogram.ts makes: diagonal encodes, products, rotations and adds at the product level, the
 * node mask, a level drop, packComplex, releaseBlock (+ serializing its two parts), and the guest's
 * encryption of g or h and decryption of a released part.
 */
export async function measureSecureBoostOps(
  runs: number,
  smokeLoop = false,
): Promise<{ times: SecureBoostOpTimes; sizes: SecureBoostSizes }> {
  const ctx = await createCkksContext({
    params: SECUREBOOST_CKKS_PRESET,
    rotations: sumRotationSteps(8192),
    relinearization: false,
  });
  try {
    const S = ctx.slotCount;
    const level = productLevel(ctx);
    const g0 = randomValues(S, 'cost-model/sb/g');
    const mask = Float64Array.from({ length: S }, (_, i) => (i % 3 === 0 ? 0 : 1));
    const diag = Float64Array.from({ length: S }, (_, i) => (i % 7 === 0 ? 1 : 0));
    return ctx.scope(() => {
      const g = ctx.encrypt(g0);
      const h = ctx.encrypt(g0);
      const encrypt = msOf(() => ctx.encrypt(g0).dispose(), runs);
      const lowering = msOf(() => g.mul(1).dispose(), runs);
      const pack = msOf(() => ctx.packComplex(g, h).dispose(), runs);
      const z = ctx.packComplex(g, h);
      const maskProduct = msOf(() => z.mul(mask).dispose(), runs);
      let zl = z.mul(mask);
      while (zl.level > level) zl = zl.mul(1);
      // Encode, product and add as the histogram's inner loop does them: a different diagonal each time,
      // products of a rotating set of 64 baby ciphertexts, accumulated into 64 giant-step sums. Timed on
      // the same operands over and over they run from the CPU cache and come out ~3x faster than in
      // the loop (measured: 1.8 vs 5.8 ms an encode, 0.84 vs 2.6 ms a product at load 13-16).
      const babies = [zl];
      for (let b = 1; b < 64; b++) babies.push(babies[b - 1]!.rotate(1));
      const diagonals = Array.from({ length: 16 }, (_, k) =>
        Float64Array.from({ length: S }, (_, i) => ((i + k) % 7 === 0 ? 1 : 0)),
      );
      const sums: (CkksVector | undefined)[] = new Array(64);
      const loop = smokeLoop ? 128 : 1024;
      let encode = 0;
      let product = 0;
      let add = 0;
      let adds = 0;
      for (let r = 0; r < loop; r++) {
        let t0 = performance.now();
        const pt = ctx.encode(diagonals[r % 16]!, level);
        encode += performance.now() - t0;
        t0 = performance.now();
        const prod = babies[r % 64]!.mul(pt, { rescale: false });
        product += performance.now() - t0;
        pt.dispose();
        const j = (r >> 6) % 64;
        const prev = sums[j];
        t0 = performance.now();
        sums[j] = prev === undefined ? prod : prev.add(prod);
        add += performance.now() - t0;
        if (prev !== undefined) {
          adds++;
          prev.dispose();
          prod.dispose();
        }
      }
      encode /= loop;
      product /= loop;
      add /= Math.max(1, adds);
      for (const v of sums) v?.dispose();
      for (const v of babies.slice(1)) v.dispose();
      const pt = ctx.encode(diag, level);
      const prod = zl.mul(pt, { rescale: false });
      const rotate = msOf(() => prod.rotate(1).dispose(), runs);
      const block = prod.withLength(4096);
      const noise = new Float64Array(4096);
      const release = msOf(() => {
        const r = releaseBlock(ctx, block, noise, noise);
        r.g.serialize();
        r.h.serialize();
        r.g.dispose();
        r.h.dispose();
      }, runs);
      const r = releaseBlock(ctx, block, noise, noise);
      const decrypt = msOf(() => ctx.decrypt(r.g), runs);
      const fresh = g.serialize();
      const released = r.g.serialize();
      const times: SecureBoostOpTimes = {
        encode,
        product,
        rotate,
        add,
        maskProduct,
        lowering,
        pack,
        release,
        encrypt,
        decrypt,
        serializeFresh: msOf(() => g.serialize(), runs),
        deserializeFresh: msOf(() => ctx.deserializeVector(fresh).dispose(), runs),
        deserializeReleased: msOf(() => ctx.deserializeVector(released).dispose(), runs),
      };
      const sizes: SecureBoostSizes = {
        fresh: fresh.length,
        released: released.length,
        context: ctx.serialize().length,
      };
      return { times, sizes };
    });
  } finally {
    ctx.dispose();
  }
}

/** Element-wise mean of two measurements of the same operations. */
function meanTimes(a: HeOpTimes, b: HeOpTimes): HeOpTimes {
  const m = (x: number, y: number) => (x + y) / 2;
  const lv = (x: HeOpTimes['serialize'], y: HeOpTimes['serialize']) => ({
    fresh: m(x.fresh, y.fresh),
    residual: m(x.residual, y.residual),
    product: m(x.product, y.product),
  });
  return {
    encrypt: m(a.encrypt, b.encrypt),
    encode: m(a.encode, b.encode),
    mulPlain: m(a.mulPlain, b.mulPlain),
    mulPlainRescale: m(a.mulPlainRescale, b.mulPlainRescale),
    addPlain: m(a.addPlain, b.addPlain),
    add: m(a.add, b.add),
    rotate: m(a.rotate, b.rotate),
    rescale: m(a.rescale, b.rescale),
    modSwitch: m(a.modSwitch, b.modSwitch),
    serialize: lv(a.serialize, b.serialize),
    deserialize: lv(a.deserialize, b.deserialize),
    decrypt: m(a.decrypt, b.decrypt),
  };
}

/** A composed packed product against a real one (packedMatVec) on this thread: the composition check. */
async function packedCheck(
  t: HeOpTimes,
  columns: number,
  rows: number,
): Promise<{ measuredMs: number; predictedMs: number; rotations: number; products: number }> {
  const layout = packedLayout(rows, columns, 8192);
  const W = layout.width;
  const steps: number[] = [];
  for (let s = 1; s < W; s *= 2) steps.push(s);
  const ctx = await createCkksContext({
    params: 'ckks-16384-release',
    rotations: steps,
    relinearization: false,
  });
  try {
    const cols = Array.from({ length: columns }, (_, j) => randomValues(rows, `cost-model/col/${j}`));
    const d0 = ctx.encrypt(randomValues(8192, 'cost-model/d'));
    const d = d0.mul(randomValues(8192, 'cost-model/c', 1));
    d0.dispose();
    // Median of three: one product is under a second, and the load moves within seconds.
    const times: number[] = [];
    let plan = layout.productPlan(columns);
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const r = packedMatVec(d, cols, rows, layout);
      times.push(performance.now() - t0);
      for (const v of r.vectors) v.dispose();
      plan = r.plan;
    }
    const measuredMs = median(times);
    d.dispose();
    const c = plan.cost;
    const predictedMs =
      c.rotations * (t.rotate + t.add) +
      c.products * (t.mulPlain + t.add + t.encode) +
      c.rescales * t.rescale;
    return { measuredMs, predictedMs, rotations: c.rotations, products: c.products };
  } finally {
    ctx.dispose();
  }
}

/** Generated data for the small real run: standard normal features, labels from a logistic model. */
function smallData(rows: number, pg: number, ph: number) {
  const rng = seededRng('cost-model/small-run');
  const g = Array.from({ length: pg }, () => new Float64Array(rows));
  const h = Array.from({ length: ph }, () => new Float64Array(rows));
  const y = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let z = -1;
    for (let j = 0; j < pg; j++) {
      g[j]![i] = normal(rng);
      z += (j % 3 === 0 ? 0.4 : 0.05) * g[j]![i]!;
    }
    for (let j = 0; j < ph; j++) {
      h[j]![i] = normal(rng);
      z += (j % 4 === 0 ? 0.3 : 0.02) * h[j]![i]!;
    }
    y[i] = rng.nextUint32() / 2 ** 32 < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  return {
    guest: { names: g.map((_, j) => `g${j}`), columns: g },
    host: { names: h.map((_, j) => `h${j}`), columns: h },
    labels: y,
  };
}

/**
 * The layout the host publishes (its host-layout message) for `columns` in `bins` quantile bins: the real
 * host's code (`runWoeBinningHost`: fitting, the per-bin floor, missing rows folded), stopped after that
 * first message by closing its channel.
 */
async function publishedHostLayout(columns: readonly Column[], bins: number): Promise<HostLayout> {
  const network = createInMemoryNetwork(['guest', 'host'], envelopeCodec);
  const spec = { protocol: WOE_BINNING_PROTOCOL, version: WOE_BINNING_VERSION, session: 'layout' };
  const host = runWoeBinningHost(new ProtocolSession(network.channel('host'), spec), 'guest', {
    columns,
    binning: { method: 'quantile', bins },
  }).catch(() => undefined);
  try {
    return await new ProtocolSession(network.channel('guest'), spec).receive('host', HOST_LAYOUT_STEP);
  } finally {
    network.channel('host').close();
    await host;
  }
}

/**
 * `sizes` with the public context's base and per-key bytes of a loaded context, which re-serializes its
 * Galois keys expanded: what every context sent before commit 970ac86 (seeded keys) weighed.
 */
async function expandedContextSizes(params: CkksParams, sizes: HeSizes): Promise<HeSizes> {
  const bytes: number[] = [];
  for (const rotations of [[1], [1, 2, 4, 8]]) {
    const ctx = await createCkksContext({ params, rotations, relinearization: false });
    const loaded = await loadCkksPublicContext(ctx.serialize());
    bytes.push(loaded.serialize().length);
    loaded.dispose();
    ctx.dispose();
  }
  const perKey = (bytes[1]! - bytes[0]!) / 3;
  return { ...sizes, contextBase: bytes[0]! - perKey, contextPerRotationKey: perKey };
}

/** What a committed `bench net` run's binning stage needs from its results file. */
interface NetBinningRun {
  readonly population: PopulationOptions;
  readonly testFraction: number;
  /** Host features the guest kept (the stage's selected-features message names them). */
  readonly selected: number;
  readonly stages: Partial<Record<'memory' | 'lan', { bank: number; government: number }>>;
}

function netBinningRun(res: Record<string, unknown> | undefined): NetBinningRun | undefined {
  const r = res as
    | {
        parameters?: {
          enterprises?: number;
          bankCustomers?: number;
          govExtraFeatures?: number;
          bankExtraFeatures?: number;
          seed?: number;
          testFraction?: number;
        };
        raw?: Record<
          string,
          {
            selectedFeatures?: Record<string, number>;
            stages?: { binning?: { bytesSent: Record<string, number> } };
          }
        >;
      }
    | undefined;
  const par = r?.parameters;
  const memory = r?.raw?.['memory'];
  if (par?.enterprises === undefined || memory?.selectedFeatures?.['government'] === undefined)
    return undefined;
  const stages: NetBinningRun['stages'] = {};
  for (const mode of ['memory', 'lan'] as const) {
    const b = r?.raw?.[mode]?.stages?.binning?.bytesSent;
    if (b?.['bank'] !== undefined && b['government'] !== undefined) {
      stages[mode] = { bank: b['bank'], government: b['government'] };
    }
  }
  return {
    population: {
      enterprises: par.enterprises,
      ...(par.bankCustomers !== undefined && { bankCustomers: par.bankCustomers }),
      ...(par.govExtraFeatures !== undefined && { govExtraFeatures: par.govExtraFeatures }),
      ...(par.bankExtraFeatures !== undefined && { bankExtraFeatures: par.bankExtraFeatures }),
      ...(par.seed !== undefined && { seed: par.seed }),
    },
    // The node's default hold-out when the file does not state one.
    testFraction: par.testFraction ?? JOB_DEFAULTS.testFraction,
    selected: memory.selectedFeatures['government'],
    stages,
  };
}

/**
 * The host's columns on a net run's training rows, regenerated in memory: the government rows of the
 * bank's customers (the PSI intersection), less a hold-out of `testFraction` drawn here (a seeded draw,
 * not the run's own: the counts move by a few rows).
 */
function populationHost(options: PopulationOptions, testFraction: number): Column[] {
  const pop = generatePopulation(options);
  const rows = [...pop.truth.governmentRowOfBank].filter((r) => r >= 0);
  const rng = seededRng('cost-model/hold-out');
  for (let i = rows.length - 1; i > 0; i--) {
    const j = rng.nextUint32() % (i + 1);
    [rows[i], rows[j]] = [rows[j]!, rows[i]!];
  }
  const keep = rows.slice(0, Math.round(rows.length * (1 - testFraction)));
  return selectRows(pop.government, Uint32Array.from(keep)).columns;
}

/** The binning stage's selected-features message to the host: the names of `n` of its features. */
function selectedFeaturesBytes(layout: HostLayout, n: number): number {
  const names = layout.features.slice(0, n).map((f) => f.name);
  return idListStep('selected-features', { unique: true }).encode(names).length + ENVELOPE_OVERHEAD_BYTES;
}

/** ANCHORS.md, "here" (node-seal 7.0.0, N=8192, idle box, medians of 50): ms. */
const IDLE_8192_MS = { encrypt: 4.59, encode: 0.69, mulPlain: 0.43, rescale: 0.96 } as const;

const fmt = (x: number, d = 3) => Number(x.toFixed(d));
const pct = (e: number) => `${e >= 0 ? '+' : ''}${(100 * e).toFixed(1)} %`;
const mb = (b: number) => fmt(b / 1e6, 2);

function wanCapped(): NetProfile {
  return { ...NET_PROFILES.wan, name: 'wan (64 KiB window)', windowBytes: HTTP2_DEFAULT_WINDOW };
}

function intFlag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 1) {
    throw new FedscoreError('invalid_argument', `${name} takes a positive integer`, { field: name });
  }
  return v;
}

/** The queue check calibrated in its own run (section 5). */
interface QueueCalibration {
  workers: number;
  tasksPerProduct: number;
  /** Mean task ms: the model's from the per-op times, and the workers' measured in epochs 1 and 2. */
  modelTaskMs: number;
  firstEpochTaskMs: number;
  factor: number;
  secondEpochTaskMs: number;
  /** Seconds of the steady (second) epoch: predicted without and with calibration, measured. */
  predictedUncalibrated: number;
  predicted: number;
  measured: number;
  firstEpochSeconds: number;
  errorUncalibrated: number;
  error: number;
}

/** Every per-op time x `factor` (a calibrated core speed). */
function scaleOps(t: HeOpTimes, factor: number): HeOpTimes {
  const scale = (o: unknown): unknown =>
    typeof o === 'number'
      ? o * factor
      : Object.fromEntries(Object.entries(o as Record<string, unknown>).map(([k, v]) => [k, scale(v)]));
  return scale(t) as HeOpTimes;
}

/** Cores of a worker machine in the distributed prediction (issue 18: N 16-core workers). */
const WORKER_CORES = 16;
/** The database's link assumed for the distributed prediction (a 10 GbE data-centre NIC). */
const DB_BITS_PER_SECOND = 10e9;

export default async function costModelBench(args: string[]): Promise<BenchResult> {
  const smoke = args.includes('--smoke');
  const skipRun = args.includes('--skip-run') || smoke;
  const skipQueue = args.includes('--skip-queue') || smoke;
  const skipSecureBoostRun = args.includes('--skip-secureboost-run') || smoke;
  const queueBatches = intFlag(args, '--queue-batches', 8);
  const queueColumns = intFlag(args, '--queue-columns', 300);
  const sbRows = intFlag(args, '--sb-rows', 8192);
  const sbHostFeatures = intFlag(args, '--sb-host-features', 100);
  const sbGuestFeatures = intFlag(args, '--sb-guest-features', 30);
  const sbBins = intFlag(args, '--sb-bins', 32);
  const runs = smoke ? 2 : 7;
  const cores = availableParallelism();
  const loadBefore = loadavg().map((x) => fmt(x, 2));
  let idleFactor = 1;
  /** The largest measured runs and their predictions from this run's per-op times (see lrRef below). */
  let lrRef: { predicted: number; measured: number; label: string } | undefined;
  let binRef: { predicted: number; measured: number; label: string } | undefined;
  const scaledFrom = (
    ref: { predicted: number; measured: number } | undefined,
    compute: number,
    network: number,
  ) => (ref === undefined ? '-' : fmt((ref.measured * compute) / ref.predicted + network, 1));
  const t0 = performance.now();
  const summaryExtra: Record<string, unknown> = {};

  // 1. Per-operation times and sizes (seconds).
  const lr = await measureHeOps('ckks-16384-release', runs, true);
  const bin = await measureHeOps(BINNING_CKKS_PARAMS, runs, false);
  // results/net.json was measured before hetero-LR's default preset became ckks-16384-release (commit
  // f4a0e2b is not an ancestor of its commit 5e38349; its context bytes match N=8192): check it at 8192.
  const lr8192 = await measureHeOps('ckks-8192', runs, true);
  const psiOps = await measurePsiOps(smoke ? 200 : 2000);
  const micro = (performance.now() - t0) / 1000;
  const packed = smoke ? undefined : await packedCheck(lr.times, 31, 256);
  // Idle factor: ANCHORS.md's idle-box times over this run's for the same parameters (ckks-8192 is
  // ANCHORS' N=8192 [60,40,40,60]) and the ops this run measures at the top level, as ANCHORS does:
  // encrypt, and encode + multiply-plain + rescale (the class-weight product).
  const idleRatios = [
    IDLE_8192_MS.encrypt / lr8192.times.encrypt,
    (IDLE_8192_MS.encode + IDLE_8192_MS.mulPlain + IDLE_8192_MS.rescale) / lr8192.times.mulPlainRescale,
  ];
  idleFactor = median(idleRatios);

  const tables: BenchTable[] = [];
  const checks: (string | number)[][] = [];
  /** A timing check: raw error, and the error of the prediction scaled to an idle box (`idleFactor`). */
  const timeCheck = (run: string, detail: string, predicted: number, measured: number, note: string) => {
    checks.push([
      run,
      detail,
      fmt(predicted),
      fmt(measured),
      pct(relativeError(predicted, measured)),
      fmt(predicted * idleFactor),
      pct(relativeError(predicted * idleFactor, measured)),
      note,
    ]);
  };
  /** A size check in MB: predicted, measured, raw error (no idle scaling: bytes do not depend on load). */
  const byteCheck = (run: string, predicted: number, measured: number, detail = '-') => {
    checks.push([
      run,
      detail,
      mb(predicted),
      mb(measured),
      pct(relativeError(predicted, measured)),
      '-',
      '-',
      'MB',
    ]);
  };
  /** Two size checks in one row (guest -> host / host -> guest), MB. */
  const bytePairCheck = (
    run: string,
    detail: string,
    predicted: [number, number],
    measured: [number, number],
  ) => {
    checks.push([
      run,
      detail,
      `${mb(predicted[0])} / ${mb(predicted[1])}`,
      `${mb(measured[0])} / ${mb(measured[1])}`,
      `${pct(relativeError(predicted[0], measured[0]))} / ${pct(relativeError(predicted[1], measured[1]))}`,
      '-',
      '-',
      'MB',
    ]);
  };
  const raw: Record<string, unknown> = {
    ops: { heteroLr: lr, heteroLr8192: lr8192, binning: bin, psi: psiOps },
    packed,
    idleFactor,
  };

  tables.push({
    title: 'Measured per-operation times (ms, one thread, median) and sizes, this run',
    columns: [
      'operation',
      'hetero-LR: ckks-16384-release',
      'binning: N=8192 [60,60,60]',
      'ANCHORS.md (N=8192, idle)',
    ],
    rows: [
      ['encrypt (encode + public key)', fmt(lr.times.encrypt), fmt(bin.times.encrypt), 4.59],
      ['encode (diagonal, product level)', fmt(lr.times.encode), fmt(bin.times.encode), 0.69],
      ['multiply by plaintext (encoded)', fmt(lr.times.mulPlain), fmt(bin.times.mulPlain), 0.43],
      ['multiply by plain values + rescale', fmt(lr.times.mulPlainRescale), '-', '0.43 + 0.96'],
      ['add plain values', fmt(lr.times.addPlain), fmt(bin.times.addPlain), '-'],
      ['add', fmt(lr.times.add), fmt(bin.times.add), 0.03],
      ['rotate (one key switch)', fmt(lr.times.rotate), fmt(bin.times.rotate), 4.0],
      ['rescale', fmt(lr.times.rescale), '-', 0.96],
      ['mod switch fresh -> product level (unweighted residual)', fmt(lr.times.modSwitch), '-', '-'],
      [
        'serialize fresh / residual / product',
        `${fmt(lr.times.serialize.fresh)} / ${fmt(lr.times.serialize.residual)} / ${fmt(lr.times.serialize.product)}`,
        fmt(bin.times.serialize.fresh),
        '-',
      ],
      [
        'deserialize fresh / residual / product',
        `${fmt(lr.times.deserialize.fresh)} / ${fmt(lr.times.deserialize.residual)} / ${fmt(lr.times.deserialize.product)}`,
        fmt(bin.times.deserialize.fresh),
        '-',
      ],
      ['decrypt for release (one ciphertext)', fmt(lr.times.decrypt), fmt(bin.times.decrypt), 1.51],
      [
        'bytes: fresh / residual / product ciphertext',
        `${lr.sizes.fresh} / ${lr.sizes.residual} / ${lr.sizes.product}`,
        `${bin.sizes.fresh} / - / ${bin.sizes.product}`,
        '384 KiB fresh (zstd 325)',
      ],
      [
        'bytes: public context base + per rotation key',
        `${Math.round(lr.sizes.contextBase)} + ${Math.round(lr.sizes.contextPerRotationKey)}`,
        `${Math.round(bin.sizes.contextBase)} + ${Math.round(bin.sizes.contextPerRotationKey)}`,
        'full Galois keys 36 MiB',
      ],
      ['PSI: hash to ristretto255 (us / id)', fmt(psiOps.hashUs, 1), '-', `${fmt(1e6 / 31000, 1)} (31k/s)`],
      ['PSI: scalar multiplication (us)', fmt(psiOps.multUs, 1), '-', `${fmt(1e6 / 7700, 1)} (7.7k/s)`],
    ],
    note: `Measured in ${fmt(micro, 1)} s at load average ${loadBefore.join(' / ')} (1/5/15 min) on ${cores} cores shared with other engineers: per-op times are inflated by the load, so the predictions below are for a machine this loaded.`,
  });

  if (packed) {
    timeCheck(
      'packed product X^T [[d]], 31 columns, 256 rows (packedMatVec, this run)',
      `${packed.rotations} rotations, ${packed.products} products (planPackedProduct)`,
      packed.predictedMs / 1000,
      packed.measuredMs / 1000,
      'same minutes',
    );
  }

  // 2. Small real run, memory profile, same minutes.
  if (!skipRun) {
    const rows = 5000;
    const pg = 10;
    const ph = 20;
    const data = smallData(rows, pg, ph);
    const epochs = 2;
    const res = await trainHeteroLr({
      guest: { features: data.guest, labels: data.labels },
      hosts: [{ features: data.host }],
      hyperparams: { maxEpochs: epochs, batchSize: 1024 },
    });
    // The load moves within minutes: time the operations again right after the run and predict it
    // from the mean of the two measurements (the ones before and after it).
    const after = await measureHeOps('ckks-16384-release', runs, true);
    const around = meanTimes(lr.times, after.times);
    raw['opsAfterSmallRun'] = after.times;
    const workers = resolveWorkers(undefined, rows, pg + 1, epochs, cores);
    const shape: HeteroLrShape = { rows, guestFeatures: pg, hostFeatures: [ph], batchSize: 1024 };
    const p = predictHeteroLr(shape, around, lr.sizes, NET_PROFILES.memory, {
      kind: 'shared',
      cores,
      workers,
    });
    const predMean = (p.firstEpochSeconds + (epochs - 1) * p.steadyEpochSeconds) / epochs;
    timeCheck(
      `hetero-LR ${rows} x (${pg} + ${ph}), batch 1024, ${epochs} epochs, memory, workers ${workers} (this run)`,
      `${p.counts.batches.length} batches, W ${p.counts.width}`,
      predMean,
      res.secondsPerEpoch,
      'same minutes (per-op times: mean of before and after the run): s/epoch (mean)',
    );
    for (const party of [guestName, hostName(0), arbiterName]) {
      const pred = epochs * p.bytesPerEpoch[party]! + p.setupBytes[party]!;
      const meas = res.bytesSent[party === hostName(0) ? 'host-1' : party]!;
      byteCheck(`  bytes sent by ${party}, whole run (setup + ${epochs} epochs)`, pred, meas);
    }
    raw['smallRun'] = {
      rows,
      pg,
      ph,
      epochs,
      measured: res.secondsPerEpoch,
      history: res.history,
      bytes: res.bytesSent,
      predicted: p,
    };
  }

  // 3. Checks against the committed runs (other minutes, other load: errors compare ratios of load too).
  const hl = readCommitted('hetero-lr') as { raw?: { scale_100k_330?: Record<string, unknown> } } | undefined;
  const scale = hl?.raw?.scale_100k_330 as
    | {
        rows: number;
        bank_features: number;
        government_features: number;
        epochs: number;
        batch_size: number;
        diagonal_cache_mib: number;
        seconds_per_epoch: number;
        first_epoch_seconds: number;
        later_epochs_median_seconds: number;
        bytes_sent: Record<string, number>;
        loadavg?: number[];
        cache_needed_mib?: Record<string, number>;
        class_weight?: 'balanced' | 'none';
      }
    | undefined;
  // The anchors' shape as a node job runs it today (results/net-fate-100k-lan): batches of 8192 rows (one
  // ciphertext of ckks-16384-release; the pipeline's batch from 32,768 training rows) and class-weighted
  // (the train stage leaves classWeight to vfl's default, 'balanced': the residual is one prime down
  // after the weights). `fedscore train hetero-lr`'s default is 'none' (HETERO_LR_DEFAULTS): the residual
  // stays fresh on the wire and each product mod-switches it down first -- fateShapeCli.
  const fateShape: HeteroLrShape = {
    rows: 100_000,
    guestFeatures: 30,
    hostFeatures: [300],
    batchSize: 8192,
    classWeighted: true,
  };
  const fateShapeCli: HeteroLrShape = { ...fateShape, classWeighted: false };
  if (scale) {
    const shape: HeteroLrShape = {
      rows: scale.rows,
      guestFeatures: scale.bank_features,
      hostFeatures: [scale.government_features],
      batchSize: scale.batch_size,
      // bench hetero-lr's scale runs default to 'balanced' (--scale-class-weight); older files lack it.
      classWeighted: scale.class_weight !== 'none',
    };
    const p = predictHeteroLr(shape, lr.times, lr.sizes, NET_PROFILES.memory, {
      kind: 'shared',
      cores,
      workers: 2,
      cacheMiB: scale.diagonal_cache_mib,
    });
    const predMean = (p.firstEpochSeconds + (scale.epochs - 1) * p.steadyEpochSeconds) / scale.epochs;
    timeCheck(
      `hetero-LR ${scale.rows} x (${scale.bank_features} + ${scale.government_features}), batch ${scale.batch_size}, ${shape.classWeighted ? 'class-weighted' : 'unweighted'}, memory, workers 2, cache ${scale.diagonal_cache_mib} MiB (results/hetero-lr.json)`,
      `${p.counts.batches.length} batches; cache need host ${fmt(p.cacheNeedMiB[hostName(0)]!, 0)} MiB (measured ${scale.cache_needed_mib?.host ?? '-'})`,
      predMean,
      scale.seconds_per_epoch,
      `committed run at load ${scale.loadavg?.join(' / ') ?? '?'}; this run's per-op times at ${loadBefore.join(' / ')}`,
    );
    for (const party of [guestName, hostName(0), arbiterName]) {
      const pred = scale.epochs * p.bytesPerEpoch[party]! + p.setupBytes[party]!;
      const meas = scale.bytes_sent[party === hostName(0) ? 'host-1' : party]!;
      byteCheck(`  bytes sent by ${party}, whole run`, pred, meas);
    }
    raw['scaleCheck'] = { predicted: p, measured: scale };
    // Compute part of the prediction of the largest measured run: predictions at other shapes are
    // also given as that run's measured time x (their compute / this compute), which cancels the load
    // to first order (both predictions use the same per-op times).
    lrRef = {
      predicted: predMean,
      measured: scale.seconds_per_epoch,
      label: `results/hetero-lr.json ${scale.rows} x ${scale.bank_features + scale.government_features}, batch ${scale.batch_size}, memory, ${fmt(scale.seconds_per_epoch, 1)} s/epoch (mean of ${scale.epochs}) at load ${scale.loadavg?.join(' / ') ?? '?'}`,
    };
  }

  const net = readCommitted('net') as
    | {
        parameters?: { testFraction?: number };
        raw?: Record<
          string,
          {
            epochSeconds: number[];
            alignedRows: number;
            selectedFeatures: Record<string, number>;
            stages: Record<string, { bytesSent: Record<string, number> }>;
          }
        >;
      }
    | undefined;
  if (net?.raw?.['memory']) {
    const m = net.raw['memory'];
    const shape: HeteroLrShape = {
      // The job trains on the aligned rows less its hold-out (absent from the file: the node's default).
      rows: Math.round(m.alignedRows * (1 - (net.parameters?.testFraction ?? JOB_DEFAULTS.testFraction))),
      guestFeatures: m.selectedFeatures['bank']!,
      hostFeatures: [m.selectedFeatures['government']!],
      batchSize: 1024,
      // A node job's hetero-LR: class-weighted (the train stage leaves classWeight to vfl's default).
      classWeighted: true,
    };
    const workers = resolveWorkers(undefined, shape.rows, shape.guestFeatures + 1, 3, cores);
    for (const [name, profile] of [
      ['memory', NET_PROFILES.memory],
      ['lan', NET_PROFILES.lan],
      ['wan', NET_PROFILES.wan],
      ['wan', wanCapped()],
    ] as const) {
      const r = net.raw[name];
      if (!r) continue;
      const measured = median(r.epochSeconds.slice(1));
      const p = predictHeteroLr(shape, lr8192.times, lr8192.sizes, profile, {
        kind: 'shared',
        cores,
        workers,
      });
      timeCheck(
        `hetero-LR ${shape.rows} training rows x (${shape.guestFeatures} + ${shape.hostFeatures[0]}), batch 1024, class-weighted, ckks-8192, ${profile.name}, parties ${name === 'memory' ? 'in one process' : 'as processes'} (results/net.json)`,
        `network ${fmt(p.networkSeconds)} s of it`,
        p.steadyEpochSeconds,
        measured,
        'steady epoch (epochs 2..)',
      );
    }
    const epochs = m.epochSeconds.length;
    const p = predictHeteroLr(shape, lr8192.times, lr8192.sizes, NET_PROFILES.memory, {
      kind: 'shared',
      cores,
      workers,
    });
    for (const [party, node] of [
      [guestName, 'bank'],
      [hostName(0), 'government'],
      [arbiterName, 'arbiter'],
    ] as const) {
      const pred = epochs * p.bytesPerEpoch[party]! + p.setupBytes[party]!;
      const meas = m.stages['train']?.bytesSent[node];
      if (meas === undefined) continue;
      byteCheck(
        `  train-stage bytes sent by ${node} (${party}), memory, ${epochs} epochs + setup`,
        pred,
        meas,
      );
    }
  }

  // The anchors' shape over node processes (results/net-fate-100k-lan.json, `bench net --fate-shape`):
  // 100,000 training rows x (30 + 300), batch 8192, class-weighted, ckks-16384-release, the node's default
  // workers and cache; memory (parties in one process) and lan (processes on this machine).
  const netFate = readCommitted('net-fate-100k-lan') as
    | {
        machine?: { commit?: string };
        parameters?: { batchSize?: number; testFraction?: number; loadAverage?: { before?: number[] } };
        raw?: Record<
          string,
          {
            epochSeconds: number[];
            epochBytes: Record<string, number>[];
            alignedRows: number;
            selectedFeatures: Record<string, number>;
          }
        >;
      }
    | undefined;
  if (netFate?.raw?.['memory']) {
    const m = netFate.raw['memory'];
    const tf = netFate.parameters?.testFraction ?? JOB_DEFAULTS.testFraction;
    const shape: HeteroLrShape = {
      rows: Math.round(m.alignedRows * (1 - tf)),
      guestFeatures: m.selectedFeatures['bank']!,
      hostFeatures: [m.selectedFeatures['government']!],
      batchSize: netFate.parameters?.batchSize ?? 8192,
      classWeighted: true,
    };
    const epochs = m.epochSeconds.length;
    const workers = resolveWorkers(undefined, shape.rows, shape.guestFeatures + 1, epochs, cores);
    const load = netFate.parameters?.loadAverage?.before?.join(' / ') ?? '?';
    const fateCheck: Record<string, unknown> = {};
    for (const [name, profile] of [
      ['memory', NET_PROFILES.memory],
      ['lan', NET_PROFILES.lan],
    ] as const) {
      const r = netFate.raw[name];
      if (!r) continue;
      const measured = median(r.epochSeconds.slice(1));
      const p = predictHeteroLr(shape, lr.times, lr.sizes, profile, { kind: 'shared', cores, workers });
      timeCheck(
        `hetero-LR FATE shape ${shape.rows} x (${shape.guestFeatures} + ${shape.hostFeatures[0]}), batch ${shape.batchSize}, class-weighted, ${profile.name}, parties ${name === 'memory' ? 'in one process' : 'as processes'} (results/net-fate-100k-lan.json)`,
        `${p.counts.batches.length} batches, W ${p.counts.width}, workers ${workers}; network ${fmt(p.networkSeconds)} s of it`,
        p.steadyEpochSeconds,
        measured,
        `steady epoch (epochs 2..); committed run at load ${load}, this run's per-op times at ${loadBefore.join(' / ')}`,
      );
      fateCheck[name] = {
        predicted: p.steadyEpochSeconds,
        measured,
        error: relativeError(p.steadyEpochSeconds, measured),
      };
      summaryExtra[`hetero_lr_fate_shape_${name}_check`] = {
        predicted_s_per_epoch: fmt(p.steadyEpochSeconds, 2),
        measured_s_per_epoch: fmt(measured, 2),
        error: pct(relativeError(p.steadyEpochSeconds, measured)),
      };
      if (name === 'memory') {
        // Same shape, batch, weighting and code path as the anchors' predictions: the reference to scale
        // them by (it replaces the older, class-weighted batch-4096 run of bench hetero-lr).
        lrRef = {
          predicted: p.steadyEpochSeconds,
          measured,
          label: `results/net-fate-100k-lan.json ${shape.rows} x ${shape.guestFeatures + shape.hostFeatures[0]!}, batch ${shape.batchSize}, class-weighted, memory, ${fmt(measured, 2)} s/epoch at load ${load}`,
        };
      }
      const steady = r.epochBytes[r.epochBytes.length - 1];
      for (const [party, node] of [
        [guestName, 'bank'],
        [hostName(0), 'government'],
        [arbiterName, 'arbiter'],
      ] as const) {
        const meas = steady?.[node];
        if (meas === undefined) continue;
        byteCheck(
          `  bytes sent by ${node} (${party}) in a steady epoch, ${profile.name}`,
          p.bytesPerEpoch[party]!,
          meas,
        );
      }
    }
    raw['fateShapeNetCheck'] = { shape, workers, ...fateCheck };
  }

  const binRes = readCommitted('binning') as
    | { summary?: { seconds_median?: number }; tables?: BenchTable[]; raw?: Record<string, unknown> }
    | undefined;
  const binOps = binRes?.tables?.find((t) => t.title.startsWith('CKKS operations'))?.rows[0];
  const plainRow = binRes?.tables?.[0]?.rows.find((r) => String(r[0]).startsWith('fedscore, none'));
  const plainSecondsPerCell = plainRow ? Number(plainRow[2]) / (100_000 * 330) : 7.5 / (100_000 * 330);
  // The host's layout fixes the binning's blocks and Galois keys (hence its bytes), and the data fixes
  // the layout: each check gets the layout its run's data publishes, from the real host's code (the
  // populations take ~10 s each on a quiet machine: --smoke keeps the uniform layout and skips them).
  const tLayout = performance.now();
  const binLayout = smoke
    ? undefined
    : await publishedHostLayout(binningPopulation(100_000, 300, 30).hostColumns, 10);
  const binShape: BinningShape = {
    rows: 100_000,
    hostFeatures: 300,
    guestFeatures: 30,
    bins: 10,
    ...(binLayout !== undefined && { layout: binLayout }),
  };
  const binPlacement: Placement = { kind: 'shared', cores, workers: 2 };
  // Runs before commit 970ac86 (results/binning.json, net.json) sent the Galois keys expanded: their key
  // size is a loaded context's (it re-serializes the expanded keys).
  const binExpanded = await expandedContextSizes(BINNING_CKKS_PARAMS, bin.sizes);
  const layoutNote = (l: HostLayout | undefined) => {
    const c = binningCounts(
      l === undefined
        ? binShape
        : { rows: l.rows, hostFeatures: l.features.length, guestFeatures: 0, bins: 10, layout: l },
    );
    const what = l === undefined ? 'uniform layout (--smoke): ' : '';
    return `${what}${c.cells} cells: B ${c.batches}, P ${c.blocks} blocks of m ${c.blockSize}, ${c.rotationKeys} Galois keys`;
  };
  const binBytes: Record<string, unknown> = { layout: layoutNote(binLayout) };
  {
    const p = predictBinning(
      binShape,
      bin.times,
      bin.sizes,
      NET_PROFILES.memory,
      binPlacement,
      plainSecondsPerCell,
    );
    if (binOps) {
      checks.push([
        'binning 100000 x (30 + 300), 10 bins: products / rotations (results/binning.md)',
        `planBinSums on the layout of that run's population (${layoutNote(binLayout)})`,
        `${p.counts.products} / ${p.counts.rotations}`,
        `${binOps[0]} / ${binOps[2]}`,
        `${pct(relativeError(p.counts.products, Number(binOps[0])))} / ${pct(relativeError(p.counts.rotations, Number(binOps[2])))}`,
        '-',
        '-',
        'counts (products: an upper bound, all-zero diagonals skipped; rotations: each worker repeats the baby steps of its batches)',
      ]);
      const old = binningMessageBytes(binShape, binExpanded);
      bytePairCheck(
        '  binning bytes guest -> host / host -> guest (results/binning.json, in-memory network: encoded envelopes)',
        `that layout; Galois keys expanded (${mb(binExpanded.contextPerRotationKey)} MB a key: the run, commit ${String((binRes as { machine?: { commit?: string } } | undefined)?.machine?.commit ?? '?')}, predates seeded keys)`,
        [old.guest, old.host],
        [Number(binOps[4]), Number(binOps[5])],
      );
      binBytes['binningJson'] = { predicted: old, measured: [Number(binOps[4]), Number(binOps[5])] };
    }
    const fate = smoke ? undefined : netBinningRun(readCommitted('net-fate-100k-lan'));
    if (fate !== undefined) {
      const pop = populationHost(fate.population, fate.testFraction);
      const layout = await publishedHostLayout(pop, 10);
      const shape: BinningShape = { ...binShape, layout, rows: layout.rows };
      const b = binningMessageBytes(shape, bin.sizes);
      // The stage also sends the host the names of its kept features (minIv 0: all of them).
      const select = selectedFeaturesBytes(layout, fate.selected);
      const pred: [number, number] = [b.guest + select, b.host];
      for (const [mode, label] of [
        ['memory', 'memory (encoded envelopes)'],
        ['lan', 'lan (wire bytes: TLS records, HTTP/2 frames; the model counts envelopes)'],
      ] as const) {
        const m = fate.stages[mode];
        if (m === undefined) continue;
        bytePairCheck(
          `  binning-stage bytes sent by bank / government, ${label} (results/net-fate-100k-lan.json)`,
          `layout of its population regenerated in memory (seed ${String(fate.population.seed)}; the run read it back from CSV): ${layoutNote(layout)}; + the selected-features message`,
          pred,
          [m.bank, m.government],
        );
      }
      const uniform = binningMessageBytes({ ...shape, layout: undefined }, bin.sizes);
      const u = binningCounts({ ...shape, layout: undefined }, bin.sizes.slots);
      if (fate.stages.memory !== undefined) {
        bytePairCheck(
          '    the same, memory, from the uniform layout (no data: every feature 10 bins of rows / 10)',
          `${u.cells} cells: P ${u.blocks} blocks of m ${u.blockSize}, ${u.rotationKeys} Galois keys`,
          [uniform.guest + select, uniform.host],
          [fate.stages.memory.bank, fate.stages.memory.government],
        );
      }
      binBytes['netFate100k'] = { predicted: pred, messages: b.messages, uniform: uniform.messages };
    }
    const ten = smoke ? undefined : netBinningRun(readCommitted('net'));
    if (ten?.stages.memory !== undefined) {
      const pop = populationHost(ten.population, ten.testFraction);
      const layout = await publishedHostLayout(pop, 10);
      const shape: BinningShape = {
        rows: layout.rows,
        hostFeatures: layout.features.length,
        guestFeatures: 0,
        bins: 10,
        layout,
      };
      const b = binningMessageBytes(shape, binExpanded);
      const select = selectedFeaturesBytes(layout, ten.selected);
      bytePairCheck(
        `  binning-stage bytes sent by bank / government, memory (results/net.json, ${layout.rows} training rows)`,
        `layout of its population's training rows regenerated (seed ${String(ten.population.seed)}; its hold-out drawn here, not the run's): ${layoutNote(layout)}; Galois keys expanded (the run predates seeded keys); + selected-features (${ten.selected} names)`,
        [b.guest + select, b.host],
        [ten.stages.memory.bank, ten.stages.memory.government],
      );
      binBytes['net10k'] = { predicted: [b.guest + select, b.host], messages: b.messages };
    }
    binBytes['seconds'] = (performance.now() - tLayout) / 1000;
    raw['binningBytes'] = binBytes;
    if (binRes?.summary?.seconds_median !== undefined) {
      binRef = {
        predicted: p.seconds,
        measured: binRes.summary.seconds_median,
        label: `results/binning.json 100k x 330, ${fmt(binRes.summary.seconds_median, 1)} s`,
      };
      timeCheck(
        'binning 100000 x (30 + 300), 10 bins, workers 2, memory (results/binning.json)',
        `plaintext part ${fmt(p.plainSeconds)} s from its 'none' run`,
        p.seconds,
        binRes.summary.seconds_median,
        'committed run at load 6-12',
      );
    }
  }

  let psiOwnOps: PsiOpTimes | undefined;
  const psiRes = readCommitted('psi') as
    | { summary?: { seconds?: number; n?: number }; raw?: { bytes?: { cold?: { guestToHost: number } } } }
    | undefined;
  if (psiRes?.summary?.seconds !== undefined && psiRes.summary.n !== undefined) {
    const n = psiRes.summary.n;
    const p = predictPsi({ guestIds: n, hostIds: n }, psiOps, NET_PROFILES.memory, Math.min(2, cores), 0);
    timeCheck(
      `PSI ${n} x ${n}, cold session, 2 threads (results/psi.json)`,
      `${p.hashes} hashes, ${p.mults} multiplications`,
      p.seconds,
      psiRes.summary.seconds,
      'committed run (load unknown)',
    );
    // The same prediction from the per-op times measured in that run (psi.json: primitive medians of
    // 7 x 2048 on one core): a check of the counts and their composition free of the load difference.
    const prim =
      (psiRes.raw as { hashMs?: { wall: number[] }; multMs?: { wall: number[] } } | undefined) ?? {};
    if (prim.hashMs && prim.multMs) {
      psiOwnOps = {
        hashUs: (median(prim.hashMs.wall) * 1000) / 2048,
        multUs: (median(prim.multMs.wall) * 1000) / 2048,
      };
    }
    if (psiOwnOps) {
      const own = psiOwnOps;
      const q = predictPsi({ guestIds: n, hostIds: n }, own, NET_PROFILES.memory, Math.min(2, cores), 0);
      checks.push([
        `  the same, with that run's own per-op times (${fmt(own.hashUs, 1)} us hash, ${fmt(own.multUs, 1)} us multiplication)`,
        'same counts',
        fmt(q.seconds),
        fmt(psiRes.summary.seconds),
        pct(relativeError(q.seconds, psiRes.summary.seconds)),
        '-',
        '-',
        'per-op times from the same run as the measurement',
      ]);
    }
    const b = psiRes.raw?.bytes?.cold?.guestToHost;
    if (b !== undefined) {
      byteCheck('  PSI bytes guest -> host', p.bytesPerParty.guest, b, '48 B per id');
    }
  }

  tables.push({
    title: 'Checks: the model against measured runs',
    columns: [
      'run',
      'model detail',
      'predicted',
      'measured',
      'error',
      'predicted x idle factor',
      'error (idle-scaled)',
      'note',
    ],
    rows: checks,
    note: `Error = (predicted - measured) / measured. Seconds unless marked. "This run" rows were measured in the same minutes as the per-op times: their raw error is the model's. Committed rows were measured at their own load (their results files say which), so the raw error includes the difference in load; the idle-scaled columns multiply the prediction by the idle factor ${fmt(idleFactor)} (mean over encrypt and encode + multiply-plain + rescale of ANCHORS.md's idle-box time at N=8192 [60,40,40,60] over this run's time for the same parameters, ckks-8192), i.e. predict an idle box, for comparison with runs made on a quiet machine. The hetero-LR cache need follows packages/he diagonals.ts (N x (level + 1) x 8 bytes a diagonal, ${fmt((lr.sizes.slots * 2 * (lr.sizes.productLevel + 1) * 8) / 1024, 0)} KiB at this preset's product level); the scale run's cache_needed_mib (packages/cli bench-hetero-lr.ts) counts a fixed 128 KiB, a stale N=8192 figure.`,
  });

  // 4. Predictions at the anchors' shapes.
  const sep = (workers: number): Placement => ({ kind: 'separate', cores: 2, workers });
  const sfShape: HeteroLrShape = { ...fateShape, rows: 800_000, guestFeatures: 750, hostFeatures: [750] };
  const preds: (string | number)[][] = [];
  const predRaw: Record<string, unknown> = {};
  for (const [label, shape, anchor] of [
    [
      'FATE 100k x (30 + 300), batch 8192, class-weighted (a node job)',
      fateShape,
      'FATE 2.0 coordinated-LR: 136 s/epoch (Paillier, 2 hosts x 16 cores Xeon 8255C, 1 Gb LAN); 19-20 s with encryption mocked',
    ],
    [
      "FATE 100k x (30 + 300), batch 8192, unweighted (fedscore train's default)",
      fateShapeCli,
      'FATE 2.0 coordinated-LR: 136 s/epoch (Paillier, 2 hosts x 16 cores Xeon 8255C, 1 Gb LAN); 19-20 s with encryption mocked',
    ],
    [
      'SecretFlow 800k x (750 + 750), batch 8192, class-weighted',
      sfShape,
      'SecretFlow SS-SGD LR 800k x 1500: 694-1245 s (whole training, 32 vCPU / 256 GB per party, 2 parties; epochs not stated)',
    ],
  ] as const) {
    for (const profile of [NET_PROFILES.memory, NET_PROFILES.lan, NET_PROFILES.wan, wanCapped()]) {
      const placement: Placement = profile.name === 'memory' ? { kind: 'shared', cores, workers: 2 } : sep(2);
      const p = predictHeteroLr(shape, lr.times, lr.sizes, profile, placement);
      preds.push([
        `hetero-LR ${label}`,
        profile.name,
        placement.kind === 'shared'
          ? `one ${cores}-core machine, 2 workers/party`
          : 'each party 2 cores, 2 workers',
        fmt(p.steadyEpochSeconds, 1),
        scaledFrom(lrRef, p.steadyEpochSeconds - p.networkSeconds, p.networkSeconds),
        fmt((p.steadyEpochSeconds - p.networkSeconds) * idleFactor + p.networkSeconds, 1),
        fmt(p.networkSeconds, 1),
        `${mb(p.bytesPerEpoch[guestName]!)} / ${mb(p.bytesPerEpoch[hostName(0)]!)} / ${mb(p.bytesPerEpoch[arbiterName]!)}`,
        anchor,
      ]);
      predRaw[`hetero-lr ${label} ${profile.name}`] = {
        steadyEpochSeconds: p.steadyEpochSeconds,
        firstEpochSeconds: p.firstEpochSeconds,
        networkSeconds: p.networkSeconds,
        bytesPerEpoch: p.bytesPerEpoch,
        cacheNeedMiB: p.cacheNeedMiB,
        counts: { batches: p.counts.batches.length, width: p.counts.width, packed: p.counts.packed },
      };
    }
  }
  const sfBin: BinningShape = { rows: 800_000, hostFeatures: 750, guestFeatures: 750, bins: 10 };
  for (const [label, shape, anchor] of [
    ['FATE 100k x (30 + 300), 10 bins', binShape, 'FATE 2.0 feature binning: 68 s (16 cores, Paillier)'],
    [
      'SecretFlow 800k x (750 + 750), 10 bins',
      sfBin,
      'SecretFlow WOE/IV 800k x 1500: 434 s (32 vCPU per party)',
    ],
  ] as const) {
    for (const profile of [NET_PROFILES.memory, NET_PROFILES.lan, NET_PROFILES.wan, wanCapped()]) {
      const placement: Placement = profile.name === 'memory' ? binPlacement : sep(2);
      const p = predictBinning(shape, bin.times, bin.sizes, profile, placement, plainSecondsPerCell);
      const binCompute = p.seconds - p.networkSeconds;
      preds.push([
        `binning ${label}`,
        profile.name,
        placement.kind === 'shared' ? `one ${cores}-core machine, 2 workers` : 'host 2 cores, 2 workers',
        fmt(p.seconds, 1),
        scaledFrom(binRef, binCompute, p.networkSeconds),
        fmt((p.seconds - p.networkSeconds) * idleFactor + p.networkSeconds, 1),
        fmt(p.networkSeconds, 1),
        `${mb(p.bytes.guest)} / ${mb(p.bytes.host)} / -`,
        anchor,
      ]);
      predRaw[`binning ${label} ${profile.name}`] = p;
    }
  }
  // PSI 10M x 10M: blinding splits over cores; the transfer and intersection do not.
  const psiSerial = 0;
  for (const c of [2, 8, 32]) {
    for (const profile of [NET_PROFILES.lan, NET_PROFILES.wan]) {
      const p = predictPsi({ guestIds: 10_000_000, hostIds: 10_000_000 }, psiOps, profile, c, psiSerial);
      preds.push([
        'PSI 10M x 10M, cold session',
        profile.name,
        `${c} cores (per-core extrapolation)`,
        fmt(p.seconds, 1),
        '-',
        fmt((p.seconds - p.networkSeconds) * idleFactor + p.networkSeconds, 1),
        fmt(p.networkSeconds, 1),
        `${mb(p.bytesPerParty.guest)} / ${mb(p.bytesPerParty.host)} / -`,
        c === 32
          ? 'SecretFlow ECDH-PSI 10M: 110 s (32 cores, LAN); PSI v2 ECDH-25519 67 s on 32 cores'
          : c === 8
            ? 'SecretFlow PSI v2 ECDH-25519 10M x 10M: 114 s on 8 cores'
            : 'measured here at 1M x 1M: results/psi.md',
      ]);
      predRaw[`psi 10M ${c} cores ${profile.name}`] = p;
    }
  }
  // PSI again from the 1M x 1M run's own primitive times (psi.json, one core, its minutes): the
  // per-core mark that run set, extrapolated to 10M x 10M.
  if (psiOwnOps) {
    for (const c of [2, 8, 32]) {
      const p = predictPsi(
        { guestIds: 10_000_000, hostIds: 10_000_000 },
        psiOwnOps,
        NET_PROFILES.lan,
        c,
        psiSerial,
      );
      preds.push([
        "PSI 10M x 10M, cold session, psi.json's per-op times",
        'lan',
        `${c} cores (per-core extrapolation)`,
        fmt(p.seconds, 1),
        '-',
        '-',
        fmt(p.networkSeconds, 1),
        `${mb(p.bytesPerParty.guest)} / ${mb(p.bytesPerParty.host)} / -`,
        c === 32
          ? 'SecretFlow ECDH-PSI 10M: 110 s (32 cores, LAN); PSI v2 ECDH-25519 67 s on 32 cores'
          : c === 8
            ? 'SecretFlow PSI v2 ECDH-25519 10M x 10M: 114 s on 8 cores'
            : 'measured here at 1M x 1M: 294.6 s (results/psi.md)',
      ]);
      predRaw[`psi 10M ${c} cores lan, psi.json per-op times`] = p;
    }
  }
  tables.push({
    title: "Predictions at the anchors' shapes (this machine's per-op times, at this run's load)",
    columns: [
      'protocol and shape',
      'network',
      'placement',
      'predicted s (per epoch for hetero-LR), this load',
      'scaled from the largest measured run: its s x (compute here / its compute here) + network',
      'idle-scaled s (compute x idle factor + network)',
      'of which network s',
      'MB per party per epoch: guest / host / arbiter',
      'anchor (ANCHORS.md) and its setup',
    ],
    rows: preds,
    note: `Three readings of each prediction: at this run's load (the per-op times as measured); scaled from the largest measured run of the same protocol (hetero-LR: ${lrRef?.label ?? 'none committed'}; binning: ${binRef?.label ?? 'none committed'}): that run's seconds times the ratio of the two predictions' compute parts made from the same per-op times, so the load cancels to first order -- the reading to use for a quiet machine; idle-scaled (x the idle factor of the checks table), which underestimated every low-load committed run in the checks, a lower bound. SecretFlow's 1,500 features split 750 + 750 between its 2 parties (assumed: the split is not published). Binning bytes follow the host's layout (its cells set the blocks P and the guest's Galois keys): at FATE's shape the layout of the generated population binning.bench bins at that shape (${layoutNote(binLayout)}; the uniform layout of 10 equal bins a feature would give ${binningCounts({ ...binShape, layout: undefined }, bin.sizes.slots).blocks} blocks and ${binningCounts({ ...binShape, layout: undefined }, bin.sizes.slots).rotationKeys} keys), at SecretFlow's and 10M rows the uniform layout (no data at those shapes). "wan (64 KiB window)": the WAN link with one HTTP/2 stream limited to a 64 KiB flow-control window per 100 ms round trip (5.2 Mbit/s), grpc-js's default, the cap of the committed 10k net run's transport before the node opened 16 MiB windows (benchmarks/README.md); plain "wan" is the link rate and today's transport. PSI per-core extrapolation assumes blinding (hashes and multiplications, 3n per party) is embarrassingly parallel across ids at this core's speed, and the transfer (48 B per id each way) and the final intersection are not parallel: the transfer is added whole; the intersection (sort and match) is left out (it is seconds at 1M). Hetero-LR at the anchors' shapes runs at batches of 8192 rows (the pipeline's batch from 32,768 training rows), class-weighted as a node job runs it (its train stage leaves classWeight to vfl's default, 'balanced'); the unweighted rows are \`fedscore train hetero-lr\`'s default (classWeight 'none'): the residual stays fresh on the wire (${mb(lr.sizes.fresh)} MB against ${mb(lr.sizes.residual)}) and each product mod-switches it down one prime first (${fmt(lr.times.modSwitch)} ms).`,
  });

  // 5. Issue 18: hetero-LR's packed products on the queue, checked on this machine, predicted for
  // 10M x 330 on N 16-core workers.
  const fateHost = planPackedProduct(queueColumns, 4096);
  let queueCosts: QueueCosts | undefined;
  let queueTimings: TaskTiming[] = [];
  let queueRows: ThroughputRow[] = [];
  const queueLoad: number[][] = [];
  const queueCalibration: QueueCalibration[] = [];
  let lrAround = lr.times;
  if (!skipQueue) {
    const layout = hePackedLayout(4096, queueColumns, 1 << 30);
    const ctx = await createCkksContext({
      params: 'ckks-16384-release',
      rotations: packedRotationSteps(layout),
      relinearization: false,
    });
    const freshBefore = await measureFreshLevelOps(runs);
    const cluster = await startPgCluster();
    try {
      const shape = { ctx, layout: hePackedLayout(4096, queueColumns, ctx.slotCount), slots: ctx.slotCount };
      queueLoad.push(loadavg());
      const local = await createHeWorkerPool({ size: 1, context: ctx.serialize({ compression: 'none' }) });
      try {
        queueTimings = await overheadPart(shape, cluster, local, [queueColumns], 4096, 3);
      } finally {
        await local.close();
      }
      queueRows = await throughputPart(shape, cluster, [1, 2], queueColumns, 4096, queueBatches, []);
      queueLoad.push(loadavg());
    } finally {
      cluster.stop();
      ctx.dispose();
    }
    const freshAfter = await measureFreshLevelOps(runs);
    const after = await measureHeOps('ckks-16384-release', runs, true);
    lrAround = meanTimes(lr.times, after.times);
    raw['opsAfterQueueRun'] = after.times;
    // The queue check's products work on d as bench queue encrypts it (fresh, top level): those ops
    // measured right before and after the queue part, the rest as around.
    const freshAround = {
      ...lrAround,
      ...Object.fromEntries(
        Object.entries(freshBefore).map(([k, v]) => [k, (v + freshAfter[k as keyof typeof freshAfter]) / 2]),
      ),
    } as HeOpTimes;
    raw['freshLevelOpsAroundQueueRun'] = { before: freshBefore, after: freshAfter };
    const steady = queueTimings.filter((x) => x.epoch > 1);
    queueCosts = {
      overheadMs: median(steady.map((x) => x.overheadMs)),
      inputBytes: median(steady.map((x) => x.inputBytes)),
      partBytes: median(steady.map((x) => x.outputBytes)) / fateHost.blocks.length,
    };
    const predictedTask = taskMs(productTasks(fateHost, 1).tasks[0]!, freshAround);
    timeCheck(
      `queue task: one unsplit packed product, 4096 x ${queueColumns} (bench queue's overhead part, this run)`,
      `${fateHost.cost.rotations} rotations, ${fateHost.cost.products} products + encodes: worker's time in the task`,
      predictedTask / 1000,
      median(steady.map((x) => x.taskMs)) / 1000,
      'same minutes; per-op times at the fresh level: mean of before and after the queue part',
    );
    for (const r of queueRows) {
      const w = r.processes;
      const p = predictQueueEpoch(fateHost, queueBatches, w, freshAround, queueCosts, cores);
      timeCheck(
        `queue epoch: ${queueBatches} host products of 4096 x ${queueColumns} (${queueBatches * 4096} rows x ${queueColumns}), ${w} worker process(es), split ${w} (this run)`,
        `${p.product.tasks} task(s) a product; overhead ${fmt(queueCosts.overheadMs, 0)} ms a task (measured)`,
        p.seconds,
        r.epochSeconds,
        'steady epoch (the second: columns cached by the workers); per-op times measured around the run',
      );
    }
    // Like for like: the per-task times calibrated in the check run itself. Each configuration's first
    // epoch (same worker processes, same minutes, just before) gives the workers' mean time in a task;
    // its ratio to the model's task time from the per-op times scales every per-op time (the
    // coordinator's too: it shares the 2 cores), and the model then predicts the second epoch.
    for (const r of queueRows) {
      const w = r.processes;
      const { tasks } = productTasks(fateHost, w);
      const modelTaskMs = tasks.reduce((a, x) => a + taskMs(x, freshAround), 0) / tasks.length;
      const firstTaskMs = ((r.firstEpochTaskSeconds ?? 0) * 1000) / Math.max(1, r.firstEpochTasks ?? 0);
      const factor = firstTaskMs / modelTaskMs;
      const uncalibrated = predictQueueEpoch(fateHost, queueBatches, w, freshAround, queueCosts, cores);
      const p = predictQueueEpoch(
        fateHost,
        queueBatches,
        w,
        scaleOps(freshAround, factor),
        queueCosts,
        cores,
      );
      const steadyTaskMs = ((r.workerTaskSeconds ?? 0) * 1000) / Math.max(1, r.tasks ?? 0);
      timeCheck(
        `queue epoch, calibrated in the run: ${queueBatches} host products of 4096 x ${queueColumns} (${queueBatches * 4096} rows x ${queueColumns}), ${w} worker process(es), split ${w} (this run)`,
        `per-op times x ${fmt(factor, 3)} (epoch 1: ${fmt(firstTaskMs, 0)} ms a task measured / ${fmt(modelTaskMs, 0)} ms modelled)`,
        p.seconds,
        r.epochSeconds,
        'steady epoch (the second) predicted from the first epoch of the same configuration',
      );
      queueCalibration.push({
        workers: w,
        tasksPerProduct: p.product.tasks,
        modelTaskMs,
        firstEpochTaskMs: firstTaskMs,
        factor,
        secondEpochTaskMs: steadyTaskMs,
        predictedUncalibrated: uncalibrated.seconds,
        predicted: p.seconds,
        measured: r.epochSeconds,
        firstEpochSeconds: r.firstEpochSeconds ?? 0,
        errorUncalibrated: relativeError(uncalibrated.seconds, r.epochSeconds),
        error: relativeError(p.seconds, r.epochSeconds),
      });
    }
  }
  // The queue's costs for the prediction: this run's, else the committed bench queue's (310 columns).
  if (queueCosts === undefined) {
    const committed = readCommitted('queue') as { raw?: { timings?: TaskTiming[] } } | undefined;
    const steady = (committed?.raw?.timings ?? []).filter((x) => x.epoch > 1 && x.columns >= 300);
    if (steady.length > 0) {
      queueCosts = {
        overheadMs: median(steady.map((x) => x.overheadMs)),
        inputBytes: median(steady.map((x) => x.inputBytes)),
        partBytes: median(steady.map((x) => x.outputBytes)) / 2,
      };
    }
  }
  const tenM: HeteroLrShape = {
    rows: 10_000_000,
    guestFeatures: 30,
    hostFeatures: [300],
    batchSize: 4096,
  };
  const distRows: (string | number)[][] = [];
  const distRaw: Record<string, unknown> = {};
  let distOne: number | undefined;
  if (queueCosts !== undefined) {
    for (const n of [1, 2, 4, 8, 16, 32]) {
      const p = predictDistributedHeteroLr(
        tenM,
        lrAround,
        lr.sizes,
        queueCosts,
        { machines: n, coresPerMachine: WORKER_CORES, dbBitsPerSecond: DB_BITS_PER_SECOND },
        NET_PROFILES.lan,
      );
      distOne ??= p.epochSeconds;
      const hp = p.hostProduct;
      distRows.push([
        n,
        p.cores,
        `${hp.split} (${hp.tasks} tasks)`,
        `${fmt(hp.computeMs, 0)} / ${fmt(hp.overheadMs, 0)} / ${fmt(hp.transferMs, 1)} / ${fmt(hp.combineMs, 0)}`,
        fmt(p.serialSeconds, 0),
        fmt(p.productSeconds, 0),
        fmt(p.networkSeconds, 1),
        fmt(p.epochSeconds, 0),
        fmt(p.epochSeconds * idleFactor, 0),
        `${fmt(100 * p.serialFraction, 1)} %`,
        fmt(distOne / p.epochSeconds, 2),
        fmt(p.dbBytesPerEpoch / 1e9, 1),
      ]);
      distRaw[`N=${n}`] = p;
    }
  }
  if (queueCalibration.length > 0) {
    tables.push({
      title: `Issue 18: the queue check, like for like (per-task times calibrated in the check run; ${queueBatches} host products of 4096 x ${queueColumns} = ${queueBatches * 4096} rows)`,
      columns: [
        'worker processes',
        'tasks a product',
        'task ms: modelled from per-op times / measured epoch 1 / measured epoch 2',
        'calibration factor (epoch 1 / model)',
        'epoch 1 s (uploads the columns)',
        'epoch 2 s: predicted uncalibrated / calibrated / measured',
        'error uncalibrated',
        'error calibrated (absolute)',
      ],
      rows: queueCalibration.map((c) => [
        c.workers,
        c.tasksPerProduct,
        `${fmt(c.modelTaskMs, 0)} / ${fmt(c.firstEpochTaskMs, 0)} / ${fmt(c.secondEpochTaskMs, 0)}`,
        fmt(c.factor, 3),
        fmt(c.firstEpochSeconds, 1),
        `${fmt(c.predictedUncalibrated, 1)} / ${fmt(c.predicted, 1)} / ${fmt(c.measured, 1)}`,
        pct(c.errorUncalibrated),
        `${pct(c.error)} (${fmt(Math.abs(c.predicted - c.measured), 1)} s)`,
      ]),
      note: `Load average at the queue part's start and end: ${queueLoad.map((l) => l.map((x) => fmt(x, 2)).join(' / ')).join('; ')} (1/5/15 min, 2 cores shared with other engineers). The uncalibrated prediction uses the per-op times measured just before and after the queue part (as the checks table's "queue epoch" rows); the calibrated one scales every per-op time by the ratio of the workers' mean time in a task in the same configuration's first epoch (same worker processes, the minutes just before) to the model's task time, then predicts the second epoch with the model's structure (waves of tasks on the cores, the overhead per task measured in this run's overhead part, the coordinator's serial encryption and (de)serialization, combining the parts). What is left in the calibrated error is the load's drift between the two epochs and what the model leaves out.`,
    });
    raw['queueCalibration'] = queueCalibration;
    for (const c of queueCalibration) {
      summaryExtra[`queue_check_error_calibrated_${c.workers}_workers`] = pct(c.error);
      summaryExtra[`queue_check_error_uncalibrated_${c.workers}_workers`] = pct(c.errorUncalibrated);
    }
  }
  // PSI 10M x 10M and binning 10M x 330 do not go through the queue: on the party's own 16-core machine.
  const psi16 = predictPsi({ guestIds: 1e7, hostIds: 1e7 }, psiOps, NET_PROFILES.lan, WORKER_CORES, 0);
  const bin16 = predictBinning(
    { rows: 10_000_000, hostFeatures: 300, guestFeatures: 30, bins: 10 },
    bin.times,
    bin.sizes,
    NET_PROFILES.lan,
    { kind: 'separate', cores: WORKER_CORES, workers: WORKER_CORES },
    plainSecondsPerCell,
  );
  if (distRows.length > 0) {
    tables.push({
      title:
        'Issue 18: hetero-LR epoch at 10M x (30 + 300) with the host products on the queue, N 16-core worker machines (predicted)',
      columns: [
        'N machines',
        'cores',
        'split (tasks) a product',
        'a product: slowest task / queue overhead / DB transfer / combine, ms',
        'serial s (encrypt, sums, masks, (de)serialize, key holder decrypts)',
        'product s',
        'network s (lan)',
        'epoch s, this load',
        'epoch s, idle-scaled',
        'serial fraction',
        'speed-up over N = 1',
        'DB GB / epoch',
      ],
      rows: distRows,
      note: `${Math.ceil(1e7 / 4096)} batches of 4096 rows a 10M-row epoch; each batch's residual needs the weights the previous batch updated (mini-batch SGD), so batches are a chain and only a batch's products spread over the workers. The host's product of 300 columns (planPackedProduct: ${fateHost.cost.products} products, ${fateHost.cost.rotations} rotations, ${fateHost.blocks.reduce((a, b) => a + b.giantSteps, 0)} giant steps) is cut into at most one task per giant step (splitTasks), each task repeating the ${fateHost.babySteps - 1} baby rotations of d: the split with the shortest wall time is chosen per N, and past ~20 tasks a product gains nothing. The guest's 31-column product stays on its node (below the queue's minColumns) in parallel. Serial on the chain: the host's encryption, the guest's sum and class weights, masks, every (de)serialization, and the key holder's ${fateHost.blocks.length + 1} decryptions a batch on one replica (its secret key is never on a worker). Assumptions: per-op times of this run's core on every worker core (no memory-bandwidth or turbo effects: a 16-core Xeon runs 16 tasks at one core's speed), the queue overhead per task as measured here on loopback (${queueCosts === undefined ? '-' : fmt(queueCosts.overheadMs, 0)} ms: enqueue, pick-up, store, collect), the database on a ${DB_BITS_PER_SECOND / 1e9} Gbit/s link that every task's d (${queueCosts === undefined ? '-' : mb(queueCosts.inputBytes)} MB) and results cross, parties on the lan profile (1 Gbit/s, 0.1 ms), steady epochs (the batch columns, 10M x 300 x 8 B = 24 GB, cross the database once in the first epoch and stay cached on the workers: ~${fmt(24 / WORKER_CORES, 1)} GB per worker machine when N = 1). Idle-scaled: x the idle factor ${fmt(idleFactor)} (this run's load over ANCHORS.md's idle box). Not modelled on the queue (same 10M rows, each on the party's own 16-core machine, this load): PSI 10M x 10M ${fmt(psi16.seconds, 0)} s; WOE binning 10M x 330 ${fmt(bin16.seconds, 0)} s. Both can run on the queue today -- PSI blinding as task kinds psiHash and psiBlind carrying the run's ephemeral key (packages/psi offload.ts), the binning sums as kind binSums (packages/vfl binning/parallel.ts) -- but this table does not model their tasks.`,
    });
    raw['distributed'] = {
      shape: tenM,
      queueCosts,
      predictions: distRaw,
      psi10mOn16Cores: psi16,
      binning10mOn16Cores: bin16,
      queueRun: { timings: queueTimings, throughput: queueRows, load: queueLoad },
    };
  }

  // 6. Issue 20: SecureBoost per tree from histogramTreeOps x measured op times; a real tree to check.
  const sbOps = await measureSecureBoostOps(runs, smoke);
  const sbCtx = await createCkksContext({
    params: SECUREBOOST_CKKS_PRESET,
    rotations: [1],
    relinearization: false,
  });
  const sbRows_: (string | number)[][] = [];
  let sbCellsPerFeature = 33;
  let sbCheck: { predicted: number; measured: number } | undefined;
  try {
    const sbData = secureboostPopulation(smoke ? 2000 : sbRows, sbHostFeatures, sbGuestFeatures);
    const counts = binFeatures(sbData.hostF, sbBins).counts;
    const cells = counts.reduce((a, b) => a + b, 0);
    sbCellsPerFeature = cells / counts.length;
    const rowsHere = sbData.labels.length;
    // The host's default: the per-bin floor on (its merged-bin nodes are summed apart).
    const opsHere = histogramTreeOps(sbCtx, cells, rowsHere, 3, undefined, true);
    const predHere = predictSecureBoostTree(
      { rows: rowsHere, cells, depth: 3 },
      opsHere,
      sbOps.times,
      sbOps.sizes,
    );
    raw['secureboostOps'] = sbOps;
    if (!skipSecureBoostRun) {
      const res = await trainSecureBoost({
        guest: { features: sbData.guestF, labels: sbData.labels },
        hosts: [{ features: sbData.hostF }],
        scheme: 'ckks',
        hyperparams: { trees: 1, depth: 3, bins: sbBins, learningRate: 0.3 },
      });
      const perTree = res.history[0]!.seconds;
      const after = await measureSecureBoostOps(runs, smoke);
      const around = Object.fromEntries(
        Object.entries(sbOps.times).map(([k, v]) => [
          k,
          (v + after.times[k as keyof SecureBoostOpTimes]) / 2,
        ]),
      ) as unknown as SecureBoostOpTimes;
      const p = predictSecureBoostTree(
        { rows: rowsHere, cells, depth: 3 },
        opsHere,
        around,
        sbOps.sizes,
        true,
      );
      sbCheck = { predicted: p.treeSeconds, measured: perTree };
      const splits = res.history[0]!.splits;
      timeCheck(
        `SecureBoost ${rowsHere} x (${sbGuestFeatures} + ${sbHostFeatures}), ${sbBins} bins, depth 3, 1 tree, CKKS, ${splits} of 7 nodes split (this run)`,
        `${opsHere.path}: ${opsHere.perTree.products} products, ${opsHere.perTree.encodes} encodes, ${opsHere.perTree.rotations} rotations, ${opsHere.perTree.releasedBlocks} releases (histogramTreeOps)`,
        p.treeSeconds,
        perTree,
        'same minutes; per-op times: mean of before and after the run; seconds per tree (guest tree loop)',
      );
      for (const [party, pred] of [
        ['guest', p.setupBytes + p.bytesPerTree.guest],
        ['host-1', p.bytesPerTree.host],
      ] as const) {
        const meas = res.bytesSent[party];
        if (meas === undefined) continue;
        byteCheck(`  bytes sent by the SecureBoost ${party}, whole run (setup + 1 tree)`, pred, meas);
      }
      raw['secureboostRun'] = {
        rows: rowsHere,
        cells,
        perTree,
        bytes: res.bytesSent,
        predicted: p,
        opsAfter: after,
      };
    }
    /**
     * The tree prediction at `rows` x `hostFeatures` (the same cells per feature, depth 3), and the same
     * scaled by the check run (measured / predicted) when there is one.
     */
    const atShape = (hostFeatures: number, rows: number) => {
      const cells = Math.round(hostFeatures * sbCellsPerFeature);
      const ops = histogramTreeOps(sbCtx, cells, rows, 3, undefined, true);
      const p = predictSecureBoostTree({ rows, cells, depth: 3 }, ops, sbOps.times, sbOps.sizes);
      const scaled =
        sbCheck === undefined ? undefined : (p.treeSeconds * sbCheck.measured) / sbCheck.predicted;
      return { cells, ops, p, scaled };
    };
    const { cells: fateCells, ops: opsFate, p: pFate, scaled } = atShape(300, 100_000);
    // SecretFlow's SGB at 800k x 1500 (split 750 + 750, assumed as for its LR and WOE): the host's 750
    // features at the same cells per feature, depth 3 as above (SecretFlow's depth is not in ANCHORS.md).
    const { cells: sfCells, ops: opsSf, p: pSf, scaled: scaledSf } = atShape(750, 800_000);
    for (const [label, pr, o, rowsN, cellsN, sc] of [
      [
        `check shape ${rowsHere} x (${sbGuestFeatures} + ${sbHostFeatures})`,
        predHere,
        opsHere,
        rowsHere,
        cells,
        undefined,
      ],
      ['FATE 100k x (30 + 300)', pFate, opsFate, 100_000, fateCells, scaled],
      ['SecretFlow 800k x (750 + 750)', pSf, opsSf, 800_000, sfCells, scaledSf],
    ] as const) {
      sbRows_.push([
        label,
        `${rowsN} rows, ${cellsN} host cells; ${o.path}; B ${o.layout.batches} P ${o.layout.blocks} m ${o.layout.blockSize} n1 ${o.layout.baby}`,
        `${o.perTree.products} / ${o.perTree.encodes} / ${o.perTree.rotations} / ${o.perTree.releasedBlocks}`,
        Object.entries(pr.breakdown)
          .map(([k, v]) => `${k} ${fmt(v, 1)}`)
          .join(', '),
        fmt(pr.releaseSeconds, 1),
        fmt(pr.guestSeconds, 1),
        fmt(pr.treeSeconds, 1),
        fmt(pr.treeSeconds * idleFactor, 1),
        sc !== undefined ? fmt(sc, 0) : '-',
        `${mb(pr.bytesPerTree.guest)} / ${mb(pr.bytesPerTree.host)} (setup ${mb(pr.setupBytes)})`,
      ]);
    }
    const fateCoreSeconds = 114 * 16;
    const ours = scaled ?? pFate.treeSeconds;
    tables.push({
      title:
        "Issue 20: SecureBoost seconds per tree, depth 3 (histogramTreeOps x this run's per-op times at ckks-16384-release)",
      columns: [
        'shape',
        'plan (host code: planHistogram, histogramPath)',
        'products / encodes / rotations / released blocks per tree',
        'host HE s by kind',
        'host releases s',
        'guest s (encrypt g, h; decrypt)',
        'predicted s per tree, this load, one thread',
        'idle-scaled s',
        'scaled by the check run (measured / predicted)',
        'MB per tree: guest -> host / host -> guest',
      ],
      rows: sbRows_,
      note: `Cells per host feature ${fmt(sbCellsPerFeature, 2)} (binFeatures at ${sbBins} bins on the check shape's generated data; used for 300 features at 100k). Counts are upper bounds (all-zero diagonals skipped by the code; reached when every node has thousands of rows), full trees (every node split). The prediction is the host's histograms on one thread, its default (workers 0); with workers >= 2 they run on HE worker threads when the cost rule threadedHistogramsWin says so, and with a histogram offload on the queue as task kind sbHistogram (packages/vfl secureboost), neither modelled here. FATE 2.0 SecureBoost at 100k x (30 + 300), depth 3: 1 min 54 s per tree on 16 cores (Xeon 8255C, Paillier, 1 Gb LAN; ANCHORS.md) = ${fateCoreSeconds} core-seconds; ours ${fmt(ours, 0)} core-seconds per tree (${scaled === undefined ? 'predicted at this load' : 'the prediction scaled by the check run'}): ${fmt(ours / fateCoreSeconds, 1)}x FATE's per-core cost, i.e. ${fmt(ours / 114, 1)}x its wall time on one core; if the products and encodes were spread over 16 cores (on the queue's sbHistogram tasks, not modelled here: per-task overhead and the per-level chain left out), at best ${fmt(ours / 16, 0)} s per tree. Left out of the model: the diagonal scatter and bin counting in JS, split finding, messages' latency (memory profile). SecretFlow SGB at 800k x 1500 (32 vCPU per party, 2 parties; ANCHORS.md): 4,177 s for its whole training, its trees and depth not stated there, so no per-tree figure to compare; at ours ${fmt(scaledSf ?? pSf.treeSeconds, 0)} s per tree on one thread (${scaledSf === undefined ? 'predicted at this load' : 'scaled by the check run'}), 4,177 s is ${fmt(4177 / (scaledSf ?? pSf.treeSeconds), 2)} of our trees; its 1,500 features split 750 + 750 (assumed, as for its LR and WOE rows).`,
    });
    // SecureBoost as node processes at FATE's features (bench net --kind secureboost, 30 + 300 columns,
    // fewer rows), against this model at its training rows and against secureboost-scale's 100k tree
    // scaled down by the gradient ciphertexts (B: rows per 8192 slots) and by rows.
    const sbNet = readCommitted('net-secureboost-fate-features') as
      | {
          parameters?: { testFraction?: number; loadAverage?: { before?: number[]; after?: number[] } };
          summary?: { aligned?: number; trees?: number };
          raw?: Record<
            string,
            { stages?: Record<string, { seconds: number; bytesSent: Record<string, number> }> }
          >;
        }
      | undefined;
    const sbScale = readCommitted('secureboost-scale') as
      | {
          summary?: { rows?: number; host_features?: number; seconds_first_tree?: number };
          parameters?: { host_cells?: number };
        }
      | undefined;
    const aligned = sbNet?.summary?.aligned;
    if (sbNet?.raw !== undefined && aligned !== undefined) {
      const trainRows = Math.round(
        aligned * (1 - (sbNet.parameters?.testFraction ?? JOB_DEFAULTS.testFraction)),
      );
      const trees = sbNet.summary?.trees ?? 1;
      const { cells: netCells, ops: opsNet, p: pNet, scaled: scaledNet } = atShape(300, trainRows);
      const scaleRows = sbScale?.summary?.rows;
      const scaleTree = sbScale?.summary?.seconds_first_tree;
      const scaleB =
        scaleRows === undefined
          ? undefined
          : histogramTreeOps(sbCtx, netCells, scaleRows, 3, undefined, true).layout.batches;
      const netRows: (string | number)[][] = [];
      for (const [profile, r] of Object.entries(sbNet.raw)) {
        const train = r.stages?.['train'];
        if (train === undefined) continue;
        const measured = train.seconds / trees;
        const bank = train.bytesSent['bank'] ?? 0;
        const gov = train.bytesSent['government'] ?? 0;
        netRows.push([
          `${profile}: ${trainRows} training rows (${aligned} aligned) x (30 + 300), ${trees} tree`,
          fmt(measured, 1),
          `${fmt(pNet.treeSeconds, 1)} (${pct(relativeError(pNet.treeSeconds, measured))})`,
          scaledNet === undefined ? '-' : `${fmt(scaledNet, 1)} (${pct(relativeError(scaledNet, measured))})`,
          scaleTree === undefined || scaleB === undefined
            ? '-'
            : `${fmt((scaleTree * opsNet.layout.batches) / scaleB, 1)} (${pct(relativeError((scaleTree * opsNet.layout.batches) / scaleB, measured))}) / ${fmt((scaleTree * trainRows) / scaleRows!, 1)} (${pct(relativeError((scaleTree * trainRows) / scaleRows!, measured))})`,
          `${mb(bank)} vs ${mb(pNet.bytesPerTree.guest * trees + pNet.setupBytes)} (${pct(relativeError(pNet.bytesPerTree.guest * trees + pNet.setupBytes, bank))})`,
          `${mb(gov)} vs ${mb(pNet.bytesPerTree.host * trees)} (${pct(relativeError(pNet.bytesPerTree.host * trees, gov))})`,
        ]);
      }
      const nl = sbNet.parameters?.loadAverage;
      tables.push({
        title:
          "Issue 20: SecureBoost as node processes at FATE's features (results/net-secureboost-fate-features.json) against the model and secureboost-scale",
        columns: [
          'profile and shape',
          'measured s per tree (train stage: key setup included)',
          'model, this load (error)',
          'model scaled by the check run (error)',
          'secureboost-scale scaled by gradient ciphertexts / by rows (error)',
          'MB bank (guest) train stage: measured vs setup + per tree (error)',
          'MB government (host): measured vs per tree (error)',
        ],
        rows: netRows,
        note: `The node job at ${aligned} aligned rows trains on ${trainRows} (its hold-out; SecureBoost refuses testFraction 0): ${netCells} host cells, B ${opsNet.layout.batches} gradient ciphertext batch(es) of ${opsNet.layout.slotCount} slots against B ${scaleB ?? '-'} at secureboost-scale's ${scaleRows ?? '-'} rows (${scaleTree === undefined ? '-' : fmt(scaleTree, 1)} s per tree, two processes over a pipe, load 7-24). The net run's load: ${nl?.before?.join(' / ') ?? '?'} before, ${nl?.after?.join(' / ') ?? '?'} after; this run's per-op times at ${loadBefore.join(' / ')}. The model's time is the host's histograms on one thread; the node job's host uses its default (workers 0, no offload), so the same path.`,
      });
      // The same runs as checks: the model at their training rows and cells, this run's per-op times.
      for (const [profile, r] of Object.entries(sbNet.raw)) {
        const train = r.stages?.['train'];
        if (train === undefined) continue;
        timeCheck(
          `SecureBoost ${trainRows} training rows x (30 + 300), 32 bins, depth 3, ${profile}, node processes (results/net-secureboost-fate-features.json)`,
          `${opsNet.path}: ${opsNet.perTree.products} products, ${opsNet.perTree.encodes} encodes, ${opsNet.perTree.rotations} rotations (histogramTreeOps, per-bin floor)`,
          pNet.treeSeconds,
          train.seconds / trees,
          `committed run at load ${nl?.before?.join(' / ') ?? '?'}; this run's per-op times at ${loadBefore.join(' / ')}; s per tree (train stage, key setup included)`,
        );
      }
      summaryExtra['secureboost_net_fate_features'] = {
        train_rows: trainRows,
        predicted_s_per_tree: fmt(pNet.treeSeconds, 1),
        scaled_s_per_tree: scaledNet === undefined ? '-' : fmt(scaledNet, 1),
        measured_s_per_tree: Object.fromEntries(
          Object.entries(sbNet.raw)
            .filter(([, r]) => r.stages?.['train'] !== undefined)
            .map(([k, r]) => [k, fmt(r.stages!['train']!.seconds / trees, 1)]),
        ),
      };
    }
    // The largest SecureBoost run this machine holds (bench secureboost-scale: 100k x (30 + 300), two
    // processes over a pipe), at its own cell count.
    const scaleCells = sbScale?.parameters?.host_cells;
    const scaleSeconds = sbScale?.summary?.seconds_first_tree;
    const scaleRowsN = sbScale?.summary?.rows;
    if (scaleCells !== undefined && scaleSeconds !== undefined && scaleRowsN !== undefined) {
      const ops = histogramTreeOps(sbCtx, scaleCells, scaleRowsN, 3, undefined, true);
      const p = predictSecureBoostTree(
        { rows: scaleRowsN, cells: scaleCells, depth: 3 },
        ops,
        sbOps.times,
        sbOps.sizes,
        true,
      );
      timeCheck(
        `SecureBoost ${scaleRowsN} x (30 + 300), ${scaleCells} host cells, 32 bins, depth 3, first tree, guest and host processes (results/secureboost-scale.json)`,
        `${ops.path}: ${ops.perTree.products} products, ${ops.perTree.encodes} encodes, ${ops.perTree.rotations} rotations, B ${ops.layout.batches} (histogramTreeOps, per-bin floor)`,
        p.treeSeconds,
        scaleSeconds,
        `committed run at load 14-24 (its parameters.load_average); this run's per-op times at ${loadBefore.join(' / ')}; s per tree (guest tree loop)`,
      );
      summaryExtra['secureboost_scale_100k_check'] = {
        predicted_s_per_tree: fmt(p.treeSeconds, 0),
        measured_s_per_tree: fmt(scaleSeconds, 0),
        error: pct(relativeError(p.treeSeconds, scaleSeconds)),
      };
    }
    summaryExtra['secureboost_100k_330_predicted_s_per_tree'] = fmt(pFate.treeSeconds, 0);
    summaryExtra['secureboost_100k_330_scaled_s_per_tree'] = scaled === undefined ? '-' : fmt(scaled, 0);
    summaryExtra['secureboost_100k_330_bytes_per_tree'] = pFate.bytesPerTree;
    if (sbCheck)
      summaryExtra['secureboost_check_error'] = pct(relativeError(sbCheck.predicted, sbCheck.measured));
    summaryExtra['secureboost_800k_1500_predicted_s_per_tree'] = fmt(pSf.treeSeconds, 0);
    summaryExtra['secureboost_800k_1500_scaled_s_per_tree'] = scaledSf === undefined ? '-' : fmt(scaledSf, 0);
    raw['secureboostPredictions'] = {
      fate: pFate,
      secretflow: pSf,
      check: predHere,
      cellsPerFeature: sbCellsPerFeature,
    };
  } finally {
    sbCtx.dispose();
  }
  if (distRaw['N=1'] !== undefined) {
    for (const n of [1, 4, 32]) {
      const p = distRaw[`N=${n}`] as { epochSeconds: number };
      summaryExtra[`hetero_lr_10m_330_epoch_s_${n}_machines`] = fmt(p.epochSeconds, 0);
    }
  }

  const loadAfter = loadavg().map((x) => fmt(x, 2));
  const fate = predictHeteroLr(fateShape, lr.times, lr.sizes, NET_PROFILES.lan, sep(2));
  const sf = predictHeteroLr(sfShape, lr.times, lr.sizes, NET_PROFILES.lan, sep(2));
  const psi10 = predictPsi({ guestIds: 1e7, hostIds: 1e7 }, psiOps, NET_PROFILES.lan, 2, psiSerial);
  return {
    summary: {
      load_average_before: loadBefore,
      load_average_after: loadAfter,
      hetero_lr_fate_shape_lan_s_per_epoch: fmt(fate.steadyEpochSeconds, 1),
      hetero_lr_secretflow_shape_lan_s_per_epoch: fmt(sf.steadyEpochSeconds, 1),
      hetero_lr_fate_shape_lan_scaled_from_measured: scaledFrom(
        lrRef,
        fate.steadyEpochSeconds - fate.networkSeconds,
        fate.networkSeconds,
      ),
      hetero_lr_secretflow_shape_lan_scaled_from_measured: scaledFrom(
        lrRef,
        sf.steadyEpochSeconds - sf.networkSeconds,
        sf.networkSeconds,
      ),
      psi_10m_lan_2_cores_s: fmt(psi10.seconds, 0),
      ...summaryExtra,
      checks: checks.length,
    },
    parameters: {
      command: `bench cost-model ${args.join(' ')}`.trim(),
      runs_per_op: runs,
      cores,
      load_average_before: loadBefore,
      load_average_after: loadAfter,
      hetero_lr_preset:
        "ckks-16384-release (default), arbiter mode, validation 0 (default); anchors' shapes: batch 8192, class-weighted as a node job (and unweighted, fedscore train's default); each check: its run's own batch and weighting",
      binning_params: 'N=8192 q=[60,60,60] scale 2^40 (BINNING_CKKS_PARAMS)',
      psi: 'libsodium WASM ristretto255, reference calls (one id a call)',
      placements: 'shared = all parties on this machine; separate = each party on its own 2-core machine',
    },
    tables,
    notes: [
      `Load average ${loadBefore.join(' / ')} before and ${loadAfter.join(' / ')} after (1/5/15 min) on ${cores} cores shared with other engineers: every per-op time is inflated by that load, and the predictions are for a machine as loaded as this one during the run. Checks against committed runs compare against runs made at their own load; the "this run" checks were measured in the same minutes.`,
      'How to read the model, its assumptions and what it leaves out: docs/benchmarks.md. Operation counts come from the protocol code (planPackedProduct, batchSizes, planBinSums) and are tested call for call in benchmarks/test/cost-model.test.ts.',
    ],
    raw: { ...raw, predictions: predRaw },
  };
}
