/**
 * SecureBoost, guest role: the party with the labels (the bank), the HE key and optionally features.
 * Cheng et al. 2019, "SecureBoost: A Lossless Federated Learning Framework" (active party), with
 * XGBoost's second-order split gain (Chen & Guestrin 2016).
 *
 * Parties: this guest and one or more hosts (features only).
 * Messages this role sends and receives, in order, with every host (steps.ts,
 * docs/protocols/secureboost.md):
 *   -> train-plan; <- host-hello; <- resume-offer; -> resume-from; -> public-context
 *   per tree: -> tree-start; -> gradients [[g]], [[h]] (all rows, packed: CKKS slotCount per ciphertext)
 *     per level: -> level-tasks (row -> node; which histograms to compute, which to derive as
 *                   parent - sibling: only the smaller child is summed over rows);
 *                <- histograms; -> split-decisions (the host's winning cells only); <- split-records
 *     -> level-tasks with no task: the tree is finished
 *   -> tree-start (stop: how many of the host's trees to keep); -> split-gains (with shareSplitGains)
 * Options: row subsampling or GOSS and its own feature subsample (its cryptographic `rng`), validation
 * rows and early stopping, guest-only first trees (no message to the hosts), feature importance,
 * per-tree checkpoints and resume (checkpoint.ts; draws from a keyed generator, `rngKey`).
 * What the guest learns: per-bin sums of g and h of each host feature over every split node (each of
 * at least the row floor of rows; flooded under CKKS), which cuts keep both children above the floor,
 * and the left/right side of every row at each host split it chose. Never a host threshold, edge or
 * feature value: a host split is (host, opaque split id) in its model.
 * What it reveals: to each host, the instance space of every node (SecureBoost's stated leakage) and
 * which of that host's cells won; gradients and hessians only as ciphertexts under its own key.
 * Threat model: semi-honest hosts, no collusion; the key never leaves this party.
 */
import {
  auc,
  type CryptoRng,
  cryptoRng,
  FedscoreError,
  type Logger,
  noopLogger,
  type PartyId,
  type ProgressCallback,
  type ProtocolSession,
  type RngKey,
  requireCryptoRng,
  uniformInt,
} from '@fedscore/core';
import { type AdditiveHeSecret, CKKS_PRESETS, type CkksPresetName, createAdditiveHe } from '@fedscore/he';
import { withAbort } from '../hetero-lr/exchange.ts';
import { checkFeatures, type PartyFeatures } from '../hetero-lr/features.ts';
import {
  checkHeldTrees,
  commonResumeTree,
  SECUREBOOST_CHECKPOINT_FORMAT,
  SECUREBOOST_CHECKPOINT_VERSION,
  type SecureBoostCheckpoint,
  type SecureBoostGuestCheckpoint,
  secureBoostDataDigest,
  secureBoostPlanDigest,
} from './checkpoint.ts';
import { histogramRotationSteps, planHistogram } from './histogram.ts';
import {
  addTree,
  type BinnedFeatures,
  binFeatures,
  type FeatureImportance,
  guestFeatureImportance,
  hostSplitGains,
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
  gossOn,
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
  RESUME_FROM,
  RESUME_OFFER,
  SPLIT_DECISIONS,
  SPLIT_GAINS,
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
  /**
   * Row subsampling, GOSS, the guest's feature subsample and the validation split draw from it
   * (cryptographic only, default `cryptoRng()`: which rows a tree uses is shown to the hosts, so it
   * must not be predictable from, or reproducible by, anyone but the guest).
   */
  readonly rng?: CryptoRng;
  /**
   * A 256-bit key the draws come from instead of `rng`: the validation split from one stream, each
   * tree's rows and features from a stream of its own (core's `RngKey.derive`, bound to the model id and
   * the tree). A resumed run then draws what the uninterrupted run drew; it is needed to resume.
   */
  readonly rngKey?: RngKey;
  /** Called after every finished tree with this party's state (checkpoint.ts); persist it to resume. */
  readonly onCheckpoint?: (cp: SecureBoostGuestCheckpoint) => void;
  /**
   * The checkpoints this party holds for the run (any order). The handshake resumes every party from the
   * latest tree all of them hold. Each is checked against the plan, this party's data and `rngKey`.
   */
  readonly resumeFrom?: readonly SecureBoostCheckpoint[];
  /**
   * Rows (indices into the aligned table) held out for validation, instead of drawing
   * `validationFraction` of them. They are in no tree's instance space.
   */
  readonly validationRows?: ArrayLike<number>;
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
  /** Validation metric after this tree (`earlyStoppingMetric`), when there are validation rows. */
  readonly validation?: number;
}

