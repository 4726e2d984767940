/**
 * SecureBoost, host role: a party with features for the aligned rows and no labels (e.g. the government
 * credit node). Cheng et al. 2019, "SecureBoost: A Lossless Federated Learning Framework" (passive party).
 *
 * Parties: the guest (labels, the HE key) and this host (one of several; hosts never talk to each other).
 * Messages this role handles, in order (steps.ts, docs/protocols/secureboost.md):
 *   <- train-plan; -> host-hello (bins per feature); -> resume-offer; <- resume-from; <- public-context
 *   per tree: <- tree-start; <- gradients [[g]], [[h]]
 *     per level: <- level-tasks; -> histograms (flooded [[sum g]], [[sum h]] per bin, admissible cuts);
 *                <- split-decisions; -> split-records (opaque id, left rows)
 *   <- tree-start (stop: how many of its trees to keep); <- split-gains (only with receiveSplitGains)
 * Options (docs/protocols/secureboost.md): colsampleByTree (its own features drawn per tree from its
 * own generator; undrawn ones get no admissible cut), guest-only trees (it sees none of them).
 * What the host learns: the instance space of every node (which rows reach it: the known leakage of
 * SecureBoost), which of its own (feature, bin) cells won, the plan. Everything else it receives is a
 * ciphertext under the guest's key: never a gradient, hessian, label, gain or leaf weight.
 * What it reveals: per-bin sums of g and h over nodes of at least the row floor (it refuses smaller
 * ones), each cell over >= the floor rows or none (the per-bin floor: it merges a node's bins, `binGroups`;
 * off only with the test-only `unsafeNoBinFloor`), flooded under CKKS with noise sized from the measured circuit error for the whole run's
 * releases (it refuses to release more); the left/right partition of each split the guest gives it;
 * which cuts keep both children above the floor. Never an edge, a threshold or a feature value.
 * Resume (checkpoint.ts): after each tree it took part in, its split records and release count go to
 * `onCheckpoint`; a later attempt restores the ones the guest's `resume-from` names. Its release count
 * also goes to `releaseLedger` before every release, so a guest that makes attempts fail cannot obtain
 * more releases than the one budget of the job (the flooding is sized for it).
 * Threat model: semi-honest guest; the floor and flooding are this host's own settings, checked against
 * the guest's plan, never taken from it.
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
  type RngKey,
  requireCryptoRng,
} from '@fedscore/core';
import {
  type AdditiveCiphertext,
  type AdditiveHePublic,
  CKKS_PRESETS,
  type CkksPresetName,
  type CkksPublicContext,
  type CkksVector,
  ckksContextOf,
  ckksPartsOf,
  createHeWorkerPool,
  floodingStdDev,
  floodNoise,
  type HeWorkerPool,
  loadAdditiveHePublic,
  wrapCkksParts,
} from '@fedscore/he';
import { withAbort } from '../hetero-lr/exchange.ts';
import { checkFeatures, type PartyFeatures } from '../hetero-lr/features.ts';
import {
  checkHeldTrees,
  type ReleaseLedger,
  SECUREBOOST_CHECKPOINT_FORMAT,
  SECUREBOOST_CHECKPOINT_VERSION,
  type SecureBoostCheckpoint,
  type SecureBoostHostCheckpoint,
  secureBoostDataDigest,
  secureBoostPlanDigest,
} from './checkpoint.ts';
import { sampleRows } from './guest.ts';
import {
  BinDiagonals,
  defaultProduct,
  disposeSums,
  GradientRotations,
  type HistogramLayout,
  histogramPath,
  LevelMaskedSums,
  MAX_DIAGONAL_CACHE_BYTES,
  type MaskedProduct,
  MaskedRotations,
  maskedLayout,
  maskedProduct,
  mergedBins,
  type NodeSums,
  planHistogram,
  productLevel,
  releaseBlock,
  runStepsYielding,
  subtractSums,
  threadedHistogramsWin,
} from './histogram.ts';
import {
  type BinnedFeatures,
  binFeatures,
  type FeatureImportance,
  type HostSplit,
  hostFeatureImportance,
  SECUREBOOST_HOST_FORMAT,
  SECUREBOOST_MODEL_VERSION,
  type SecureBoostHostModel,
} from './model.ts';
import {
  HISTOGRAM_THREAD_KINDS,
  type HistogramTask,
  type HistogramTaskOutput,
  OffloadedHistograms,
  type SecureBoostHistogramOffload,
} from './offload.ts';
import {
  binGroups,
  childFloor,
  HISTOGRAM_ERROR_BOUND,
  HISTOGRAM_FLOODING_BITS,
  HISTOGRAM_LOW_LEVEL_ERROR_BOUND,
  MIN_NODE_ROWS,
} from './options.ts';
import {
  GRADIENTS,
  HISTOGRAMS,
  HOST_HELLO,
  LEVEL_TASKS,
  type LevelTasks,
  type NodeHistogram,
  type NodeTask,
  RESUME_FROM,
  RESUME_OFFER,
  receiveContext,
  SPLIT_DECISIONS,
  SPLIT_GAINS,
  SPLIT_RECORDS,
  type SplitRecord,
  setBit,
  TRAIN_PLAN,
  TREE_START,
  type TrainPlan,
} from './steps.ts';

export interface SecureBoostHostOptions {
  readonly session: ProtocolSession;
  readonly guest: PartyId;
  readonly features: PartyFeatures;
  /** Accept the plaintext debug scheme `none` (default false: refused). */
  readonly allowPlaintextScheme?: boolean;
  /** Accept weak HE parameters (tests, comparisons). */
  readonly allowWeakParameters?: boolean;
  /**
   * This host's row floor: it refuses a plan below it and never computes a histogram of a smaller node.
   * Default `MIN_NODE_ROWS`. Lowering it is only for the attack test.
   */
  readonly minNodeRows?: number;
  /**
   * Skip the per-bin floor (attack tests only): release every bin of a node as it is, however few rows
   * it holds. Default false: within each node the host merges adjacent bins until every released cell,
   * of the node and of its sibling, covers at least the row floor (`binGroups`).
   */
  readonly unsafeNoBinFloor?: boolean;
  /** Flooding noise (cryptographic only). Default `cryptoRng()`. */
  readonly rng?: CryptoRng;
  /** Skip flooding (attack and error-measurement tests only). */
  readonly unsafeNoFlooding?: boolean;
  /**
   * Fraction of this host's own features it samples for each tree (colsample_bytree), drawn from
   * `rng` at each tree's start, before that tree's flooding noise. Default 1. A host setting: the guest
   * never learns which features were drawn beyond what the admissible bits of its histograms show.
   */
  readonly colsampleByTree?: number;
  /** Expect the guest's split-gains message at the end (the job's `shareSplitGains`). Default false. */
  readonly receiveSplitGains?: boolean;
  /**
   * Memory this host may spend on the run-cached diagonals of its bin matrix under CKKS (`BinDiagonals`:
   * no encoding per node). Default `MAX_DIAGONAL_CACHE_BYTES` (768 MiB); 0: never cached (the diagonals
   * are then encoded per level or per node).
   */
  readonly maxDiagonalCacheBytes?: number;
  /**
   * A 256-bit key its per-tree feature draws (`colsampleByTree`) come from instead of `rng`, one stream
   * per tree (bound to the model id and the guest's tree number), so a resumed run draws the same
   * features. Flooding noise always comes from `rng` (fresh on every attempt).
   */
  readonly rngKey?: RngKey;
  /** Called after every tree it took part in with its own state (checkpoint.ts); persist it to resume. */
  readonly onCheckpoint?: (cp: SecureBoostHostCheckpoint) => void;
  /** The checkpoints this party holds for the run; offered to the guest in the resume handshake. */
  readonly resumeFrom?: readonly SecureBoostCheckpoint[];
  /**
   * Its release count across attempts (checkpoint.ts `ReleaseLedger`): read at the start, written before
   * every release. Absent: counted from the restored checkpoint (or 0), which a guest that fails
   * attempts mid-tree can outrun (the attack test's weakened configuration).
   */
  readonly releaseLedger?: ReleaseLedger;
  /**
   * Trees' worth of releases the budget holds beyond the plan's, for the partial trees of failed
   * attempts (each failed attempt re-releases at most one tree). Default 0. The flooding is sized for
   * the whole budget.
   */
  readonly retryTrees?: number;
  /** Per level (`levels`) and per tree (`trees`, the guest's numbering over the plan's trees). */
  readonly onProgress?: ProgressCallback;
  /**
   * Run the run-cached products (`BinDiagonals`) one level lower with the diagonals at a smaller scale
   * (`maskedProduct`) when the rows allow it, the flooding then sized from
   * `HISTOGRAM_LOW_LEVEL_ERROR_BOUND`. Default false (they stay at `productLevel` and the default scale):
   * ~1.7x faster per node at default_credit's size, but the 16x flooding this path needs cost 0.0018 test
   * AUC against `none` over 30 trees on default_credit (docs/protocols/secureboost.md, Measured).
   * Refused (`invalid_argument`, field `lowProductLevel`) with the per-bin floor on: its merged-bin nodes
   * are summed at the default level, which the lower-level sums cannot be subtracted from.
   */
  readonly lowProductLevel?: boolean;
  /**
   * Where its CKKS histogram products run instead of this process (a node's `queue: pgboss`:
   * secureboost/offload.ts): one task per level and range of batches, evaluated by worker processes that
   * hold the guest's public context; the sums are added and flooded here. The run-cached diagonals and
   * `lowProductLevel` are not used then. Paillier and `none` histograms stay in this process.
   */
  readonly histogramOffload?: SecureBoostHistogramOffload;
  /**
   * HE worker threads of this host (`@fedscore/he`'s pool, loading the guest's public context once per
   * thread). Default 0: one thread. With 2 or more (and no `histogramOffload`), its CKKS histograms run
   * as the offload path's tasks (`sbHistogram`, secureboost/thread-kinds.ts) on these threads when
   * `threadedHistograms` says so.
   */
  readonly workers?: number;
  /**
   * With `workers` >= 2: true runs the histograms on the threads, false keeps them in-process; default:
   * by the cost rule `threadedHistogramsWin` (per-node tasks on the threads against the in-process path
   * on one thread, for this host's cells, rows and depth).
   */
  readonly threadedHistograms?: boolean;
  readonly logger?: Logger;
}

