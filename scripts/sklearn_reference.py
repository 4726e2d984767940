#!/usr/bin/env python3
"""Reference vectors for fedscore's metrics and reference logistic regression, computed by scikit-learn.

Writes packages/core/test/fixtures/metrics_reference.json (relative to the repository root), which the
TypeScript tests in packages/core/test/{metrics,logistic}.test.ts and packages/cli/test/*.test.ts compare
against. Run from anywhere with Debian's scikit-learn:

    apt-get install -y python3-sklearn python3-pandas
    /usr/bin/python3 scripts/sklearn_reference.py [--data ../shared/data]

Sections of the output:
- "metric_cases": synthetic inputs (continuous scores, scores rounded to one decimal so that ties are
  heavy, small integer scores, sample weights, a 2% positive rate, a hand-made case and an all-tied case)
  with sklearn's roc_auc_score, roc_curve(drop_intermediate=False) and KS = max(tpr - fpr) on it,
  brier_score_loss, calibration_curve (uniform and quantile), confusion_matrix / precision / recall /
  accuracy / f1 at a threshold (predicted 1 when score >= threshold).
  Not from sklearn, computed here with numpy and labelled so: the per-bin counts of calibration_curve
  (np.bincount with sklearn's own bin assignment), the population stability index (sklearn has no PSI;
  same definition as fedscore's populationStabilityIndex: inner edges at np.percentile quantiles of the
  expected sample, duplicates merged, bin i = (edge[i-1], edge[i]], empty shares replaced by 1e-4) and
  the lift table (fedscore's definition: rank by decreasing score, equal-size bins, a run of tied scores
  goes whole to the bin holding the middle of the run).
- "logistic_synthetic": a small synthetic design with sample weights, fitted by LogisticRegression with
  C in {1, 0.5, 0.1}, sample weights, class_weight None / 'balanced' / a dict, and fit_intercept False,
  by sklearn's Newton solver (newton-cholesky, tol 1e-12): the exact optimum. (L-BFGS cannot be pushed
  that far: scipy also stops on the relative decrease of the objective, whatever `tol` says.)
- "logistic_shared": for the public data sets in ../shared/data (when present), StandardScaler fitted on
  the train ids + LogisticRegression(lbfgs, C=1) exactly as shared/data/baseline.py fits it (tol 1e-4,
  max_iter 1000), and by newton-cholesky at tol 1e-12 (the exact optimum), with coefficients, intercepts and the
  test/train AUC and KS. Only model outputs are stored, never rows of the data.
"""
import argparse
import json
import os
import sys

import numpy as np
import pandas as pd
import sklearn
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.preprocessing import StandardScaler

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "packages", "core", "test", "fixtures", "metrics_reference.json")
PSI_EPSILON = 1e-4


def floats(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64)]


def psi_numpy(expected, actual, bins, strategy):
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if strategy == "quantile":
        raw = np.percentile(expected, np.linspace(0, 1, bins + 1) * 100)[1:-1]
    else:
        raw = np.linspace(expected.min(), expected.max(), bins + 1)[1:-1]
    edges = np.unique(raw)
    e_cnt = np.bincount(np.searchsorted(edges, expected, side="left"), minlength=len(edges) + 1)
    a_cnt = np.bincount(np.searchsorted(edges, actual, side="left"), minlength=len(edges) + 1)
    e_share = np.where(e_cnt > 0, e_cnt / len(expected), PSI_EPSILON)
    a_share = np.where(a_cnt > 0, a_cnt / len(actual), PSI_EPSILON)
    contrib = (a_share - e_share) * np.log(a_share / e_share)
    return {
        "bins": bins,
        "strategy": strategy,
        "epsilon": PSI_EPSILON,
        "edges": floats(edges),
        "expected_counts": [int(v) for v in e_cnt],
        "actual_counts": [int(v) for v in a_cnt],
        "contributions": floats(contrib),
        "psi": float(contrib.sum()),
    }


