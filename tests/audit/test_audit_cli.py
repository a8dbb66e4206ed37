"""End to end: ``labelleak audit`` on a model trained and unlearned outside labelleak (conftest.py)."""

from __future__ import annotations

import json

import pytest
import torch

from labelleak.attacks import ATTACKS
from labelleak.cli import main
from tests.audit.conftest import FORGOTTEN, FORGOTTEN_PAIR, USER_MODEL

JSON_KEYS = {"num_classes", "verdict", "attacks"}
ATTACK_KEYS = {
    "name",
    "access",
    "scores",
    "predicted",
    "queries",
    "seconds",
    "calibration",
    "probabilities",
    "abstains",
}
VERDICT_KEYS = {
    "forgotten",
    "agreeing_attacks",
    "attacks_run",
    "rule",
    "confidence",
    "fused_attacks",
    "fusion",
    "abstained",
    "unsupported",
}


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """One artifact store for the session, so the shadow calibration is built once."""
    return tmp_path_factory.mktemp("audit_cache")


def audit(args, capsys):
    code = main(["audit", "--dataset", "digits", "--quiet", "--threads", "1", "--workers", "1", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_owner_model_really_forgot(owner_files):
    # the premise of the tests below: plain-PyTorch unlearning removed class 3 and kept the rest
    assert owner_files.forget_test_acc < 0.05
    assert owner_files.retain_test_acc > 0.9


def test_owner_model_really_forgot_two_classes(owner_pair_files):
    assert owner_pair_files.forget_test_acc < 0.05
    assert owner_pair_files.retain_test_acc > 0.9


def test_white_box_audit_names_both_forgotten_classes(owner_pair_files, cache_dir, tmp_path, capsys):
    out_json = tmp_path / "pair.json"
    args = ["--model-factory", f"{USER_MODEL}:build", "--weights", owner_pair_files.unlearned]
    code, out, err = audit(
        [*args, "--original", owner_pair_files.original, "--cache", cache_dir, "--json", out_json], capsys
    )
    assert code == 0, err
    result = json.loads(out_json.read_text())
    assert result["verdict"]["rule"] == "fused"
    assert result["verdict"]["forgotten"] == list(FORGOTTEN_PAIR)
    assert f"verdict: classes {FORGOTTEN_PAIR[0]}, {FORGOTTEN_PAIR[1]}" in out


def test_white_box_audit_finds_the_forgotten_class(owner_files, cache_dir, tmp_path, capsys):
    out_json, out_md = tmp_path / "audit.json", tmp_path / "audit.md"
    code, out, err = audit(
        [
            "--model-factory",
            f"{USER_MODEL}:build",
            "--weights",
            owner_files.unlearned,
            "--original",
            owner_files.original,
            "--cache",
            cache_dir,
            "--json",
            out_json,
            "--report",
            out_md,
        ],
        capsys,
    )
    assert code == 0, err
    assert "head: classifier.3" in out
    result = json.loads(out_json.read_text())
    assert set(result) == JSON_KEYS
    assert set(result["verdict"]) == VERDICT_KEYS
    assert result["verdict"]["rule"] == "fused"
    confidence = result["verdict"]["confidence"]
    assert len(confidence) == 10 and confidence[FORGOTTEN] > 0.5
    assert sorted(k for k in range(10) if confidence[k] > 0.5) == [FORGOTTEN]
    fused = set(result["verdict"]["fused_attacks"])
    assert {"param-diff", "invert-wb", "accuracy-probe"} <= fused and "random-guess" not in fused
    assert result["num_classes"] == 10
    # weights + θ_o: every registered attack is permitted, and the default runs all but the paper's GA
    expected = set(ATTACKS.names()) - {"invert-bb"}
    assert {a["name"] for a in result["attacks"]} == expected
    for entry in result["attacks"]:
        assert set(entry) == ATTACK_KEYS
        assert len(entry["scores"]) == 10 and entry["seconds"] >= 0
        assert entry["access"] == ATTACKS.get(entry["name"]).requires
    assert result["verdict"]["forgotten"] == [FORGOTTEN]
    assert result["verdict"]["attacks_run"] == len(expected)
    assert result["verdict"]["agreeing_attacks"] > len(expected) / 2
    assert f"verdict: class {FORGOTTEN}" in out
    # a factory whose head is its last layer: every calibratable attack is fit on shadows of that architecture
    own = {a["name"]: a["calibration"] for a in result["attacks"]}
    assert own["invert-wb"].startswith("shadows of the owner's architecture (factory-")
    # with --original every inversion attack reads its per-class difficulty off θ_o's own run
    assert own["invert-wb"] == own["param-diff"] + "; per-class reference: the same run on the original model"
    assert own["label-reach"] == own["invert-wb"] and own["random-guess"] == ""
    assert "calibrated on: shadows of the owner's architecture" in out and "uncalibrated" not in out
    report = out_md.read_text()
    assert "| param-diff | weights |" in report and f"verdict: class {FORGOTTEN}" in report
    for name in ("invert-wb", "invert-cma"):  # the prototype grids are written beside the report, linked
        assert f"![{name} prototypes](audit_{name}.png)" in report
        assert (tmp_path / f"audit_{name}.png").read_bytes().startswith(b"\x89PNG")


def test_onnx_audit_runs_queries_only(owner_onnx, cache_dir, tmp_path, capsys):
    out_json = tmp_path / "onnx.json"
    code, _out, err = audit(["--onnx", owner_onnx, "--cache", cache_dir, "--json", out_json], capsys)
    assert code == 0, err
    result = json.loads(out_json.read_text())
    black_box = {
        n
        for n in ATTACKS.names()
        if ATTACKS.get(n).requires in ("labels", "queries")
        and not ATTACKS.get(n).needs_original
        and ATTACKS.get(n).in_default_audit
    }
    assert {a["name"] for a in result["attacks"]} == black_box
    assert all(a["access"] in ("labels", "queries") and isinstance(a["queries"], int) for a in result["attacks"])
    assert FORGOTTEN in result["verdict"]["forgotten"]
    # the architecture behind an ONNX file is unknown: the default's inversion attacks are fit on
    # shadows of labelleak's architecture (a transfer); the paper's GA, named, runs uncalibrated and is flagged
    calibration = {a["name"]: a["calibration"] for a in result["attacks"]}
    assert (
        calibration["invert-cma"].startswith("transfer from shadows of labelleak's")
        and calibration["noise-logprob"] == ""
    )
    assert "uncalibrated" not in _out
    code, out, err = audit(["--onnx", owner_onnx, "--cache", cache_dir, "--attacks", "invert-bb,noise-logprob"], capsys)
    assert code == 0, err
    assert "warning: these attacks ran uncalibrated, with fixed defaults: invert-bb" in out
    # a calibrated set decision has no default: the GA is then fit on the transfer shadows too
    named = ["--attacks", "invert-bb", "--query-budget", "200", "--inversion-set-decision", "calibrated"]
    code, out, err = audit(["--onnx", owner_onnx, "--cache", cache_dir, *named], capsys)
    assert code == 0, err
    assert "uncalibrated" not in out and "calibrated on: transfer from shadows of labelleak's" in out


def test_onnx_audit_calibrated_on_stand_in_architectures(owner_onnx, tmp_path, capsys):
    out_json = tmp_path / "stand-ins.json"
    args = ["--onnx", owner_onnx, "--cache", tmp_path / "cache", "--json", out_json, "--attacks", "invert-bb"]
    code, out, err = audit([*args, "--shadow-archs", "mlp,smallcnn", "--single-class-shadows"], capsys)
    assert code == 0, err
    result = json.loads(out_json.read_text())
    # the attack the default leaves uncalibrated is fit on one shadow original of each architecture
    calibration = result["attacks"][0]["calibration"]
    assert calibration.startswith("shadows of labelleak's mlp, smallcnn standing in for the unknown architecture")
    assert calibration.endswith("per architecture") and "uncalibrated" not in out
    assert f"calibrated on: {calibration}" in out


def test_stand_in_architectures_are_for_unknown_architectures_only(owner_files, owner_onnx, capsys):
    model = ["--model-factory", f"{USER_MODEL}:build", "--weights", owner_files.unlearned]
    code, out, err = audit([*model, "--shadow-archs", "mlp"], capsys)
    _one_line_error(code, out, err, "--shadow-archs stand in for an architecture labelleak does not know")
    code, out, err = audit(["--onnx", owner_onnx, "--shadow-archs", "mlp,lenet,mlp"], capsys)
    _one_line_error(code, out, err, "--shadow-archs names an architecture twice: mlp, lenet, mlp")
    with pytest.raises(SystemExit) as parser_exit:
        audit([*model, "--shadow-archs", "mlp,vgg"], capsys)
    err = capsys.readouterr().err
    assert parser_exit.value.code == 2
    assert "--shadow-archs: must name architectures among mlp, lenet, smallcnn, resnet18, got 'mlp,vgg'" in err


def test_no_shadow_original_is_refused_by_the_parser(owner_files, capsys):
    model = ["--model-factory", f"{USER_MODEL}:build", "--weights", owner_files.unlearned]
    with pytest.raises(SystemExit) as parser_exit:
        audit([*model, "--shadow-originals", "0"], capsys)
    assert parser_exit.value.code == 2
    assert "--shadow-originals: must be an integer >= 1, got 0" in capsys.readouterr().err


def test_shadow_methods_choose_how_the_shadows_unlearn(owner_files, tmp_path, capsys):
    out_json = tmp_path / "one-method-shadows.json"
    model = ["--model-factory", f"{USER_MODEL}:build", "--weights", owner_files.unlearned]
    args = [
        *model,
        "--cache",
        tmp_path / "cache",
        "--json",
        out_json,
        "--attacks",
        "param-diff",
        "--shadow-originals",
        "1",
    ]
    code, out, err = audit([*args, "--shadow-methods", "random_labels", "--single-class-shadows"], capsys)
    assert code == 0, err
    calibration = json.loads(out_json.read_text())["attacks"][0]["calibration"]
    assert calibration.startswith("shadows of the owner's architecture") and "1 method x 10 classes" in calibration
    code, out, err = audit(
        [
            *args,
            "--shadow-methods",
            "random_labels,finetune",
            "--shadow-methods-per-set",
            "one",
            "--single-class-shadows",
        ],
        capsys,
    )
    assert code == 0, err
    calibration = json.loads(out_json.read_text())["attacks"][0]["calibration"]
    assert "2 methods in turn x 10 classes" in calibration
    code, out, err = audit([*model, "--shadow-methods", "finetune,unlearn_all"], capsys)
    _one_line_error(code, out, err, "--shadow-methods names unknown unlearning methods: unlearn_all (known: amnesiac,")
    code, out, err = audit([*model, "--shadow-methods", "finetune,finetune"], capsys)
    _one_line_error(code, out, err, "--shadow-methods names a method twice: finetune, finetune")
    code, out, err = audit([*model, "--shadow-methods", "gradient_ascent:ascend_on=some"], capsys)
    _one_line_error(
        code, out, err, "--shadow-methods: gradient_ascent:ascend_on=some: ascend_on must be one of 'correct', 'all'"
    )
    code, out, err = audit([*model, "--shadow-methods", "gradient_ascent,gradient_ascent:ascend_on=correct"], capsys)
    _one_line_error(code, out, err, "--shadow-methods names a method twice")
    code, out, err = audit([*model, "--shadow-methods", "gradient_ascent:all"], capsys)
    _one_line_error(code, out, err, "--shadow-methods: a method spec's parameters read key=value, got 'all'")


def _one_line_error(code, out, err, *fragments):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("labelleak: error:")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_missing_weights_file(tmp_path, capsys):
    code, out, err = audit(["--model-factory", f"{USER_MODEL}:build", "--weights", tmp_path / "nope.pt"], capsys)
    _one_line_error(code, out, err, "not found", "nope.pt")


def test_missing_factory_file(owner_files, tmp_path, capsys):
    code, out, err = audit(
        ["--model-factory", f"{tmp_path / 'absent.py'}:build", "--weights", owner_files.unlearned], capsys
    )
    _one_line_error(code, out, err, "model factory file not found")


@pytest.mark.parametrize(
    "spec, fragment",
    [
        (f"{USER_MODEL}:no_such_callable", "no callable named 'no_such_callable'"),
        ("no_such_package.models:build", "cannot import module 'no_such_package.models'"),
        (f"{USER_MODEL}:not_a_model", "returned str"),
        (f"{USER_MODEL}", "FILE.py:CALLABLE"),
    ],
)
def test_wrong_factory(owner_files, capsys, spec, fragment):
    code, out, err = audit(["--model-factory", spec, "--weights", owner_files.unlearned], capsys)
    _one_line_error(code, out, err, fragment)


def test_weights_of_another_architecture(owner_files, capsys):
    code, out, err = audit(["--model-factory", f"{USER_MODEL}:build_wider", "--weights", owner_files.unlearned], capsys)
    _one_line_error(code, out, err, "do not fit the architecture", "shape mismatch")


@pytest.mark.parametrize("content", ["whole module", "training checkpoint"])
def test_pickle_that_is_not_a_plain_state_dict(owner_files, tmp_path, capsys, content):
    path = tmp_path / "checkpoint.pt"
    if content == "whole module":  # a pickled nn.Module: weights_only loading refuses to unpickle it
        torch.save(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)), path)
    else:  # a dict holding more than tensors
        torch.save({"model": torch.load(owner_files.unlearned, weights_only=True), "epoch": 3}, path)
    code, out, err = audit(["--model-factory", f"{USER_MODEL}:build", "--weights", path], capsys)
    _one_line_error(code, out, err, "refusing to load")