export interface SecureBoostHostResult {
  readonly model: SecureBoostHostModel;
  /** Ciphertexts released for decryption, and the budget the flooding was sized for. */
  readonly released: number;
  readonly releaseBudget: number;
  /** Flooding standard deviation per released value (0 without CKKS). */
  readonly floodingStdDev: number;
  /** Importance of this host's own features (split counts; total gains with `receiveSplitGains`). */
  readonly importance: readonly FeatureImportance[];
  /** With `receiveSplitGains`: the gain of each of its splits, by split id, as the guest sent them. */
  readonly splitGains?: Float64Array;
  /** Its own tree count this run resumed from (0: from the first tree). */
  readonly resumedFrom: number;
}

/** The CKKS preset a loaded context was made with (its description names N, q and the scale). */
export function ckksPresetOf(description: string): CkksPresetName | undefined {
  for (const [name, p] of Object.entries(CKKS_PRESETS) as [
    CkksPresetName,
    (typeof CKKS_PRESETS)[CkksPresetName],
  ][]) {
    if (
      description.includes(`N=${p.polyModulusDegree} `) &&
      description.includes(`q=[${p.coeffModulusBits.join(',')}]`) &&
      description.includes(`scale=2^${p.scaleBits}`)
    ) {
      return name;
    }
  }
  return undefined;
}

