/**
 * SecureBoost, guest role: the party with the labels (the bank), the HE key and optionally features.
 * Cheng et al. 2019, "SecureBoost: A Lossless Federated Learning Framework" (active party), with
 * XGBoost's second-order split gain (Chen & Guestrin 2016).
 *
 * Parties: this guest and one or more hosts (features only).
 * Messages this role sends and receives, in order, with every host (steps.ts,
 * docs/protocols/secureboost.md):
 *   -> train-plan; <- host-hello; -> public-context
 *   per tree: -> tree-start; -> gradients [[g]], [[h]] (all rows, packed: CKKS slotCount per ciphertext)
 *     per level: -> level-tasks (row -> node; which histograms to compute, which to derive as
 *                   parent - sibling: only the smaller child is summed over rows);
 *                <- histograms; -> split-decisions (the host's winning cells only); <- split-records
 *     -> level-tasks with no task: the tree is finished
 *   -> tree-start (stop)
 * What the guest learns: per-bin sums of g and h of each host feature over every split node (each of
 * at least the row floor of rows; flooded under CKKS), which cuts keep both children above the floor,
 * and the left/right side of every row at each host split it chose. Never a host threshold, edge or
 * feature value: a host split is (host, opaque split id) in its model.
 * What it reveals: to each host, the instance space of every node (SecureBoost's stated leakage) and
 * which of that host's cells won; gradients and hessians only as ciphertexts under its own key.
 * Threat model: semi-honest hosts, no collusion; the key never leaves this party.
 */
import {
  type CryptoRng,
  cryptoRng,
  FedscoreError,
  type Logger,
  noopLogger,
  type PartyId,
  type ProgressCallback,
  type ProtocolSession,
  requireCryptoRng,
  uniformInt,
} from '@fedscore/core';
import { type AdditiveHeSecret, CKKS_PRESETS, type CkksPresetName, createAdditiveHe } from '@fedscore/he';
import { withAbort } from '../hetero-lr/exchange.ts';
import { checkFeatures, type PartyFeatures } from '../hetero-lr/features.ts';
import { histogramRotationSteps, planHistogram } from './histogram.ts';
import {
  addTree,
  type BinnedFeatures,
  binFeatures,
  SECUREBOOST_GUEST_FORMAT,
  SECUREBOOST_MODEL_VERSION,
  type SecureBoostGuestModel,
  type SecureBoostNode,
} from './model.ts';
import {
  type BestSplit,
  bestBinSplit,
  checkScheme,
  childFloor,
  leafWeight,
  type ResolvedSecureBoost,
  resolveSecureBoost,
  SECUREBOOST_CKKS_PRESET,
  type SecureBoostHyperparams,
  type SecureBoostScheme,
  sigmoid,
} from './options.ts';
import {
  GRADIENTS,
  getBit,
  HISTOGRAMS,
  HOST_HELLO,
  LEVEL_TASKS,
  type NodeTask,
  SPLIT_DECISIONS,
  SPLIT_RECORDS,
  type SplitDecision,
  sendContext,
  TRAIN_PLAN,
  TREE_START,
} from './steps.ts';

export interface SecureBoostHeOptions {
  /** CKKS preset (default `SECUREBOOST_CKKS_PRESET`). Hosts accept only presets with a measured bound. */
  readonly ckksPreset?: CkksPresetName;
  /** Paillier modulus bits (default 2048; below needs `allowWeakParameters`). */
  readonly paillierBits?: number;
  readonly allowWeakParameters?: boolean;
}

export interface SecureBoostGuestOptions {
  readonly session: ProtocolSession;
  readonly hosts: readonly PartyId[];
  /** The guest's own features (may be omitted: a label-only guest). */
  readonly features?: PartyFeatures;
  readonly labels: ArrayLike<number>;
  /** Default 'ckks'. 'none' is the flagged debug mode: hosts see gradients in the clear. */
  readonly scheme?: SecureBoostScheme;
  readonly hyperparams?: SecureBoostHyperparams;
  readonly he?: SecureBoostHeOptions;
  /** Row subsampling (cryptographic by default: which rows a tree uses is not a secret of the hosts'). */
  readonly rng?: CryptoRng;
  readonly modelId?: string;
  readonly logger?: Logger;
  readonly onProgress?: ProgressCallback;
}

