/**
 * Protocols `vfl.secureboost` (training) and `vfl.secureboost-predict` (joint prediction): the steps,
 * defined once and shared by guest.ts, host.ts and predict.ts. Payloads: packages/wire/proto/
 * secureboost.proto.
 *
 * Parties: the guest (labels, the HE key, optionally features) and one or more hosts (features only).
 * Messages in order (each host separately; the guest talks to the hosts in host order):
 *   1. guest -> host  train-plan        rows, scheme, trees, depth, bins, row floor, model id
 *   2. host -> guest  host-hello        bins per host feature (no name, no edge)
 *      host -> guest  resume-offer      the tree counts it holds checkpoints of (checkpoint.ts)
 *      guest -> host  resume-from       its tree count to restore (0 = start afresh)
 *   3. guest -> host  public-context    public HE context (no secret key)
 *   per tree: 4. guest -> host tree-start; 5. guest -> host gradients [[g]], [[h]] (packed)
 *     per level: 6. guest -> host level-tasks (row -> node, which histograms; none = tree finished)
 *                7. host -> guest histograms (encrypted per-bin sums of g and h, flooded)
 *                8. guest -> host split-decisions (this host's winning (feature, bin) per node)
 *                9. host -> guest split-records (opaque split id, left rows of the node)
 *   tree-start with stop = true ends training; its `tree` is the number of this host's trees to keep
 *   (fewer than it took part in after early stopping: it drops the splits of the later ones).
 *   10. guest -> host split-gains (only with `shareSplitGains`): the gain of each kept split id.
 * Prediction: guest -> host predict-request (row count, split ids); host -> guest predict-answer (one
 * left/right bitmap per split id).
 * What each party learns: the host learns the instance space of every node (which aligned rows reach
 * it), which of its (feature, bin) cells won, and the plan; never a gradient, hessian, label, gain or
 * leaf weight (all it receives of them are ciphertexts under the guest's key). The guest learns
 * per-bin gradient and hessian sums of host features over nodes of at least the floor of rows (flooded
 * under CKKS), the left/right partition of each host split, and at prediction the host's split
 * outcome of every scored row; never a host threshold or feature value. Threat model: semi-honest, no
 * collusion. Paper: Cheng, Fan, Jin, Liu, Chen, Papadopoulos, Yang, "SecureBoost: A Lossless Federated
 * Learning Framework", IEEE Intelligent Systems 2021 (arXiv:1901.08755, 2019). docs/protocols/secureboost.md.
 */
import { concatBytes, FedscoreError, type PartyId, type ProtocolSession, type StepDef } from '@fedscore/core';
import {
  type AbortInfo,
  abortStep,
  fedscore,
  float64VectorStep,
  HE_SCHEMES,
  type HeScheme,
  mappedProtoStep,
  uint32VectorStep,
} from '@fedscore/wire';

export const SECUREBOOST_PROTOCOL = 'vfl.secureboost';
export const SECUREBOOST_PREDICT_PROTOCOL = 'vfl.secureboost-predict';
/**
 * 3: the resume handshake (`resume-offer`, `resume-from`) after host-hello, every training session; a
 * version-2 peer would read the offer as a public-context chunk.
 */
export const SECUREBOOST_VERSION = 3;

const sb = fedscore.secureboost;
const EMPTY = new Uint8Array(0);
const SCHEME_TO_WIRE: Record<HeScheme, number> = {
  ckks: fedscore.he.Scheme.SCHEME_CKKS,
  paillier: fedscore.he.Scheme.SCHEME_PAILLIER,
  none: fedscore.he.Scheme.SCHEME_NONE,
};

function schemeToWire(scheme: HeScheme): number {
  const v = SCHEME_TO_WIRE[scheme];
  if (v === undefined) {
    throw new FedscoreError('invalid_argument', `unknown scheme '${String(scheme)}'`, { field: 'scheme' });
  }
  return v;
}

function schemeFromWire(v: number, field: string): HeScheme {
  const s = HE_SCHEMES.find((k) => SCHEME_TO_WIRE[k] === v);
  if (s === undefined) throw new FedscoreError('wire_decode', `unknown HE scheme ${v}`, { field });
  return s;
}

