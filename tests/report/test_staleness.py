"""Results unlearned with settings that today's config no longer resolves to."""

from __future__ import annotations

import json

import pandas as pd
from tests.report.test_tables import make_results_dir

from labelleak.report.document import write_report
from labelleak.report.staleness import check, stale_methods, stale_shadows
from labelleak.targets import build_unlearner


def _record(folder, params_by_method, *, method_params=None, dataset_params=None):
    """Give ``folder``'s utility rows these recorded parameters and write its config.json."""
    utility = pd.read_csv(folder / "utility.csv")
    utility["params"] = [json.dumps(params_by_method[m]) for m in utility["method"]]
    utility.to_csv(folder / "utility.csv", index=False)
    config = {
        "name": "synthetic",
        "method_params": method_params or {},
        "datasets": [{"name": "digits", "method_params": dataset_params or {}}],
    }
    (folder / "config.json").write_text(json.dumps(config))


def _today(method, **options):
    return build_unlearner(method, options, dataset="digits").params()


def test_a_folder_made_with_todays_settings_is_not_stale(tmp_path):
    folder = make_results_dir(tmp_path)
    _record(folder, {"retrain": _today("retrain"), "finetune": _today("finetune")})
    assert stale_methods(folder) == []


def test_a_changed_default_names_the_method_its_targets_and_the_parameter(tmp_path):
    folder = make_results_dir(tmp_path)
    then = {**_today("finetune"), "lr": 123.0}
    _record(folder, {"retrain": _today("retrain"), "finetune": then})
    [stale] = stale_methods(folder)
    assert (stale.dataset, stale.method, stale.targets) == ("digits", "finetune", 4)
    assert stale.changed == {"lr": (123.0, _today("finetune")["lr"])}


def test_a_parameter_the_run_set_in_its_config_is_not_a_change(tmp_path):
    folder = make_results_dir(tmp_path)
    params = {"retrain": _today("retrain"), "finetune": _today("finetune", lr=0.5, epochs=2)}
    _record(folder, params, method_params={"finetune": {"lr": 0.5}}, dataset_params={"finetune": {"epochs": 2}})
    assert stale_methods(folder) == []


def test_an_option_added_since_counts_as_changed(tmp_path):
    folder = make_results_dir(tmp_path)
    then = _today("finetune")
    added = next(iter(then))
    _record(folder, {"retrain": _today("retrain"), "finetune": {k: v for k, v in then.items() if k != added}})
    [stale] = stale_methods(folder)
    assert stale.changed == {added: (None, then[added])}


def test_the_report_lists_stale_methods_above_the_tables(tmp_path):
    folder = make_results_dir(tmp_path)
    _record(folder, {"retrain": _today("retrain"), "finetune": {**_today("finetune"), "lr": 123.0}})
    text = write_report(folder)[0].read_text()
    assert "**Settings changed since this run:** 4 targets" in text
    assert "| digits | finetune | 4 | lr: 123.0 → " in text


def test_a_method_or_parameter_todays_code_refuses_is_listed_not_raised(tmp_path):
    folder = make_results_dir(tmp_path)
    _record(
        folder, {"retrain": _today("retrain"), "finetune": _today("finetune")}, method_params={"finetune": {"gone": 1}}
    )
    [stale] = stale_methods(folder)
    assert stale.method == "finetune" and stale.changed["settings"][0] == "as run"
    assert stale.changed["settings"][1].startswith("refused today: unknown parameter 'gone'")


def _calibrated(folder, *, shadow_methods=("random_labels",), recorded=None):
    """Mark ``folder``'s 'good' rows as fit on shadows of ``shadow_methods``; with ``recorded``,
    run.json says the shadows' parameters."""
    rows = pd.read_csv(folder / "results.csv")
    rows["calibration"] = ["30 shadow targets" if a == "good" else None for a in rows["attack"]]
    rows.to_csv(folder / "results.csv", index=False)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "shadow": {"methods": list(shadow_methods)}}))
    if recorded is not None:
        (folder / "run.json").write_text(json.dumps({"shadow_params": {"digits": recorded}}))
    return int(rows["calibration"].notna().sum())


def test_shadows_recorded_with_todays_defaults_are_not_stale(tmp_path):
    folder = make_results_dir(tmp_path)
    _record(folder, {"retrain": _today("retrain"), "finetune": _today("finetune")})
    _calibrated(folder, recorded={"random_labels": _today("random_labels")})
    assert stale_shadows(folder) == []


def test_shadows_recorded_with_other_parameters_name_the_calibrated_rows(tmp_path):
    folder = make_results_dir(tmp_path)
    _record(folder, {"retrain": _today("retrain"), "finetune": _today("finetune")})
    rows = _calibrated(folder, recorded={"random_labels": {**_today("random_labels"), "lr": 9.0}})
    [stale] = stale_shadows(folder)
    assert (stale.dataset, stale.method, stale.rows, stale.source) == ("digits", "random_labels", rows, "run.json")
    assert stale.changed == {"lr": (9.0, _today("random_labels")["lr"])}
    assert stale_methods(folder) == []  # no target changed: only the calibrated rows would


def test_without_a_record_the_shadows_are_read_off_targets_of_the_same_method(tmp_path):
    folder = make_results_dir(tmp_path)
    # the run's finetune targets, unlearned with the defaults of the time, tell what its finetune shadows had
    _record(folder, {"retrain": _today("retrain"), "finetune": {**_today("finetune"), "lr": 123.0}})
    _calibrated(folder, shadow_methods=("finetune", "random_labels"))
    inferred, unknown = stale_shadows(folder)
    assert inferred.method == "finetune" and inferred.source == "the targets of this method"
    assert inferred.changed == {"lr": (123.0, _today("finetune")["lr"])}
    assert "(as run: from the targets of this method)" in inferred.changes()
    # no random_labels target: the folder cannot tell, and says so
    assert unknown.method == "random_labels" and unknown.changes() == "not recorded in this folder"


def test_targets_with_parameters_set_by_the_config_do_not_stand_for_the_shadows(tmp_path):
    folder = make_results_dir(tmp_path)
    _record(
        folder,
        {"retrain": _today("retrain"), "finetune": _today("finetune", lr=0.5)},
        method_params={"finetune": {"lr": 0.5}},
    )
    _calibrated(folder, shadow_methods=("finetune",))
    [unknown] = stale_shadows(folder)
    assert unknown.source == "" and unknown.changed == {}


def test_the_report_lists_changed_shadows_under_their_own_heading(tmp_path):
    folder = make_results_dir(tmp_path)
    _record(folder, {"retrain": _today("retrain"), "finetune": _today("finetune")})
    rows = _calibrated(folder, recorded={"random_labels": {**_today("random_labels"), "lr": 9.0}})
    stale = check(folder)
    assert stale and not stale.targets
    text = write_report(folder, stale=stale)[0].read_text()
    assert "**Shadow models' settings:**" in text and "Settings changed since this run" not in text
    assert f"| digits | random_labels | {rows} | lr: 9.0 → " in text
