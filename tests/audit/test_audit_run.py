"""``run_audit`` itself: the attacks are built from the registry and calibrated on one shared set of shadows."""

from __future__ import annotations

import dataclasses

import pytest

import labelleak.attacks.shadow as shadow_module
import labelleak.audit.run as run_module
from labelleak.audit import (
    PARAMETER_DECIDER,
    SHADOW_METHODS,
    SHADOW_METHODS_WITH_ORIGINAL,
    AuditError,
    default_shadow_setting,
    load_factory,
    load_user_model,
    run_audit,
    weights_target,
)
from tests.audit.conftest import FORGOTTEN, USER_MODEL


@pytest.fixture()
def white_box(owner_files, digits):
    def load(weights):
        return load_user_model(
            load_factory(f"{USER_MODEL}:build"), spec="m", weights=weights, num_classes=10, sample=digits.x_test[:16]
        )

    return weights_target(
        load(owner_files.unlearned),
        num_classes=10,
        input_shape=digits.input_shape,
        description="m",
        original=load(owner_files.original),
    )


def test_parameter_attacks_share_one_shadow_extraction(white_box, digits, store, monkeypatch):
    extractions = []
    extract = shadow_module.calibrate

    def counting(*args, **kwargs):
        extractions.append(kwargs["reference"])
        return extract(*args, **kwargs)

    monkeypatch.setattr(shadow_module, "calibrate", counting)
    names = ["param-dot", "param-diff", "param-diff-orig", "accuracy-probe"]
    report = run_audit(white_box, dataset=digits, attacks=",".join(names), seed=0, store=store)
    assert [r.attack for r in report.results] == names and not report.failures
    assert len(extractions) == 1 and extractions[0].seed == 0  # three calibrated attacks, one extraction
    assert "shadow targets: methods" in report.calibration  # the fitted Calibration's description
    for result in report.results[:3]:
        assert result.artifacts["decider"]["decider"] == PARAMETER_DECIDER
    assert report.verdict.forgotten == [FORGOTTEN]
    # a second audit reads the shadow features from the store: same calibration, same decisions
    again = run_audit(white_box, dataset=digits, attacks=names, seed=0, store=store)
    assert again.calibration == report.calibration
    assert [r.predicted for r in again.results] == [r.predicted for r in report.results]