/** One host split of the guest's model and its gain: all the guest knows of it (opaque id). */
export interface HostSplitGain {
  readonly host: number;
  readonly splitId: number;
  readonly gain: number;
}

export interface SecureBoostGuestResult {
  readonly model: SecureBoostGuestModel;
  readonly history: readonly TreeRecord[];
  readonly insecure: boolean;
  /** Trees kept (the best number under early stopping; else every tree grown). */
  readonly bestTrees: number;
  /** The validation rows (ascending; empty without validation). */
  readonly validationRows: Uint32Array;
  /** Importance of the guest's own features, and the gain of every host split by opaque id. */
  readonly importance: {
    readonly features: readonly FeatureImportance[];
    readonly hostSplits: readonly HostSplitGain[];
  };
  /** The tree count this run resumed from (0: grown from the first tree). */
  readonly resumedFrom: number;
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
    const modelId = o.modelId ?? `secureboost-${Date.now().toString(36)}`;
    // A keyed run draws each tree from a stream of its own (so a resumed run repeats the draws).
    const treeRng = (t: number): CryptoRng =>
      o.rngKey === undefined ? rng : o.rngKey.derive('secureboost/guest-tree', { model: modelId, tree: t });
    const y = Float64Array.from(o.labels);
    const n = y.length;
    for (let i = 0; i < n; i++) {
      if (y[i] !== 0 && y[i] !== 1) {
        throw new FedscoreError('invalid_argument', 'labels must be 0 or 1', {
          field: 'labels',
          details: { row: i },
        });
      }
    }
    // The validation rows are drawn first (before any tree's sample) and are in no instance space.
    const validation = validationSplit(
      n,
      o.validationRows,
      hp.validationFraction,
      o.rngKey === undefined ? rng : o.rngKey.derive('secureboost/validation', { model: modelId }),
    );
    const trainRows = complement(n, validation);
    if (hp.earlyStoppingRounds > 0 && validation.length === 0) {
      throw new FedscoreError('invalid_argument', 'early stopping needs validation rows', {
        field: 'validationFraction',
      });
    }
    let positives = 0;
    for (const i of trainRows) positives += y[i]!;
    if (positives === 0 || positives === trainRows.length) {
      throw new FedscoreError('single_class', 'labels hold one class', { field: 'labels' });
    }
    if (validation.length > 0 && hp.earlyStoppingMetric === 'auc') {
      let vp = 0;
      for (const i of validation) vp += y[i]!;
      if (vp === 0 || vp === validation.length) {
        throw new FedscoreError('single_class', 'validation labels hold one class: no AUC', {
          field: 'validationRows',
        });
      }
    }
    if (o.hosts.length === 0)
      throw new FedscoreError('invalid_argument', 'at least one host', { field: 'hosts' });
    if (o.features !== undefined) checkRows(o.features, n);
    if (hp.guestOnlyTrees > 0 && o.features === undefined) {
      throw new FedscoreError('invalid_argument', 'guest-only trees need guest features', {
        field: 'guestOnlyTrees',
      });
    }
    if (hp.hostDepth > 0 && o.features === undefined) {
      throw new FedscoreError('invalid_argument', 'layered trees need guest features', {
        field: 'hostDepth',
      });
    }
    const own: BinnedFeatures | undefined =
      o.features === undefined ? undefined : binFeatures(o.features, hp.bins);
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
    // Resume handshake: the latest tree count every party holds a checkpoint of (0: afresh).
    const planDigest = secureBoostPlanDigest(
      { ...plan, hosts: [...o.hosts], hostBins },
      { hp, validationRows: o.validationRows === undefined ? null : Array.from(o.validationRows) },
    );
    const dataDigest = secureBoostDataDigest(o.features, y);
    const rngKeyId = o.rngKey?.id ?? null;
    const held = checkHeldTrees(o.resumeFrom, {
      role: 'guest',
      modelId,
      planDigest,
      dataDigest,
      rngKeyId,
      maxTrees: hp.trees,
    });
    const offers: Uint32Array[] = [];
    for (const h of o.hosts) offers.push(await s.receive(h, RESUME_OFFER));
    const from = commonResumeTree(held.keys(), offers, hp.guestOnlyTrees);
    for (const h of o.hosts)
      await s.send(h, RESUME_FROM, Uint32Array.of(Math.max(0, from - hp.guestOnlyTrees)));
    const restored = from === 0 ? undefined : (held.get(from) as SecureBoostGuestCheckpoint);
    const he = await createHe(scheme, o.he, o.logger ?? noopLogger, hostBins, n, hp.depth);
    try {
      const context = he.serializePublic();
      for (const h of o.hosts) await sendContext(s, h, scheme, context, he.fingerprint);
      const baseScore = Math.log(positives / (trainRows.length - positives));
      const score = new Float64Array(n).fill(baseScore);
      const trees: SecureBoostNode[][] = [];
      const history: TreeRecord[] = [];
      if (restored !== undefined) {
        if (restored.score.length !== n || restored.baseScore !== baseScore) {
          throw new FedscoreError('checkpoint', 'checkpoint margins do not fit this run', {
            field: 'resumeFrom.score',
          });
        }
        score.set(restored.score);
        for (const t of restored.trees) trees.push(t.map((v) => ({ ...v })));
        for (const r of restored.history) history.push({ ...r });
      }
      // Under CKKS the circuit error bound (HISTOGRAM_ERROR_BOUND) holds for |g| <= 1: GOSS-amplified
      // values are encrypted divided by the largest amplification and the decrypted sums multiplied back.
      const gossScale = gossOn(hp) && scheme === 'ckks' ? Math.max(1, gossAmplification(hp)) : 1;
      let best = {
        value: restored?.best.value ?? Number.NaN,
        trees: restored?.best.trees ?? 0,
      };
      const stopEarly = (grown: number): boolean =>
        hp.earlyStoppingRounds > 0 && best.trees > 0 && grown - best.trees >= hp.earlyStoppingRounds;
      for (let t = from; t < hp.trees && !stopEarly(t); t++) {
        const t0 = performance.now();
        const draw = treeRng(t);
        const withHosts = t >= hp.guestOnlyTrees;
        const g = new Float64Array(n);
        const hess = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const p = sigmoid(score[i]!);
          g[i] = p - y[i]!;
          hess[i] = p * (1 - p);
        }
        // Draws of the guest's generator per tree, in order: the rows (subsample or GOSS), then its
        // own features (colsampleByTree). Neither draws when off.
        const rows = gossOn(hp)
          ? gossSample(trainRows, g, hess, hp.gossTopRate, hp.gossOtherRate, draw)
          : { sample: pick(trainRows, sampleRows(trainRows.length, hp.subsample, draw)), g, h: hess };
        const ownFeatures =
          own === undefined ? undefined : sampleRows(own.counts.length, hp.colsampleByTree, draw);
        if (withHosts) {
          for (const h of o.hosts) await s.send(h, TREE_START, { tree: t, stop: false });
          const scaled = (v: Float64Array) =>
            gossScale === 1 ? v : Float64Array.from(v, (x) => x / gossScale);
          const encG = he.encrypt(scaled(rows.g));
          const encH = he.encrypt(scaled(rows.h));
          const payload = {
            gradients: he.serializeCiphertext(encG),
            hessians: he.serializeCiphertext(encH),
          };
          encG.dispose();
          encH.dispose();
          for (const h of o.hosts) await s.send(h, GRADIENTS, payload);
        }
        const { tree, hostLeft } = await this.#grow(he, hp, rows.g, rows.h, rows.sample, own, hostBins, {
          hosts: withHosts ? o.hosts : [],
          ownFeatures,
          scale: gossScale,
        });
        addTree(tree, n, own?.index ?? [], (host, id) => hostLeft.get(`${host}:${id}`)!, score);
        trees.push(tree);
        let loss = 0;
        for (const i of trainRows) {
          const z = score[i]!;
          loss += Math.max(z, 0) - z * y[i]! + Math.log1p(Math.exp(-Math.abs(z)));
        }
        const metric = validation.length === 0 ? undefined : validationMetric(hp, score, y, validation);
        const record: TreeRecord = {
          tree: t + 1,
          trainLoss: loss / trainRows.length,
          splits: tree.filter((x) => x.kind !== 'leaf').length,
          seconds: (performance.now() - t0) / 1000,
          ...(metric !== undefined && { validation: metric }),
        };
        history.push(record);
        o.onProgress?.({ stage: 'secureboost: trees', done: t + 1, total: hp.trees, unit: 'trees' });
        if (metric !== undefined) {
          const better = hp.earlyStoppingMetric === 'auc' ? metric > best.value : metric < best.value;
          if (best.trees === 0 || better) best = { value: metric, trees: t + 1 };
        }
        // The checkpoint is written before tree t + 2 starts: a host hears of that tree only after it.
        o.onCheckpoint?.({
          format: SECUREBOOST_CHECKPOINT_FORMAT,
          version: SECUREBOOST_CHECKPOINT_VERSION,
          role: 'guest',
          modelId,
          planDigest,
          dataDigest,
          rngKeyId,
          tree: t + 1,
          baseScore,
          trees: trees.map((x) => x.map((v) => ({ ...v }))),
          history: history.map((r) => ({ ...r })),
          best: { value: Number.isFinite(best.value) ? best.value : null, trees: best.trees },
          score: Array.from(score),
        });
      }
      // Early stopping keeps the best number of trees; each host keeps the splits of its part of them.
      const kept = hp.earlyStoppingRounds > 0 ? best.trees : trees.length;
      trees.length = kept;
      const hostTrees = Math.max(0, kept - hp.guestOnlyTrees);
      for (const h of o.hosts) await s.send(h, TREE_START, { tree: hostTrees, stop: true });
      const model: SecureBoostGuestModel = {
        format: SECUREBOOST_GUEST_FORMAT,
        version: SECUREBOOST_MODEL_VERSION,
        modelId,
        baseScore,
        learningRate: hp.learningRate,
        hosts: [...o.hosts],
        features: [...(o.features?.names ?? [])],
        bins: own?.bins ?? [],
        trees,
      };
      const hostSplits: HostSplitGain[] = [];
      for (const [hi, h] of o.hosts.entries()) {
        const gains = hostSplitGains(model, hi);
        for (const [splitId, gain] of gains.entries()) hostSplits.push({ host: hi, splitId, gain });
        if (hp.shareSplitGains) await s.send(h, SPLIT_GAINS, gains);
      }
      return {
        model,
        history,
        insecure: he.insecure,
        bestTrees: kept,
        validationRows: validation,
        importance: { features: guestFeatureImportance(model), hostSplits },
        resumedFrom: from,
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
    opts: {
      /** The hosts taking part in this tree (none: a guest-only tree). */
      readonly hosts: readonly PartyId[];
      /** The guest's features this tree may split on (ascending). */
      readonly ownFeatures: Uint32Array | undefined;
      /** Factor of the decrypted host sums (the GOSS scaling under CKKS; else 1). */
      readonly scale: number;
    },
  ): Promise<{ tree: SecureBoostNode[]; hostLeft: Map<string, Uint8Array> }> {
    const s = this.#o.session;
    // Cells of the guest's features outside this tree's feature sample are never a cut.
    let ownCellOn: Uint8Array | undefined;
    if (own !== undefined && opts.ownFeatures !== undefined && opts.ownFeatures.length < own.counts.length) {
      ownCellOn = new Uint8Array(own.counts.reduce((a, b) => a + b, 0));
      const on = new Set(opts.ownFeatures);
      let off = 0;
      own.counts.forEach((bins, f) => {
        if (on.has(f)) ownCellOn!.fill(1, off, off + bins);
        off += bins;
      });
    }
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
      // Layered trees: the hosts' levels end at hostDepth (they get the tree's end message there); the
      // guest grows the rest alone, and only on its own features, the hosts' levels only on theirs.
      const layered = hp.hostDepth > 0 && opts.hosts.length > 0;
      if (layered && depth === hp.hostDepth) {
        for (const h of opts.hosts) {
          await s.send(h, LEVEL_TASKS, { nodeOfRow: new Int32Array(n).fill(-1), tasks: [] });
        }
      }
      const hosts = layered && depth >= hp.hostDepth ? [] : opts.hosts;
      const ownOn = !layered || depth >= hp.hostDepth;
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
              const v = he.decrypt(c);
              if (opts.scale !== 1) for (let k = 0; k < v.length; k++) v[k]! *= opts.scale;
              return v;
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
        if (own !== undefined && ownOn) {
          const hist = guestHistogram(own, v.rows, g, hess);
          const best = bestBinSplit(
            hist.g,
            hist.h,
            own.counts,
            (c) =>
              (ownCellOn === undefined || ownCellOn[c] === 1) && hist.admissible(c, floor, v.rows.length),
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
  return sampleCount(n, Math.max(1, Math.round(n * fraction)), rng, all);
}

/**
 * k of 0..n-1 uniformly without replacement, ascending: a partial Fisher-Yates over 0..n-1 (draw i
 * swaps position i with i + uniformInt(rng, n - i)), k draws.
 */
export function sampleCount(
  n: number,
  k: number,
  rng: CryptoRng,
  all: Uint32Array = Uint32Array.from({ length: n }, (_, i) => i),
): Uint32Array {
  if (k >= n) return all;
  for (let i = 0; i < k; i++) {
    const j = i + uniformInt(rng, n - i);
    const tmp = all[i]!;
    all[i] = all[j]!;
    all[j] = tmp;
  }
  return all.subarray(0, k).sort();
}

/** `rows[positions[k]]` for each k (positions ascending: so is the result). */
function pick(rows: Uint32Array, positions: Uint32Array): Uint32Array {
  if (positions.length === rows.length) return rows;
  return positions.map((p) => rows[p]!);
}

/** Factor (1 - a) / b by which GOSS multiplies g and h of the sampled small-gradient rows. */
export function gossAmplification(h: {
  readonly gossTopRate: number;
  readonly gossOtherRate: number;
}): number {
  return (1 - h.gossTopRate) / h.gossOtherRate;
}

/**
 * GOSS (Ke et al. 2017, "LightGBM: A Highly Efficient Gradient Boosting Decision Tree", Algorithm 2)
 * over `rows`: the round(a * m) rows of largest |g| (ties: the lower row first), plus round(b * m)
 * drawn uniformly without replacement from the others (in ascending row order, `sampleRows`'s partial
 * Fisher-Yates), whose g and h are multiplied by (1 - a) / b. Returns the sample (ascending) and g, h
 * with the sampled small-gradient rows amplified (new arrays; other rows unchanged).
 */
export function gossSample(
  rows: Uint32Array,
  g: Float64Array,
  h: Float64Array,
  a: number,
  b: number,
  rng: CryptoRng,
): { sample: Uint32Array; g: Float64Array; h: Float64Array } {
  const m = rows.length;
  const byGrad = Array.from(rows).sort((i, j) => Math.abs(g[j]!) - Math.abs(g[i]!) || i - j);
  const topN = Math.round(a * m);
  const top = byGrad.slice(0, topN);
  const inTop = new Set(top);
  const rest = Uint32Array.from(rows.filter((i) => !inTop.has(i)));
  const others = pick(rest, sampleCount(rest.length, Math.min(rest.length, Math.round(b * m)), rng));
  const gw = Float64Array.from(g);
  const hw = Float64Array.from(h);
  const factor = gossAmplification({ gossTopRate: a, gossOtherRate: b });
  for (const i of others) {
    gw[i]! *= factor;
    hw[i]! *= factor;
  }
  const sample = Uint32Array.from([...top, ...others]).sort();
  return { sample, g: gw, h: hw };
}

/** The validation rows: given (checked), or round(n * fraction) drawn by the guest, or none. */
function validationSplit(
  n: number,
  given: ArrayLike<number> | undefined,
  fraction: number,
  rng: CryptoRng,
): Uint32Array {
  if (given !== undefined) {
    const rows = Uint32Array.from(given).sort();
    for (let k = 0; k < rows.length; k++) {
      if (!Number.isInteger(given[k]) || rows[k]! >= n || (k > 0 && rows[k] === rows[k - 1])) {
        throw new FedscoreError('invalid_argument', 'validation rows must be distinct row indices', {
          field: 'validationRows',
        });
      }
    }
    if (rows.length >= n) {
      throw new FedscoreError('invalid_argument', 'no training rows left', { field: 'validationRows' });
    }
    return rows;
  }
  return fraction > 0 ? sampleRows(n, fraction, rng).slice() : new Uint32Array(0);
}

/** 0..n-1 without `minus` (ascending). */
function complement(n: number, minus: Uint32Array): Uint32Array {
  const out = new Uint32Array(n - minus.length);
  let k = 0;
  let j = 0;
  for (let i = 0; i < n; i++) {
    if (j < minus.length && minus[j] === i) j++;
    else out[k++] = i;
  }
  return out;
}

/** Mean log loss or AUC of the validation rows' current scores. */
function validationMetric(
  hp: ResolvedSecureBoost,
  score: Float64Array,
  y: Float64Array,
  rows: Uint32Array,
): number {
  if (hp.earlyStoppingMetric === 'auc') {
    return auc(
      Float64Array.from(rows, (i) => y[i]!),
      Float64Array.from(rows, (i) => score[i]!),
    );
  }
  let loss = 0;
  for (const i of rows) {
    const z = score[i]!;
    loss += Math.max(z, 0) - z * y[i]! + Math.log1p(Math.exp(-Math.abs(z)));
  }
  return loss / rows.length;
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
