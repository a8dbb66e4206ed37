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
    assert lines[2] == "| attack | \\|C\\| = 1 | \\|C\\| = 2 |"
    # the escaped pipes keep the header as many cells as the rows
    assert lines[2].replace("\\|", "").count("|") == lines[4].count("|")
    assert lines[4].startswith("| param-diff | 1/2 = 50% [")
    assert "| 1/1 = 100% [" in lines[4]
    assert lines[5].startswith(f"| {verdict} | 2/2 = 100% [")
    assert lines[5].endswith("| 0/1 = 0% [0%–79%] |")


def test_misses_lists_only_targets_that_forgot_and_whose_verdict_missed(grid_audit):
    verdict = grid_audit.VERDICT
    rows = [
        _row("forgot-hit", [1], 0.02, **{verdict: True}),
        {
            **_row("forgot-miss", [1, 2], 0.05, **{verdict: False}),
            "original_class_test_acc": [0.9] * 10,
            "class_test_acc": [0.9, 0.0, 0.0] + [0.9] * 6 + [0.5],
        },
        _row("kept-miss", [3], 0.90, **{verdict: False}),
    ]
    text = grid_audit.misses(rows)
    assert "| forgot-miss | 5.0% | [9] | −1 (90% → 0%), −2 (90% → 0%), +9 (90% → 50%) |" in text
    assert "forgot-hit" not in text and "kept-miss" not in text


def test_misses_say_none_instead_of_an_empty_table_when_the_verdict_missed_nothing(grid_audit):
    rows = [
        _row("forgot-hit", [1], 0.02, **{grid_audit.VERDICT: True}),
        _row("kept-miss", [3], 0.9, **{grid_audit.VERDICT: False}),
    ]
    text = grid_audit.misses(rows)
    assert "None: the verdict named the exact set of every target that forgot." in text
    assert "| target |" not in text


def test_misses_give_the_accuracy_of_each_class_the_verdict_added_or_left_out(grid_audit):
    row = _row("ga", [0, 2], 0.0, **{grid_audit.VERDICT: False})
    row["verdict"] = [0, 4]
    row["original_class_test_acc"] = [0.9, 0.9, 0.85, 0.9, 0.67]
    row["class_test_acc"] = [0.0, 0.9, 0.03, 0.9, 0.42]
    assert grid_audit.wrong_classes(row) == "−2 (85% → 3%), +4 (67% → 42%)"
    assert "| ga | 0.0% | [0, 4] | −2 (85% → 3%), +4 (67% → 42%) |" in grid_audit.misses([row])


def test_tables_come_one_dataset_at_a_time(grid_audit):
    verdict = grid_audit.VERDICT
    rows = [
        {**_row("m", [1], 0.0, **{verdict: True}), "dataset": "mnist"},
        {**_row("f1", [1], 0.0, **{verdict: False}), "dataset": "fashion-mnist"},
        {**_row("f2", [2], 0.5, **{verdict: True}), "dataset": "fashion-mnist"},
    ]
    text = "\n".join(grid_audit.tables(rows))
    assert text.index("## fashion-mnist: 2 targets, 1 forgot") < text.index("## mnist: 1 targets, 1 forgot")
    assert "| audit verdict | 0/1 = 0% [" in text.split("## mnist")[0]


def test_a_miss_is_collateral_only_when_every_added_class_fell_to_the_forgetting_bound(grid_audit):
    def row(verdict: list[int], extra_acc: float) -> dict:
        r = _row("t", [0], 0.0)
        r["verdict"] = verdict
        r["class_test_acc"] = [0.0, 0.9, 0.9, 0.9, extra_acc] + [0.9] * 5
        return r

    assert grid_audit.collateral(row([0, 4], 0.13))
    assert not grid_audit.collateral(row([0, 4], 0.42))
    assert not grid_audit.collateral(row([4], 0.13))  # the forgotten class left out


