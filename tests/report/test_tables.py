"""Tables and the report, on synthetic results with known answers."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from tests.conftest import markdown_tables

from labelleak.metrics import wilson_interval
from labelleak.report.document import write_report
from labelleak.report.markdown import markdown_header, markdown_row, markdown_table
from labelleak.report.tables import (
    ResultsError,
    asr_matrix,
    baseline_comparison,
    fmt_asr,
    load_results,
    summary_table,
    utility_table,
    write_results,
)
from labelleak.store import atomic_write_json


def one_hot_scores(k: int, top: int) -> str:
    return json.dumps([1.0 if c == top else 0.0 for c in range(k)])


def make_rows():
    """digits: 'good' attack right on every target, 'bad' only on retrain's class 0; one pair target."""
    rows = []
    for method in ("retrain", "finetune"):
        for forget in range(4):
            for attack, guess in (("good", forget), ("bad", 0)):
                rows.append(
                    {
                        "experiment": "synthetic",
                        "cell": f"{method}-{forget}",
                        "dataset": "digits",
                        "method": method,
                        "forget": str(forget),
                        "n_forget": 1,
                        "attack": attack,
                        "attack_label": attack,
                        "knowledge": "default",
                        "knowledge_description": "A: none",
                        "scores": one_hot_scores(10, guess),
                        "predicted": str(guess),
                        "truth": str(forget),
                        "success": guess == forget,
                        "queries": 5 if attack == "good" else "",
                        "seconds": 0.1,
                    }
                )
    for attack, predicted in (("good", "1+2"), ("bad", "1")):
        rows.append(
            {
                "experiment": "synthetic",
                "cell": "retrain-1+2",
                "dataset": "digits",
                "method": "retrain",
                "forget": "1+2",
                "n_forget": 2,
                "attack": attack,
                "attack_label": attack,
                "knowledge": "default",
                "knowledge_description": "A: none",
                "scores": json.dumps([0, 1, 0.9] + [0] * 7),
                "predicted": predicted,
                "truth": "1+2",
                "success": predicted == "1+2",
                "queries": "",
                "seconds": 0.1,
            }
        )
    return rows


def make_results_dir(tmp_path, datasets=("digits",), seeds=False):
    """A results directory of :func:`make_rows` per dataset; with ``seeds``, finetune's targets come
    from θ_o seed 1 and retrain's from seed 0."""
    rows = [
        {**row, "dataset": dataset, "cell": f"{dataset}-{row['cell']}"} for dataset in datasets for row in make_rows()
    ]
    if seeds:
        rows = [{**row, "seed": int(row["method"] == "finetune")} for row in rows]
    cells = {}
    for row in rows:
        cells.setdefault(row["cell"], []).append(row)
    paths = []
    for cell, cell_rows in cells.items():
        path = tmp_path / "cells" / f"{cell}.json"
        method = cell_rows[0]["method"]
        atomic_write_json(
            path,
            {
                "key": "k",
                "cell": cell,
                "rows": cell_rows,
                "utility": {
                    "cell": cell,
                    "dataset": cell_rows[0]["dataset"],
                    "method": method,
                    "forget": cell_rows[0]["forget"],
                    "original_test_acc": 0.97,
                    "forget_test_acc": 0.0 if method == "retrain" else 0.9,
                    "retain_test_acc": 0.95,
                    "test_acc": 0.9,
                    "forget_train_acc": 0.0,
                    "seconds": 1.5,
                },
            },
        )
        paths.append(path)
    write_results(tmp_path, paths)
    return tmp_path


def test_summary_table_asr_interval_and_chance():
    rows = pd.DataFrame(make_rows())
    singles = rows[rows["n_forget"] == 1]
    table = summary_table(singles, ["attack_label"]).set_index("attack_label")
    assert table.loc["good", "asr"] == 1.0 and table.loc["good", "n"] == 8
    assert table.loc["bad", "asr"] == pytest.approx(2 / 8)
    low, high = wilson_interval(2, 8)
    assert (table.loc["bad", "asr_low"], table.loc["bad", "asr_high"]) == pytest.approx((low, high))
    assert table.loc["good", "chance"] == pytest.approx(0.1)
    assert table.loc["good", "queries"] == 5


