/**
 * A cost model of fedscore's three heavy protocols -- hetero-LR under CKKS (arbiter mode), WOE binning
 * under CKKS, ECDH-PSI over ristretto255 -- that predicts time and bytes per party for shapes this
 * machine cannot run (SecretFlow's 800k x 1500, PSI 10M x 10M) from per-operation times measured here
 * (`measureHeOps`, `measurePsiOps`) and operation counts read off the protocol code:
 *
 * - hetero-LR (packages/vfl/src/hetero-lr guest.ts, host.ts, arbiter.ts, exchange.ts, cipher.ts): per
 *   mini-batch each host encrypts its partial predictions (1 ciphertext, `encrypt` + `toBatch`); the
 *   guest loads them (`fromBatch`), adds them (H - 1 `add`), multiplies by the class weights (`mulPlain`,
 *   when class-weighted), adds its own part (`addPlain`) and sends the residual [[d]] to every host (one
 *   `toBatch`); the guest and each host compute the packed product X^T [[d]] (`matVecTAsync`: the
 *   rotations, plaintext products, encodes and rescales of `planPackedProduct`, one output ciphertext
 *   per block) one level below a fresh encryption -- the level a class-weighted residual arrives at (vfl's
 *   default, and a node job's); an unweighted residual (classWeight 'none', `fedscore train hetero-lr`'s
 *   default) arrives fresh and each product first mod-switches a copy of it down (cipher.ts
 *   `atProductLevel`, one `modSwitch`) --,
 *   mask it (`addPlain`, one ciphertext per block) and send it to the arbiter, which loads
 *   and decrypts it (`decryptForRelease`, one decryption per block) and returns float64 values. A
 *   validated epoch adds the hosts' encrypted validation scores, their sum, a mask and one release.
 *   `heteroLrCounts` is that list; benchmarks/test/cost-model.test.ts checks it call for call against a
 *   run through a counting cipher, and the packed-product counts rotation for rotation.
 * - binning (packages/vfl/src/binning packing.ts, ckks-sums.ts): the guest encrypts its labels, one
 *   ciphertext per 4096-row batch; the host's label sums are one hybrid-diagonal product with the
 *   costs of `planBinSums` (B*P*m products and encodes, B*(n1 - 1) + P*(n2 - 1 + log2(S/m)) rotations),
 *   a fresh encryption of flooding noise added per output block, P ciphertexts back, P decryptions.
 *   The layout is the host's published one where the data is known, else uniform quantile bins; the
 *   bytes are counted message by message (`binningMessageBytes`: the public context with the layout's
 *   Galois keys, B label ciphertexts, P sums, the plaintext messages encoded by the protocol's steps);
 *   benchmarks/test/cost-model.test.ts checks every message of a real run.
 * - PSI (packages/psi): a cold session hashes every id of both sets to the group (n_g + n_h hashes) and
 *   each party blinds its own points and the peer's (2 (n_g + n_h) scalar multiplications); each party
 *   sends 32 bytes a point plus a 16-byte key per id.
 *
 * - a packed product on the queue (issue 18): `productTasks` (the task lists of `splitTasks` and each
 *   task's work as `evaluatePartial` does it), `predictDistributedHeteroLr` (the batch chain's serial
 *   part + the product on N worker machines + the database's link); benchmarks/test/cost-model.test.ts
 *   checks each task's counts against `evaluatePartial`'s own work counters.
 * - portfolio scoring on the queue (issue 18): `predictPortfolioScoring` (blocks streamed through the
 *   data owner's encryption, the model owner's task encoding, the database's bytes and the workers' CPU:
 *   the slowest bounds it; plus the pipeline's fill and the decryptions after),
 *   `portfolioBytesBoundAt`; benchmarks/test/cost-model.test.ts checks the arithmetic by hand.
 * - a SecureBoost tree (issue 20): `histogramTreeOps` (packages/vfl, next to the code it counts and
 *   tested op for op there) x SecureBoost's per-op times, `predictSecureBoostTree`.
 *
 * Time = sum of (count x measured time) on the critical path, plus the network: per message one one-way
 * latency on the critical path and bytes / bandwidth, where the bandwidth of one stream is capped by the
 * transport's flow-control window (bytes in flight per round trip) when that is given. What the model
 * leaves out is listed in docs/benchmarks.md ("Cost model").
 */
import { splitTasks } from '@fedscore/he';
import {
  batchSizes,
  binSumRotations,
  CKKS_ITEMS_PER_MESSAGE,
  DEFAULT_MAX_DIGIT_BITS,
  type HistogramTreeOps,
  HOST_LAYOUT_STEP,
  HOST_RESULT_STEP,
  type HostLayout,
  LABEL_KEYS_STEP,
  layoutCells,
  MAX_MERGED_BATCH_ROWS,
  type PackedProductPlan,
  planBinSums,
  planPackedProduct,
} from '@fedscore/vfl';

// --- inputs ----------------------------------------------------------------------------------------

/** Per-operation times of one CKKS parameter set, milliseconds on one thread. */
export interface HeOpTimes {
  /** Encrypt one vector (encode + public-key encryption), top level. */
  readonly encrypt: number;
  /** Encode one plaintext at the product level (a diagonal not in the cache). */
  readonly encode: number;
  /** Ciphertext x plaintext (already encoded), no rescale. */
  readonly mulPlain: number;
  /** Ciphertext x plain values (encode + multiply + rescale): the class-weight product. */
  readonly mulPlainRescale: number;
  /** Ciphertext + plain values (encode + add): a mask or the guest's own residual part. */
  readonly addPlain: number;
  /** Ciphertext + ciphertext. */
  readonly add: number;
  /** One rotation (one key switch) at the product level. */
  readonly rotate: number;
  readonly rescale: number;
  /**
   * Copy a fresh ciphertext down to the product level (`CkksVector.atLevel`, one mod switch): what each
   * product does first to an unweighted residual (cipher.ts `atProductLevel`). 0 where not measured.
   */
  readonly modSwitch: number;
  /** Serialize (zstd) / deserialize one ciphertext, by level: fresh, residual, product. */
  readonly serialize: { readonly fresh: number; readonly residual: number; readonly product: number };
  readonly deserialize: { readonly fresh: number; readonly residual: number; readonly product: number };
  /** Decrypt one product ciphertext for release (decrypt, decode, flooding, rounding). */
  readonly decrypt: number;
}

/** Serialized sizes from the real cipher, bytes. */
export interface HeSizes {
  /** A host's fresh encryption (host-forward). */
  readonly fresh: number;
  /** The residual [[d]] after the class-weight product. */
  readonly residual: number;
  /** One block of a masked product. */
  readonly product: number;
  /** The public context (keys) for a batch width W: base + one Galois key per power of two below W. */
  readonly contextBase: number;
  readonly contextPerRotationKey: number;
  /** Level (chain index) the packed product works at (sizes the diagonal cache). */
  readonly productLevel: number;
  readonly slots: number;
}

/** A link between two parties, one direction. */
export interface NetProfile {
  readonly name: string;
  readonly latencyMs: number;
  /** Infinity = not limited. */
  readonly bitsPerSecond: number;
  /**
   * Bytes one stream may have in flight per round trip (HTTP/2 flow-control window); undefined = the
   * link's rate is reached. Throughput of one stream = min(rate, window / RTT).
   */
  readonly windowBytes?: number;
}

export const NET_PROFILES: Readonly<Record<'memory' | 'lan' | 'wan', NetProfile>> = {
  memory: { name: 'memory', latencyMs: 0, bitsPerSecond: Number.POSITIVE_INFINITY },
  lan: { name: 'lan', latencyMs: 0.1, bitsPerSecond: 1e9 },
  wan: { name: 'wan', latencyMs: 50, bitsPerSecond: 100e6 },
};

