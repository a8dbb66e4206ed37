"""Metrics of label-leakage attacks, shared by every attack family.

An attack on one target yields per-class scores s ∈ R^K (higher = more likely forgotten) and a
decided set Ĉ; the truth is the forgotten set C. Over many targets we report:

* ASR — the fraction of targets with Ĉ == C exactly (top-1 accuracy for single-class unlearning),
  with n and a Wilson 95% interval, next to the random-guess rate;
* top-k hit rate and the rank of the true class(es) in s;
* AUC of s over all (target, class) pairs (forgotten = positive);
* precision / recall / F1 of Ĉ against C (micro-averaged over targets), for multi-class unlearning.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence

import numpy as np


def wilson_interval(successes: int, n: int, *, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default); (nan, nan) when n = 0."""
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def random_guess_rate(num_classes: int, set_size: int = 1) -> float:
    """Exact-match probability of guessing a uniformly random set of the true size."""
    return 1.0 / math.comb(num_classes, set_size)


def exact_match(predicted: Iterable[int], truth: Iterable[int]) -> bool:
    return set(map(int, predicted)) == set(map(int, truth))


def true_class_ranks(scores: Sequence[float] | np.ndarray, truth: Iterable[int]) -> list[int]:
    """Rank (1 = highest score) of each true class; ties count against the attack (pessimistic)."""
    s = np.asarray(scores, dtype=np.float64)
    return [int((s >= s[c]).sum()) for c in sorted(set(map(int, truth)))]


def top_k_hit(scores: Sequence[float], truth: Iterable[int], k: int) -> bool:
    """True when every true class is among the ``k`` highest scores (pessimistic ties)."""
    return max(true_class_ranks(scores, truth)) <= k


def auc(scores: Sequence[Sequence[float]], truths: Sequence[Iterable[int]]) -> float:
    """ROC AUC of the scores over all (target, class) pairs, forgotten classes being the positives.

    Computed as the Mann-Whitney statistic (ties count one half); nan without both kinds of pairs.
    """
    pos: list[float] = []
    neg: list[float] = []
    for s, t in zip(scores, truths):
        forgotten = set(map(int, t))
        for k, value in enumerate(np.asarray(s, dtype=np.float64)):
            (pos if k in forgotten else neg).append(value)
    if not pos or not neg:
        return float("nan")
    p = np.asarray(pos)[:, None]
    n = np.asarray(neg)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def set_precision_recall_f1(predicted: Iterable[int], truth: Iterable[int]) -> tuple[float, float, float]:
    """Precision, recall and F1 of one decided set against the true forgotten set."""
    pred, true = set(map(int, predicted)), set(map(int, truth))
    hits = len(pred & true)
    precision = hits / len(pred) if pred else 0.0
    recall = hits / len(true) if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def summarize(
    *,
    scores: Sequence[Sequence[float]],
    predicted: Sequence[Iterable[int]],
    truths: Sequence[Collection[int]],
    num_classes: int,
) -> dict[str, float]:
    """All metrics over a list of targets (one entry of each argument per target).

    Precision/recall/F1 are micro-averaged (pooled hits over pooled set sizes). ``chance`` is the
    random-guess exact-match rate averaged over the targets' true set sizes.
    """
    n = len(truths)
    if not n == len(scores) == len(predicted):
        raise ValueError(
            f"scores, predicted and truths must have one entry per target, got {len(scores)}, {len(predicted)}, {n}"
        )
    hits = sum(exact_match(p, t) for p, t in zip(predicted, truths))
    low, high = wilson_interval(hits, n)
    ranks = [max(true_class_ranks(s, t)) for s, t in zip(scores, truths)]
    pred_sets = [set(map(int, p)) for p in predicted]
    true_sets = [set(map(int, t)) for t in truths]
    overlap = sum(len(p & t) for p, t in zip(pred_sets, true_sets))
    n_pred = sum(len(p) for p in pred_sets)
    n_true = sum(len(t) for t in true_sets)
    precision = overlap / n_pred if n_pred else 0.0
    recall = overlap / n_true if n_true else 0.0
    return {
        "n": n,
        "asr": hits / n if n else float("nan"),
        "asr_low": low,
        "asr_high": high,
        "chance": float(np.mean([random_guess_rate(num_classes, len(t)) for t in true_sets])) if n else float("nan"),
        "top1": float(np.mean([r == 1 for r in (min(true_class_ranks(s, t)) for s, t in zip(scores, truths))]))
        if n
        else float("nan"),
        "top3": float(np.mean([top_k_hit(s, t, max(3, len(t))) for s, t in zip(scores, truths)]))
        if n
        else float("nan"),
        "mean_rank": float(np.mean(ranks)) if n else float("nan"),
        "auc": auc(scores, truths),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
    }