export interface TrainPlan {
  readonly rows: number;
  readonly scheme: HeScheme;
  readonly trees: number;
  readonly depth: number;
  readonly bins: number;
  readonly minNodeRows: number;
  readonly minLeafRows: number;
  readonly modelId: string;
}

/** Send a public context as consecutive chunks. */
export async function sendContext(
  s: ProtocolSession,
  to: PartyId,
  scheme: HeScheme,
  bytes: Uint8Array,
  fingerprint: string,
): Promise<void> {
  const chunks = Math.max(1, Math.ceil(bytes.length / CONTEXT_CHUNK_BYTES));
  for (let k = 0; k < chunks; k++) {
    const context = bytes.subarray(k * CONTEXT_CHUNK_BYTES, (k + 1) * CONTEXT_CHUNK_BYTES);
    await s.send(to, PUBLIC_CONTEXT, { scheme, context, fingerprint, chunks });
  }
}

/** Receive a chunked public context; every chunk must agree on scheme, fingerprint and count. */
export async function receiveContext(
  s: ProtocolSession,
  from: PartyId,
): Promise<{ scheme: HeScheme; context: Uint8Array; fingerprint: string }> {
  const first = await s.receive(from, PUBLIC_CONTEXT);
  const parts = [first.context];
  for (let k = 1; k < first.chunks; k++) {
    const next = await s.receive(from, PUBLIC_CONTEXT);
    if (
      next.chunks !== first.chunks ||
      next.scheme !== first.scheme ||
      next.fingerprint !== first.fingerprint
    ) {
      throw new FedscoreError('wire_decode', 'public-context chunks disagree', {
        field: 'PublicContext.chunks',
      });
    }
    parts.push(next.context);
  }
  return { scheme: first.scheme, context: concatBytes(parts), fingerprint: first.fingerprint };
}

export const TRAIN_PLAN: StepDef<TrainPlan> = mappedProtoStep('train-plan', sb.TrainPlan, {
  check: (m) => {
    if ((m.rows ?? 0) < 1) return 'rows: must be >= 1';
    if ((m.trees ?? 0) < 1) return 'trees: must be >= 1';
    if ((m.depth ?? 0) < 1) return 'depth: must be >= 1';
    if ((m.bins ?? 0) < 2) return 'bins: must be >= 2';
    if ((m.minNodeRows ?? 0) < 1) return 'min_node_rows: must be >= 1';
    if ((m.minLeafRows ?? 0) < 1) return 'min_leaf_rows: must be >= 1';
    if ((m.modelId ?? '').length === 0) return 'model_id: absent';
    return null;
  },
  toWire: (p) => ({ ...p, scheme: schemeToWire(p.scheme) }),
  fromWire: (m) => ({
    rows: m.rows,
    scheme: schemeFromWire(m.scheme, 'TrainPlan.scheme'),
    trees: m.trees,
    depth: m.depth,
    bins: m.bins,
    minNodeRows: m.minNodeRows,
    minLeafRows: m.minLeafRows,
    modelId: m.modelId,
  }),
});

/** Host -> guest: bins per feature (the layout of its histograms). */
export const HOST_HELLO: StepDef<readonly number[]> = mappedProtoStep('host-hello', sb.HostHello, {
  check: (m) => {
    const bins = m.bins ?? [];
    if (bins.length === 0) return 'bins: a host needs at least one feature';
    for (const [i, b] of bins.entries()) if (b < 1 || b > 65535) return `bins[${i}]: outside [1, 65535]`;
    return null;
  },
  toWire: (bins) => ({ bins: [...bins] }),
  fromWire: (m) => m.bins.map(Number),
});

/**
 * Host -> guest, after host-hello: the tree counts (its own: the trees it took part in) this host holds
 * checkpoints of for this plan; empty on a fresh start.
 */