/** grpc-js's default HTTP/2 flow-control window (65,535 bytes), the cap benchmarks/README.md suspects. */
export const HTTP2_DEFAULT_WINDOW = 65_535;

/** Effective bits per second of one stream over `net`. */
export function streamRate(net: NetProfile): number {
  if (net.windowBytes === undefined || net.latencyMs <= 0) return net.bitsPerSecond;
  return Math.min(net.bitsPerSecond, (net.windowBytes * 8) / ((2 * net.latencyMs) / 1000));
}

/** Seconds for one message of `bytes` on the critical path. */
export function messageSeconds(bytes: number, net: NetProfile): number {
  const rate = streamRate(net);
  return net.latencyMs / 1000 + (Number.isFinite(rate) ? (bytes * 8) / rate : 0);
}

/**
 * Seconds on `net` of one hetero-LR batch's chain of four messages (0 in memory): the host's fresh
 * forward, the residual (`residualBytes`: fresh-sized when unweighted), `products` product ciphertexts to the key holder, and the `releasedBytes` back.
 */
function batchChainSeconds(
  sizes: HeSizes,
  residualBytes: number,
  products: number,
  releasedBytes: number,
  net: NetProfile,
): number {
  if (net.latencyMs === 0 && !Number.isFinite(net.bitsPerSecond)) return 0;
  return (
    messageSeconds(sizes.fresh + ENVELOPE_OVERHEAD_BYTES, net) +
    messageSeconds(residualBytes + ENVELOPE_OVERHEAD_BYTES, net) +
    messageSeconds(products * sizes.product + ENVELOPE_OVERHEAD_BYTES, net) +
    messageSeconds(releasedBytes, net)
  );
}

// --- hetero-LR counts -------------------------------------------------------------------------------

export interface HeteroLrShape {
  /** Aligned rows (training + validation). */
  readonly rows: number;
  readonly guestFeatures: number;
  /** Features of each host. */
  readonly hostFeatures: readonly number[];
  /** Default 1024 (resolveHyperparams). */
  readonly batchSize?: number;
  /** Validation rows (the stratified holdout; default 0 = validationFraction 0, the default). */
  readonly validationRows?: number;
  /**
   * Default true (vfl's own default, classWeight 'balanced', which a node job's train stage keeps).
   * `fedscore train hetero-lr`'s default is 'none' (HETERO_LR_DEFAULTS): false, so the residual stays at
   * the fresh level (its bytes) and each product mod-switches it down first.
   */
  readonly classWeighted?: boolean;
  /** CKKS slots (8192: the default preset ckks-16384-release). */
  readonly slots?: number;
}

/** Calls of the LrCipher interface (cipher.ts), with the ciphertexts they touch. */
export interface CipherCalls {
  encrypt: number;
  add: number;
  addPlain: number;
  mulPlain: number;
  matVecT: number;
  toBatch: number;
  fromBatch: number;
  decryptForRelease: number;
  /** Ciphertexts: made by encrypt, written by toBatch, read by fromBatch, decrypted for release. */
  encryptedCts: number;
  serializedCts: number;
  deserializedCts: number;
  decryptedCts: number;
}

export function emptyCalls(): CipherCalls {
  return {
    encrypt: 0,
    add: 0,
    addPlain: 0,
    mulPlain: 0,
    matVecT: 0,
    toBatch: 0,
    fromBatch: 0,
    decryptForRelease: 0,
    encryptedCts: 0,
    serializedCts: 0,
    deserializedCts: 0,
    decryptedCts: 0,
  };
}

/** Work of the packed products a party evaluates (planPackedProduct's cost, per product, summed). */
export interface PackedWork {
  products: number;
  rotations: number;
  rescales: number;
  blocks: number;
  /** Products evaluated (matVecT calls). */
  calls: number;
}

export interface HeteroLrCounts {
  readonly width: number;
  readonly batches: readonly number[];
  readonly guestPlan: PackedProductPlan;
  readonly hostPlans: readonly PackedProductPlan[];
  /** Per epoch, per party (guest, host-1.., arbiter). */
  readonly calls: Readonly<Record<string, CipherCalls>>;
  readonly packed: Readonly<Record<string, PackedWork>>;
  /** Messages sent per party per epoch (envelopes), and their payload bytes given `sizes`. */
  readonly messages: Readonly<Record<string, number>>;
  /** Whether an epoch validates (validation rows > 0: every epoch by default). */
  readonly validated: boolean;
}

export const guestName = 'guest';
export const hostName = (i: number): string => `host-${i + 1}`;
export const arbiterName = 'arbiter';

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** The width the arbiter's key is sized for: the next power of two of the largest batch. */
export function heteroLrWidth(shape: HeteroLrShape): number {
  const train = shape.rows - (shape.validationRows ?? 0);
  return nextPow2(Math.max(...batchSizes(train, shape.batchSize ?? 1024), 1));
}

/**
 * The HE calls of one training epoch of arbiter-mode hetero-LR under CKKS, per party, read off guest.ts,
 * host.ts, arbiter.ts and exchange.ts (the comments at the top of this file). Setup (keys, contexts)
 * is not an epoch's: see `heteroLrSetupBytes`.
 */
export function heteroLrCounts(shape: HeteroLrShape): HeteroLrCounts {
  const H = shape.hostFeatures.length;
  const S = shape.slots ?? 8192;
  const nv = shape.validationRows ?? 0;
  const train = shape.rows - nv;
  const batches = batchSizes(train, shape.batchSize ?? 1024);
  const W = heteroLrWidth(shape);
  if (W > S) throw new RangeError(`batch width ${W} above ${S} slots`);
  const weighted = shape.classWeighted ?? true;
  const guestPlan = planPackedProduct(shape.guestFeatures + 1, W);
  const hostPlans = shape.hostFeatures.map((p) => planPackedProduct(p, W));
  const parties = [guestName, ...shape.hostFeatures.map((_, i) => hostName(i)), arbiterName];
  const calls: Record<string, CipherCalls> = Object.fromEntries(parties.map((p) => [p, emptyCalls()]));
  const packed: Record<string, PackedWork> = Object.fromEntries(
    parties.map((p) => [p, { products: 0, rotations: 0, rescales: 0, blocks: 0, calls: 0 }]),
  );
  const messages: Record<string, number> = Object.fromEntries(parties.map((p) => [p, 0]));
  const g = calls[guestName]!;
  const a = calls[arbiterName]!;
  const product = (who: string, plan: PackedProductPlan) => {
    const w = packed[who]!;
    w.products += plan.cost.products;
    w.rotations += plan.cost.rotations;
    w.rescales += plan.cost.rescales;
    w.blocks += plan.cost.ciphertexts;
    w.calls++;
    calls[who]!.matVecT++;
  };
  // Epoch control to every other party.
  messages[guestName]! += H + 1;
  for (let b = 0; b < batches.length; b++) {
    for (let h = 0; h < H; h++) {
      const c = calls[hostName(h)]!;
      const K = hostPlans[h]!.blocks.length;
      // host-forward: encrypt u/4, sendEncrypted.
      c.encrypt++;
      c.encryptedCts++;
      c.toBatch++;
      c.serializedCts++;
      messages[hostName(h)]!++;
      // guest: fromBatch each host-forward.
      g.fromBatch++;
      g.deserializedCts++;
      // host: fromBatch residual, matVecTAsync, mask addPlain, sendEncrypted to the arbiter.
      c.fromBatch++;
      c.deserializedCts++;
      product(hostName(h), hostPlans[h]!);
      c.addPlain++;
      c.toBatch++;
      c.serializedCts += K;
      messages[hostName(h)]!++;
      // arbiter: fromBatch, decryptForRelease (one decryption per block), released values back.
      a.fromBatch++;
      a.deserializedCts += K;
      a.decryptForRelease++;
      a.decryptedCts += K;
      messages[arbiterName]!++;
    }
    // guest: sum of the hosts' forwards, class weights, own residual part, one residual batch to all hosts.
    g.add += H - 1;
    if (weighted) g.mulPlain++;
    g.addPlain++;
    g.toBatch++;
    g.serializedCts++;
    messages[guestName]! += H;
    // guest's own gradient: product, mask, to the arbiter, released back.
    const Kg = guestPlan.blocks.length;
    product(guestName, guestPlan);
    g.addPlain++;
    g.toBatch++;
    g.serializedCts += Kg;
    messages[guestName]!++;
    a.fromBatch++;
    a.deserializedCts += Kg;
    a.decryptForRelease++;
    a.decryptedCts += Kg;
    messages[arbiterName]!++;
  }
  const validated = nv > 0;
  if (validated) {
    const parts = nv <= W ? 1 : Math.ceil(nv / S);
    for (let h = 0; h < H; h++) {
      const c = calls[hostName(h)]!;
      c.encrypt++;
      c.encryptedCts += parts;
      c.toBatch++;
      c.serializedCts += parts;
      messages[hostName(h)]!++;
      g.fromBatch++;
      g.deserializedCts += parts;
    }
    g.add += H - 1;
    g.addPlain++;
    g.toBatch++;
    g.serializedCts += parts;
    messages[guestName]! += 1 + H; // validation-masked, validation-result to each host
    a.fromBatch++;
    a.deserializedCts += parts;
    a.decryptForRelease++;
    a.decryptedCts += parts;
    messages[arbiterName]!++;
  }
  return { width: W, batches, guestPlan, hostPlans, calls, packed, messages, validated };
}