def test_asr_matrix_has_paper_shape():
    rows = pd.DataFrame(make_rows())
    labels, methods, cells = asr_matrix(rows[rows["n_forget"] == 1])
    assert labels == ["good", "bad"] and methods == ["retrain", "finetune", "all methods"]
    assert cells[("bad", "retrain")]["asr"] == 0.25 and cells[("bad", "finetune")]["asr"] == 0.25
    assert fmt_asr(cells[("good", "all methods")]).startswith("100% [") and "n=8" in fmt_asr(
        cells[("good", "all methods")]
    )


def test_results_and_utility_csv_round_trip(tmp_path):
    make_results_dir(tmp_path)
    rows, utility = load_results(tmp_path)
    assert len(rows) == 18 and len(utility) == 9
    table = utility_table(utility).set_index("method")
    assert table.loc["retrain", "n"] == 5 and table.loc["finetune", "forget_test_acc"] == pytest.approx(0.9)


def test_report_has_every_section_and_figure(tmp_path):
    make_results_dir(tmp_path)
    md, page = write_report(tmp_path)
    text = md.read_text()
    assert "## Dataset: digits" in text and "| attack | retrain | finetune | all methods |" in text
    assert "Chance level 10%" in text and "### Multi-class unlearning" in text
    assert "| good | 2 | 1 | 100% [" in text
    assert "## Utility of the unlearning methods" in text
    assert (tmp_path / "figures" / "asr_heatmap_digits.png").stat().st_size > 1000
    assert "<table>" in page.read_text() and "asr_heatmap_digits.png" in page.read_text()


def test_report_has_a_per_method_multi_class_table(tmp_path):
    make_results_dir(tmp_path)
    text = write_report(tmp_path)[0].read_text()
    section = text.split("### Multi-class unlearning, |C| = 2: per unlearning method")[1].split("##")[0]
    assert "| attack | retrain | all methods |" in section
    # 'good' decided {1,2} = C; 'bad' decided {1}: precision 1, recall 1/2, not the exact set
    assert "| good | 100% [21–100] n=1; P 100% R 100% |" in section
    assert "| bad | 0% [0–79] n=1; P 100% R 50% |" in section


def test_report_has_a_per_method_table_of_the_unlearned_targets_only(tmp_path):
    make_results_dir(tmp_path)
    text = write_report(tmp_path)[0].read_text()
    section = text.split("targets whose forget-class test accuracy is ≤ 10%: ASR (attack × unlearning method)")[1]
    section = section.split("###")[0]
    # finetune kept 90% forget accuracy on every target, so only retrain's 4 targets remain
    assert "| attack | retrain | all methods |" in section
    assert "| bad | 25% [5–70] n=4 | 25% [5–70] n=4 |" in section


def test_report_overview_over_datasets_on_every_and_on_unlearned_targets(tmp_path):
    make_results_dir(tmp_path, datasets=("digits", "mnist"))
    text = write_report(tmp_path)[0].read_text()
    overview = text.split("## Overview: single-class ASR over all unlearning methods")[1].split("## ")[0]
    every, unlearned = overview.split("targets whose forget-class test accuracy is ≤ 10%")
    assert "| attack | digits | mnist |" in every
    # every target: 4 retrain + 4 finetune per dataset; finetune kept 90% forget accuracy, so only retrain counts below
    assert every.count("| good | 100% [") == 1 and "n=8 | 100%" in every
    assert (
        "| bad | 25% [" in every
        and "| chance | 10% | 10% |" in every
        and "| good | 100% [51–100] n=4 | 100% [51–100] n=4 |" in unlearned
    )
    assert "## Overview" not in write_report(make_results_dir(tmp_path / "one"))[0].read_text()


def test_missing_results_are_a_clear_error(tmp_path):
    with pytest.raises(ResultsError, match=r"holds no results.csv"):
        load_results(tmp_path)


def test_every_report_table_has_as_many_cells_per_row_as_headers(tmp_path):
    make_results_dir(tmp_path, datasets=("digits", "mnist"))
    text = write_report(tmp_path)[0].read_text()
    tables = markdown_tables(text)
    assert len(tables) > 5
    for table in tables:
        assert {len(row) for row in table} == {len(table[0])}, table[0]
    # the multi-class summary's |C| column is escaped, so that it does not split its header cell
    assert "| attack | \\|C\\| | n | exact-set ASR [95%] | precision | recall | F1 | AUC |" in text
    assert "<th>|C|</th>" in (tmp_path / "report.html").read_text()


