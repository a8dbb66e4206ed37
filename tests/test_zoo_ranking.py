"""benchmarks/zoo_ranking.py: exact set named against ranked first, on a zoo's targets that forgot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import benchmark_script


@pytest.fixture(scope="module")
def zoo_ranking():
    with benchmark_script("zoo_ranking.py") as module:
        yield module


def _write_zoo(folder: Path, targets: list[tuple[str, str, list[int], float, dict]]) -> None:
    """A zoo folder as benchmarks/foreign_zoo.py leaves it: ``zoo.json`` and one audit JSON per
    target, each target given as (name, owner's method, forget set, forget-class test accuracy,
    {attack: (scores, predicted)})."""
    (folder / "audits").mkdir()
    rows = []
    for name, method, forget, forget_acc, attacks in targets:
        audit = {
            "num_classes": 4,
            "verdict": {"forgotten": forget},
            "attacks": [{"name": a, "scores": s, "predicted": p} for a, (s, p) in attacks.items()],
        }
        (folder / "audits" / f"{name}.json").write_text(json.dumps(audit))
        rows.append(
            {
                "name": name,
                "dataset": "toy",
                "arch": "mlp",
                "method": method,
                "forget": forget,
                "forget_test_acc": forget_acc,
            }
        )
    (folder / "zoo.json").write_text(json.dumps(rows))


def test_counts_exact_and_ranked_and_the_scores_of_retained_and_forgotten_classes(zoo_ranking, tmp_path):
    _write_zoo(
        tmp_path,
        [
            # ranked first but named with an extra class: exact no, ranked yes
            ("a", "finetune", [1], 0.0, {"invert-wb": ([0.1, 3.0, 0.5, 0.0], [1, 2])}),
            # named exactly and ranked first
            ("b", "finetune", [2], 0.05, {"invert-wb": ([0.0, 0.3, 2.0, 0.1], [2])}),
            # a pair whose second class is outranked by a retained one
            ("c", "retrain", [0, 3], 0.0, {"invert-wb": ([4.0, 1.0, 0.0, 0.5], [0])}),
            # did not forget: left out
            ("d", "retrain", [1], 0.5, {"invert-wb": ([0.0, 1.0, 0.0, 0.0], [1])}),
        ],
    )

    assert zoo_ranking.main([str(tmp_path)]) == 0
    report = (tmp_path / "ranking.md").read_text()

    assert "Targets that forgot (forget-class test accuracy ≤ 10%): 3, 2 of them single-class." in report
    assert "| invert-wb | 1 / 2 of 2 |" in report  # single classes, one column (toy/mlp)
    assert "| invert-wb | 1 / 2 of 2 | 0 / 0 of 1 |" in report  # by |C|: the pair is neither
    # finetune: retained maxima 0.5 and 0.3 (median 0.4), forgotten 3.0 and 2.0 (median 2.5);
    # retrain: the pair's largest retained 1.0, its smaller forgotten 0.5
    assert "| mlp | invert-wb | 0.40 / 2.50 (n=2) | 1.00 / 0.50 (n=1) |" in report


def test_min_drop_recounts_the_inversion_decisions_with_the_cut_raised(zoo_ranking, tmp_path):
    named_with_extra = ([0.1, 3.0, 0.5, 0.0], [1, 2])
    _write_zoo(
        tmp_path,
        [
            # the extra class scores 0.5: dropped by a cut raised to 0.69
            ("a", "finetune", [1], 0.0, {"invert-wb": named_with_extra, "param-diff": named_with_extra}),
            # nothing above the raised cut: the top class alone
            (
                "b",
                "finetune",
                [2],
                0.0,
                {"invert-wb": ([0.0, 0.3, 0.6, 0.1], [1, 2]), "param-diff": ([0.0, 0.3, 0.6, 0.1], [2])},
            ),
        ],
    )

    assert zoo_ranking.main([str(tmp_path), "--min-drop", "0.69"]) == 0
    report = (tmp_path / "ranking-min-drop.md").read_text()

    assert "toy/mlp: exact / raised / ranked" in report
    assert "| invert-wb | 0 / 2 / 2 of 2 |" in report
    assert "| param-diff | 1 / 1 / 2 of 2 |" in report  # not an inversion attack: left as decided
    assert not (tmp_path / "ranking.md").exists()


def test_refuses_a_folder_without_a_target_that_forgot(zoo_ranking, tmp_path):
    _write_zoo(tmp_path, [])
    with pytest.raises(SystemExit):
        zoo_ranking.main([str(tmp_path)])