def test_nan_weights(owner_files, tmp_path, capsys):
    state = torch.load(owner_files.unlearned, weights_only=True)
    state["classifier.3.weight"][0, 0] = float("nan")
    bad = tmp_path / "nan.pt"
    torch.save(state, bad)
    code, out, err = audit(["--model-factory", f"{USER_MODEL}:build", "--weights", bad], capsys)
    _one_line_error(code, out, err, "NaN")


def test_onnx_with_wrong_input_shape(export_onnx, tmp_path, capsys):
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))
    path = export_onnx(net, torch.zeros(1, 1, 28, 28), tmp_path / "mnist_shaped.onnx")
    code, out, err = audit(["--onnx", path], capsys)
    _one_line_error(code, out, err, "expects inputs of shape (N, 1, 28, 28)", "(N, 1, 8, 8)")


def test_onnx_with_wrong_number_of_classes(export_onnx, tmp_path, capsys):
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 7))
    path = export_onnx(net, torch.zeros(1, 1, 8, 8), tmp_path / "seven.onnx")
    code, out, err = audit(["--onnx", path], capsys)
    _one_line_error(code, out, err, "7 outputs", "K=10")


def test_torch_model_with_wrong_number_of_classes(tmp_path, capsys):
    from tests.audit.conftest import load_user_module

    model = load_user_module().DigitsCNN(num_classes=7)
    path = tmp_path / "seven.pt"
    torch.save(model.state_dict(), path)
    factory = tmp_path / "seven_classes.py"
    factory.write_text(
        f"import importlib.util\nspec = importlib.util.spec_from_file_location('u', {str(USER_MODEL)!r})\n"
        "u = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(u)\n"
        "def build():\n    return u.DigitsCNN(num_classes=7)\n"
    )
    code, out, err = audit(["--model-factory", f"{factory}:build", "--weights", path], capsys)
    _one_line_error(code, out, err, "7 outputs", "K=10")