// --- hetero-LR prediction ---------------------------------------------------------------------------

/** Where the parties run. */
export interface Placement {
  /**
   * 'shared': every party on one machine of `cores` cores (the memory profile and this repo's
   * process runs); 'separate': each party on its own machine of `cores` cores (the anchors' setups).
   */
  readonly kind: 'shared' | 'separate';
  readonly cores: number;
  /** Product worker threads per party (resolveWorkers: 2 on large runs, else 0). */
  readonly workers: number;
  /** Diagonal-cache budget per party, MiB (default 1024; the scale benchmark uses 256). */
  readonly cacheMiB?: number;
}

/** Envelope bytes beyond the payload per message (ids, step, session; framing of the wire codec). */
export const ENVELOPE_OVERHEAD_BYTES = 120;

export interface HeteroLrPrediction {
  readonly counts: HeteroLrCounts;
  /** Seconds of a steady-state epoch (diagonals cached within the budget) and of the first. */
  readonly steadyEpochSeconds: number;
  readonly firstEpochSeconds: number;
  /** Compute and network parts of a steady epoch. */
  readonly computeSeconds: number;
  readonly networkSeconds: number;
  /** Payload bytes sent per party per epoch. */
  readonly bytesPerEpoch: Readonly<Record<string, number>>;
  /** Bytes of the setup (the arbiter's public context to the guest and every host). */
  readonly setupBytes: Readonly<Record<string, number>>;
  /** Diagonal-cache need per party, MiB, and the share of encodes a steady epoch still does. */
  readonly cacheNeedMiB: Readonly<Record<string, number>>;
  readonly uncachedShare: Readonly<Record<string, number>>;
}

/** Bytes of a public context blob with `keys` Galois keys (SEAL's seeded form): base + keys x per key. */
export function publicContextBytes(sizes: HeSizes, keys: number): number {
  return sizes.contextBase + keys * sizes.contextPerRotationKey;
}

/** Hetero-LR's public context for a batch width W: one Galois key per power of two below W. */
export function contextBytes(sizes: HeSizes, width: number): number {
  return publicContextBytes(sizes, Math.log2(width));
}

function packedMs(w: PackedWork, encodes: number, t: HeOpTimes): number {
  // Adds: one per product beyond the first of each giant step, one per Horner/fold rotation.
  return (
    w.rotations * (t.rotate + t.add) +
    w.products * (t.mulPlain + t.add) +
    encodes * t.encode +
    w.rescales * t.rescale
  );
}

/** Wall milliseconds of a party's products with `workers` threads on `cores` cores. */
function productWallMs(ms: number, workers: number, cores: number): number {
  const p = Math.max(1, Math.min(workers, cores));
  return ms / p;
}

/**
 * Predict an epoch of arbiter-mode CKKS hetero-LR for `shape` from measured `t` and `sizes`, over `net`
 * with `placement`.
 */