export const RESUME_OFFER: StepDef<Uint32Array> = uint32VectorStep('resume-offer');
/** Guest -> host: the host's own tree count every party restores (0 = start afresh). */
export const RESUME_FROM: StepDef<Uint32Array> = uint32VectorStep('resume-from', { length: 1 });

/** One chunk of the public context; `chunks` messages in a row make the whole. */
export interface PublicContext {
  readonly scheme: HeScheme;
  readonly context: Uint8Array;
  readonly fingerprint: string;
  readonly chunks: number;
}

/** Bytes per public-context chunk: well under the 64 MiB envelope limit. */
export const CONTEXT_CHUNK_BYTES = 32 * 1024 * 1024;
/** At most 16 chunks (512 MiB): more is refused as a malformed message. */
export const MAX_CONTEXT_CHUNKS = 16;

export const PUBLIC_CONTEXT: StepDef<PublicContext> = mappedProtoStep('public-context', sb.PublicContext, {
  check: (m) => {
    if ((m.context ?? new Uint8Array(0)).length === 0) return 'context: required';
    const k = m.chunks ?? 0;
    return k < 1 || k > MAX_CONTEXT_CHUNKS ? `chunks: outside [1, ${MAX_CONTEXT_CHUNKS}]` : null;
  },
  sizeHint: (m) => bytesSize(m.context) + 64,
  toWire: (c) => ({
    scheme: schemeToWire(c.scheme),
    context: c.context,
    fingerprint: c.fingerprint,
    chunks: c.chunks,
  }),
  fromWire: (m) => ({
    scheme: schemeFromWire(m.scheme, 'PublicContext.scheme'),
    context: m.context,
    fingerprint: m.fingerprint,
    chunks: m.chunks,
  }),
});

export interface TreeStart {
  readonly tree: number;
  readonly stop: boolean;
}

export const TREE_START: StepDef<TreeStart> = mappedProtoStep('tree-start', sb.TreeStart, {
  toWire: (t) => t,
  fromWire: (m) => ({ tree: m.tree, stop: m.stop === true }),
});

export interface EncryptedGradients {
  readonly gradients: Uint8Array;
  readonly hessians: Uint8Array;
}

const bytesSize = (...items: (Uint8Array | null | undefined)[]) =>
  items.reduce((a, b) => a + (b?.length ?? 0) + 12, 32);

export const GRADIENTS: StepDef<EncryptedGradients> = mappedProtoStep('gradients', sb.EncryptedGradients, {
  check: (m) =>
    (m.gradients ?? new Uint8Array(0)).length === 0 || (m.hessians ?? new Uint8Array(0)).length === 0
      ? 'gradients: both vectors required'
      : null,
  sizeHint: (m) => bytesSize(m.gradients, m.hessians),
  toWire: (g) => g,
  fromWire: (m) => ({ gradients: m.gradients, hessians: m.hessians }),
});

export interface NodeTask {
  readonly node: number;
  /** Derived: hist(node) = hist(parent) - hist(sibling) (the sibling is a direct task of this level). */
  readonly derive: boolean;
  readonly parent: number;
  readonly sibling: number;
}

export interface LevelTasks {
  /** Per row, its node at this level (-1: none that is split further). */
  readonly nodeOfRow: Int32Array;
  readonly tasks: readonly NodeTask[];
}

export const LEVEL_TASKS: StepDef<LevelTasks> = mappedProtoStep('level-tasks', sb.LevelTasks, {
  check: (m) => {
    const seen = new Set<number>();
    for (const [i, t] of (m.tasks ?? []).entries()) {
      if (seen.has(t.node ?? 0)) return `tasks[${i}].node: repeated`;
      seen.add(t.node ?? 0);
    }
    for (const [i, t] of (m.tasks ?? []).entries()) {
      if (t.derive === true && !seen.has(t.sibling ?? 0))
        return `tasks[${i}].sibling: not a task of this level`;
    }
    return null;
  },
  sizeHint: (m) => 64 + 5 * (m.nodeOfRow?.length ?? 0) + 24 * (m.tasks?.length ?? 0),
  toWire: (l) => ({ nodeOfRow: l.nodeOfRow as unknown as number[], tasks: l.tasks.map((t) => ({ ...t })) }),
  fromWire: (m) => ({
    nodeOfRow: Int32Array.from(m.nodeOfRow),
    tasks: m.tasks.map((t) => ({
      node: t.node ?? 0,
      derive: t.derive === true,
      parent: t.parent ?? 0,
      sibling: t.sibling ?? 0,
    })),
  }),
});