def test_num_classes_option_must_match_the_dataset(owner_files, capsys):
    code, out, err = audit(
        ["--model-factory", f"{USER_MODEL}:build", "--weights", owner_files.unlearned, "--num-classes", "7"], capsys
    )
    _one_line_error(code, out, err, "--num-classes 7")


@pytest.mark.parametrize(
    "options, fragment",
    [
        (["--mean", "0.5"], "--mean and --std must be given together"),
        (["--mean", "0.5", "0.5", "--std", "0.2", "0.2"], "--mean needs 1 value(s)"),
        (["--head", "classifier.9"], "--head 'classifier.9' names no module"),
        (["--head", "classifier.1"], "--head 'classifier.1' has 64 outputs"),
    ],
)
def test_option_errors_name_the_flags(owner_files, capsys, options, fragment):
    # the library names its parameters (mean, head); the command line names the flags a user typed
    code, out, err = audit(
        ["--model-factory", f"{USER_MODEL}:build", "--weights", owner_files.unlearned, *options], capsys
    )
    _one_line_error(code, out, err, fragment)


def test_naming_a_two_version_attack_without_the_original(owner_files, capsys):
    code, out, err = audit(
        ["--model-factory", f"{USER_MODEL}:build", "--weights", owner_files.unlearned, "--attacks", "param-diff-orig"],
        capsys,
    )
    _one_line_error(
        code, out, err, "'param-diff-orig' cannot run in this audit: needs the original model", "(--original)"
    )


