"""benchmarks/grid_audit.py: the audit verdict's exact-set table over a grid's targets."""

from __future__ import annotations

import pytest

from tests.conftest import benchmark_script


@pytest.fixture(scope="module")
def grid_audit():
    with benchmark_script("grid_audit.py") as module:
        yield module


def _row(cell: str, forget: list[int], forget_acc: float, **success: bool) -> dict:
    return {"cell": cell, "forget": forget, "forget_test_acc": forget_acc, "verdict": [9], "success": success}


def test_table_counts_exact_sets_by_forget_set_size_with_the_verdict_last(grid_audit):
    verdict = grid_audit.VERDICT
    rows = [
        _row("a", [1], 0.0, **{"param-diff": True, verdict: True}),
        _row("b", [2], 0.0, **{"param-diff": False, verdict: True}),
        _row("c", [1, 2], 0.0, **{"param-diff": True, verdict: False}),
    ]
    lines = grid_audit.table(rows, title="t").splitlines()
    assert lines[2] == "| attack | |C| = 1 | |C| = 2 |"
    assert lines[4].startswith("| param-diff | 1/2 = 50% [")
    assert "| 1/1 = 100% [" in lines[4]
    assert lines[5].startswith(f"| {verdict} | 2/2 = 100% [")
    assert lines[5].endswith("| 0/1 = 0% [0%–79%] |")


def test_misses_lists_only_targets_that_forgot_and_whose_verdict_missed(grid_audit):
    verdict = grid_audit.VERDICT
    rows = [
        _row("forgot-hit", [1], 0.02, **{verdict: True}),
        _row("forgot-miss", [1, 2], 0.05, **{verdict: False}),
        _row("kept-miss", [3], 0.90, **{verdict: False}),
    ]
    text = grid_audit.misses(rows)
    assert "| forgot-miss | 5.0% | [9] |" in text
    assert "forgot-hit" not in text and "kept-miss" not in text