def test_size_confusion_counts_named_against_forgotten_set_sizes_with_precision_and_recall(grid_audit):
    rows = [_row("a", [1], 0.0), _row("b", [1, 2], 0.0), _row("c", [3, 4], 0.0)]
    rows[0]["verdict"], rows[1]["verdict"], rows[2]["verdict"] = [1, 5], [1, 2], [3]
    lines = grid_audit.size_confusion(rows, title="t").splitlines()
    assert lines[2] == "| \\|C\\| | named 1 | named 2 | precision | recall |"
    assert lines[4] == "| 1 | 0 | 1 | 50.0% | 100.0% |"
    assert lines[5] == "| 2 | 1 | 1 | 100.0% | 75.0% |"


def test_a_stored_audit_is_kept_only_under_the_key_it_was_made_with(grid_audit, tmp_path):
    path = tmp_path / "cell.json"
    assert grid_audit.stored_audit(path, key="abc") is None
    path.write_text('{"verdict": {"forgotten": [3]}, "audit_key": "abc"}')
    assert grid_audit.stored_audit(path, key="abc")["verdict"]["forgotten"] == [3]
    assert grid_audit.stored_audit(path, key="new") is None
    path.write_text('{"verdict": {"forgotten": [3]}}')
    assert grid_audit.stored_audit(path, key="abc") is None


def test_the_audit_key_changes_with_the_target_and_with_the_shadow_methods_defaults(grid_audit):
    key = grid_audit.audit_key({"method": "retrain"}, dataset="mnist")
    assert grid_audit.audit_key({"method": "retrain"}, dataset="mnist") == key
    assert grid_audit.audit_key({"method": "finetune"}, dataset="mnist") != key
    # defaults.json gives the shadow methods other parameters on digits than on mnist
    assert grid_audit.audit_key({"method": "retrain"}, dataset="digits") != key


def test_the_audit_key_changes_with_the_access_attacks_budget_and_original(grid_audit):
    setting = grid_audit.AuditSetting

    def key(**options):
        return grid_audit.audit_key({"method": "retrain"}, dataset="mnist", setting=setting(**options))

    black_box = {"access": "queries", "attacks": "invert-cma,noise-frequency", "with_original": False}
    variants = [
        key(),
        key(access="queries"),
        key(**black_box),
        key(**black_box, query_budget=400),
        key(**{**black_box, "attacks": "invert-cma"}),
        key(**{**black_box, "with_original": True}),
    ]
    assert len(set(variants)) == len(variants)
    assert setting(**black_box, query_budget=400).command_options() == (
        " --access queries --without-original --attacks invert-cma,noise-frequency --query-budget 400"
    )
    assert setting().command_options() == ""


def test_the_audit_key_changes_when_an_attack_the_audit_runs_changes_revision(grid_audit, monkeypatch):
    from labelleak.attacks import ATTACKS

    key = grid_audit.audit_key({"method": "retrain"}, dataset="mnist")
    attack = ATTACKS.get("param-diff")
    revision = attack.revision
    monkeypatch.setattr(attack, "revision", classmethod(lambda cls, options: revision(options) + 1))
    assert grid_audit.audit_key({"method": "retrain"}, dataset="mnist") != key


def test_the_audit_key_changes_when_the_verdict_rule_changes_revision(grid_audit, monkeypatch):
    key = grid_audit.audit_key({"method": "retrain"}, dataset="mnist")
    monkeypatch.setattr(grid_audit, "VERDICT_REVISION", grid_audit.VERDICT_REVISION + 1)
    assert grid_audit.audit_key({"method": "retrain"}, dataset="mnist") != key