def lift_numpy(y, s, bins):
    y = np.asarray(y)
    s = np.asarray(s, dtype=np.float64)
    n = len(y)
    order = np.argsort(-s, kind="mergesort")
    ss = s[order]
    ys = y[order]
    # runs of equal scores: [start, end)
    starts = np.r_[0, np.flatnonzero(np.diff(ss) != 0) + 1]
    ends = np.r_[starts[1:], n]
    count = np.zeros(bins)
    pos = np.zeros(bins)
    for a, b in zip(starts, ends):
        k = min(bins - 1, int(np.floor(((a + b - 1) / 2) * bins / n)))
        count[k] += b - a
        pos[k] += ys[a:b].sum()
    keep = count > 0
    cum_count = np.cumsum(count[keep])
    cum_pos = np.cumsum(pos[keep])
    rate = pos[keep] / count[keep]
    overall = y.sum() / n
    return {
        "bins": bins,
        "bin": [int(v) + 1 for v in np.flatnonzero(keep)],
        "count": floats(count[keep]),
        "positives": floats(pos[keep]),
        "rate": floats(rate),
        "capture": floats(cum_pos / y.sum()),
        "lift": floats(rate / overall),
        "cumulative_lift": floats((cum_pos / y.sum()) / (cum_count / n)),
    }


def calibration_counts(y_prob, n_bins, strategy):
    # Counts per non-empty bin with sklearn's own bin assignment (calibration_curve does not return them).
    if strategy == "quantile":
        bins = np.percentile(y_prob, np.linspace(0, 1, n_bins + 1) * 100)
    else:
        bins = np.linspace(0.0, 1.0, n_bins + 1)
    binids = np.searchsorted(bins[1:-1], y_prob)
    total = np.bincount(binids, minlength=len(bins))
    return [int(v) for v in total[total != 0]]


def metric_case(name, y, s, w=None, threshold=None, psi_actual=None):
    y = np.asarray(y, dtype=np.int64)
    s = np.asarray(s, dtype=np.float64)
    fpr, tpr, thr = roc_curve(y, s, sample_weight=w, drop_intermediate=False)
    gap = tpr - fpr
    k = int(np.argmax(gap))
    auc = float(roc_auc_score(y, s, sample_weight=w))
    is_prob = bool(s.min() >= 0 and s.max() <= 1)
    if threshold is None:
        threshold = float(np.median(s))
    pred = (s >= threshold).astype(np.int64)
    tn, fp, fn, tp = confusion_matrix(y, pred, sample_weight=w, labels=[0, 1]).ravel()
    case = {
        "name": name,
        "labels": [int(v) for v in y],
        "scores": floats(s),
        "weights": None if w is None else floats(w),
        "is_prob": is_prob,
        "roc_auc": auc,
        "gini": 2 * auc - 1,
        "roc_curve": {
            "fpr": floats(fpr),
            "tpr": floats(tpr),
            # thresholds[0] is max+1 in sklearn <= 1.2 and inf from 1.3: the rest are the distinct scores.
            "thresholds_after_first": floats(thr[1:]),
        },
        "ks": float(gap[k]),
        "ks_threshold": None if k == 0 else float(thr[k]),
        "confusion": {
            "threshold": float(threshold),
            "tn": float(tn),
            "fp": float(fp),
            "fn": float(fn),
            "tp": float(tp),
            "precision": float(precision_score(y, pred, sample_weight=w, zero_division=0)),
            "recall": float(recall_score(y, pred, sample_weight=w, zero_division=0)),
            "accuracy": float(accuracy_score(y, pred, sample_weight=w)),
            "f1": float(f1_score(y, pred, sample_weight=w, zero_division=0)),
        },
    }
    if w is None:
        case["lift_numpy"] = lift_numpy(y, s, 10)
    if is_prob:
        case["brier"] = float(brier_score_loss(y, s, sample_weight=w))
        if w is None:
            cal = {}
            for strategy, n_bins in (("uniform", 5), ("uniform", 10), ("quantile", 10)):
                pt, pp = calibration_curve(y, s, n_bins=n_bins, strategy=strategy)
                cal[f"{strategy}_{n_bins}"] = {
                    "bins": n_bins,
                    "strategy": strategy,
                    "prob_true": floats(pt),
                    "prob_pred": floats(pp),
                    "counts_numpy": calibration_counts(s, n_bins, strategy),
                }
            case["calibration"] = cal
    if psi_actual is not None:
        case["psi_actual"] = floats(psi_actual)
        case["psi_numpy"] = [
            psi_numpy(s, psi_actual, 10, "quantile"),
            psi_numpy(s, psi_actual, 10, "uniform"),
            psi_numpy(s, psi_actual, 5, "quantile"),
        ]
    return case


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def metric_cases():
    rng = np.random.default_rng(20240611)
    cases = []

    n = 500
    z = rng.normal(size=n)
    y = (rng.random(n) < sigmoid(1.2 * z - 0.5)).astype(int)
    s = z + rng.normal(scale=0.8, size=n)
    cases.append(metric_case("continuous", y, s, psi_actual=rng.normal(0.3, 1.2, size=700)))

    n = 400
    z = rng.normal(size=n)
    y = (rng.random(n) < sigmoid(1.5 * z)).astype(int)
    p = np.round(sigmoid(z + rng.normal(scale=0.7, size=n)), 1)
    actual = np.round(sigmoid(rng.normal(0.4, 1.0, size=300)), 1)
    cases.append(metric_case("tied_prob_1dp", y, p, psi_actual=actual))

    n = 300
    z = rng.normal(size=n)
    y = (rng.random(n) < sigmoid(z)).astype(int)
    s = np.clip(np.round(2 * z + 2.5 + rng.normal(size=n)), 0, 5)
    cases.append(metric_case("integer_0_to_5", y, s, threshold=3.0, psi_actual=np.clip(np.round(rng.normal(3, 2, size=250)), 0, 5)))

    n = 350
    z = rng.normal(size=n)
    y = (rng.random(n) < sigmoid(z)).astype(int)
    p = np.round(sigmoid(z + rng.normal(scale=1.0, size=n)), 2)
    w = rng.uniform(0.1, 3.0, size=n)
    cases.append(metric_case("weighted_tied_2dp", y, p, w=w, threshold=0.5))

    n = 3000
    z = rng.normal(size=n)
    y = (rng.random(n) < sigmoid(1.5 * z - 4.5)).astype(int)
    p = sigmoid(1.5 * z - 4.5 + rng.normal(scale=0.5, size=n))
    cases.append(metric_case("imbalanced", y, p, psi_actual=sigmoid(1.5 * rng.normal(size=2000) - 4.0)))

    cases.append(metric_case("hand_made", [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], threshold=0.35))
    cases.append(metric_case("all_tied", [0, 1, 0, 1, 1], [0.3] * 5, threshold=0.3))
    cases.append(metric_case("anti_correlated", [1, 1, 0, 0, 0], [0.1, 0.2, 0.3, 0.4, 0.5]))
    return cases