/**
 * Ciphertexts the guest decrypts over a whole run: two per histogram, at most 2^depth - 1 per tree, each
 * of `parts` ciphertexts (CKKS: the blocks of the histogram layout; default one per slotCount cells).
 */
export function plannedReleases(
  plan: TrainPlan,
  cells: number,
  slotCount: number,
  parts = Math.max(1, Math.ceil(cells / slotCount)),
): number {
  return plan.trees * (2 ** plan.depth - 1) * 2 * parts;
}

/** A node's histogram: through the additive API (Paillier, none), or the CKKS sums of histogram.ts. */
type Histogram =
  | { readonly kind: 'additive'; readonly g: AdditiveCiphertext; readonly h: AdditiveCiphertext }
  | { readonly kind: 'ckks'; readonly sums: NodeSums };

/**
 * The CKKS evaluation of a run: context, layout, the run's encoded bin-matrix diagonals when they fit
 * (`BinDiagonals`: no encoding per node), else this tree's cached gradient rotations.
 */
interface CkksPath {
  readonly ctx: CkksPublicContext;
  readonly layout: HistogramLayout;
  /** Where the run-cached diagonals multiply, and whether they fit this host's memory budget. */
  readonly product: MaskedProduct;
  readonly cached: boolean;
  diagonals?: BinDiagonals;
  rotations?: GradientRotations | MaskedRotations | LevelMaskedSums;
  /** This tree's gradient parts (borrowed), for `merged`. */
  parts?: { readonly g: readonly CkksVector[]; readonly h: readonly CkksVector[] };
  /**
   * The per-tree rotations for nodes whose bins the per-bin floor merges when `rotations` works from the
   * run-cached diagonals of the unmerged bin matrix (built at the first such node of the tree).
   */
  merged?: GradientRotations;
  /** The histograms on a task executor (`histogramOffload`): no rotations or diagonals here then. */
  readonly offload?: OffloadedHistograms;
}

/** Where the per-bin floor keeps a tree's bin groups between levels (host `#histograms`). */
interface BinFloorState {
  /** The previous level's node of each row (undefined at the root). */
  readonly previousRows: Int32Array | undefined;
  /** The previous level's task nodes' groups (`binGroups`). */
  readonly previousGroups: ReadonlyMap<number, Int32Array>;
  /** Filled with this level's task nodes' groups. */
  readonly groups: Map<number, Int32Array>;
}

/** The first cell of each feature in the concatenated (feature, bin) cells. */
function cellOffsets(counts: readonly number[]): number[] {
  const offsets: number[] = [];
  let off = 0;
  for (const c of counts) {
    offsets.push(off);
    off += c;
  }
  return offsets;
}

export class SecureBoostHost {
  readonly #o: SecureBoostHostOptions;

  constructor(options: SecureBoostHostOptions) {
    this.#o = options;
  }