def test_empty_attack_list(owner_files, capsys):
    code, out, err = audit(
        ["--model-factory", f"{USER_MODEL}:build", "--weights", owner_files.unlearned, "--attacks", ","], capsys
    )
    _one_line_error(code, out, err, "--attacks must be 'default', 'all' or a comma-separated list")


def test_named_attacks_and_query_budget(owner_onnx, cache_dir, tmp_path, capsys):
    # noise-logprob needs 64 queries: over a budget of 50 it fails alone, the audit still runs
    out_json = tmp_path / "budget.json"
    code, out, err = audit(
        [
            "--onnx",
            owner_onnx,
            "--cache",
            cache_dir,
            "--json",
            out_json,
            "--query-budget",
            "50",
            "--attacks",
            "invert-bb,noise-logprob,accuracy-probe",
        ],
        capsys,
    )
    assert code == 0, err
    result = json.loads(out_json.read_text())
    assert [a["name"] for a in result["attacks"]] == ["invert-bb", "accuracy-probe"]
    assert all(a["queries"] <= 50 for a in result["attacks"])
    assert "attack noise-logprob failed: QueryBudgetExceeded" in out
    assert result["verdict"]["attacks_run"] == 2


def test_owner_model_audited_as_an_api_serves_it(owner_files, cache_dir, tmp_path, capsys):
    out_json = tmp_path / "api.json"
    factory = ["--model-factory", f"{USER_MODEL}:build", "--weights", owner_files.unlearned]
    code, _out, err = audit([*factory, "--access", "queries", "--cache", cache_dir, "--json", out_json], capsys)
    assert code == 0, err
    result = json.loads(out_json.read_text())
    names = {a["name"] for a in result["attacks"]}
    assert names and all(ATTACKS.get(n).requires in ("labels", "queries") for n in names)
    assert {"invert-cma", "label-reach", "noise-frequency"} <= names
    # the architecture is known: the black-box attacks are fit on shadows of it, not on a stand-in's
    calibration = {a["name"]: a["calibration"] for a in result["attacks"]}
    assert calibration["invert-cma"].startswith("shadows of the owner's architecture (factory-")
    # no θ_o: three shadow originals of varied recipes by default, each forget set unlearned by one method
    assert "2 methods in turn, 3 shadow originals of varied recipes" in calibration["invert-cma"]
    assert result["verdict"]["rule"] == "fused" and FORGOTTEN in result["verdict"]["forgotten"]
    code, _out, err = audit([*factory, "--access", "labels", "--cache", cache_dir, "--json", out_json], capsys)
    assert code == 0, err
    assert {a["name"] for a in json.loads(out_json.read_text())["attacks"]} == {"label-reach"}