def logistic_synthetic():
    rng = np.random.default_rng(7)
    n, d = 240, 4
    X = rng.normal(size=(n, d)) * np.array([1.0, 2.0, 0.5, 1.5]) + np.array([0.0, 1.0, -1.0, 3.0])
    beta = np.array([0.8, -0.5, 1.5, 0.2])
    y = (rng.random(n) < sigmoid(X @ beta - 0.7)).astype(int)
    w = rng.uniform(0.2, 2.0, size=n)
    fits = []
    configs = [
        dict(C=1.0, class_weight=None, fit_intercept=True, weighted=False),
        dict(C=0.1, class_weight=None, fit_intercept=True, weighted=False),
        dict(C=1.0, class_weight=None, fit_intercept=True, weighted=True),
        dict(C=1.0, class_weight="balanced", fit_intercept=True, weighted=False),
        dict(C=0.5, class_weight={0: 1.0, 1: 3.0}, fit_intercept=True, weighted=True),
        dict(C=1.0, class_weight=None, fit_intercept=False, weighted=False),
    ]
    for cfg in configs:
        m = LogisticRegression(C=cfg["C"], class_weight=cfg["class_weight"], fit_intercept=cfg["fit_intercept"],
                               solver="newton-cholesky", tol=1e-12, max_iter=1000)
        m.fit(X, y, sample_weight=w if cfg["weighted"] else None)
        cw = cfg["class_weight"]
        fits.append({
            "C": cfg["C"],
            "class_weight": {str(k): v for k, v in cw.items()} if isinstance(cw, dict) else cw,
            "fit_intercept": cfg["fit_intercept"],
            "weighted": cfg["weighted"],
            "coef": floats(m.coef_[0]),
            "intercept": float(m.intercept_[0]) if cfg["fit_intercept"] else 0.0,
            "proba_first5": floats(m.predict_proba(X[:5])[:, 1]),
        })
    sc = StandardScaler().fit(X)
    return {
        "n": n,
        "d": d,
        "X": floats(X.ravel()),
        "y": [int(v) for v in y],
        "sample_weight": floats(w),
        "scaler_mean": floats(sc.mean_),
        "scaler_scale": floats(sc.scale_),
        "fits": fits,
    }