export function predictHeteroLr(
  shape: HeteroLrShape,
  t: HeOpTimes,
  sizes: HeSizes,
  net: NetProfile,
  placement: Placement,
): HeteroLrPrediction {
  const counts = heteroLrCounts({ ...shape, slots: sizes.slots });
  const H = shape.hostFeatures.length;
  const nb = counts.batches.length;
  const parties = Object.keys(counts.calls);
  // Diagonal cache: one plaintext per product per batch, N * (level + 1) * 8 bytes each (diagonals.ts).
  const ptBytes = sizes.slots * 2 * (sizes.productLevel + 1) * 8;
  const budget = (placement.cacheMiB ?? 1024) * 2 ** 20;
  const cacheNeedMiB: Record<string, number> = {};
  const uncachedShare: Record<string, number> = {};
  for (const p of parties) {
    const need = counts.packed[p]!.products * ptBytes;
    cacheNeedMiB[p] = need / 2 ** 20;
    uncachedShare[p] = need === 0 ? 0 : Math.max(0, need - budget) / need;
  }
  const hostPlanK = counts.hostPlans.map((pl) => pl.blocks.length);
  const Kg = counts.guestPlan.blocks.length;
  // Unweighted (fedscore train's default): the residual is a sum of fresh ciphertexts plus plain values,
  // fresh-level on the wire, and every product mod-switches a copy down to the product level first.
  const weighted = shape.classWeighted ?? true;
  const residualSer = weighted ? t.serialize.residual : t.serialize.fresh;
  const residualDes = weighted ? t.deserialize.residual : t.deserialize.fresh;
  const residualBytes = weighted ? sizes.residual : sizes.fresh;
  const switchMs = weighted ? 0 : t.modSwitch;
  // Serialization by level: per batch, hosts write 1 fresh + K product cts, the guest 1 residual + Kg.
  const serMs =
    H * t.serialize.fresh + residualSer + (hostPlanK.reduce((a, b) => a + b, 0) + Kg) * t.serialize.product;
  const deserMs =
    H * t.deserialize.fresh +
    H * residualDes +
    (hostPlanK.reduce((a, b) => a + b, 0) + Kg) * t.deserialize.product;
  const maskMs = (hostPlanK.reduce((a, b) => a + b, 0) + Kg) * t.addPlain + t.addPlain; // masks + q
  const encryptMs = H * t.encrypt;
  const sumMs = (H - 1) * t.add + (weighted ? t.mulPlainRescale : 0);
  const decryptMs = (hostPlanK.reduce((a, b) => a + b, 0) + Kg) * t.decrypt;
  const prodMs = (p: string, share: number) => {
    const w = counts.packed[p]!;
    const perCall = {
      ...w,
      products: w.products / nb,
      rotations: w.rotations / nb,
      rescales: w.rescales / nb,
    };
    return packedMs(perCall, perCall.products * share, t) + switchMs;
  };
  const epochCompute = (first: boolean): number => {
    const share = (p: string) => (first ? 1 : uncachedShare[p]!);
    const hostProd = counts.hostPlans.map((_, h) => prodMs(hostName(h), share(hostName(h))));
    const guestProd = prodMs(guestName, share(guestName));
    let batchMs: number;
    if (placement.kind === 'shared') {
      // One machine: the products of all parties compete for the cores; the rest runs in turn.
      const products =
        placement.workers > 0
          ? (guestProd + hostProd.reduce((a, b) => a + b, 0)) / Math.min(placement.cores, 2 * (H + 1))
          : guestProd + hostProd.reduce((a, b) => a + b, 0);
      batchMs = encryptMs + sumMs + maskMs + serMs + deserMs + decryptMs + products;
    } else {
      // Own machines: host encrypt -> guest sum -> products in parallel -> masks -> arbiter decrypts.
      const hostChain = hostProd.map(
        (pm, h) =>
          productWallMs(pm, placement.workers, placement.cores) +
          t.addPlain * hostPlanK[h]! +
          hostPlanK[h]! * (t.serialize.product + t.deserialize.product + t.decrypt),
      );
      const guestChain =
        productWallMs(guestProd, placement.workers, placement.cores) +
        t.addPlain * Kg +
        Kg * (t.serialize.product + t.deserialize.product + t.decrypt);
      batchMs =
        t.encrypt +
        t.serialize.fresh +
        H * t.deserialize.fresh +
        sumMs +
        t.addPlain +
        residualSer +
        residualDes +
        Math.max(guestChain, ...hostChain);
    }
    return (nb * batchMs) / 1000;
  };
  // Network: per batch, the host's chain is 4 messages (forward, residual, masked, released).
  const maxK = Math.max(...hostPlanK);
  const releasedBytes = 8 * Math.max(...shape.hostFeatures) + ENVELOPE_OVERHEAD_BYTES;
  const batchNet = batchChainSeconds(sizes, residualBytes, maxK, releasedBytes, net);
  const networkSeconds = nb * batchNet + (counts.validated ? 4 * net.latencyMs : net.latencyMs) / 1000;
  const computeSeconds = epochCompute(false);
  // Bytes per party per epoch (payload + envelope).
  const bytesPerEpoch: Record<string, number> = {};
  const Sv = shape.validationRows ?? 0;
  const vParts = Sv === 0 ? 0 : Sv <= counts.width ? 1 : Math.ceil(Sv / sizes.slots);
  for (let h = 0; h < H; h++) {
    const K = hostPlanK[h]!;
    bytesPerEpoch[hostName(h)] =
      nb * (sizes.fresh + K * sizes.product) +
      vParts * sizes.fresh +
      counts.messages[hostName(h)]! * ENVELOPE_OVERHEAD_BYTES;
  }
  bytesPerEpoch[guestName] =
    nb * (H * residualBytes + Kg * sizes.product) +
    vParts * sizes.fresh +
    counts.messages[guestName]! * ENVELOPE_OVERHEAD_BYTES;
  bytesPerEpoch[arbiterName] =
    nb * 8 * (shape.guestFeatures + 1 + shape.hostFeatures.reduce((a, b) => a + b, 0)) +
    8 * Sv +
    counts.messages[arbiterName]! * ENVELOPE_OVERHEAD_BYTES;
  const ctx = contextBytes(sizes, counts.width);
  const setupBytes: Record<string, number> = {
    [arbiterName]: (H + 1) * ctx,
    [guestName]: 0,
    ...Object.fromEntries(shape.hostFeatures.map((_, h) => [hostName(h), 0])),
  };
  return {
    counts,
    steadyEpochSeconds: computeSeconds + networkSeconds,
    firstEpochSeconds: epochCompute(true) + networkSeconds,
    computeSeconds,
    networkSeconds,
    bytesPerEpoch,
    setupBytes,
    cacheNeedMiB,
    uncachedShare,
  };
}

// --- binning ---------------------------------------------------------------------------------------

export interface BinningShape {
  readonly rows: number;
  /** Features of the host (the guest bins its own locally, in the clear). */
  readonly hostFeatures: number;
  readonly guestFeatures: number;
  readonly bins: number;
  /**
   * The host's published layout (its `host-layout` message: per feature the per-bin row counts), when
   * the data is known -- a measured run's. It fixes the cells, hence the blocks and the Galois keys,
   * which jump with the layout (`planBinSums` picks the block size from the number of digit slots).
   * Default: `uniformBinningLayout` (every host feature in `bins` bins of rows / bins rows).
   */
  readonly layout?: HostLayout;
}

export interface BinningCounts {
  readonly batches: number;
  readonly blocks: number;
  readonly blockSize: number;
  readonly baby: number;
  readonly giant: number;
  readonly products: number;
  readonly rotations: number;
  readonly rotationKeys: number;
  readonly cells: number;
}

/**
 * The layout the model assumes without data: `hostFeatures` numeric features of `bins` quantile bins of
 * rows / bins rows each (the remainder in the last), no missing bin, names `feature_0001` ... Generated
 * data publishes fewer cells (ties, binary and categorical features, a missing bin: 2,353 cells for
 * 300 x 10 bins at 100k rows against 2,700 here), which can halve the blocks: pass the real layout
 * where it is known.
 */
export function uniformBinningLayout(shape: Omit<BinningShape, 'layout'>): HostLayout {
  const each = Math.floor(shape.rows / shape.bins);
  const counts = Array.from({ length: shape.bins }, (_, b) =>
    b < shape.bins - 1 ? each : shape.rows - each * (shape.bins - 1),
  );
  return {
    rows: shape.rows,
    features: Array.from({ length: shape.hostFeatures }, (_, i) => ({
      name: `feature_${String(i + 1).padStart(4, '0')}`,
      categorical: false,
      missingBin: false,
      counts,
      fine: false,
    })),
  };
}

/**
 * Counts of the host's CKKS evaluation, from the real layout (`planBinSums`) of the cells the protocol
 * sends encrypted (`layoutCells`: every non-empty bin but each feature's largest) of `shape.layout` or
 * the uniform one. Products: every (batch, block, diagonal) (an upper bound: all-zero diagonals are
 * skipped). Galois keys: `binSumRotations` of that layout, the guest's key set.
 */
export function binningCounts(shape: BinningShape, slots = 4096): BinningCounts {
  if (shape.layout !== undefined && shape.layout.rows !== shape.rows) {
    throw new RangeError(`layout of ${shape.layout.rows} rows for a shape of ${shape.rows}`);
  }
  const { counts } = layoutCells(shape.layout ?? uniformBinningLayout(shape));
  const layout = planBinSums(counts, shape.rows, slots);
  const B = layout.batches;
  const P = layout.blocks;
  const m = layout.blockSize;
  const rotations = B * (layout.baby - 1) + P * (layout.giant - 1 + Math.log2(slots / m));
  return {
    batches: B,
    blocks: P,
    blockSize: m,
    baby: layout.baby,
    giant: layout.giant,
    products: B * P * m,
    rotations,
    rotationKeys: binSumRotations(layout).length,
    cells: counts.length,
  };
}

/** Bytes of a protobuf `bytes` field of `n` bytes: tag, length varint, the bytes. */
function protoBytesField(n: number): number {
  let len = 1;
  for (let v = n; v >= 0x80; v = Math.floor(v / 0x80)) len++;
  return 1 + len + n;
}