def test_the_per_method_tables_order_methods_the_same_way(tmp_path):
    """When the first kept target of a method comes late, the table of unlearned targets keeps the order."""
    from labelleak.report.tables import write_results

    make_results_dir(tmp_path)
    # results in the runner's order: forget set, then method (retrain first)
    cells = sorted((tmp_path / "cells").glob("*.json"), key=lambda p: (p.stem.split("-")[-1], "retrain" not in p.stem))
    for path in cells:
        data = json.loads(path.read_text())
        # retrain's target of class 0 did not forget; every other single-class target did
        data["utility"]["forget_test_acc"] = 0.9 if data["cell"] == "digits-retrain-0" else 0.0
        atomic_write_json(path, data)
    write_results(tmp_path, cells)
    text = write_report(tmp_path)[0].read_text()
    headers = [t[0] for t in markdown_tables(text) if t[0][0] == "attack" and "all methods" in t[0]]
    assert headers[0] == headers[1] == ["attack", "retrain", "finetune", "all methods"]


def test_report_files_are_readable_by_others(tmp_path):
    import os

    make_results_dir(tmp_path)
    umask = os.umask(0o022)
    try:
        md, page = write_report(tmp_path)
    finally:
        os.umask(umask)
    for path in (md, page, tmp_path / "results.csv", *(tmp_path / "figures").glob("*.png")):
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_baseline_comparison_names_the_attacks_a_baseline_ties_or_beats():
    rows = pd.DataFrame(make_rows())
    singles = rows[rows["n_forget"] == 1]
    # noise-frequency right on 6 of the 8 single-class targets: above "bad" (2/8), below "good" (8/8)
    baseline = singles[singles["attack"] == "good"].assign(attack="noise-frequency", attack_label="noise-frequency")
    wrong = baseline.index[:2]
    baseline.loc[wrong, "predicted"] = "9"
    baseline.loc[wrong, "scores"] = one_hot_scores(10, 9)
    found = baseline_comparison(pd.concat([singles, baseline]))
    assert found["baseline"] == "noise-frequency" and found["summary"]["asr"] == pytest.approx(6 / 8)
    assert found["tied_or_beaten"] == [("bad", pytest.approx(2 / 8))]
    assert found["ahead"] == [("good", pytest.approx(1.0))]
    # without a baseline there is nothing to compare
    assert baseline_comparison(singles) is None


def test_report_says_where_a_baseline_ties_or_beats_an_attack(tmp_path):
    results = make_results_dir(tmp_path)
    rows = pd.read_csv(results / "results.csv")
    probe = rows[rows["attack"] == "good"].assign(attack="accuracy-probe", attack_label="accuracy-probe")
    pd.concat([rows, probe]).to_csv(results / "results.csv", index=False)
    markdown = write_report(results)[0].read_text()
    section = markdown.split("## Baselines against the attacks")[1].split("\n## ")[0]
    # on the targets that forgot (retrain's), the probe ties 'good' and beats 'bad'
    assert "**digits, |C| = 1** (targets that forgot, n = 4)" in section
    assert "accuracy-probe, scores 100% and ties or beats 2 of 2 attack variants. Ahead of it: none." in section


def partial_rows():
    """Attack 'a' under a full and a partial setting whose A held classes 0-4 (5-9 missing): the
    truths 7 and 6+8 lie among the missing classes, 2 in A, 2+7 partly."""
    rows = []
    for truth, split in (("7", "none"), ("2", "all"), ("2+7", "some"), ("6+8", "none")):
        for setting, kind, aux, in_aux in (("full", "full", "", "all"), ("partial", "partial", "0 1 2 3 4", split)):
            rows.append(
                {
                    "experiment": "synthetic",
                    "cell": f"retrain-{truth}",
                    "dataset": "digits",
                    "method": "retrain",
                    "forget": truth,
                    "n_forget": truth.count("+") + 1,
                    "attack": "a",
                    "attack_label": "a",
                    "knowledge": setting,
                    "knowledge_kind": kind,
                    "knowledge_description": "A: ...",
                    "aux_classes": aux,
                    "forgotten_in_aux": in_aux,
                    "scores": one_hot_scores(10, int(truth.split("+")[0])),
                    "predicted": truth.split("+")[0],
                    "truth": truth,
                    "success": "+" not in truth,
                    "queries": "",
                    "seconds": 0.1,
                }
            )
    return pd.DataFrame(rows)