SHARED = {
    # name: (guest csv, host csv, train ids, test ids)
    "default_credit": ("default_credit/default_credit_hetero_guest.csv", "default_credit/default_credit_hetero_host.csv",
                       "default_credit/default_credit_train_ids.txt", "default_credit/default_credit_test_ids.txt"),
    "german_credit": ("german/german_hetero_guest.csv", "german/german_hetero_host.csv",
                      "german/german_credit_train_ids.txt", "german/german_credit_test_ids.txt"),
    "breast": ("breast/breast_hetero_guest.csv", "breast/breast_hetero_host.csv",
               "breast/breast_train_ids.txt", "breast/breast_test_ids.txt"),
}


def ks_stat(y, p):
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.max(tpr - fpr))


def logistic_shared(data_dir):
    out = []
    for name, (gpath, hpath, trp, tep) in SHARED.items():
        g = pd.read_csv(os.path.join(data_dir, gpath), index_col="id")
        h = pd.read_csv(os.path.join(data_dir, hpath), index_col="id")
        df = g.join(h, how="inner", lsuffix="_g", rsuffix="_h").sort_index()
        gcols = [c + ("_g" if c in h.columns else "") for c in g.columns if c != "y"]
        hcols = [c + ("_h" if c in g.columns else "") for c in h.columns]
        tr_ids = np.loadtxt(os.path.join(data_dir, trp), dtype=np.int64)
        te_ids = np.loadtxt(os.path.join(data_dir, tep), dtype=np.int64)
        tr, te = df.loc[tr_ids], df.loc[te_ids]
        for features, cols in (("pooled", gcols + hcols), ("guest_only", gcols)):
            sc = StandardScaler().fit(tr[cols].values)
            Xtr, Xte = sc.transform(tr[cols].values), sc.transform(te[cols].values)
            entry = {"dataset": name, "features": features, "n_train": len(tr), "n_test": len(te),
                     "n_features": len(cols)}
            for label, solver, tol in (("baseline", "lbfgs", 1e-4), ("tight", "newton-cholesky", 1e-12)):
                m = LogisticRegression(solver=solver, C=1.0, max_iter=1000, tol=tol)
                m.fit(Xtr, tr["y"].values)
                pte, ptr = m.predict_proba(Xte)[:, 1], m.predict_proba(Xtr)[:, 1]
                entry[label] = {
                    "solver": solver,
                    "tol": tol,
                    "coef": floats(m.coef_[0]),
                    "intercept": float(m.intercept_[0]),
                    "n_iter": int(m.n_iter_[0]),
                    "test_auc": float(roc_auc_score(te["y"].values, pte)),
                    "test_ks": ks_stat(te["y"].values, pte),
                    "train_auc": float(roc_auc_score(tr["y"].values, ptr)),
                    "train_ks": ks_stat(tr["y"].values, ptr),
                }
            out.append(entry)
            print(f"[{name} {features}] test AUC {entry['baseline']['test_auc']:.4f} "
                  f"(tight {entry['tight']['test_auc']:.6f})", file=sys.stderr)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    args = ap.parse_args()
    result = {
        "generated_by": "scripts/sklearn_reference.py",
        "versions": {"sklearn": sklearn.__version__, "numpy": np.__version__, "pandas": pd.__version__,
                     "python": sys.version.split()[0]},
        "notes": "roc_curve thresholds[0] omitted (max+1 before sklearn 1.3, inf after); *_numpy entries are "
                 "computed with numpy by fedscore's definition, not by sklearn (sklearn has no such function).",
        "metric_cases": metric_cases(),
        "logistic_synthetic": logistic_synthetic(),
        "logistic_shared": logistic_shared(args.data) if os.path.isdir(args.data) else [],
    }
    with open(OUT, "w") as f:
        json.dump(result, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(OUT, ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
