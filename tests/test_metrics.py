import math

import numpy as np
import pytest

from labelleak.metrics import (
    auc,
    exact_match,
    random_guess_rate,
    set_precision_recall_f1,
    summarize,
    top_k_hit,
    true_class_ranks,
    wilson_interval,
)


def test_wilson_interval_known_values():
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(10, 10)
    assert low == pytest.approx(0.7225, abs=1e-4) and high == pytest.approx(1.0)
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_random_guess_rate():
    assert random_guess_rate(10) == pytest.approx(0.1)
    assert random_guess_rate(10, 2) == pytest.approx(1 / 45)


def test_exact_match_ignores_order_and_type():
    assert exact_match((3, 5), [np.int64(5), 3])
    assert not exact_match((3,), (3, 5))


def test_ranks_are_pessimistic_on_ties():
    assert true_class_ranks([0.1, 0.9, 0.5], [1]) == [1]
    assert true_class_ranks([0.5, 0.5, 0.1], [0]) == [2]
    assert true_class_ranks([0.9, 0.1, 0.5], [0, 1]) == [1, 3]
    assert top_k_hit([0.9, 0.1, 0.5], [2], 2) and not top_k_hit([0.9, 0.1, 0.5], [1], 2)


def test_auc_perfect_inverse_and_ties():
    truths = [[0], [2]]
    assert auc([[1, 0, 0], [0, 0, 1]], truths) == 1.0
    assert auc([[0, 1, 1], [1, 1, 0]], truths) == 0.0
    assert auc([[1, 1, 1], [1, 1, 1]], truths) == 0.5
    assert math.isnan(auc([[1, 2]], [[0, 1]]))


def test_precision_recall_f1():
    assert set_precision_recall_f1([1, 2], [2, 3]) == (0.5, 0.5, 0.5)
    assert set_precision_recall_f1([], [2]) == (0.0, 0.0, 0.0)


def test_summarize_counts_exact_sets_and_chance():
    s = summarize(
        scores=[[0, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0]],
        predicted=[[1], [1], [1, 2]],
        truths=[[1], [0], [1, 2]],
        num_classes=4,
    )
    assert s["n"] == 3 and s["asr"] == pytest.approx(2 / 3)
    assert s["asr_low"] < 2 / 3 < s["asr_high"]
    assert s["chance"] == pytest.approx((0.25 + 0.25 + 1 / 6) / 3)
    assert s["top1"] == pytest.approx(2 / 3)  # tied true classes rank pessimistically
    assert s["precision"] == pytest.approx(3 / 4) and s["recall"] == pytest.approx(3 / 4)
    with pytest.raises(ValueError):
        summarize(scores=[[0, 1]], predicted=[], truths=[[1]], num_classes=2)
