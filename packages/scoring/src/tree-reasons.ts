/**
 * Reason codes for a tree score from the guest's (the bank's) own splits: what each of its features
 * did to the score, computed by the guest alone from its model and its own feature values, without the
 * host's split outcomes it does not learn under private-path scoring (tree.ts, tree-session.ts).
 *
 * Per tree t, with the host's sides treated as equally likely (the model file holds no node cover, and
 * the guest must not learn the host's side):
 *   m(n) = the leaf weight at a leaf, else (m(left) + m(right)) / 2      the tree's reference value below n
 *   v(n) = the leaf weight at a leaf; v(the side the guest's value takes) at a guest split;
 *          (v(left) + v(right)) / 2 at a host split                      what the guest knows below n
 * and v(n) - m(n) splits exactly over the guest's features, as Saabas' path attribution does over a
 * known path (Saabas 2014, "Interpreting random forests"; Lundberg et al. 2020 discuss its bias): at a
 * guest split on feature j whose value takes side c, feature j gets m(c) - m(n) and the walk goes on in
 * c; at a host split both sides are walked with weight 1/2 each. So, summed over trees,
 *   score = base + reference + sum_j features[j] + hosts,    reference = sum_t m_t(root),
 *   known = sum_t v_t(root) = reference + sum_j features[j],  hosts = score - base - known:
 * the hosts' splits' effect given the guest's, one opaque number that the guest computes from the
 * score it learns anyway (so it reveals nothing the score does not), never split per host split or per
 * host (with several hosts, per-host entries would tell the guest more than the score does).
 */
import { FedscoreError } from '@fedscore/core';
import { applyBins, type SecureBoostGuestModel, type SecureBoostNode } from '@fedscore/vfl';

/** The guest's share of an applicant's tree score (log-odds): see the file comment. */
export interface TreeGuestContributions {
  /** sum over trees of m_t(root): the ensemble's value with every side equally likely (no applicant). */
  readonly reference: number;
  /** Per feature of the guest model (its `features` order): the log-odds its split outcomes add. */
  readonly features: Float64Array;
  /** sum over trees of v_t(root) = reference + sum of `features`: the ensemble given the guest's sides only. */
  readonly known: number;
}

/**
 * The guest's contributions of one applicant, from its own feature values in the model's `features`
 * order (NaN: missing; a missing value goes to the feature's missing bin as in training).
 */
export function treeGuestContributions(
  model: SecureBoostGuestModel,
  values: ArrayLike<number>,
): TreeGuestContributions {
  const names = model.features;
  if (values.length !== names.length) {
    throw new FedscoreError('invalid_argument', `expected ${names.length} feature values`, {
      field: 'values',
    });
  }
  const index =
    names.length === 0
      ? []
      : applyBins({ names, columns: names.map((_, j) => Float64Array.of(values[j]!)) }, model.bins).index;
  const features = new Float64Array(names.length);
  let reference = 0;
  let known = 0;
  for (const tree of model.trees) {
    const m = referenceValues(tree);
    reference += m[0]!;
    // Walk with weights: a host split halves the weight of each side.
    const walk = (k: number, weight: number, depth: number): number => {
      if (depth > 64) throw new FedscoreError('invalid_config', 'tree deeper than 64', { field: 'trees' });
      const n = nodeAt(tree, k);
      if (n.kind === 'leaf') return weight * n.weight;
      if (n.kind === 'host-split') {
        return walk(n.left, weight / 2, depth + 1) + walk(n.right, weight / 2, depth + 1);
      }
      const next = index[n.feature]![0]! <= n.bin ? n.left : n.right;
      features[n.feature]! += weight * (m[next]! - m[k]!);
      return walk(next, weight, depth + 1);
    };
    known += walk(0, 1, 0);
  }
  return { reference, features, known };
}

/** m(n) of every node of one tree (see the file comment). */
function referenceValues(tree: readonly SecureBoostNode[]): Float64Array {
  const m = new Float64Array(tree.length);
  const fill = (k: number, depth: number): number => {
    if (depth > 64) throw new FedscoreError('invalid_config', 'tree deeper than 64', { field: 'trees' });
    const n = nodeAt(tree, k);
    const v = n.kind === 'leaf' ? n.weight : (fill(n.left, depth + 1) + fill(n.right, depth + 1)) / 2;
    m[k] = v;
    return v;
  };
  fill(0, 0);
  return m;
}

function nodeAt(tree: readonly SecureBoostNode[], k: number): SecureBoostNode {
  const n = tree[k];
  if (n === undefined)
    throw new FedscoreError('invalid_config', `tree node ${k} missing`, { field: 'trees' });
  return n;
}