def test_tables_only_writes_audit_md_again_from_audit_json_without_auditing(grid_audit, tmp_path, capsys):
    verdict = grid_audit.VERDICT
    row = {
        **_row("a", [1], 0.0, **{"param-diff": True, verdict: False}),
        "dataset": "mnist",
        "verdict": [1, 2],
        "audit_seconds": 3.5,
        "class_test_acc": [0.9, 0.0, 0.1],
        "original_class_test_acc": [0.9, 0.9, 0.9],
    }
    assert grid_audit.main(["grid.toml", "--out", str(tmp_path), "--tables-only"]) == 2
    assert "--tables-only reads" in capsys.readouterr().err
    (tmp_path / "audit.json").write_text(grid_audit.json.dumps([row]))
    assert grid_audit.main(["grid.toml", "--out", str(tmp_path), "--tables-only", "--datasets", "mnist"]) == 0
    text = (tmp_path / "audit.md").read_text()
    assert "`python benchmarks/grid_audit.py grid.toml --datasets mnist --out OUT`: 1 targets audited, 1 forgot" in text
    assert "slowest 3.5 s" in text and "| a | 0.0% | [1, 2] | +2 (90% → 10%) |" in text
    assert "Queries to θ_u" not in text  # rows written before the count was recorded carry none
    (tmp_path / "audit.json").write_text(grid_audit.json.dumps([{**row, "queries": 928}, {**row, "queries": 900}]))
    assert grid_audit.main(["grid.toml", "--out", str(tmp_path), "--tables-only", "--access", "queries"]) == 0
    text = (tmp_path / "audit.md").read_text()
    assert "grid.toml --access queries --out OUT`" in text
    assert "summed over the attacks that query it: median 928, most 928." in text
    refused = {"cell": "b", "dataset": "mnist", "forget": [2], "forget_test_acc": 0.5, "refused": "NaN outputs"}
    (tmp_path / "audit.json").write_text(grid_audit.json.dumps([row, refused]))
    assert grid_audit.main(["grid.toml", "--out", str(tmp_path), "--tables-only"]) == 0
    text = (tmp_path / "audit.md").read_text()
    assert "1 targets audited, 1 forgot" in text and "the audit refused the model: b (NaN outputs)." in text


def test_a_rerun_whose_audits_are_current_loads_no_unlearned_model(grid_audit, monkeypatch, tmp_path):
    from types import SimpleNamespace

    import numpy as np
    import torch

    from labelleak.experiments.grid import Cell

    grid = [Cell("digits", 0, "finetune", (3,)), Cell("digits", 0, "finetune", (4, 5))]
    loaded: list[str] = []
    audited: list[str] = []

    class Context:
        def __init__(self, config, **_):
            self.store = None

        def original(self, name, seed):
            return SimpleNamespace(model=None, metrics={"per_class_test_accuracy": [0.9] * 10})

        def target_key(self, cell):
            return {"cell": cell.id}

        def unlearned(self, cell):
            loaded.append(cell.id)
            return SimpleNamespace(model=torch.nn.Identity(), metrics={"forget_test_acc": 0.01})

        def dataset(self, name):
            return None

        def dataset_config(self, name):
            return SimpleNamespace(data_root=None)

    class Report:
        def __init__(self, forgotten):
            self.forgotten = forgotten

        def to_json(self):
            attack = {"name": "noise-frequency", "access": "queries", "predicted": self.forgotten, "queries": 64}
            return {"num_classes": 10, "verdict": {"forgotten": self.forgotten}, "attacks": [attack]}

    def audit_model(model, **options):
        # the setting the published folders were audited with, not the audit's default without θ_o
        assert (options["shadow_originals"], options["shadow_recipes"]) == (1, "same")
        audited.append("audit")
        return Report([3])

    monkeypatch.setattr(grid_audit, "load_config", lambda path: None)
    monkeypatch.setattr(grid_audit, "cells", lambda config: grid)
    monkeypatch.setattr(grid_audit, "Context", Context)
    monkeypatch.setattr(grid_audit, "audit_model", audit_model)
    monkeypatch.setattr(grid_audit, "load_dataset", lambda name, root=None: None)
    monkeypatch.setattr(grid_audit, "class_accuracy", lambda model, data: list(np.linspace(0, 0.9, 10)))
    setting = grid_audit.AuditSetting(access="queries")

    def run():
        return grid_audit.audit_cells("grid.toml", out=tmp_path, cache=None, datasets=None, setting=setting)

    first = run()
    assert loaded == [c.id for c in grid] and len(audited) == 2
    second = run()
    assert loaded == [c.id for c in grid] and len(audited) == 2  # nothing loaded or audited again
    assert second == first
    assert [r["success"][grid_audit.VERDICT] for r in second] == [True, False]
    assert second[0]["class_test_acc"][9] == pytest.approx(0.9)