/** Payload bytes of each message of "vfl.woe-binning" under CKKS (protocol.ts), and how many of each. */
export interface BinningMessageBytes {
  /** guest -> host: scheme, the public context (public key + the layout's Galois keys), digit bits. */
  readonly labelKeys: number;
  /** guest -> host: the labels, one fresh top-level ciphertext per batch, in messages of 64. */
  readonly labelBatches: number;
  readonly labelBatchMessages: number;
  /** guest -> host: per host feature its IV (merge plan and WOE empty: quantile bins, WOE not released). */
  readonly hostResult: number;
  /** host -> guest: per feature name, flags and per-bin row counts. */
  readonly hostLayout: number;
  /** host -> guest: one flooded top-level ciphertext per block, in one message. */
  readonly binSums: number;
}

/**
 * Bytes of one binning run per direction, message by message (protocol.ts, guest.ts, host.ts): the
 * guest sends label-keys (the public context: `publicContextBytes` with the layout's Galois keys),
 * B label ciphertexts (fresh, top level: the guest's symmetric encryption serializes the full
 * ciphertext, the same bytes as a public-key one) in ceil(B / 64) messages, and host-result; the host
 * sends host-layout and the P flooded block sums (top level: the product is never rescaled) in one
 * message. The plaintext messages are encoded with the protocol's own steps. Every message adds
 * `ENVELOPE_OVERHEAD_BYTES`.
 */
export function binningMessageBytes(
  shape: BinningShape,
  sizes: HeSizes,
  counts: BinningCounts = binningCounts(shape, sizes.slots),
): { guest: number; host: number; messages: BinningMessageBytes } {
  const layout = shape.layout ?? uniformBinningLayout(shape);
  // The step's own encoding around a 1-byte context, then the context's real length in its place.
  const labelKeys =
    LABEL_KEYS_STEP.encode({
      scheme: 'ckks',
      publicContext: new Uint8Array(1),
      maxDigitBits: DEFAULT_MAX_DIGIT_BITS,
      labelItems: counts.batches,
    }).length -
    protoBytesField(1) +
    protoBytesField(Math.round(publicContextBytes(sizes, counts.rotationKeys)));
  const labelBatches = counts.batches * protoBytesField(sizes.fresh);
  const labelBatchMessages = Math.ceil(counts.batches / CKKS_ITEMS_PER_MESSAGE);
  // A nonzero IV: proto3 leaves zeros out.
  const hostResult = HOST_RESULT_STEP.encode(
    layout.features.map(() => ({ iv: 0.1, mergePlan: [], woe: [] })),
  ).length;
  const hostLayout = HOST_LAYOUT_STEP.encode(layout).length;
  const binSums = counts.blocks * protoBytesField(sizes.product);
  const messages = { labelKeys, labelBatches, labelBatchMessages, hostResult, hostLayout, binSums };
  return {
    guest: labelKeys + labelBatches + hostResult + (2 + labelBatchMessages) * ENVELOPE_OVERHEAD_BYTES,
    host: hostLayout + binSums + 2 * ENVELOPE_OVERHEAD_BYTES,
    messages,
  };
}

export interface BinningPrediction {
  readonly counts: BinningCounts;
  readonly seconds: number;
  readonly heSeconds: number;
  readonly plainSeconds: number;
  readonly networkSeconds: number;
  /** Bytes sent by each party (payload + envelopes), and per message. */
  readonly bytes: { readonly guest: number; readonly host: number };
  readonly messageBytes: BinningMessageBytes;
}

/**
 * Binning time: plaintext part (bin fitting, IV: `plainSecondsPerCell` x rows x features, from a
 * measured plaintext run) + the guest's label encryption + the host's product on `workers` threads +
 * flooding encryptions + decryptions + network (the guest's keys and label ciphertexts, the host's
 * blocks: `binningMessageBytes`). `t` and `sizes` at the binning parameters (N = 8192).
 */
export function predictBinning(
  shape: BinningShape,
  t: HeOpTimes,
  sizes: HeSizes,
  net: NetProfile,
  placement: Placement,
  plainSecondsPerCell: number,
): BinningPrediction {
  const c = binningCounts(shape, sizes.slots);
  const productMs = c.products * (t.mulPlain + t.encode + t.add) + c.rotations * (t.rotate + t.add);
  const wall = productWallMs(productMs, placement.workers, placement.cores);
  const heMs =
    c.batches * (t.encrypt + t.serialize.fresh + t.deserialize.fresh) +
    wall +
    c.blocks * (t.encrypt + t.add + t.serialize.product + t.deserialize.product + t.decrypt);
  const plainSeconds = plainSecondsPerCell * shape.rows * (shape.hostFeatures + shape.guestFeatures);
  const bytes = binningMessageBytes(shape, sizes, c);
  const networkSeconds =
    net.latencyMs === 0 && !Number.isFinite(net.bitsPerSecond)
      ? 0
      : messageSeconds(bytes.guest, net) + messageSeconds(bytes.host, net) + 4 * (net.latencyMs / 1000);
  const heSeconds = heMs / 1000;
  return {
    counts: c,
    seconds: heSeconds + plainSeconds + networkSeconds,
    heSeconds,
    plainSeconds,
    networkSeconds,
    bytes: { guest: bytes.guest, host: bytes.host },
    messageBytes: bytes.messages,
  };
}

// --- PSI -------------------------------------------------------------------------------------------

export interface PsiOpTimes {
  /** Hash one id to ristretto255, microseconds on one core. */
  readonly hashUs: number;
  /** One scalar multiplication (blinding), microseconds on one core. */
  readonly multUs: number;
}

export interface PsiShape {
  readonly guestIds: number;
  readonly hostIds: number;
}

export interface PsiPrediction {
  readonly hashes: number;
  readonly mults: number;
  readonly cpuSeconds: number;
  readonly computeSeconds: number;
  readonly networkSeconds: number;
  readonly seconds: number;
  readonly bytesPerParty: { readonly guest: number; readonly host: number };
}

/**
 * A cold session: n_g + n_h hashes and 2 (n_g + n_h) multiplications, split evenly over `cores`
 * (blinding is embarrassingly parallel across ids); the two parties' sends are serial with it only
 * through their bandwidth (their messages stream while the other blinds; the model adds the slower
 * direction's transfer, which bounds it above) and `serialSecondsPerId` (matching, sorting, framing:
 * measured as what a real run leaves beyond its blinding CPU).
 */
export function predictPsi(
  shape: PsiShape,
  t: PsiOpTimes,
  net: NetProfile,
  cores: number,
  serialSecondsPerId: number,
): PsiPrediction {
  const n = shape.guestIds + shape.hostIds;
  const hashes = n;
  const mults = 2 * n;
  const cpuSeconds = (hashes * t.hashUs + mults * t.multUs) / 1e6;
  const computeSeconds = cpuSeconds / cores + serialSecondsPerId * n;
  // Each party sends its own blinded points (32 B) and a 16-byte key per peer id (measured 48.04 B per
  // id each way at 1M x 1M; the split between the two terms matters only when the sets differ in size).
  const guest = shape.guestIds * 32 + shape.hostIds * 16;
  const host = shape.hostIds * 32 + shape.guestIds * 16;
  const rate = streamRate(net);
  const networkSeconds = Number.isFinite(rate)
    ? (Math.max(guest, host) * 8) / rate + 4 * (net.latencyMs / 1000)
    : 0;
  return {
    hashes,
    mults,
    cpuSeconds,
    computeSeconds,
    networkSeconds,
    seconds: computeSeconds + networkSeconds,
    bytesPerParty: { guest, host },
  };
}

// --- distributed hetero-LR: packed products on the queue (issue 18) ---------------------------------

/** Products of fewer plaintext products are never cut (he/src/packed-pool.ts, SPLIT_MIN_PRODUCTS). */
export const SPLIT_MIN_PRODUCTS = 48;
/** The most tasks one product is cut into (`packedProductOn`'s `split`). */
export const MAX_SPLIT = 64;