export interface TreeRecord {
  readonly tree: number;
  /** Mean log loss on the training rows after this tree. */
  readonly trainLoss: number;
  readonly splits: number;
  readonly seconds: number;
}

export interface SecureBoostGuestResult {
  readonly model: SecureBoostGuestModel;
  readonly history: readonly TreeRecord[];
  readonly insecure: boolean;
}

interface BuildNode {
  readonly id: number;
  readonly rows: Uint32Array;
  readonly g: number;
  readonly h: number;
  readonly parent: number;
  readonly sibling: number;
}

export class SecureBoostGuest {
  readonly #o: SecureBoostGuestOptions;

  constructor(options: SecureBoostGuestOptions) {
    this.#o = options;
  }

  run(): Promise<SecureBoostGuestResult> {
    return withAbort(this.#o.session, this.#o.hosts, () => this.#run());
  }

  async #run(): Promise<SecureBoostGuestResult> {
    const o = this.#o;
    const s = o.session;
    const hp = resolveSecureBoost(o.hyperparams);
    const scheme = checkScheme(o.scheme ?? 'ckks');
    const rng = requireCryptoRng(o.rng ?? cryptoRng(), 'rng');
    const y = Float64Array.from(o.labels);
    const n = y.length;
    let positives = 0;
    for (let i = 0; i < n; i++) {
      if (y[i] !== 0 && y[i] !== 1) {
        throw new FedscoreError('invalid_argument', 'labels must be 0 or 1', {
          field: 'labels',
          details: { row: i },
        });
      }
      positives += y[i]!;
    }
    if (positives === 0 || positives === n) {
      throw new FedscoreError('single_class', 'labels hold one class', { field: 'labels' });
    }
    if (o.hosts.length === 0)
      throw new FedscoreError('invalid_argument', 'at least one host', { field: 'hosts' });
    if (o.features !== undefined) checkRows(o.features, n);
    const own: BinnedFeatures | undefined =
      o.features === undefined ? undefined : binFeatures(o.features, hp.bins);
    const modelId = o.modelId ?? `secureboost-${Date.now().toString(36)}`;
    const plan = {
      rows: n,
      scheme,
      trees: hp.trees,
      depth: hp.depth,
      bins: hp.bins,
      minNodeRows: hp.minNodeRows,
      minLeafRows: hp.minLeafRows,
      modelId,
    };
    for (const h of o.hosts) await s.send(h, TRAIN_PLAN, plan);
    const hostBins: number[][] = [];
    for (const h of o.hosts) hostBins.push([...(await s.receive(h, HOST_HELLO))]);
    const he = await createHe(scheme, o.he, o.logger ?? noopLogger, hostBins, n, hp.depth);
    try {
      const context = he.serializePublic();
      for (const h of o.hosts) await sendContext(s, h, scheme, context, he.fingerprint);
      const baseScore = Math.log(positives / (n - positives));
      const score = new Float64Array(n).fill(baseScore);
      const trees: SecureBoostNode[][] = [];
      const history: TreeRecord[] = [];
      for (let t = 0; t < hp.trees; t++) {
        const t0 = performance.now();
        for (const h of o.hosts) await s.send(h, TREE_START, { tree: t, stop: false });
        const g = new Float64Array(n);
        const hess = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const p = sigmoid(score[i]!);
          g[i] = p - y[i]!;
          hess[i] = p * (1 - p);
        }
        const encG = he.encrypt(g);
        const encH = he.encrypt(hess);
        const payload = { gradients: he.serializeCiphertext(encG), hessians: he.serializeCiphertext(encH) };
        encG.dispose();
        encH.dispose();
        for (const h of o.hosts) await s.send(h, GRADIENTS, payload);
        const { tree, hostLeft } = await this.#grow(
          he,
          hp,
          g,
          hess,
          sampleRows(n, hp.subsample, rng),
          own,
          hostBins,
        );
        addTree(tree, n, own?.index ?? [], (host, id) => hostLeft.get(`${host}:${id}`)!, score);
        trees.push(tree);
        let loss = 0;
        for (let i = 0; i < n; i++) {
          const z = score[i]!;
          loss += Math.max(z, 0) - z * y[i]! + Math.log1p(Math.exp(-Math.abs(z)));
        }
        const record = {
          tree: t + 1,
          trainLoss: loss / n,
          splits: tree.filter((x) => x.kind !== 'leaf').length,
          seconds: (performance.now() - t0) / 1000,
        };
        history.push(record);
        o.onProgress?.({ stage: 'secureboost: trees', done: t + 1, total: hp.trees, unit: 'trees' });
      }
      for (const h of o.hosts) await s.send(h, TREE_START, { tree: hp.trees, stop: true });
      return {
        model: {
          format: SECUREBOOST_GUEST_FORMAT,
          version: SECUREBOOST_MODEL_VERSION,
          modelId,
          baseScore,
          learningRate: hp.learningRate,
          hosts: [...o.hosts],
          features: [...(o.features?.names ?? [])],
          bins: own?.bins ?? [],
          trees,
        },
        history,
        insecure: he.insecure,
      };
    } finally {
      he.dispose();
    }
  }

  /** Grow one tree level by level; returns its nodes and the left bitmaps of its host splits. */
  async #grow(
    he: AdditiveHeSecret,
    hp: ResolvedSecureBoost,
    g: Float64Array,
    hess: Float64Array,
    sample: Uint32Array,
    own: BinnedFeatures | undefined,
    hostBins: readonly number[][],
  ): Promise<{ tree: SecureBoostNode[]; hostLeft: Map<string, Uint8Array> }> {
    const s = this.#o.session;
    const hosts = this.#o.hosts;
    const n = g.length;
    const floor = childFloor(hp.minLeafRows, hp.minNodeRows);
    const leaf = (gs: number, hs: number): SecureBoostNode => ({
      kind: 'leaf',
      weight: hp.learningRate * leafWeight(gs, hs, hp.l2),
    });
    const totals = (rows: Uint32Array) => {
      let gs = 0;
      let hs = 0;
      for (const i of rows) {
        gs += g[i]!;
        hs += hess[i]!;
      }
      return { gs, hs };
    };
    const rootTotals = totals(sample);
    const tree: SecureBoostNode[] = [leaf(rootTotals.gs, rootTotals.hs)];
    const hostLeft = new Map<string, Uint8Array>();
    let level: BuildNode[] = [
      { id: 0, rows: sample, g: rootTotals.gs, h: rootTotals.hs, parent: -1, sibling: -1 },
    ];
    for (let depth = 0; ; depth++) {
      const candidates = level.filter(
        (v) => depth < hp.depth && v.rows.length >= 2 * floor && v.rows.length >= hp.minNodeRows,
      );
      const isCandidate = new Set(candidates.map((v) => v.id));
      const tasks: NodeTask[] = candidates.map((v) => {
        const sib = level.find((w) => w.id === v.sibling);
        // Only the smaller child is summed over rows; the larger is parent - smaller (ties: the left).
        const derive =
          sib !== undefined &&
          isCandidate.has(sib.id) &&
          (sib.rows.length < v.rows.length || (sib.rows.length === v.rows.length && sib.id < v.id));
        return { node: v.id, derive, parent: Math.max(0, v.parent), sibling: Math.max(0, v.sibling) };
      });
      const nodeOfRow = new Int32Array(n).fill(-1);
      for (const v of candidates) for (const i of v.rows) nodeOfRow[i] = v.id;
      for (const h of hosts) await s.send(h, LEVEL_TASKS, { nodeOfRow, tasks });
      if (candidates.length === 0) break;

      const hostHists: Map<number, { g: Float64Array; h: Float64Array; adm: Uint8Array }>[] = [];
      for (const [hi, h] of hosts.entries()) {
        const got = await s.receive(h, HISTOGRAMS);
        const cells = hostBins[hi]!.reduce((a, b) => a + b, 0);
        const byNode = new Map<number, { g: Float64Array; h: Float64Array; adm: Uint8Array }>();
        for (const nh of got) {
          const dec = (bytes: Uint8Array) => {
            const c = he.deserializeCiphertext(bytes);
            try {
              return he.decrypt(c);
            } finally {
              c.dispose();
            }
          };
          const gv = dec(nh.gradients);
          const hv = dec(nh.hessians);
          if (gv.length !== cells || hv.length !== cells || nh.admissible.length !== Math.ceil(cells / 8)) {
            throw new FedscoreError('wire_decode', `histogram of node ${nh.node} has the wrong size`, {
              field: 'histograms',
            });
          }
          byNode.set(nh.node, { g: gv, h: hv, adm: nh.admissible });
        }
        for (const v of candidates) {
          if (!byNode.has(v.id)) {
            throw new FedscoreError('wire_decode', `no histogram of node ${v.id}`, { field: 'histograms' });
          }
        }
        hostHists.push(byNode);
      }

      type Choice = { best: BestSplit; owner: number };
      const choices = new Map<number, Choice>();
      for (const v of candidates) {
        let choice: Choice | undefined;
        const cfg = { l2: hp.l2, minChildWeight: hp.minChildWeight };
        if (own !== undefined) {
          const hist = guestHistogram(own, v.rows, g, hess);
          const best = bestBinSplit(
            hist.g,
            hist.h,
            own.counts,
            (c) => hist.admissible(c, floor, v.rows.length),
            v.g,
            v.h,
            cfg,
          );
          if (best !== undefined) choice = { best, owner: -1 };
        }
        hosts.forEach((_, hi) => {
          const hist = hostHists[hi]!.get(v.id)!;
          const best = bestBinSplit(
            hist.g,
            hist.h,
            hostBins[hi]!,
            (c) => getBit(hist.adm, c),
            v.g,
            v.h,
            cfg,
            choice?.best.gain ?? 0,
          );
          if (best !== undefined) choice = { best, owner: hi };
        });
        if (choice !== undefined) choices.set(v.id, choice);
      }
      for (const [hi, h] of hosts.entries()) {
        const mine: SplitDecision[] = [];
        for (const [node, c] of choices) {
          if (c.owner === hi) mine.push({ node, feature: c.best.feature, bin: c.best.bin });
        }
        await s.send(h, SPLIT_DECISIONS, mine);
      }
      const leftOf = new Map<number, { host: number; splitId: number; left: Uint8Array }>();
      for (const [hi, h] of hosts.entries()) {
        for (const r of await s.receive(h, SPLIT_RECORDS)) {
          const c = choices.get(r.node);
          if (c === undefined || c.owner !== hi || r.left.length !== Math.ceil(n / 8)) {
            throw new FedscoreError('wire_decode', `unexpected split record for node ${r.node}`, {
              field: 'splitRecords',
            });
          }
          leftOf.set(r.node, { host: hi, splitId: r.splitId, left: r.left });
          hostLeft.set(`${hi}:${r.splitId}`, r.left);
        }
      }
      const next: BuildNode[] = [];
      for (const v of candidates) {
        const c = choices.get(v.id);
        if (c === undefined) continue;
        const goesLeft = (i: number): boolean => {
          if (c.owner === -1) return own!.index[c.best.feature]![i]! <= c.best.bin;
          const rec = leftOf.get(v.id);
          if (rec === undefined) {
            throw new FedscoreError('wire_decode', `no split record for node ${v.id}`, {
              field: 'splitRecords',
            });
          }
          return getBit(rec.left, i);
        };
        const l: number[] = [];
        const r: number[] = [];
        for (const i of v.rows) (goesLeft(i) ? l : r).push(i);
        const left = Uint32Array.from(l);
        const right = Uint32Array.from(r);
        const lt = totals(left);
        const rt = totals(right);
        const li = tree.length;
        const ri = li + 1;
        tree.push(leaf(lt.gs, lt.hs), leaf(rt.gs, rt.hs));
        tree[v.id] =
          c.owner === -1
            ? {
                kind: 'guest-split',
                feature: c.best.feature,
                bin: c.best.bin,
                gain: c.best.gain,
                left: li,
                right: ri,
              }
            : {
                kind: 'host-split',
                host: c.owner,
                splitId: leftOf.get(v.id)!.splitId,
                gain: c.best.gain,
                left: li,
                right: ri,
              };
        next.push(
          { id: li, rows: left, g: lt.gs, h: lt.hs, parent: v.id, sibling: ri },
          { id: ri, rows: right, g: rt.gs, h: rt.hs, parent: v.id, sibling: li },
        );
      }
      level = next;
    }
    return { tree, hostLeft };
  }
}

