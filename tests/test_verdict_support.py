"""benchmarks/verdict_support.py: the support rule applied to stored audit JSONs."""

from __future__ import annotations

import json

import pytest

from tests.conftest import benchmark_script, markdown_tables


@pytest.fixture(scope="module")
def verdict_support():
    with benchmark_script("verdict_support.py") as module:
        yield module


def _audit(forgotten: list[int], confidence: list[float], predicted: list[list[int]], **verdict) -> dict:
    attacks = [
        {"name": f"a{i}", "access": "queries", "queries": 400, "predicted": p, "abstains": ""}
        for i, p in enumerate(predicted)
    ]
    return {
        "verdict": {"forgotten": forgotten, "rule": "fused", "confidence": confidence, **verdict},
        "attacks": attacks,
    }


def test_a_class_above_the_cut_that_no_attack_named_leaves_the_revised_verdict(verdict_support):
    # class 2 cleared the cut, but both attacks named class 1 only
    assert verdict_support.revised(_audit([1, 2], [0.1, 0.99, 0.6, 0.1], [[1], [1]])) == [1]
    assert verdict_support.revised(_audit([1, 2], [0.1, 0.99, 0.6, 0.1], [[1], [1, 2]])) == [1, 2]
    # an abstaining attack and a query-free chance reference do not count as naming a class
    audit = _audit([1, 2], [0.1, 0.99, 0.6, 0.1], [[1], [1, 2]])
    audit["attacks"][1]["abstains"] = "not from θ_o"
    assert verdict_support.revised(audit) == [1]
    audit["attacks"][1].update(abstains="", queries=0)
    assert verdict_support.revised(audit) == [1]
    assert verdict_support.revised({"verdict": {"forgotten": [1], "rule": "majority"}, "attacks": []}) is None


def test_the_table_counts_changed_verdicts_and_exact_sets_on_the_targets_that_forgot(verdict_support, tmp_path, capsys):
    folder = tmp_path / "grid"
    (folder / "audits").mkdir(parents=True)
    audits = {
        "m_f1": _audit([1, 2], [0.1, 0.99, 0.6, 0.1], [[1], [1]]),  # changed, right after
        "m_f3": _audit([3], [0.1, 0.1, 0.1, 0.99], [[3], [3]]),  # unchanged, right
        "m_f0": _audit([1], [0.1, 0.99, 0.1, 0.1], [[1], [1]]),  # did not forget: not counted
    }
    for name, audit in audits.items():
        (folder / "audits" / f"{name}.json").write_text(json.dumps(audit))
    rows = [
        {"cell": "m_f1", "forget_test_acc": 0.0},
        {"cell": "m_f3", "forget_test_acc": 0.05},
        {"cell": "m_f0", "forget_test_acc": 0.9},
    ]
    (folder / "audit.json").write_text(json.dumps(rows))
    assert verdict_support.main([str(folder)]) == 0
    (table,) = markdown_tables(capsys.readouterr().out)
    assert table[2:] == [["grid/audits", "targets that forgot", "1", "2", "1", "1 → 2"]]
