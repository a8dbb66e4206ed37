"""The runner: caching, resume after a kill, exact invalidation, tidy results."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest

from labelleak.experiments import cells as cells_module
from labelleak.experiments.config import ConfigError, parse_config
from labelleak.experiments.context import Context
from labelleak.experiments.runner import run_experiment
from labelleak.report.staleness import stale_shadows
from labelleak.targets import build_unlearner

TINY = {
    "name": "tiny",
    "seeds": [0],
    "datasets": [{"name": "digits", "epochs": 5, "singles": [0, 1, 2]}],
    "unlearning": {"methods": ["retrain", "finetune"], "params": {"retrain": {"epochs": 3}, "finetune": {"epochs": 1}}},
    "knowledge": [{"name": "default", "aux_per_class": 3, "unrelated_size": 16}],
    "attacks": [
        {"name": "param-diff-orig"},
        {"name": "noise-logprob", "params": {"n_queries": 16}},
        {"name": "random-guess"},
        {"name": "accuracy-probe"},
    ],
}
ATTACKS_PER_CELL = 4


def config_with(**changes):
    data = copy.deepcopy(TINY)
    data.update(changes)
    return parse_config(data)


def counts(summary, stage):
    return dict(summary.counts.get(stage, {}))


def test_run_writes_tidy_results_and_a_rerun_skips_everything(tmp_path, store):
    out = tmp_path / "results"
    first = run_experiment(config_with(), results_dir=out, store=store)
    assert first.cells_total == 6 and first.cells_skipped == 0
    assert counts(first, "original") == {"computed": 1}
    assert counts(first, "unlearned") == {"computed": 6}
    assert counts(first, "row")["computed"] == 6 * ATTACKS_PER_CELL

    rows = pd.read_csv(out / "results.csv")
    assert len(rows) == 6 * ATTACKS_PER_CELL
    for column in (
        "experiment",
        "dataset",
        "seed",
        "method",
        "method_params",
        "forget",
        "attack",
        "attack_label",
        "attack_options",
        "knowledge",
        "scores",
        "predicted",
        "truth",
        "success",
        "queries",
        "seconds",
    ):
        assert column in rows, column
    assert all(len(json.loads(s)) == 10 for s in rows["scores"])
    utility = pd.read_csv(out / "utility.csv")
    assert len(utility) == 6 and {"forget_test_acc", "retain_test_acc", "test_acc"} <= set(utility)
    run = json.loads((out / "run.json").read_text())
    assert run["cells_total"] == 6 and "machine" in run and run["device"] == "cpu"

    again = run_experiment(config_with(), results_dir=out, store=store)
    assert again.cells_skipped == 6
    assert counts(again, "unlearned") == {} and counts(again, "row") == {}
    assert len(pd.read_csv(out / "results.csv")) == 6 * ATTACKS_PER_CELL


def test_run_json_records_the_revision_the_run_started_at(tmp_path, store, monkeypatch):
    from labelleak.experiments import runner as runner_module

    ran = []
    real = cells_module.run_cell

    def run_cell(ctx, cell):
        ran.append(cell)
        return real(ctx, cell)

    # a commit lands in the checkout while the cells run
    monkeypatch.setattr(runner_module, "git_revision", lambda: "later" if ran else "at-start")
    monkeypatch.setattr(cells_module, "run_cell", run_cell)
    run_experiment(config_with(), results_dir=tmp_path / "results", store=store)
    assert ran and json.loads((tmp_path / "results" / "run.json").read_text())["git_revision"] == "at-start"


def test_kill_midway_then_rerun_recomputes_nothing_finished(tmp_path, store, monkeypatch, caplog):
    out = tmp_path / "results"
    real = cells_module.run_cell
    calls = []

    def killed_after_two(ctx, cell):
        if len(calls) == 2:
            raise KeyboardInterrupt  # what Ctrl-C / a kill looks like to the loop
        calls.append(cell.id)
        return real(ctx, cell)

    monkeypatch.setattr(cells_module, "run_cell", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config_with(), results_dir=out, store=store)
    assert len(list((out / "cells").glob("*.json"))) == 2
    monkeypatch.setattr(cells_module, "run_cell", real)

    with caplog.at_level("INFO", logger="labelleak.experiments.runner"):
        resumed = run_experiment(config_with(), results_dir=out, store=store)
    assert resumed.cells_skipped == 2
    assert "2 of 6 cells finished earlier are skipped, 4 to run" in caplog.text
    assert counts(resumed, "unlearned") == {"computed": 4}
    assert counts(resumed, "row") == {"computed": 4 * ATTACKS_PER_CELL, "cached": 0}
    assert counts(resumed, "original") == {"cached": 1}
    assert len(pd.read_csv(out / "results.csv")) == 6 * ATTACKS_PER_CELL


def test_subset_then_full_run_reuses_the_subset(tmp_path, store):
    out = tmp_path / "results"
    subset = copy.deepcopy(TINY)
    subset["datasets"][0]["singles"] = [0]
    run_experiment(parse_config(subset), results_dir=out, store=store)
    full = run_experiment(config_with(), results_dir=out, store=store)
    assert full.cells_skipped == 2
    assert counts(full, "unlearned") == {"computed": 4}


def test_changed_parameter_invalidates_exactly_what_it_touches(tmp_path, store):
    out = tmp_path / "results"
    run_experiment(config_with(), results_dir=out, store=store)

    # an unlearning parameter: only that method's targets and their rows
    unlearning = copy.deepcopy(TINY["unlearning"])
    unlearning["params"]["finetune"]["epochs"] = 2
    changed = run_experiment(config_with(unlearning=unlearning), results_dir=out, store=store)
    assert counts(changed, "original") == {"cached": 1}
    assert counts(changed, "unlearned") == {"computed": 3}
    assert changed.cells_skipped == 3
    assert counts(changed, "row")["computed"] == 3 * ATTACKS_PER_CELL

    # an attack option: only that attack's rows; every target is loaded, none retrained
    attacks = copy.deepcopy(TINY["attacks"])
    attacks[1]["params"]["n_queries"] = 32
    changed = run_experiment(config_with(unlearning=unlearning, attacks=attacks), results_dir=out, store=store)
    assert counts(changed, "unlearned") == {"cached": 6}
    assert counts(changed, "row") == {"computed": 6, "cached": 6 * (ATTACKS_PER_CELL - 1)}

    # θ_o's recipe: everything downstream
    datasets = copy.deepcopy(TINY["datasets"])
    datasets[0]["epochs"] = 6
    changed = run_experiment(config_with(datasets=datasets), results_dir=out, store=store)
    assert counts(changed, "original") == {"computed": 1}
    assert counts(changed, "unlearned") == {"computed": 6}


def test_train_per_class_trains_on_a_subset_with_its_own_models(tmp_path, store):
    out = tmp_path / "results"
    datasets = copy.deepcopy(TINY["datasets"])
    datasets[0]["train_per_class"] = 40
    subset = config_with(datasets=datasets)
    assert len(Context(subset, store_root=store.root, results_dir=out).dataset("digits").y_train) == 400
    first = run_experiment(subset, results_dir=out, store=store)
    assert counts(first, "original") == {"computed": 1}
    assert set(pd.read_csv(out / "results.csv")["train_per_class"]) == {40}
    # the whole training split is another θ_o, never the subset's stored one
    whole = run_experiment(config_with(), results_dir=tmp_path / "whole", store=store)
    assert counts(whole, "original") == {"computed": 1}
    assert counts(whole, "unlearned") == {"computed": 6}


def test_rows_reused_from_another_experiment_carry_this_runs_labels(tmp_path, store):
    run_experiment(config_with(), results_dir=tmp_path / "first", store=store)
    knowledge = [{**TINY["knowledge"][0], "name": "renamed"}]
    # the same options as TINY's noise-logprob, written as a one-value variant: a new label, the same key
    attacks = [{"name": "noise-logprob", "vary": {"n_queries": [16]}}]
    again = run_experiment(
        config_with(name="other", knowledge=knowledge, attacks=attacks), results_dir=tmp_path / "second", store=store
    )
    assert counts(again, "row") == {"cached": 6}
    rows = pd.read_csv(tmp_path / "second" / "results.csv")
    assert set(rows["experiment"]) == {"other"} and set(rows["knowledge"]) == {"renamed"}
    assert set(rows["attack_label"]) == {"noise-logprob (n_queries=16)"} and set(rows["opt_n_queries"]) == {16}


def test_a_finished_cell_resumed_under_new_labels_takes_them(tmp_path, store):
    out = tmp_path / "results"
    run_experiment(config_with(), results_dir=out, store=store)
    knowledge = [{**TINY["knowledge"][0], "name": "renamed"}]
    again = run_experiment(config_with(name="other", knowledge=knowledge), results_dir=out, store=store)
    assert again.cells_skipped == 6
    rows, utility = pd.read_csv(out / "results.csv"), pd.read_csv(out / "utility.csv")
    assert set(rows["experiment"]) == {"other"} and set(rows["knowledge"]) == {"renamed"}
    assert set(utility["experiment"]) == {"other"}


def test_revised_attack_algorithm_recomputes_only_its_rows(tmp_path, store, monkeypatch):
    from labelleak.attacks.base import ATTACKS

    out = tmp_path / "results"
    run_experiment(config_with(), results_dir=out, store=store)
    monkeypatch.setattr(ATTACKS.get("accuracy-probe"), "revision", classmethod(lambda cls, options: 2))
    changed = run_experiment(config_with(), results_dir=tmp_path / "again", store=store)
    # 6 targets (3 classes x 2 methods): the revised attack's row of each is recomputed, no other
    assert counts(changed, "row") == {"computed": 6, "cached": 6 * (ATTACKS_PER_CELL - 1)}


def test_shadow_calibration_is_computed_once_and_shared(tmp_path, store):
    attacks = [{"name": "param-diff", "params": {"steps": 50}, "vary": {"decider": ["youden", "tree"]}}]
    config = config_with(attacks=attacks, shadow={"methods": ["random_labels"], "epochs": 5, "seed": 1000})
    summary = run_experiment(config, results_dir=tmp_path / "r", store=store)
    assert counts(summary, "calibration") == {"computed": 1}
    rows = pd.read_csv(tmp_path / "r" / "results.csv")
    assert len(rows) == 12 and rows["calibration"].str.contains("shadow targets").all()
    # what the shadows were unlearned with is recorded, so the report can tell when it changes
    recorded = json.loads((tmp_path / "r" / "run.json").read_text())["shadow_params"]
    assert recorded == {"digits": {"random_labels": build_unlearner("random_labels", dataset="digits").params()}}
    assert stale_shadows(tmp_path / "r") == []
    again = run_experiment(config, results_dir=tmp_path / "r2", store=store)
    assert counts(again, "calibration") == {"cached": 1} and counts(again, "row") == {"cached": 12}


def test_parallel_jobs_match_the_serial_run(tmp_path, store):
    datasets = copy.deepcopy(TINY["datasets"])
    datasets[0]["singles"] = [0]
    serial = tmp_path / "serial"
    run_experiment(config_with(datasets=datasets), results_dir=serial, store=store)
    parallel = tmp_path / "parallel"
    other_store = type(store)(tmp_path / "other-cache")
    summary = run_experiment(config_with(datasets=datasets), results_dir=parallel, store=other_store, jobs=2)
    assert counts(summary, "unlearned") == {"computed": 2}
    a = (
        pd.read_csv(serial / "results.csv")
        .drop(columns=["seconds", "cpu_seconds"])
        .sort_values(["cell", "attack"])
        .reset_index(drop=True)
    )
    b = (
        pd.read_csv(parallel / "results.csv")
        .drop(columns=["seconds", "cpu_seconds"])
        .sort_values(["cell", "attack"])
        .reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(a, b)


def tiny_mnist(root):
    """A 28×28 stand-in for MNIST: 20 train / 6 test images per class, a bright square per class."""
    import numpy as np

    rng = np.random.default_rng(0)

    def split(per_class):
        y = np.repeat(np.arange(10, dtype=np.uint8), per_class)
        x = rng.integers(0, 60, size=(len(y), 28, 28), dtype=np.uint8)
        for i, label in enumerate(y):
            row, col = divmod(int(label), 5)
            x[i, 4 + 10 * row : 12 + 10 * row, 1 + 5 * col : 5 + 5 * col] = 255
        return x, y

    (x_train, y_train), (x_test, y_test) = split(20), split(6)
    np.savez(root / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return str(root)


def test_parallel_run_over_two_datasets_prepares_each_once(tmp_path, store):
    datasets = copy.deepcopy(TINY["datasets"])
    datasets[0]["singles"] = [0]
    datasets.append({"name": "mnist", "data_root": tiny_mnist(tmp_path), "epochs": 1, "singles": [1]})
    config = config_with(datasets=datasets, knowledge=[{"name": "default", "aux_per_class": 2, "unrelated_size": 8}])
    serial = run_experiment(config, results_dir=tmp_path / "serial", store=store)
    other_store = type(store)(tmp_path / "other-cache")
    parallel = run_experiment(config, results_dir=tmp_path / "parallel", store=other_store, jobs=2)
    # each θ_o is trained exactly once, whichever process prepared its dataset
    assert counts(parallel, "original") == counts(serial, "original") == {"computed": 2}
    a = pd.read_csv(tmp_path / "serial" / "results.csv").drop(columns=["seconds", "cpu_seconds"])
    b = pd.read_csv(tmp_path / "parallel" / "results.csv").drop(columns=["seconds", "cpu_seconds"])
    key = ["cell", "attack"]
    pd.testing.assert_frame_equal(a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True))
    assert set(b["dataset"]) == {"digits", "mnist"}


def test_utility_has_a_forgot_column_against_the_documented_bound(tmp_path, store):
    out = tmp_path / "results"
    run_experiment(config_with(), results_dir=out, store=store)
    utility = pd.read_csv(out / "utility.csv")
    assert "forgot" in utility
    assert list(utility["forgot"].astype(bool)) == list(utility["forget_test_acc"] <= 0.2)
    # a cell file written before the column existed gets it on resume
    cell_file = next(p for p in out.rglob("*.json") if "utility" in p.read_text() and p.name != "run.json")
    data = json.loads(cell_file.read_text())
    del data["utility"]["forgot"]
    cell_file.write_text(json.dumps(data))
    run_experiment(config_with(), results_dir=out, store=store)
    assert pd.read_csv(out / "utility.csv")["forgot"].notna().all()


def test_an_optional_dataset_without_files_is_recorded_and_reported(tmp_path, store, monkeypatch):
    from labelleak.report.document import write_report

    monkeypatch.setenv("LABELLEAK_DATA", str(tmp_path / "no-data"))
    datasets = [{"name": "digits", "epochs": 5, "singles": [0]}, {"name": "svhn", "optional": True, "singles": [3]}]
    out = tmp_path / "run"
    run_experiment(config_with(datasets=datasets), results_dir=out, store=store)
    assert json.loads((out / "run.json").read_text())["datasets_skipped"] == ["svhn"]
    write_report(out)
    assert "**Not run:** svhn, optional in the config, whose files were missing" in (out / "report.md").read_text()


def test_full_partial_and_data_free_knowledge_settings(tmp_path, store):
    from labelleak.attacks.knowledge import draw_aux_classes
    from labelleak.seeding import derive_seed

    # the partial A's classes come from the knowledge seed alone: pick one forgotten class inside, one outside
    held = draw_aux_classes(10, 5, seed=derive_seed(0, "knowledge"))
    inside, outside = held[0], next(c for c in range(10) if c not in held)
    pair = "+".join(map(str, sorted((inside, outside))))
    config = config_with(
        datasets=[{"name": "digits", "epochs": 5, "singles": [inside, outside], "sets": [[inside, outside]]}],
        unlearning={"methods": ["retrain"], "params": {"retrain": {"epochs": 3}}},
        knowledge=[
            {"name": "full", "aux_per_class": 3, "unrelated_size": 16},
            {"name": "partial", "aux_per_class": 3, "aux_classes": 5, "unrelated_size": 16},
            {"name": "data-free", "aux_per_class": 0, "unrelated_size": 16},
        ],
        attacks=[
            {"name": "noise-frequency", "params": {"n_queries": 16}},
            {"name": "accuracy-probe"},
            {"name": "param-diff", "params": {"steps": 20}},
            {"name": "param-diff-orig"},
        ],
    )
    out = tmp_path / "results"
    run_experiment(config, results_dir=out, store=store)
    rows = pd.read_csv(out / "results.csv", dtype={"aux_classes": str}, keep_default_na=False)
    assert "exclude_forgotten" not in rows
    # per target: noise-frequency reads no knowledge (1 row), the A-based attacks run under full and
    # partial (2 each), the two-version attack under all three
    assert len(rows) == 3 * (1 + 2 + 2 + 3)
    by_kind = dict(list(rows.groupby("knowledge_kind")))
    assert set(by_kind["data-free"]["attack"]) == {"param-diff-orig"}
    assert set(by_kind["partial"]["attack"]) == {"accuracy-probe", "param-diff", "param-diff-orig"}
    assert set(by_kind["full"]["forgotten_in_aux"]) == {"all"} and set(by_kind["full"]["aux_classes"]) == {""}
    assert set(by_kind["data-free"]["forgotten_in_aux"]) == {"none"}
    assert by_kind["data-free"]["knowledge_description"].str.startswith("A: none; N: 16").all()
    partial = by_kind["partial"]
    # one A for every target, whatever its forgotten classes
    assert set(partial["aux_classes"]) == {" ".join(map(str, held))}
    assert partial["knowledge_description"].nunique() == 1
    split = dict(zip(partial["truth"].astype(str), partial["forgotten_in_aux"]))
    assert split == {str(inside): "all", str(outside): "none", pair: "some"}
    # the draw takes no target at all: A holds samples of exactly the drawn classes
    ctx = Context(config, store_root=str(store.root), results_dir=str(out))
    setting = config.knowledge[1]
    draw = ctx.draw("digits", 0, setting, ctx.original("digits", 0).model)
    assert ctx.aux_classes("digits", 0, setting) == held
    assert sorted(set(draw.knowledge.aux_y.tolist())) == list(held) and len(draw.knowledge.aux_y) == 15


def test_an_aux_classes_that_leaves_no_class_out_fails_before_training(tmp_path, store):
    knowledge = [{"name": "partial", "aux_per_class": 3, "aux_classes": 10}]
    with pytest.raises(ConfigError, match=r"knowledge\[0\]\.aux_classes must be an integer in \[1, 9\] .*got 10"):
        run_experiment(config_with(knowledge=knowledge), results_dir=tmp_path / "r", store=store)
    assert not list(store.root.glob("original/*"))