def test_onnx_audit_with_labels_only(owner_onnx, cache_dir, tmp_path, capsys):
    out_json = tmp_path / "labels.json"
    code, out, err = audit(
        ["--onnx", owner_onnx, "--access", "labels", "--cache", cache_dir, "--json", out_json], capsys
    )
    assert code == 0, err
    assert "labels only" in out
    result = json.loads(out_json.read_text())
    assert [a["name"] for a in result["attacks"]] == ["label-reach"] and result["attacks"][0]["access"] == "labels"


def test_onnx_access_cannot_exceed_queries(owner_onnx, capsys):
    code, out, err = audit(["--onnx", owner_onnx, "--access", "weights"], capsys)
    _one_line_error(code, out, err, "--access weights cannot be used with --onnx")


def test_naming_a_white_box_attack_for_an_onnx_file(owner_onnx, capsys):
    code, out, err = audit(["--onnx", owner_onnx, "--attacks", "invert-wb"], capsys)
    _one_line_error(code, out, err, "'invert-wb' cannot run in this audit: needs gradients access")


def test_the_audit_flags_offer_exactly_the_library_choices():
    # the command line spells its choices out so that `labelleak audit --help` imports no attack code;
    # they must stay the ones run_audit accepts
    from labelleak.access import ACCESS_LEVELS
    from labelleak.attacks.criteria import REFERENCES, SET_DECISIONS
    from labelleak.attacks.shadow import METHODS_PER_SET, RECIPE_CHOICES
    from labelleak.cli import build_parser

    verbs = next(a for a in build_parser()._actions if a.dest == "verb")
    flags = {a.dest: a for a in verbs.choices["audit"]._actions}
    assert set(flags["inversion_reference"].choices) == set(REFERENCES)
    assert set(flags["inversion_set_decision"].choices) == set(SET_DECISIONS)
    assert set(flags["shadow_methods_per_set"].choices) == set(METHODS_PER_SET)
    assert set(flags["shadow_recipes"].choices) == set(RECIPE_CHOICES)
    assert set(flags["access"].choices) == set(ACCESS_LEVELS)