function checkRows(features: PartyFeatures, n: number): void {
  const rows = checkFeatures(features, 'features');
  if (rows !== n) {
    throw new FedscoreError('invalid_argument', `features have ${rows} rows, labels ${n}`, {
      field: 'features',
    });
  }
}

/** The rows a tree is grown on: all, or a uniform subset of round(n * fraction) in ascending order. */
export function sampleRows(n: number, fraction: number, rng: CryptoRng): Uint32Array {
  const all = new Uint32Array(n);
  for (let i = 0; i < n; i++) all[i] = i;
  if (fraction >= 1) return all;
  const k = Math.max(1, Math.round(n * fraction));
  for (let i = 0; i < k; i++) {
    const j = i + uniformInt(rng, n - i);
    const tmp = all[i]!;
    all[i] = all[j]!;
    all[j] = tmp;
  }
  return all.subarray(0, k).sort();
}

/** The guest's own histograms of a node, in plaintext, and its admissible cuts. */
function guestHistogram(own: BinnedFeatures, rows: Uint32Array, g: Float64Array, hess: Float64Array) {
  const cells = own.counts.reduce((a, b) => a + b, 0);
  const gh = new Float64Array(cells);
  const hh = new Float64Array(cells);
  const cnt = new Float64Array(cells);
  let off = 0;
  own.counts.forEach((bins, f) => {
    const idx = own.index[f]!;
    for (const i of rows) {
      const c = off + idx[i]!;
      gh[c]! += g[i]!;
      hh[c]! += hess[i]!;
      cnt[c]!++;
    }
    off += bins;
  });
  // Cumulative counts within each feature, for the admissible test.
  const cum = new Float64Array(cells);
  off = 0;
  for (const bins of own.counts) {
    let acc = 0;
    for (let b = 0; b < bins; b++) {
      acc += cnt[off + b]!;
      cum[off + b] = acc;
    }
    off += bins;
  }
  return {
    g: gh,
    h: hh,
    admissible: (cell: number, floor: number, total: number) =>
      cum[cell]! >= floor && total - cum[cell]! >= floor,
  };
}