  run(): Promise<SecureBoostHostResult> {
    return withAbort(this.#o.session, [this.#o.guest], () => this.#run());
  }

  async #run(): Promise<SecureBoostHostResult> {
    const o = this.#o;
    const s = o.session;
    const logger = o.logger ?? noopLogger;
    const rng = requireCryptoRng(o.rng ?? cryptoRng(), 'rng');
    const rows = checkFeatures(o.features, 'features');
    const ownFloor = o.minNodeRows ?? MIN_NODE_ROWS;
    if (o.lowProductLevel === true && o.unsafeNoBinFloor !== true) {
      // A node whose bins the floor merges is summed by the per-tree rotations at the default level
      // (scale 2^110 at the release preset); the run-cached sums one level lower (2^99) cannot meet them
      // when a sibling is derived by subtraction. Refused here rather than failing mid-tree.
      throw new FedscoreError(
        'invalid_argument',
        'lowProductLevel cannot run with the per-bin floor: merged-bin nodes are summed at the default level',
        { field: 'lowProductLevel' },
      );
    }
    const colsample = o.colsampleByTree ?? 1;
    if (!(Number.isFinite(colsample) && colsample > 0 && colsample <= 1)) {
      throw new FedscoreError('out_of_range', `colsampleByTree must be in (0, 1], got ${colsample}`, {
        field: 'colsampleByTree',
      });
    }
    const plan = await s.receive(o.guest, TRAIN_PLAN);
    if (plan.rows !== rows) {
      throw new FedscoreError('invalid_argument', `plan has ${plan.rows} rows, this host ${rows}`, {
        field: 'rows',
      });
    }
    if (plan.minNodeRows < ownFloor) {
      throw new FedscoreError(
        'privacy_floor',
        `the plan's row floor ${plan.minNodeRows} is below this host's ${ownFloor}`,
        { field: 'minNodeRows' },
      );
    }
    if (plan.scheme === 'none' && o.allowPlaintextScheme !== true) {
      throw new FedscoreError('policy', 'the plaintext scheme none is refused', { field: 'scheme' });
    }
    const retryTrees = o.retryTrees ?? 0;
    if (!Number.isSafeInteger(retryTrees) || retryTrees < 0) {
      throw new FedscoreError('out_of_range', `retryTrees must be a count, got ${retryTrees}`, {
        field: 'retryTrees',
      });
    }
    const binned = binFeatures(o.features, plan.bins);
    const cells = binned.counts.reduce((a, b) => a + b, 0);
    await s.send(o.guest, HOST_HELLO, binned.counts);
    // Resume handshake: offer the tree counts held, restore the one the guest names (0: afresh).
    const planDigest = secureBoostPlanDigest(plan, {
      colsample,
      ownFloor,
      retryTrees,
      unsafeNoFlooding: o.unsafeNoFlooding === true,
      // Checkpoints made before the per-bin floor (or with it off) are not resumed with it on.
      binFloor: o.unsafeNoBinFloor === true ? 'off' : 'on',
      receiveSplitGains: o.receiveSplitGains === true,
    });
    const dataDigest = secureBoostDataDigest(o.features);
    const rngKeyId = o.rngKey?.id ?? null;
    const held = checkHeldTrees(o.resumeFrom, {
      role: 'host',
      modelId: plan.modelId,
      planDigest,
      dataDigest,
      rngKeyId,
      maxTrees: plan.trees,
    });
    await s.send(o.guest, RESUME_OFFER, Uint32Array.from([...held.keys()].sort((a, b) => a - b)));
    const from = (await s.receive(o.guest, RESUME_FROM))[0]!;
    const restored = from === 0 ? undefined : (held.get(from) as SecureBoostHostCheckpoint | undefined);
    if (from !== 0 && restored === undefined) {
      throw new FedscoreError(
        'protocol_step',
        `asked to resume from tree ${from}, which this party did not offer`,
        {
          field: 'resume-from',
        },
      );
    }

    const ctx = await receiveContext(s, o.guest);
    if (ctx.scheme !== plan.scheme) {
      throw new FedscoreError('he_context_mismatch', `expected a ${plan.scheme} context`, {
        field: 'scheme',
      });
    }
    const he = await loadAdditiveHePublic(ctx.context, {
      allowPlaintextScheme: o.allowPlaintextScheme === true,
      allowWeakParameters: o.allowWeakParameters === true,
      expected: { scheme: plan.scheme },
      logger,
    });
    let path: CkksPath | undefined;
    let pool: HeWorkerPool | undefined;
    try {
      if (he.fingerprint !== ctx.fingerprint) {
        throw new FedscoreError('he_context_mismatch', 'context fingerprint differs from the announced one', {
          field: 'fingerprint',
        });
      }
      const ckksCtx = plan.scheme === 'ckks' ? ckksContextOf(he) : undefined;
      if (ckksCtx !== undefined) {
        const layout = planHistogram(cells, rows, he.slotCount, plan.depth);
        const workers = o.workers ?? 0;
        if (!Number.isSafeInteger(workers) || workers < 0 || workers > 64) {
          throw new FedscoreError('out_of_range', `workers must be an integer in [0, 64], got ${workers}`, {
            field: 'workers',
          });
        }
        const threaded =
          o.histogramOffload === undefined &&
          workers >= 2 &&
          (o.threadedHistograms ??
            threadedHistogramsWin(
              ckksCtx,
              cells,
              rows,
              plan.depth,
              workers,
              o.maxDiagonalCacheBytes ?? MAX_DIAGONAL_CACHE_BYTES,
            ));
        if (threaded) {
          pool = await createHeWorkerPool({
            context: ckksCtx,
            size: workers,
            taskKinds: HISTOGRAM_THREAD_KINDS,
            logger,
          });
        }
        const offload: SecureBoostHistogramOffload | undefined =
          o.histogramOffload ??
          (pool === undefined
            ? undefined
            : { executor: pool.executor<HistogramTask, HistogramTaskOutput>() });
        // Offloaded: every node is summed at the product level and the default scale (the workers'
        // per-node path), so neither the run-cached diagonals nor the lower product level apply.
        const product =
          o.lowProductLevel === true && offload === undefined
            ? maskedProduct(ckksCtx, rows)
            : defaultProduct(ckksCtx);
        const cached =
          offload === undefined &&
          BinDiagonals.fits(ckksCtx, layout, o.maxDiagonalCacheBytes ?? MAX_DIAGONAL_CACHE_BYTES, product);
        path = {
          ctx: ckksCtx,
          layout,
          product,
          cached,
          ...(offload !== undefined && {
            offload: new OffloadedHistograms(ckksCtx, layout, binned, offload),
          }),
        };
      }
      /** The run-cached products one level lower: their error bound sizes the flooding. */
      const lowLevel = path?.cached === true && path.product.level < productLevel(path.ctx);
      const parts = path?.layout.blocks ?? Math.max(1, Math.ceil(cells / he.slotCount));
      const budget = plannedReleases({ ...plan, trees: plan.trees + retryTrees }, cells, he.slotCount, parts);
      const ledger = o.releaseLedger;
      if (ledger?.budget !== undefined && ledger.budget !== budget) {
        throw new FedscoreError(
          'release_budget',
          `this job's releases were budgeted for ${ledger.budget}; this attempt's plan would make it ${budget}`,
          { field: 'trees' },
        );
      }
      let sd = 0;
      if (plan.scheme === 'ckks' && o.unsafeNoFlooding !== true) {
        const preset = ckksPresetOf(he.description);
        const bound =
          preset === undefined
            ? undefined
            : (lowLevel ? HISTOGRAM_LOW_LEVEL_ERROR_BOUND : HISTOGRAM_ERROR_BOUND)[preset];
        if (bound === undefined) {
          throw new FedscoreError(
            'unsupported',
            'no measured histogram error bound for these CKKS parameters',
            {
              field: 'params',
            },
          );
        }
        sd = floodingStdDev(bound, budget, HISTOGRAM_FLOODING_BITS);
      }
      const floor = childFloor(plan.minLeafRows, plan.minNodeRows);
      const splits: HostSplit[] = restored === undefined ? [] : restored.splits.map((x) => ({ ...x }));
      /** The tree (this host's count) of each split. */
      const splitTree: number[] = restored === undefined ? [] : [...restored.splitTree];
      let trees = restored?.tree ?? 0;
      // Releases so far over every attempt of the job: the ledger's count (written before each release),
      // else the restored checkpoint's (which misses a failed attempt's partial tree).
      let released = Math.max(ledger?.released ?? 0, restored?.released ?? 0);
      if (released > budget) {
        throw new FedscoreError('release_budget', `the ${budget} planned histogram releases are spent`, {
          field: 'trees',
        });
      }
      for (;;) {
        const start = await s.receive(o.guest, TREE_START);
        if (start.stop) {
          // Keep the splits of the first `start.tree` trees (early stopping drops the later ones).
          if (start.tree > trees) {
            throw new FedscoreError('invalid_argument', `keep ${start.tree} of ${trees} trees`, {
              field: 'tree',
            });
          }
          const keep = splitTree.findIndex((t) => t >= start.tree);
          if (keep >= 0) splits.length = keep;
          break;
        }
        // This tree's features: the host's own draw, never sent (keyed: one stream per tree).
        const draw =
          o.rngKey === undefined
            ? rng
            : o.rngKey.derive('secureboost/host-features', { model: plan.modelId, tree: start.tree });
        const features = sampleRows(binned.counts.length, colsample, draw);
        const featureOn = features.length === binned.counts.length ? undefined : new Set<number>(features);
        trees++;
        const grads = await s.receive(o.guest, GRADIENTS);
        const encG = he.deserializeCiphertext(grads.gradients);
        const encH = he.deserializeCiphertext(grads.hessians);
        const held: { dispose(): void }[] = [encG, encH];
        try {
          if (encG.length !== rows || encH.length !== rows) {
            throw new FedscoreError('invalid_argument', `gradients must hold ${rows} values`, {
              field: 'gradients',
            });
          }
          if (path !== undefined) {
            const g = ckksPartsOf(encG);
            const h = ckksPartsOf(encH);
            if (g === undefined || h === undefined) {
              throw new FedscoreError('he_context_mismatch', 'gradients are not CKKS ciphertexts', {
                field: 'gradients',
              });
            }
            if (path.offload !== undefined) {
              // Packed once per tree; the tasks of every level carry them (stored once per range).
              path.offload.startTree(g, h);
              const off = path.offload;
              held.push({ dispose: () => off.endTree() });
            }
            // The evaluation is chosen by histogramPath, which the cost model (histogramTreeOps) counts.
            const kind = histogramPath(
              path.ctx,
              path.layout,
              plan.depth,
              o.maxDiagonalCacheBytes ?? MAX_DIAGONAL_CACHE_BYTES,
              path.product,
            );
            if (path.offload === undefined && path.diagonals === undefined && kind === 'run-cached') {
              // The bin matrix is fixed for the run: its diagonals are encoded once, at the first tree.
              path.diagonals = await runStepsYielding(
                BinDiagonals.build(
                  path.ctx,
                  maskedLayout(path.layout),
                  binned,
                  cellOffsets(binned.counts),
                  undefined,
                  path.product,
                ),
              );
            }
            // Else the diagonals encoded once per level for all its nodes (deep enough trees), or the
            // baby rotations of [[g]] and [[h]]: once per tree, shared by every node.
            const masked = maskedLayout(path.layout);
            const maskLevel = productLevel(path.ctx);
            path.rotations =
              path.offload !== undefined
                ? undefined
                : path.diagonals !== undefined
                  ? new MaskedRotations(path.ctx, path.diagonals, g, h)
                  : kind === 'per-level' &&
                      g.every((v) => v.level > maskLevel) &&
                      h.every((v) => v.level > maskLevel)
                    ? new LevelMaskedSums(path.ctx, masked, g, h)
                    : await runStepsYielding(GradientRotations.build(path.ctx, path.layout, g, h));
            if (path.rotations !== undefined) held.push(path.rotations);
            path.parts = { g, h };
          }
          let previous = new Map<number, Histogram>();
          // The previous level's rows and per-node bin groups (the per-bin floor coarsens them per level).
          let previousRows: Int32Array | undefined;
          let previousGroups = new Map<number, Int32Array>();
          const currentGroups = new Map<number, Int32Array>();
          let levels = 0;
          for (;;) {
            const level = await s.receive(o.guest, LEVEL_TASKS);
            if (level.tasks.length === 0) break;
            const current = new Map<number, Histogram>();
            currentGroups.clear();
            const out = await this.#histograms(
              he,
              path,
              level,
              binned,
              encG,
              encH,
              previous,
              current,
              held,
              floor,
              ownFloor,
              featureOn,
              o.unsafeNoBinFloor === true
                ? undefined
                : { previousRows, previousGroups, groups: currentGroups },
            );
            const sent: NodeHistogram[] = [];
            for (const t of level.tasks) {
              const hist = current.get(t.node)!;
              released += 2 * parts;
              if (released > budget) {
                throw new FedscoreError(
                  'release_budget',
                  `more than the ${budget} planned histogram releases`,
                  {
                    field: 'trees',
                  },
                );
              }
              const pair =
                hist.kind === 'ckks'
                  ? this.#releaseCkks(he, path!.ctx, hist.sums, sd, rng)
                  : { g: this.#release(he, hist.g, sd, rng), h: this.#release(he, hist.h, sd, rng) };
              sent.push({ node: t.node, gradients: pair.g, hessians: pair.h, admissible: out.get(t.node)! });
              // A node's release is a few CKKS operations per block: the event loop gets a turn between
              // nodes (a level of 2^(depth-1) nodes in one call would hold it for seconds under load).
              await new Promise<void>((resolve) => setImmediate(resolve));
            }
            // Write-ahead: the count is kept before any of these releases leaves this party.
            ledger?.record(released, budget);
            await s.send(o.guest, HISTOGRAMS, sent);
            o.onProgress?.({
              stage: 'secureboost host: levels',
              done: Math.min(++levels, plan.depth),
              total: plan.depth,
              unit: 'levels',
            });
            const decisions = await s.receive(o.guest, SPLIT_DECISIONS);
            const records: SplitRecord[] = [];
            for (const d of decisions) {
              const adm = out.get(d.node);
              if (
                adm === undefined ||
                d.feature >= binned.counts.length ||
                d.bin + 1 >= binned.counts[d.feature]!
              ) {
                throw new FedscoreError('invalid_argument', 'a split decision names no cell of a task node', {
                  field: 'splitDecisions',
                });
              }
              const cell = binned.counts.slice(0, d.feature).reduce((a, b) => a + b, 0) + d.bin;
              if (((adm[cell >> 3]! >> (cell & 7)) & 1) === 0) {
                throw new FedscoreError(
                  'privacy_floor',
                  'a split decision leaves a child below the row floor',
                  {
                    field: 'splitDecisions',
                  },
                );
              }
              const splitId = splits.length;
              splits.push({ splitId, feature: d.feature, bin: d.bin });
              splitTree.push(trees - 1);
              const col = binned.index[d.feature]!;
              const left = new Uint8Array(Math.ceil(rows / 8));
              for (let i = 0; i < rows; i++) if (col[i]! <= d.bin) setBit(left, i);
              records.push({ node: d.node, splitId, left });
            }
            await s.send(o.guest, SPLIT_RECORDS, records);
            // The previous level's histograms are disposed with the tree's (`held`).
            previous = current;
            previousRows = level.nodeOfRow;
            previousGroups = new Map(currentGroups);
          }
        } finally {
          for (const v of held) v.dispose();
          if (path !== undefined) {
            path.rotations = undefined;
            path.merged = undefined;
            path.parts = undefined;
          }
        }
        // Reported before the checkpoint is written (the test-only kill of the node fires at the first
        // report after a checkpoint: mid-level of the next tree, before the guest can finish it).
        o.onProgress?.({
          stage: 'secureboost host: trees',
          done: start.tree + 1,
          total: plan.trees,
          unit: 'trees',
        });
        o.onCheckpoint?.({
          format: SECUREBOOST_CHECKPOINT_FORMAT,
          version: SECUREBOOST_CHECKPOINT_VERSION,
          role: 'host',
          modelId: plan.modelId,
          planDigest,
          dataDigest,
          rngKeyId,
          tree: trees,
          splits: splits.map((x) => ({ ...x })),
          splitTree: [...splitTree],
          released,
          releaseBudget: budget,
        });
      }
      const model: SecureBoostHostModel = {
        format: SECUREBOOST_HOST_FORMAT,
        version: SECUREBOOST_MODEL_VERSION,
        modelId: plan.modelId,
        features: [...o.features.names],
        bins: binned.bins,
        splits,
      };
      const gains = o.receiveSplitGains === true ? await s.receive(o.guest, SPLIT_GAINS) : undefined;
      return {
        model,
        importance: hostFeatureImportance(model, gains),
        ...(gains !== undefined && { splitGains: Float64Array.from(gains) }),
        released,
        releaseBudget: budget,
        floodingStdDev: sd,
        resumedFrom: from,
      };
    } finally {
      path?.diagonals?.dispose();
      await pool?.close();
      he.dispose();
    }
  }

