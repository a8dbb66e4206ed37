"""benchmarks/query_curve.py: ASR against query budget from a run's results, targets that forgot only."""

from __future__ import annotations

import json

import matplotlib.image
import pandas as pd
import pytest

from tests.conftest import benchmark_script


@pytest.fixture(scope="module")
def query_curve():
    with benchmark_script("query_curve.py") as module:
        yield module


def _row(cell, attack, budget, success, size=1, queries=None, **more):
    options = {**({} if budget is None else {"query_budget": budget}), **more}
    return {
        "cell": cell,
        "dataset": "mnist",
        "attack": attack,
        "access": "labels" if attack == "label-reach" else "queries",
        "attack_options": json.dumps(options),
        "knowledge": "default",
        "n_forget": size,
        "success": success,
        "queries": queries if queries is not None else budget,
        "seconds": 0.5,
    }


def test_pools_targets_that_forgot_per_budget_and_writes_csv_markdown_and_plot(query_curve, tmp_path):
    results = pd.DataFrame(
        [
            _row("a", "label-reach", 100, True),
            _row("b", "label-reach", 100, False),
            _row("a", "label-reach", 1000, True),
            _row("b", "label-reach", 1000, True),
            _row("c", "label-reach", 1000, False),  # c did not forget: left out
            _row("a", "noise-frequency", None, True, queries=64),
            _row("d", "label-reach", 1000, False, size=2),
        ]
    )
    utility = pd.DataFrame({"cell": ["a", "b", "c", "d"], "forget_test_acc": [0.0, 0.05, 0.9, 0.0]})
    table = query_curve.curve(results, utility, max_forget_acc=0.1)
    single = table[(table["attack"] == "label-reach") & (table["size"] == 1)].set_index("budget")
    assert single.loc[100, "asr"] == 0.5 and single.loc[1000, "asr"] == 1.0 and single.loc[1000, "n"] == 2
    assert table[table["attack"] == "noise-frequency"]["budget"].tolist() == [64]
    assert table[table["size"] == 2]["asr"].tolist() == [0.0]
    assert set(table["criterion"]) == {"threshold", "argmax"}

    results.to_csv(tmp_path / "results.csv", index=False)
    utility.to_csv(tmp_path / "utility.csv", index=False)
    assert query_curve.main([str(tmp_path)]) == 0
    assert (tmp_path / "asr_vs_queries.png").read_bytes().startswith(b"\x89PNG")
    text = (tmp_path / "asr_vs_queries.md").read_text()
    assert "### single class" in text and "### pairs" in text and "n=2" in text
    assert len(pd.read_csv(tmp_path / "asr_vs_queries.csv")) == len(table)


def test_a_supplementary_run_adds_its_budgets_and_shares_rows_once(query_curve, tmp_path):
    main, extra = tmp_path / "main", tmp_path / "extra"
    for folder, rows in (
        (main, [_row("a", "label-reach", 1000, True), _row("a", "noise-frequency", None, True, queries=64)]),
        # the supplement repeats the baseline on the same target, and adds a larger budget
        (extra, [_row("a", "label-reach", 100000, False), _row("a", "noise-frequency", None, True, queries=64)]),
    ):
        folder.mkdir()
        pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
        pd.DataFrame({"cell": ["a"], "forget_test_acc": [0.0]}).to_csv(folder / "utility.csv", index=False)
    assert query_curve.main([str(main), "--also", str(extra)]) == 0
    table = pd.read_csv(main / "asr_vs_queries.csv")
    assert sorted(table[table["attack"] == "label-reach"]["budget"]) == [1000, 100000]
    assert table[table["attack"] == "noise-frequency"]["n"].tolist() == [1]