/** The work of one queue task (part of a packed product), counted as `evaluatePartial` does it. */
export interface TaskWork {
  rotations: number;
  products: number;
  rescales: number;
}

/**
 * The tasks a packed product is cut into for `parts` workers (`splitTasks`, as `pooledProduct` cuts it)
 * and each one's work, read off he's `evaluatePartial`: the task's baby rotations of d (b - 1, repeated
 * in every task), per giant step b products and one rescale, the Horner rotations (one per giant step
 * after the first of a range) and the rotations that put a range in place (one per set bit of from x
 * b). An unsplit product (one part, or fewer than SPLIT_MIN_PRODUCTS products) is one task that also
 * folds its blocks (log2(W / q) rotations each); a split one is folded by the coordinator after it
 * adds the parts (`foldRotations`, `partials`: ciphertexts it deserializes and adds).
 */
export function productTasks(
  plan: PackedProductPlan,
  parts: number,
): { tasks: TaskWork[]; foldRotations: number; partials: number } {
  const split = parts > 1 && plan.cost.products >= SPLIT_MIN_PRODUCTS;
  const lists = split
    ? splitTasks(plan, Math.min(parts, MAX_SPLIT))
    : [plan.blocks.map((b, i) => ({ block: i, from: 0, to: b.giantSteps }))];
  const fold = plan.blocks.reduce((a, b) => a + Math.log2(plan.width / b.diagonals), 0);
  const tasks = lists.map((list) => {
    const w: TaskWork = { rotations: 0, products: 0, rescales: 0 };
    w.rotations += Math.max(...list.map((t) => plan.blocks[t.block]!.babySteps)) - 1;
    for (const t of list) {
      const b = plan.blocks[t.block]!.babySteps;
      const g = t.to - t.from;
      w.products += g * b;
      w.rescales += g;
      w.rotations += g - 1;
      for (let x = t.from * b; x > 0; x >>= 1) w.rotations += x & 1;
    }
    if (!split) w.rotations += fold;
    return w;
  });
  const partials = split ? lists.reduce((a, l) => a + new Set(l.map((t) => t.block)).size, 0) : 0;
  return { tasks, foldRotations: split ? fold : 0, partials };
}

/** Milliseconds of one task on one core (diagonals encoded in the task: a task carries its columns). */
export function taskMs(w: TaskWork, t: HeOpTimes): number {
  return (
    w.rotations * (t.rotate + t.add) + w.products * (t.mulPlain + t.add + t.encode) + w.rescales * t.rescale
  );
}

/** The queue's cost per task, measured (bench queue's overhead part, steady state). */
export interface QueueCosts {
  /** Enqueue-to-result at the coordinator minus the worker's time in the task, ms. */
  readonly overheadMs: number;
  /** Bytes of d in a task, and of one block's result (a part, or a folded block) out. */
  readonly inputBytes: number;
  readonly partBytes: number;
}

/** Worker machines behind one party's queue. */
export interface Cluster {
  readonly machines: number;
  readonly coresPerMachine: number;
  /** The database's link: every task's d and results pass through it, both ways. Infinity: no limit. */
  readonly dbBitsPerSecond: number;
  /** Speed of a worker core relative to the core the per-op times were measured on (default 1). */
  readonly coreSpeed?: number;
}

/** One product on the queue: the wall milliseconds and what they are made of. */
export interface QueuedProduct {
  readonly split: number;
  readonly tasks: number;
  /** The slowest task (with more tasks than cores, the tasks run in waves). */
  readonly computeMs: number;
  readonly overheadMs: number;
  readonly transferMs: number;
  /** The coordinator's part: deserializing and adding the parts, folding (split products). */
  readonly combineMs: number;
  readonly wallMs: number;
  readonly dbBytes: number;
  /** Workers' milliseconds in the tasks, summed. */
  readonly workerMs: number;
}

/** A product of `plan` cut into `split` tasks on `cores` cores behind a database link. */
export function queuedProduct(
  plan: PackedProductPlan,
  split: number,
  t: HeOpTimes,
  q: QueueCosts,
  cores: number,
  dbBitsPerSecond: number,
  coreSpeed = 1,
): QueuedProduct {
  const { tasks, foldRotations, partials } = productTasks(plan, split);
  const ms = tasks.map((w) => taskMs(w, t) / coreSpeed);
  const waves = Math.ceil(tasks.length / Math.max(1, cores));
  // Tasks of about equal work: the slowest task times the waves it takes on the cores there are.
  const computeMs = Math.max(...ms) * waves;
  const outBlocks = tasks.length === 1 ? plan.blocks.length : partials;
  const dbBytes = tasks.length * q.inputBytes + outBlocks * q.partBytes;
  const transferMs = Number.isFinite(dbBitsPerSecond) ? ((2 * dbBytes * 8) / dbBitsPerSecond) * 1000 : 0;
  const combineMs =
    tasks.length === 1
      ? plan.blocks.length * t.deserialize.product
      : partials * (t.deserialize.product + t.add) + foldRotations * (t.rotate + t.add);
  const wallMs = computeMs + q.overheadMs + transferMs + combineMs;
  return {
    split,
    tasks: tasks.length,
    computeMs,
    overheadMs: q.overheadMs,
    transferMs,
    combineMs,
    wallMs,
    dbBytes,
    workerMs: ms.reduce((a, b) => a + b, 0),
  };
}

/** The split (1 .. MAX_SPLIT, at most the cores) with the shortest wall time: the operator's setting. */
export function bestQueuedProduct(
  plan: PackedProductPlan,
  t: HeOpTimes,
  q: QueueCosts,
  cores: number,
  dbBitsPerSecond: number,
  coreSpeed = 1,
): QueuedProduct {
  let best: QueuedProduct | undefined;
  for (let s = 1; s <= Math.min(MAX_SPLIT, Math.max(1, cores)); s++) {
    const p = queuedProduct(plan, s, t, q, cores, dbBitsPerSecond, coreSpeed);
    if (best === undefined || p.wallMs < best.wallMs - 1e-9) best = p;
  }
  return best!;
}

export interface DistributedEpochPrediction {
  readonly batches: number;
  readonly cores: number;
  /** The host product on the queue, per batch. */
  readonly hostProduct: QueuedProduct;
  /** The guest's product, on its own node (below the queue's minColumns: it stays local). */
  readonly guestProductMs: number;
  /** Per epoch: the serial chain's parts. */
  readonly serialSeconds: number;
  readonly productSeconds: number;
  readonly networkSeconds: number;
  readonly epochSeconds: number;
  /** serial / epoch: Amdahl's serial fraction at this N. */
  readonly serialFraction: number;
  readonly dbBytesPerEpoch: number;
  readonly tasksPerEpoch: number;
}

/**
 * One epoch of arbiter-mode CKKS hetero-LR with one host whose packed products go to the queue on
 * `cluster` (the guest's product of a few dozen columns stays on its node: the queue's `minColumns`).
 * Mini-batch SGD makes the batches a chain (each batch's residual needs the weights the previous one
 * updated), so only a batch's product spreads over the workers; everything else on the chain is serial:
 * the host's encryption of its forward, the guest's sum and class weights, the masks, every
 * (de)serialization and the key holder's decryptions (its secret key stays on one replica), and the
 * party-to-party messages over `net`. Validation off (the default).
 */