def test_partial_rows_are_split_by_whether_c_lay_in_a():
    from labelleak.report.tables import ordered_labels, row_label

    rows = partial_rows()
    labels = row_label(rows)
    assert list(labels[rows["knowledge"] == "full"].unique()) == ["a / full"]
    assert dict(zip(rows["truth"][rows["knowledge"] == "partial"], labels[rows["knowledge"] == "partial"])) == {
        "7": "a / partial (C not in A)",
        "2": "a / partial (C in A)",
        "2+7": "a / partial (C partly in A)",
        "6+8": "a / partial (C not in A)",
    }
    # "C in A" first, whatever the order of the targets
    assert ordered_labels(rows) == [
        "a / full",
        "a / partial (C in A)",
        "a / partial (C partly in A)",
        "a / partial (C not in A)",
    ]
    # a run with a partial setting only still names it and splits its rows
    only = rows[rows["knowledge"] == "partial"]
    assert set(row_label(only)) == {"a / partial (C in A)", "a / partial (C partly in A)", "a / partial (C not in A)"}


def test_guess_missing_from_a_reference():
    from labelleak.report.tables import aux_class_list, guess_missing_from_aux, partial_reference_table

    assert guess_missing_from_aux([7], [0, 1, 2, 3, 4], num_classes=10) == pytest.approx(1 / 5)
    assert guess_missing_from_aux([6, 8], [0, 1, 2, 3, 4], num_classes=10) == pytest.approx(1 / 10)
    assert guess_missing_from_aux([2], [0, 1, 2, 3, 4], num_classes=10) == 0.0
    assert guess_missing_from_aux([2, 7], [0, 1, 2, 3, 4], num_classes=10) == 0.0
    # a single class reads back from the CSV as a number, an empty field as NaN
    assert aux_class_list("0 2 5") == [0, 2, 5] and aux_class_list(3) == [3] and aux_class_list(float("nan")) == []
    table = partial_reference_table(partial_rows()).set_index("n_forget")
    assert set(table["knowledge"]) == {"partial"}
    assert table.loc[1, ["n", "C in A", "C partly in A", "C not in A"]].tolist() == [2, 1, 0, 1]
    assert table.loc[2, ["n", "C in A", "C partly in A", "C not in A"]].tolist() == [2, 0, 1, 1]
    assert table.loc[1, "guess_missing"] == pytest.approx((0 + 1 / 5) / 2)
    assert table.loc[2, "guess_missing"] == pytest.approx((0 + 1 / 10) / 2)
    assert table.loc[2, "chance"] == pytest.approx(1 / 45)
    assert partial_reference_table(pd.DataFrame(make_rows())).empty


def test_report_shows_the_guess_missing_from_a_next_to_the_knowledge_settings(tmp_path):
    partial_rows().to_csv(tmp_path / "results.csv", index=False)
    text = write_report(tmp_path)[0].read_text()
    top = text.split("## Dataset: digits")[0]
    assert "| knowledge setting | what the attacker held (first target) |" in top
    assert (
        "| dataset | knowledge setting | \\|C\\| | targets | C in A | C partly in A | C not in A | "
        "guess missing from A | chance |" in top
    )
    assert "| digits | partial | 1 | 2 | 1 | 0 | 1 | 10.0% | 10.0% |" in top
    assert "| digits | partial | 2 | 2 | 0 | 1 | 1 | 5.0% | 2.2% |" in top
    assert "| a / partial (C not in A) | 100% [" in text


def test_per_seed_summary_gives_each_seed_and_the_spread():
    from labelleak.report.tables import fmt_seeds, per_seed_summary

    rows = pd.DataFrame(make_rows())
    singles = rows[rows["n_forget"] == 1].assign(seed=lambda r: (r["method"] == "finetune").astype(int))
    table = per_seed_summary(singles, ["attack_label"]).set_index("attack_label")
    # 'bad' is right on class 0 only: once per method, i.e. 1 of the 4 targets of each seed
    assert table.loc["bad", "seeds"] == {0: 0.25, 1: 0.25} and table.loc["bad", "spread"] == 0
    assert table.loc["bad", "asr"] == pytest.approx(0.25) and table.loc["bad", "n"] == 8
    shifted = singles.assign(success=singles["success"] & (singles["seed"] == 0))
    line = per_seed_summary(shifted, ["attack_label"]).set_index("attack_label").loc["good"]
    assert fmt_seeds(line) == "100 / 0% (spread 100)"
    assert fmt_seeds(line, [0, 1, 2]) == "100 / 0 / –% (spread 100)"