def test_the_two_set_decisions_are_counted_and_shown_apart(query_curve, tmp_path):
    rows = [
        _row("a", "invert-cma", 1000, False, size=2),
        _row("a", "invert-cma", 1000, True, size=2, set_decision="calibrated"),
        _row("b", "invert-cma", 1000, False, size=2, set_decision="cut"),
    ]
    utility = pd.DataFrame({"cell": ["a", "b"], "forget_test_acc": [0.0, 0.0]})
    table = query_curve.curve(pd.DataFrame(rows), utility, max_forget_acc=0.1).set_index("criterion")
    assert table.loc["threshold", "n"] == 2 and table.loc["threshold", "asr"] == 0.0
    assert table.loc["threshold, calibrated set", "asr"] == 1.0
    text = query_curve.markdown(table.reset_index())
    assert "| mnist | invert-cma (queries) | 0% " in text
    assert "| mnist | invert-cma (queries), threshold, calibrated set | 100% " in text
    query_curve.plot(table.reset_index(), tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes().startswith(b"\x89PNG")


def test_criteria_and_stop_levels_are_counted_apart(query_curve):
    rows = [
        _row("a", "invert-cma", 1000, False, criterion="threshold", stop_level=0.99),
        _row("a", "invert-cma", 1000, True, criterion="entropy", stop_level=0.99),
        _row("a", "invert-cma", 1000, True, criterion="threshold", stop_level=1.0),
    ]
    utility = pd.DataFrame({"cell": ["a"], "forget_test_acc": [0.0]})
    table = query_curve.curve(pd.DataFrame(rows), utility, max_forget_acc=0.1).set_index("criterion")
    assert sorted(table.index) == ["entropy, stop at 0.99", "threshold, stop at 0.99", "threshold, stop at 1.0"]
    assert table.loc["threshold, stop at 0.99", "asr"] == 0.0 and table.loc["threshold, stop at 1.0", "asr"] == 1.0


def test_method_keeps_one_unlearning_method(query_curve, tmp_path, capsys):
    rows = [_row("a", "label-reach", 1000, True), _row("b", "label-reach", 1000, False)]
    pd.DataFrame(rows).to_csv(tmp_path / "results.csv", index=False)
    utility = {"cell": ["a", "b"], "forget_test_acc": [0.0, 0.0], "method": ["amnesiac", "gradient_ascent"]}
    pd.DataFrame(utility).to_csv(tmp_path / "utility.csv", index=False)
    assert query_curve.main([str(tmp_path), "--method", "amnesiac"]) == 0
    table = pd.read_csv(tmp_path / "asr_vs_queries_amnesiac.csv")
    assert table["n"].tolist() == [1] and table["asr"].tolist() == [1.0]
    assert not (tmp_path / "asr_vs_queries.csv").exists()
    assert query_curve.main([str(tmp_path), "--method", "retrain"]) == 2
    assert (
        "--method must be one of the run's methods (amnesiac, gradient_ascent), got 'retrain'"
        in capsys.readouterr().err
    )


def test_a_folder_without_results_is_a_one_line_error(query_curve, tmp_path, capsys):
    assert query_curve.main([str(tmp_path)]) == 2
    assert "results.csv not found" in capsys.readouterr().err


def test_long_legend_labels_are_never_cut_at_the_image_edges(query_curve, tmp_path):
    decisions = [{"set_decision": d, "stop_level": s} for d in ("cut", "calibrated") for s in (0.99, 1.0)]
    rows = [
        _row(cell, attack, 1000, True, size=size, **options)
        for cell, size in (("a", 2), ("b", 3))
        for attack in ("invert-cma", "accuracy-probe-with-a-long-name")
        for options in decisions
    ]
    utility = pd.DataFrame({"cell": ["a", "b"], "forget_test_acc": [0.0, 0.0]})
    table = query_curve.curve(pd.DataFrame(rows), utility, max_forget_acc=0.1)
    query_curve.plot(table, tmp_path / "curve.png")
    pixels = matplotlib.image.imread(tmp_path / "curve.png")[..., :3]
    # a label cut at the edge leaves dark pixels in the outermost columns; a whole image leaves white
    assert pixels[:, :2].min() > 0.9 and pixels[:, -2:].min() > 0.9