export interface NodeHistogram {
  readonly node: number;
  readonly gradients: Uint8Array;
  readonly hessians: Uint8Array;
  /** Bit per bin: the cut after it leaves both children at least the child floor of rows. */
  readonly admissible: Uint8Array;
}

export const HISTOGRAMS: StepDef<readonly NodeHistogram[]> = mappedProtoStep('histograms', sb.Histograms, {
  sizeHint: (m) => (m.nodes ?? []).reduce((a, n) => a + bytesSize(n.gradients, n.hessians), 16),
  toWire: (h) => ({ nodes: h.map((n) => ({ ...n })) }),
  fromWire: (m) =>
    m.nodes.map((n) => ({
      node: n.node ?? 0,
      gradients: n.gradients ?? EMPTY,
      hessians: n.hessians ?? EMPTY,
      admissible: n.admissible ?? EMPTY,
    })),
});

export interface SplitDecision {
  readonly node: number;
  readonly feature: number;
  readonly bin: number;
}

export const SPLIT_DECISIONS: StepDef<readonly SplitDecision[]> = mappedProtoStep(
  'split-decisions',
  sb.SplitDecisions,
  {
    toWire: (d) => ({ splits: d.map((s) => ({ ...s })) }),
    fromWire: (m) => m.splits.map((s) => ({ node: s.node ?? 0, feature: s.feature ?? 0, bin: s.bin ?? 0 })),
  },
);

export interface SplitRecord {
  readonly node: number;
  readonly splitId: number;
  /** Bitmap over every row of the aligned table: bit i set = row i goes left at this split. */
  readonly left: Uint8Array;
}

export const SPLIT_RECORDS: StepDef<readonly SplitRecord[]> = mappedProtoStep(
  'split-records',
  sb.SplitRecords,
  {
    toWire: (r) => ({ records: r.map((x) => ({ ...x })) }),
    fromWire: (m) =>
      m.records.map((r) => ({ node: r.node ?? 0, splitId: r.splitId ?? 0, left: r.left ?? EMPTY })),
  },
);

export interface PredictRequest {
  readonly rows: number;
  readonly splitIds: readonly number[];
}

export const PREDICT_REQUEST: StepDef<PredictRequest> = mappedProtoStep(
  'predict-request',
  sb.PredictRequest,
  {
    toWire: (r) => ({ rows: r.rows, splitIds: [...r.splitIds] }),
    fromWire: (m) => ({ rows: m.rows, splitIds: m.splitIds.map(Number) }),
  },
);

/** One bitmap (ceil(rows / 8) bytes) per requested split id. */
export const PREDICT_ANSWER: StepDef<readonly Uint8Array[]> = mappedProtoStep(
  'predict-answer',
  sb.PredictAnswer,
  {
    sizeHint: (m) => (m.left ?? []).reduce((a, b) => a + b.length + 8, 16),
    toWire: (bits) => ({ left: [...bits] }),
    fromWire: (m) => m.left,
  },
);

/**
 * Guest -> host, after tree-start (stop), only when the job sets `shareSplitGains` on both sides: the
 * gain of each of the host's kept splits, indexed by split id (so the host can total gain importance
 * per own feature; the guest never learns which feature a split id is on).
 */
export const SPLIT_GAINS: StepDef<Float64Array> = float64VectorStep('split-gains');

export const ABORT: StepDef<AbortInfo> = abortStep();

/** Bit i of a little-endian bitmap. */
export function getBit(bits: Uint8Array, i: number): boolean {
  return (((bits[i >> 3] ?? 0) >> (i & 7)) & 1) === 1;
}

export function setBit(bits: Uint8Array, i: number): void {
  bits[i >> 3]! |= 1 << (i & 7);
}