def test_report_overview_over_every_target_per_seed_and_per_set_size(tmp_path):
    make_results_dir(tmp_path, datasets=("digits", "mnist"))
    text = write_report(tmp_path)[0].read_text()
    overview = text.split("## Overview: exact-set ASR over every target, single and multi-class")[1]
    overview = overview.split("## Baselines")[0].split("## Dataset:")[0]
    # every target of a dataset: 8 single classes (good right on all) + the pair (good right)
    assert "| good | 100% [70–100] n=9 | 100% [70–100] n=9 |" in overview
    assert "| attack | 1 forgotten class | 2 forgotten classes |" in overview
    assert "| bad | 25% [10–49] n=16 | 0% [0–66] n=2 |" in overview
    assert "per θ_o seed" not in overview.lower()  # the synthetic rows carry no seed


def test_report_gives_each_seeds_asr_beside_the_pooled_one(tmp_path):
    make_results_dir(tmp_path, seeds=True)
    text = write_report(tmp_path)[0].read_text()
    section = text.split("Per θ_o seed (0 / 1), every target")[1].split("## ")[0]
    # 'bad': seed 0 = retrain's 4 singles (right on class 0) + the pair (wrong); seed 1 = finetune's 4 singles
    assert "| bad | 20 / 25% (spread 5) |" in section
    assert "| good | 100 / 100% (spread 0) |" in section


def test_met_unlearning_goal_compares_with_retrain_on_the_same_theta_o_and_forget_set():
    from labelleak.report.tables import met_unlearning_goal

    utility = pd.DataFrame(
        [
            # seed 0, class 3: Retrain keeps 95% of the retained classes
            {
                "cell": "r0",
                "method": "retrain",
                "seed": 0,
                "forget": "3",
                "forget_test_acc": 0.0,
                "retain_test_acc": 0.95,
            },
            {"cell": "a0", "method": "ga", "seed": 0, "forget": "3", "forget_test_acc": 0.0, "retain_test_acc": 0.93},
            {"cell": "b0", "method": "rl", "seed": 0, "forget": "3", "forget_test_acc": 0.0, "retain_test_acc": 0.90},
            {"cell": "c0", "method": "ft", "seed": 0, "forget": "3", "forget_test_acc": 0.06, "retain_test_acc": 0.96},
            # seed 1: a worse Retrain is a lower bar, but only for seed 1's targets
            {
                "cell": "r1",
                "method": "retrain",
                "seed": 1,
                "forget": "3",
                "forget_test_acc": 0.0,
                "retain_test_acc": 0.88,
            },
            {"cell": "b1", "method": "rl", "seed": 1, "forget": "3", "forget_test_acc": 0.05, "retain_test_acc": 0.90},
            # no Retrain of this forget set: left out
            {"cell": "x1", "method": "rl", "seed": 1, "forget": "4", "forget_test_acc": 0.0, "retain_test_acc": 0.99},
        ]
    )
    assert met_unlearning_goal(utility) == {
        "r0": True, "a0": True, "b0": False, "c0": False, "r1": True, "b1": True,
    }  # fmt: skip
    assert met_unlearning_goal(utility[utility["method"] != "retrain"]) == {}


def test_report_overview_splits_off_the_targets_that_met_the_unlearning_goal(tmp_path):
    make_results_dir(tmp_path, datasets=("digits", "mnist"))
    text = write_report(tmp_path)[0].read_text()
    overview = text.split("## Overview: exact-set ASR over every target, single and multi-class")[1]
    goal = overview.split("targets that met the unlearning goal (forget-class test accuracy ≤ 5%")[1]
    # Retrain's 4 single classes and its pair met the goal; finetune (forget accuracy 90%) did not
    assert "| good | 100% [57–100] n=5 | 100% [57–100] n=5 |" in goal.split("By forget-set size")[0]
    by_size = overview.split("By forget-set size, over every dataset, targets that met the unlearning goal")[1]
    assert "| bad | 25% [7–59] n=8 | 0% [0–66] n=2 |" in by_size.split("## ")[0]


def test_markdown_rows_escape_the_bar_so_the_header_keeps_its_cell_count():
    assert markdown_row(["|C|", 2, None]) == "| \\|C\\| | 2 | None |"
    assert markdown_header(["a", "|C|"]).splitlines() == ["| a | \\|C\\| |", "| --- | --- |"]
    assert markdown_table(["a", "|C|"], [[1, "{0, 3}"]]).splitlines()[2] == "| 1 | {0, 3} |"