async function createHe(
  scheme: SecureBoostScheme,
  o: SecureBoostHeOptions | undefined,
  logger: Logger,
  hostBins: readonly (readonly number[])[],
  rows: number,
  depth: number,
): Promise<AdditiveHeSecret> {
  if (scheme === 'ckks') {
    const preset = o?.ckksPreset ?? SECUREBOOST_CKKS_PRESET;
    const slots = CKKS_PRESETS[preset].polyModulusDegree / 2;
    // Galois keys for the steps the hosts' histogram layouts use, and no others (every key is ~5 MB at
    // N = 16384). Each layout is derived from the host's cell counts exactly as the host derives it.
    const steps = new Set<number>();
    for (const bins of hostBins) {
      const cells = bins.reduce((a, b) => a + b, 0);
      if (cells === 0) continue;
      for (const r of histogramRotationSteps(planHistogram(cells, rows, slots, depth))) steps.add(r);
    }
    return createAdditiveHe({
      scheme: 'ckks',
      params: preset,
      rotations: [...steps].sort((a, b) => a - b),
      relinearization: false,
      allowWeakParameters: o?.allowWeakParameters === true,
      logger,
    });
  }
  if (scheme === 'paillier') {
    return createAdditiveHe({
      scheme: 'paillier',
      ...(o?.paillierBits !== undefined && { bits: o.paillierBits }),
      allowWeakParameters: o?.allowWeakParameters === true,
      logger,
    });
  }
  return createAdditiveHe({ scheme: 'none', logger });
}