export function predictDistributedHeteroLr(
  shape: HeteroLrShape,
  t: HeOpTimes,
  sizes: HeSizes,
  q: QueueCosts,
  cluster: Cluster,
  net: NetProfile,
): DistributedEpochPrediction {
  const counts = heteroLrCounts({ ...shape, slots: sizes.slots });
  if (counts.hostPlans.length !== 1) throw new RangeError('one host');
  const nb = counts.batches.length;
  const cores = cluster.machines * cluster.coresPerMachine;
  const speed = cluster.coreSpeed ?? 1;
  const hostPlan = counts.hostPlans[0]!;
  const Kh = hostPlan.blocks.length;
  const Kg = counts.guestPlan.blocks.length;
  const hostProduct = bestQueuedProduct(hostPlan, t, q, cores, cluster.dbBitsPerSecond, speed);
  const guestProductMs = taskMs(productTasks(counts.guestPlan, 1).tasks[0]!, t);
  const weighted = shape.classWeighted ?? true;
  const serialMs =
    t.encrypt +
    t.serialize.fresh +
    t.deserialize.fresh +
    (weighted ? t.mulPlainRescale : t.modSwitch) +
    t.addPlain +
    (weighted ? t.serialize.residual + t.deserialize.residual : t.serialize.fresh + t.deserialize.fresh) +
    // masks, the products to the key holder, its decryptions (one replica), the released values back
    Kh * t.addPlain +
    Kh * (t.serialize.product + t.deserialize.product) +
    (Kh + Kg) * t.decrypt;
  const productMs = Math.max(hostProduct.wallMs, guestProductMs + Kg * t.addPlain);
  const released = 8 * shape.hostFeatures[0]! + ENVELOPE_OVERHEAD_BYTES;
  const batchNet = batchChainSeconds(sizes, weighted ? sizes.residual : sizes.fresh, Kh, released, net);
  const serialSeconds = (nb * serialMs) / 1000;
  const productSeconds = (nb * productMs) / 1000;
  const networkSeconds = nb * batchNet;
  const epochSeconds = serialSeconds + productSeconds + networkSeconds;
  return {
    batches: nb,
    cores,
    hostProduct,
    guestProductMs,
    serialSeconds,
    productSeconds,
    networkSeconds,
    epochSeconds,
    serialFraction: (serialSeconds + networkSeconds) / epochSeconds,
    dbBytesPerEpoch: nb * hostProduct.dbBytes,
    tasksPerEpoch: nb * hostProduct.tasks,
  };
}

/**
 * What `bench queue`'s throughput part runs (an epoch's host products in order, each batch's d freshly
 * encrypted by the coordinator, each product cut into `split` tasks for `workers` worker processes on
 * `cores` cores): seconds per epoch.
 */
export function predictQueueEpoch(
  plan: PackedProductPlan,
  batches: number,
  split: number,
  t: HeOpTimes,
  q: QueueCosts,
  cores: number,
): { seconds: number; product: QueuedProduct } {
  const product = queuedProduct(plan, split, t, q, cores, Number.POSITIVE_INFINITY);
  return { seconds: (batches * (t.encrypt + t.serialize.fresh + product.wallMs)) / 1000, product };
}

// --- SecureBoost (issue 20) ------------------------------------------------------------------------

/** Per-operation times of SecureBoost's histograms at SECUREBOOST_CKKS_PRESET, ms on one thread. */
export interface SecureBoostOpTimes {
  /** Diagonal encode / plaintext product / rotation / add, at the histogram's product level. */
  readonly encode: number;
  readonly product: number;
  readonly rotate: number;
  readonly add: number;
  /** Node row mask (plain values x ciphertext + rescale, top level). */
  readonly maskProduct: number;
  /** One level drop (product with 1). */
  readonly lowering: number;
  /** packComplex of g and h. */
  readonly pack: number;
  /** releaseBlock (two flooding encryptions, pack, lift, add, rescale, imaginary part) + serializing g, h. */
  readonly release: number;
  /** The guest: encrypt one vector of g or h; decrypt one released ciphertext. */
  readonly encrypt: number;
  readonly decrypt: number;
  /** Serialize / deserialize a fresh (gradient) and a released ciphertext. */
  readonly serializeFresh: number;
  readonly deserializeFresh: number;
  readonly deserializeReleased: number;
}

export interface SecureBoostSizes {
  readonly fresh: number;
  readonly released: number;
  /** The guest's public context with the histogram's rotation keys. */
  readonly context: number;
}

export interface SecureBoostShape {
  readonly rows: number;
  /** The host's cells (sum over its features of the bins binFeatures gives them). */
  readonly cells: number;
  readonly depth: number;
}

export interface SecureBoostPrediction {
  readonly ops: HistogramTreeOps;
  /** Seconds of one tree: the host's histograms, its releases, the guest's encryption and decryption. */
  readonly treeSeconds: number;
  readonly hostHeSeconds: number;
  readonly releaseSeconds: number;
  readonly guestSeconds: number;
  /** Host seconds by operation kind. */
  readonly breakdown: Readonly<Record<string, number>>;
  /** Bytes per tree: guest -> host (gradients, level tasks), host -> guest (histograms, split records). */
  readonly bytesPerTree: { readonly guest: number; readonly host: number };
  readonly setupBytes: number;
}

/**
 * Seconds and bytes of one full tree from `histogramTreeOps` (the host's own plan and path) times the
 * measured per-op times: the host's histogram work in turn on one thread (the host runs it on its main
 * thread), its releases (2^depth - 1 nodes x blocks), and the guest's 2 B encryptions and 2 per
 * released block decryptions; `firstTree`: with the run's diagonal encodes (a run-cached host's first
 * tree). Left out: the diagonal scatter and bin counting in JS, split finding.
 */
export function predictSecureBoostTree(
  shape: SecureBoostShape,
  ops: HistogramTreeOps,
  t: SecureBoostOpTimes,
  sizes: SecureBoostSizes,
  firstTree = false,
): SecureBoostPrediction {
  const p = ops.perTree;
  const B = ops.layout.batches;
  // The first tree of a run-cached host also encodes the run's diagonals (BinDiagonals).
  const encodes = p.encodes + (firstTree ? ops.perRunEncodes : 0);
  const breakdown: Record<string, number> = {
    encodes: (encodes * t.encode) / 1000,
    products: (p.products * t.product) / 1000,
    rotations: (p.rotations * t.rotate) / 1000,
    adds: ((p.adds + p.subtractions) * t.add) / 1000,
    masks: (p.maskProducts * t.maskProduct + p.lowerings * t.lowering + p.packs * t.pack) / 1000,
    gradientsIn: (2 * B * t.deserializeFresh) / 1000,
  };
  const hostHeSeconds = Object.values(breakdown).reduce((a, b) => a + b, 0);
  const releaseSeconds = (p.releasedBlocks * t.release) / 1000;
  const guestSeconds =
    (2 * B * (t.encrypt + t.serializeFresh) + 2 * p.releasedBlocks * (t.deserializeReleased + t.decrypt)) /
    1000;
  // Plaintext messages: level tasks (5 bytes a row a level: steps.ts's size hint), split records (a bit a row).
  const guest = 2 * B * sizes.fresh + shape.depth * 5 * shape.rows;
  const host =
    2 * p.releasedBlocks * sizes.released + (2 ** shape.depth - 1) * (shape.rows / 8 + shape.cells / 8);
  return {
    ops,
    treeSeconds: hostHeSeconds + releaseSeconds + guestSeconds,
    hostHeSeconds,
    releaseSeconds,
    guestSeconds,
    breakdown,
    bytesPerTree: { guest, host },
    setupBytes: sizes.context,
  };
}

// --- portfolio scoring on the queue (issue 18) -----------------------------------------------------

/**
 * Measured costs of portfolio scoring's blocks (packages/scoring batch.ts, task kind `linearCombinations`):
 * one block is `slots` enterprises, one ciphertext per feature column, one task on the queue.
 */