def test_audit_without_calibrated_attacks_builds_no_shadows(white_box, digits, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("no attack here needs shadow experiments")

    monkeypatch.setattr(shadow_module.Shadows, "__init__", refuse)
    report = run_audit(white_box, dataset=digits, attacks="invert-wb,noise-logprob", seed=0)
    assert report.calibration == "" and [r.attack for r in report.results] == ["invert-wb", "noise-logprob"]


def test_dataset_must_fit_the_target(white_box, digits):
    upscaled = dataclasses.replace(
        digits,
        name="digits-upscaled",
        x_train=digits.x_train.repeat(1, 1, 2, 2),
        x_test=digits.x_test.repeat(1, 1, 2, 2),
    )
    with pytest.raises(AuditError, match=r"inputs of shape \(1, 8, 8\), dataset 'digits-upscaled' has \(1, 16, 16\)"):
        run_audit(white_box, dataset=upscaled)


def test_inversion_reference_is_validated(white_box, digits):
    from labelleak.validation import ParameterError

    with pytest.raises(ParameterError, match="inversion_reference must be one of 'shadows', 'original', got 'median'"):
        run_audit(white_box, dataset=digits, inversion_reference="median")


def test_inversion_set_decision_is_validated(white_box, digits):
    from labelleak.validation import ParameterError

    with pytest.raises(ParameterError, match="inversion_set_decision must be one of 'cut', 'calibrated', got 'top-1'"):
        run_audit(white_box, dataset=digits, inversion_set_decision="top-1")


def test_shadow_methods_per_set_is_validated(white_box, digits):
    from labelleak.validation import ParameterError

    with pytest.raises(ParameterError, match="shadow_methods_per_set must be one of 'all', 'one', got 'half'"):
        run_audit(white_box, dataset=digits, attacks="param-diff", shadow_methods_per_set="half")


def test_shadow_originals_and_recipes_are_validated(white_box, digits):
    from labelleak.validation import ParameterError

    with pytest.raises(ParameterError, match="shadow_originals must be"):
        run_audit(white_box, dataset=digits, attacks="param-diff", shadow_originals=0)
    with pytest.raises(ParameterError, match="shadow_recipes must be one of 'same', 'varied', got 'new'"):
        run_audit(white_box, dataset=digits, attacks="param-diff", shadow_recipes="new")


@pytest.mark.parametrize(
    ("arch", "with_original", "expected"),
    [
        # nothing but shadows tells the owner's hard classes apart
        ("owner-arch", False, (3, "varied", "one", SHADOW_METHODS)),
        # θ_o is the inversion attacks' reference; the reference ascent's shadows as well
        ("owner-arch", True, (1, "same", "all", SHADOW_METHODS_WITH_ORIGINAL)),
        (None, False, (1, "same", "all", SHADOW_METHODS)),  # shadows of a stand-in architecture
    ],
)
def test_the_default_shadows_are_three_varied_originals_for_a_known_architecture_without_the_original(
    white_box, digits, monkeypatch, arch, with_original, expected
):
    assert default_shadow_setting(known_architecture=arch is not None, has_original=with_original) == expected
    asked = []

    def record(attacks, **kwargs):
        asked.append(
            (
                kwargs["shadow_originals"],
                kwargs["shadow_recipes"],
                kwargs["shadow_methods_per_set"],
                tuple(kwargs["shadow_methods"]),
            )
        )
        return {}, None

    monkeypatch.setattr(run_module, "calibrate_attacks", record)
    target = dataclasses.replace(white_box, arch=arch, original=white_box.original if with_original else None)
    run_audit(target, dataset=digits, attacks="noise-frequency")
    # what is given stays, and each part left out takes the setting's default
    run_audit(target, dataset=digits, attacks="noise-frequency", shadow_originals=2)
    run_audit(target, dataset=digits, attacks="noise-frequency", shadow_originals=1)  # keyed as one recipe (shadows)
    run_audit(target, dataset=digits, attacks="noise-frequency", shadow_methods_per_set="all")
    run_audit(target, dataset=digits, attacks="noise-frequency", shadow_methods=("finetune",))
    assert asked == [
        expected,
        (2, *expected[1:]),
        (1, *expected[1:]),
        (*expected[:2], "all", expected[3]),
        (*expected[:3], ("finetune",)),
    ]
    assert SHADOW_METHODS_WITH_ORIGINAL == (*SHADOW_METHODS, "gradient_ascent:ascend_on=all")


def test_several_shadow_originals_without_the_original_choose_across_them():
    from labelleak.audit.run import attack_options, construct_attack

    def choice(**given):
        options = attack_options(seed=0, query_budget=None, verbose=False, **given)
        return construct_attack("invert-cma", options=options).checkpoint_choice

    assert choice(inversion_reference=None) == "pooled"
    assert choice(inversion_reference=None, shadow_originals=3) == "across-originals"
    # θ_o's own run is the reference: each shadow run is scored against its own original already
    assert choice(inversion_reference="original", shadow_originals=3) == "pooled"


def test_calibrated_set_decision_fits_the_inversion_attacks_on_shadows(white_box, digits, store):
    cut = run_audit(white_box, dataset=digits, attacks="invert-wb", seed=0, store=store)
    assert not cut.calibration_sources and "probabilities" not in cut.results[0].artifacts  # uncalibrated by default
    calibrated = run_audit(
        white_box, dataset=digits, attacks="invert-wb", seed=0, store=store, inversion_set_decision="calibrated"
    )
    probabilities = calibrated.results[0].artifacts["probabilities"]
    assert calibrated.calibrations["invert-wb"].startswith("transfer from shadows") and len(probabilities) == 10
    assert calibrated.results[0].predicted == (FORGOTTEN,) and max(probabilities) == probabilities[FORGOTTEN]


def test_a_first_audit_fits_its_attacks_in_the_shadow_workers_as_it_would_here(
    white_box, digits, tmp_path, monkeypatch
):
    from labelleak.device import torch_threads
    from labelleak.store import ArtifactStore

    names = "invert-wb,param-diff,noise-frequency"
    reports, stores = [], []
    for workers in (1, 2):
        stores.append(ArtifactStore(tmp_path / f"workers-{workers}"))
        with torch_threads(1):
            reports.append(
                run_audit(
                    white_box,
                    dataset=digits,
                    attacks=names,
                    seed=0,
                    store=stores[-1],
                    workers=workers,
                    inversion_set_decision="calibrated",
                )
            )
    here, there = reports
    # the workers computed every calibration and shadow score; this process read them from the store
    for kind in ("inversion-calibration", "shadow-calibration", "shadow-scores"):
        assert stores[1].counts[(kind, "computed")] == 0 and stores[1].counts[(kind, "cached")] >= 1, kind
        assert stores[0].counts[(kind, "computed")] >= 1, kind
    assert [r.predicted for r in there.results] == [r.predicted for r in here.results]
    for mine, theirs in zip(here.results, there.results, strict=True):
        assert list(mine.scores) == list(theirs.scores), mine.attack
    assert there.verdict.forgotten == here.verdict.forgotten == [FORGOTTEN]
    assert there.verdict.confidence == here.verdict.confidence
    # a later audit's shadow models are stored, and so is what the first audit fitted on them
    started = []
    monkeypatch.setattr(shadow_module.Shadows, "fit_in_workers", lambda self, tasks: started.append(tasks) or 0)
    again = run_audit(white_box, dataset=digits, attacks=names, seed=0, store=stores[1], workers=2)
    assert not started and again.verdict.forgotten == [FORGOTTEN]


def test_the_fits_on_the_shadows_are_grouped_by_what_they_share_longest_first():
    from labelleak.audit.run import _fit_tasks, attack_options, construct_attack

    options = attack_options(seed=0, query_budget=None, verbose=False, inversion_reference=None)
    built = {
        name: construct_attack(name, options=options)
        for name in ("noise-frequency", "param-dot", "invert-cma", "param-diff", "invert-wb", "label-reach")
    }
    chosen = [built[name] for name in ("param-dot", "invert-cma", "param-diff", "invert-wb", "label-reach")]
    tasks = _fit_tasks(list(built.values()), chosen)
    assert [[a.name for a in task.keywords["attacks"]] for task in tasks] == [
        ["invert-cma", "label-reach"],  # one inversion of the shadow priors
        ["invert-wb"],
        ["param-dot", "param-diff"],  # one feature extraction
        ["noise-frequency"],  # shadow scores alone
    ]
    assert all(task.keywords["calibrate"] == [a.name for a in chosen] for task in tasks)
