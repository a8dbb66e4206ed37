"""``labelleak unlearn`` and ``labelleak methods``."""

from __future__ import annotations

import pytest

from labelleak.cli import main
from labelleak.cli.unlearn import parse_params, parse_value
from labelleak.unlearning import UNLEARNERS
from labelleak.unlearning.defaults import dataset_defaults
from labelleak.validation import ParameterError


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_methods_lists_every_registered_method(capsys):
    code, out, _ = _run(capsys, "methods")
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(lines) == len(UNLEARNERS)
    for name in UNLEARNERS.names():
        assert any(line.startswith(f"| {name} |") for line in lines)
    assert "| retrain | retain |" in out and "| gradient_ascent | forget |" in out


def test_unlearn_prints_before_and_after_then_loads_from_cache(capsys, tmp_path):
    argv = [
        "unlearn",
        "--dataset",
        "digits",
        "--method",
        "boundary_shrink",
        "--forget",
        "3",
        "--forget",
        "5",
        "--param",
        "epochs=5",
        "--cache",
        str(tmp_path),
        "--quiet",
        "--threads",
        "1",
    ]
    code, out, _ = _run(capsys, *argv)
    assert code == 0, out
    assert "boundary_shrink forgetting 3 (3), 5 (5): computed" in out and "epochs=5" in out
    for label in ("forget-class test accuracy", "retain test accuracy", "overall test accuracy", "seconds"):
        assert f"| {label}" in out
    code, out, _ = _run(capsys, *argv)
    assert code == 0 and ": loaded from cache:" in out


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--method", "nope", "--forget", "3"], "unknown unlearning method 'nope'"),
        (["--method", "finetune", "--forget", "10"], "forget_classes must be class indices in [0, 9], got 10"),
        (
            ["--method", "finetune", "--forget", "3", "--param", "epocs=3"],
            "unknown parameter 'epocs' for method 'finetune'; valid: epochs, lr",
        ),
        (["--method", "finetune", "--forget", "3", "--param", "epochs"], "--param must look like KEY=VALUE"),
        (["--method", "finetune", "--forget", "3", "--param", "epochs=0"], "epochs must be an integer >= 1, got 0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(extra, needle, capsys, tmp_path):
    code, _out, err = _run(capsys, "unlearn", "--dataset", "digits", "--cache", str(tmp_path), "--quiet", *extra)
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("labelleak: error:")]
    assert len(lines) == 1 and needle in lines[0]


def test_param_values_are_typed():
    assert parse_value("3") == 3 and isinstance(parse_value("3"), int)
    assert parse_value("1e-3") == pytest.approx(0.001)
    assert parse_value("True") is True and parse_value("false") is False
    assert parse_value("none") is None and parse_value("sgd") == "sgd"
    assert parse_params(["lr=0.5", "optimizer=adam"]) == {"lr": 0.5, "optimizer": "adam"}
    with pytest.raises(ParameterError):
        parse_params(["=3"])


def test_unlearn_warns_when_the_model_did_not_forget(capsys, tmp_path):
    base = ["unlearn", "--dataset", "digits", "--method", "gradient_ascent", "--forget", "3"]
    base += ["--cache", str(tmp_path), "--threads", "1", "--quiet"]
    code, out, _ = _run(capsys, *base, "--param", "epochs=1", "--param", "lr=1e-5")
    assert code == 0 and "DID NOT FORGET" in out and "max(20%, 2/K)" in out
    # the digits defaults forget, and say nothing
    code, out, _ = _run(capsys, *base)
    epochs = dataset_defaults("digits", "gradient_ascent")["epochs"]
    assert code == 0 and "DID NOT FORGET" not in out and f"epochs={epochs}," in out


def test_unlearn_amnesiac_updates_records_theta_o_itself(capsys, tmp_path):
    argv = ["unlearn", "--dataset", "digits", "--method", "amnesiac_updates", "--forget", "3"]
    code, out, _ = _run(capsys, *argv, "--cache", str(tmp_path), "--threads", "1", "--quiet")
    repair_epochs = dataset_defaults("digits", "amnesiac_updates")["repair_epochs"]
    assert code == 0 and "DID NOT FORGET" not in out and f"repair_epochs={repair_epochs}," in out