export interface PortfolioCosts {
  /** Enterprises per block (CKKS slots: 4096 at ckks-8192, the data-owner-mode preset). */
  readonly slots: number;
  /** Data owner (key holder): encrypt one column of one block (seeded symmetric, serialized), ms. */
  readonly encryptMsPerColumn: number;
  /** Data owner: load, decrypt and decode one block's scores, ms. */
  readonly decryptMsPerBlock: number;
  /** Worker: load one column's ciphertext and multiply-add it into the score, ms. */
  readonly evalMsPerColumn: number;
  /** Worker: a block's fixed work (addend, re-randomization, level drop, serialization), ms. */
  readonly evalMsPerBlock: number;
  /** Bytes of one column's ciphertext in a task, of a task's other fields (the addend: 8 a slot; the weights), and of one block's scores out. */
  readonly inputBytesPerColumn: number;
  readonly inputBytesPerBlock: number;
  readonly outputBytesPerBlock: number;
  /** The queue's latency per task beyond the worker's time in it (enqueue, pick-up, store), ms. */
  readonly queueOverheadMs: number;
}

/** The byte path's measured rates, bytes per second. */
export interface PortfolioByteRates {
  /** The model owner's coordinator: encode a task (V8 serialize) and hash its id (SHA-256). */
  readonly encodeBytesPerSecond: number;
  /** The database: INSERT of a task's bytes (binary parameter, WAL). */
  readonly dbWriteBytesPerSecond: number;
  /** The database: a worker's (or the collector's) read of them (binary COPY). */
  readonly dbReadBytesPerSecond: number;
}

/** Where portfolio scoring runs. */
export interface PortfolioPlacement {
  /** Worker machines serving the model owner's queue, and cores on each. */
  readonly workers: number;
  readonly coresPerWorker: number;
  /** Threads the data owner (the key holder: its secret key stays on one machine) encrypts and decrypts on. */
  readonly dataOwnerCores: number;
  /**
   * Everything on one machine of this many cores (this machine's check run): the CPU terms also share
   * these cores. Undefined: each party, the database and every worker on machines of their own.
   */
  readonly sharedCores?: number;
}

export type PortfolioResource =
  | "data owner's encryption"
  | "model owner's task encoding"
  | "database's bytes"
  | "workers' CPU"
  | 'shared cores';

export interface PortfolioPrediction {
  readonly blocks: number;
  readonly dbBytes: number;
  /** Seconds of each streamed resource for the whole portfolio (each alone, the others free). */
  readonly encryptSeconds: number;
  readonly encodeSeconds: number;
  readonly databaseSeconds: number;
  readonly workerSeconds: number;
  /** All of the CPU terms on `sharedCores` (sharedCores only; else 0). */
  readonly sharedSeconds: number;
  /** The streamed part: the slowest resource. */
  readonly streamSeconds: number;
  readonly bound: PortfolioResource;
  /** One block through every stage (the pipeline's fill), seconds. */
  readonly fillSeconds: number;
  /** The data owner's decryptions, after the last block's scores arrive (batch.ts decrypts them all then). */
  readonly decryptSeconds: number;
  readonly wallSeconds: number;
}

/**
 * Wall time of portfolio scoring of `enterprises` x `features` with the model owner's blocks on the
 * queue, read off batch.ts: the data owner encrypts block after block (on its pool) and sends each as it
 * is ready; the model owner enqueues each block as it arrives (one `linearCombinations` task: encode,
 * task id, INSERT), a worker reads it (binary COPY), evaluates it and stores the scores, which the model
 * owner collects (read) and returns in order; the data owner decrypts every block once the last one is
 * back. The stages overlap block by block, so the streamed part takes as long as its slowest resource:
 * the data owner's encryption on `dataOwnerCores`, the model owner's encoding (its main thread), the
 * database's bytes (every input and output byte written once and read once, at the measured rates, on
 * one database) and the workers' CPU (`workers` x `coresPerWorker`); plus one block's trip through all
 * stages (the fill) and the decryptions after. `sharedCores`: everything on one machine, where the CPU
 * terms (the database's counted as CPU) also share those cores.
 */
export function predictPortfolioScoring(
  shape: { readonly enterprises: number; readonly features: number },
  c: PortfolioCosts,
  rates: PortfolioByteRates,
  place: PortfolioPlacement,
): PortfolioPrediction {
  if (!(shape.enterprises > 0 && shape.features > 0)) throw new RangeError('empty portfolio');
  const blocks = Math.ceil(shape.enterprises / c.slots);
  const F = shape.features;
  const inBlock = F * c.inputBytesPerColumn + c.inputBytesPerBlock;
  const blockBytes = inBlock + c.outputBytesPerBlock;
  const dbBytes = blocks * blockBytes;
  const perByteDb = 1 / rates.dbWriteBytesPerSecond + 1 / rates.dbReadBytesPerSecond;
  const encryptCpu = (blocks * F * c.encryptMsPerColumn) / 1000;
  const workerCpu = (blocks * (F * c.evalMsPerColumn + c.evalMsPerBlock)) / 1000;
  const decryptCpu = (blocks * c.decryptMsPerBlock) / 1000;
  const encryptSeconds = encryptCpu / Math.max(1, place.dataOwnerCores);
  const encodeSeconds = (blocks * inBlock) / rates.encodeBytesPerSecond;
  const databaseSeconds = dbBytes * perByteDb;
  const workerSeconds = workerCpu / Math.max(1, place.workers * place.coresPerWorker);
  const sharedSeconds =
    place.sharedCores === undefined
      ? 0
      : (encryptCpu + encodeSeconds + databaseSeconds + workerCpu) / Math.max(1, place.sharedCores);
  const terms: [PortfolioResource, number][] = [
    ["data owner's encryption", encryptSeconds],
    ["model owner's task encoding", encodeSeconds],
    ["database's bytes", databaseSeconds],
    ["workers' CPU", workerSeconds],
    ['shared cores', sharedSeconds],
  ];
  let [bound, streamSeconds] = terms[0]!;
  for (const [r, s] of terms) {
    if (s > streamSeconds) [bound, streamSeconds] = [r, s];
  }
  const fillSeconds =
    (F * c.encryptMsPerColumn +
      c.queueOverheadMs +
      F * c.evalMsPerColumn +
      c.evalMsPerBlock +
      1000 * (inBlock / rates.encodeBytesPerSecond + blockBytes * perByteDb)) /
    1000;
  const decryptSeconds =
    decryptCpu / Math.max(1, Math.min(place.dataOwnerCores, place.sharedCores ?? place.dataOwnerCores));
  return {
    blocks,
    dbBytes,
    encryptSeconds,
    encodeSeconds,
    databaseSeconds,
    workerSeconds,
    sharedSeconds,
    streamSeconds,
    bound,
    fillSeconds,
    decryptSeconds,
    wallSeconds: streamSeconds + fillSeconds + decryptSeconds,
  };
}

/**
 * The fewest worker machines at which the database's bytes bound the streamed part (adding workers no
 * longer helps), or undefined when no count up to `max` gets there.
 */
export function portfolioBytesBoundAt(
  shape: { readonly enterprises: number; readonly features: number },
  c: PortfolioCosts,
  rates: PortfolioByteRates,
  place: Omit<PortfolioPlacement, 'workers'>,
  max = 1024,
): number | undefined {
  for (let n = 1; n <= max; n++) {
    const p = predictPortfolioScoring(shape, c, rates, { ...place, workers: n });
    if (p.databaseSeconds >= p.workerSeconds) return n;
  }
  return undefined;
}

/** Relative error of a prediction against a measurement (positive: the model predicts more). */
export function relativeError(predicted: number, measured: number): number {
  return (predicted - measured) / measured;
}

export { MAX_MERGED_BATCH_ROWS };