  /** Histograms of the level's task nodes (direct or parent - sibling) and their admissible cuts. */
  async #histograms(
    he: AdditiveHePublic,
    path: CkksPath | undefined,
    level: LevelTasks,
    binned: BinnedFeatures,
    encG: AdditiveCiphertext,
    encH: AdditiveCiphertext,
    previous: Map<number, Histogram>,
    current: Map<number, Histogram>,
    held: { dispose(): void }[],
    floor: number,
    ownFloor: number,
    featureOn: ReadonlySet<number> | undefined,
    binFloor: BinFloorState | undefined,
  ): Promise<Map<number, Uint8Array>> {
    const rows = level.nodeOfRow.length;
    if (rows !== encG.length) {
      throw new FedscoreError('invalid_argument', `level-tasks must cover ${encG.length} rows`, {
        field: 'nodeOfRow',
      });
    }
    const cells = binned.counts.reduce((a, b) => a + b, 0);
    const offsets: number[] = [];
    let off = 0;
    for (const c of binned.counts) {
      offsets.push(off);
      off += c;
    }
    // Per task node: its rows' bin counts (plaintext, never sent) and its row count.
    const binRows = new Map<number, Float64Array>();
    const nodeRows = new Map<number, number>();
    for (const t of level.tasks) {
      binRows.set(t.node, new Float64Array(cells));
      nodeRows.set(t.node, 0);
    }
    for (let i = 0; i < rows; i++) {
      const node = level.nodeOfRow[i]!;
      const c = binRows.get(node);
      if (c === undefined) continue;
      nodeRows.set(node, nodeRows.get(node)! + 1);
      for (let f = 0; f < offsets.length; f++) c[offsets[f]! + binned.index[f]![i]!]!++;
    }
    const minRows = Math.max(floor, ownFloor);
    for (const t of level.tasks) {
      if (nodeRows.get(t.node)! < Math.max(ownFloor, 2 * minRows)) {
        throw new FedscoreError('privacy_floor', `node ${t.node} is below the row floor`, {
          field: 'nodeOfRow',
        });
      }
    }
    // Per-bin floor: each task node's bin groups (shared with its sibling), and the bin index its
    // histogram is summed over (a merged group's rows in the group's last cell; the others stay empty).
    const ends =
      binFloor === undefined ? undefined : this.#binGroups(level, binned, binRows, minRows, binFloor);
    const nodeBinned = new Map<number, BinnedFeatures>();
    for (const t of level.tasks) {
      nodeBinned.set(t.node, ends === undefined ? binned : mergedBins(binned, offsets, ends.get(t.node)!));
    }
    const membersOf = (node: number): Int32Array => {
      let n = 0;
      for (let i = 0; i < rows; i++) if (level.nodeOfRow[i] === node) n++;
      const m = new Int32Array(n);
      n = 0;
      for (let i = 0; i < rows; i++) if (level.nodeOfRow[i] === node) m[n++] = i;
      return m;
    };
    if (path?.offload !== undefined) {
      // The level's direct nodes together: one task per range of batches (offload.ts).
      const direct = level.tasks.filter((t) => !t.derive);
      const all = await path.offload.nodes(
        direct.map((t) => ({
          rows: membersOf(t.node),
          ...(nodeBinned.get(t.node) !== binned && { ends: ends!.get(t.node)! }),
        })),
      );
      for (const [i, t] of direct.entries()) {
        const sums = all[i]!;
        held.push({ dispose: () => disposeSums(sums) });
        current.set(t.node, { kind: 'ckks', sums });
      }
    }
    if (path?.rotations instanceof LevelMaskedSums) {
      const direct = level.tasks.filter((t) => !t.derive);
      // One call (one encode set) per distinct bin index: the level's nodes without merged bins share one.
      const byIndex = new Map<BinnedFeatures, NodeTask[]>();
      for (const t of direct) {
        const b = nodeBinned.get(t.node)!;
        byIndex.set(b, [...(byIndex.get(b) ?? []), t]);
      }
      for (const [b, nodes] of byIndex) {
        const members = nodes.map((t) => {
          let n = 0;
          for (let i = 0; i < rows; i++) if (level.nodeOfRow[i] === t.node) n++;
          const m = new Int32Array(n);
          n = 0;
          for (let i = 0; i < rows; i++) if (level.nodeOfRow[i] === t.node) m[n++] = i;
          return m;
        });
        const all = await runStepsYielding(path.rotations.nodesSteps(members, b, offsets));
        for (const [i, t] of nodes.entries()) {
          const sums = all[i]!;
          held.push({ dispose: () => disposeSums(sums) });
          current.set(t.node, { kind: 'ckks', sums });
        }
      }
    }
    for (const t of level.tasks) {
      if (t.derive) continue;
      if (path !== undefined) {
        if (path.rotations instanceof LevelMaskedSums || path.offload !== undefined) continue;
        let n = 0;
        for (let i = 0; i < rows; i++) if (level.nodeOfRow[i] === t.node) n++;
        const members = new Int32Array(n);
        n = 0;
        for (let i = 0; i < rows; i++) if (level.nodeOfRow[i] === t.node) members[n++] = i;
        const nb = nodeBinned.get(t.node)!;
        let rot = path.rotations!;
        if (rot instanceof MaskedRotations && nb !== binned) {
          // The cached diagonals are of the unmerged bin matrix: this node goes the per-tree way.
          if (path.merged === undefined) {
            path.merged = await runStepsYielding(
              GradientRotations.build(path.ctx, path.layout, path.parts!.g, path.parts!.h),
            );
            held.push(path.merged);
          }
          rot = path.merged;
        }
        const sums = await runStepsYielding(
          rot instanceof MaskedRotations ? rot.nodeSteps(members) : rot.nodeSteps(members, nb, offsets),
        );
        held.push({ dispose: () => disposeSums(sums) });
        current.set(t.node, { kind: 'ckks', sums });
        continue;
      }
      const columns: Float64Array[] = [];
      for (let c = 0; c < cells; c++) columns.push(new Float64Array(rows));
      const nb = nodeBinned.get(t.node)!;
      for (let i = 0; i < rows; i++) {
        if (level.nodeOfRow[i] !== t.node) continue;
        for (let f = 0; f < offsets.length; f++) columns[offsets[f]! + nb.index[f]![i]!]![i] = 1;
      }
      const g = he.dotColumns(encG, columns);
      held.push(g);
      const h = he.dotColumns(encH, columns);
      held.push(h);
      current.set(t.node, { kind: 'additive', g, h });
    }
    for (const t of level.tasks) {
      if (!t.derive) continue;
      const parent = previous.get(t.parent);
      const sibling = current.get(t.sibling);
      if (parent === undefined || sibling === undefined) {
        throw new FedscoreError('invalid_argument', `node ${t.node}: no histogram to derive it from`, {
          field: 'tasks',
        });
      }
      if (parent.kind === 'ckks' && sibling.kind === 'ckks') {
        const sums = subtractSums(parent.sums, sibling.sums);
        held.push({ dispose: () => disposeSums(sums) });
        current.set(t.node, { kind: 'ckks', sums });
        continue;
      }
      if (parent.kind !== 'additive' || sibling.kind !== 'additive') {
        throw new FedscoreError('invalid_argument', `node ${t.node}: histograms of two kinds`, {
          field: 'tasks',
        });
      }
      const g = he.sub(parent.g, sibling.g);
      held.push(g);
      const h = he.sub(parent.h, sibling.h);
      held.push(h);
      current.set(t.node, { kind: 'additive', g, h });
    }
    const out = new Map<number, Uint8Array>();
    for (const t of level.tasks) {
      const counts = binRows.get(t.node)!;
      const total = nodeRows.get(t.node)!;
      const end = ends?.get(t.node);
      const bits = new Uint8Array(Math.ceil(cells / 8));
      binned.counts.forEach((bins, f) => {
        // A feature outside this tree's sample has no admissible cut: the guest cannot choose it.
        if (featureOn !== undefined && !featureOn.has(f)) return;
        let left = 0;
        for (let b = 0; b + 1 < bins; b++) {
          const c = offsets[f]! + b;
          left += counts[c]!;
          // A cut only between two bin groups (the guest's cumulative sums are exact there only).
          if (end !== undefined && end[c] !== c) continue;
          if (left >= minRows && total - left >= minRows) setBit(bits, c);
        }
      });
      out.set(t.node, bits);
    }
    return out;
  }

  /**
   * The per-bin floor's groups of the level's task nodes (`binGroups`): a root from the identity over
   * its own rows; a child from its parent's groups over its rows and its sibling's (the parent's other
   * rows, whether the sibling is a task or not: the guest can form parent - child itself). Records them
   * in `state.groups` for the next level.
   */
  #binGroups(
    level: LevelTasks,
    binned: BinnedFeatures,
    binRows: ReadonlyMap<number, Float64Array>,
    floor: number,
    state: BinFloorState,
  ): Map<number, Int32Array> {
    const cells = binned.counts.reduce((a, b) => a + b, 0);
    const offsets = cellOffsets(binned.counts);
    const rows = level.nodeOfRow.length;
    const out = new Map<number, Int32Array>();
    const byParent = new Map<number, Int32Array>();
    for (const t of level.tasks) {
      const own = binRows.get(t.node)!;
      let ends: Int32Array | undefined;
      if (state.previousRows === undefined) {
        ends = binGroups(
          binned.counts,
          Int32Array.from({ length: cells }, (_, c) => c),
          own,
          undefined,
          floor,
        );
      } else {
        ends = byParent.get(t.parent);
        if (ends === undefined) {
          const parentEnds = state.previousGroups.get(t.parent);
          if (parentEnds === undefined || state.previousRows.length !== rows) {
            throw new FedscoreError('invalid_argument', `node ${t.node}: its parent was no task`, {
              field: 'tasks',
            });
          }
          // The sibling's counts: the parent's rows outside this node.
          const other = new Float64Array(cells);
          for (let i = 0; i < rows; i++) {
            if (state.previousRows[i] !== t.parent) continue;
            for (let f = 0; f < offsets.length; f++) other[offsets[f]! + binned.index[f]![i]!]!++;
          }
          for (let c = 0; c < cells; c++) {
            other[c] = other[c]! - own[c]!;
            if (other[c]! < 0) {
              throw new FedscoreError('invalid_argument', `node ${t.node} has rows outside its parent`, {
                field: 'nodeOfRow',
              });
            }
          }
          ends = binGroups(binned.counts, parentEnds, own, other, floor);
          byParent.set(t.parent, ends);
        }
      }
      state.groups.set(t.node, ends);
      out.set(t.node, ends);
    }
    return out;
  }

  /**
   * The bytes of CKKS sums (histogram.ts) for the guest: each packed block gets a fresh encryption of
   * flooding noise (for both its parts; zeros when unflooded: still re-randomized) added and is
   * rescaled; its real part (sums of g) and imaginary part (sums of h) are sent as one additive
   * ciphertext of the cells each.
   */
  #releaseCkks(
    he: AdditiveHePublic,
    ctx: CkksPublicContext,
    sums: NodeSums,
    sd: number,
    rng: CryptoRng,
  ): { g: Uint8Array; h: Uint8Array } {
    const g: CkksVector[] = [];
    const h: CkksVector[] = [];
    const wrap = (parts: CkksVector[]): Uint8Array => {
      let wrapped: AdditiveCiphertext;
      try {
        wrapped = wrapCkksParts(he, parts);
      } catch (e) {
        for (const v of parts) v.dispose();
        throw e;
      }
      try {
        return he.serializeCiphertext(wrapped);
      } finally {
        wrapped.dispose();
      }
    };
    try {
      for (const b of sums.z) {
        const zeros = new Float64Array(b.length);
        const noiseG = sd > 0 ? floodNoise(zeros, sd, { rng }) : zeros;
        const noiseH = sd > 0 ? floodNoise(zeros, sd, { rng }) : zeros;
        const part = releaseBlock(ctx, b, noiseG, noiseH);
        g.push(part.g);
        h.push(part.h);
      }
    } catch (e) {
      for (const v of [...g, ...h]) v.dispose();
      throw e;
    }
    let gBytes: Uint8Array;
    try {
      gBytes = wrap(g);
    } catch (e) {
      for (const v of h) v.dispose();
      throw e;
    }
    return { g: gBytes, h: wrap(h) };
  }

  /** The bytes of a histogram for the guest: CKKS gets a fresh encryption of flooding noise added. */
  #release(he: AdditiveHePublic, v: AdditiveCiphertext, sd: number, rng: CryptoRng): Uint8Array {
    if (sd === 0) return he.serializeCiphertext(v);
    const noise = he.encrypt(floodNoise(new Float64Array(v.length), sd, { rng }));
    const flooded = he.add(v, noise);
    try {
      return he.serializeCiphertext(flooded);
    } finally {
      noise.dispose();
      flooded.dispose();
    }
  }
}
