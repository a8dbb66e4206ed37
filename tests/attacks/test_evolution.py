"""Shadow-prior CMA-ES inversion: priors, budget ladder, prefix property, determinism, calibration."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labelleak.attacks.base import CalibrationError
from labelleak.attacks.evolution import BUDGET_LADDER, PriorCMAInversion, budget_ladder, invert_cma
from labelleak.targets import access_view
from labelleak.validation import ParameterError

FAST = dict(genome=4, prior_restarts=2, prior_steps=30)


def test_priors_are_confident_genomes_on_the_model_they_were_inverted_on(digits_model, priors):
    from labelleak.attacks.genetic import upsample

    assert priors.shape == (10, 2, 1, 4, 4) and 0 <= priors.min() and priors.max() <= 1
    probs = access_view(digits_model.model, "queries").query(upsample(priors.flatten(0, 1), (1, 8, 8)))
    own = probs[torch.arange(20), torch.arange(10).repeat_interleave(2)]
    assert own.median() > 0.9


def test_budget_ladder():
    assert budget_ladder(1000, 40).tolist() == [100, 200, 300, 500, 1000]
    assert budget_ladder(1234, 150).tolist() == [200, 300, 500, 1000, 1234]
    assert budget_ladder(BUDGET_LADDER[-1] * 2, 1)[-2] == BUDGET_LADDER[-1]


def test_spends_at_most_its_budget_and_records_the_ladder(digits_model, priors):
    view = access_view(digits_model.model, "queries")
    run = invert_cma(view, priors, query_budget=900, stop_level=1.0)
    assert run.queries == view.queries_used and 900 - 8 * 10 < run.queries <= 900
    assert run.checkpoints.tolist() == [100, 200, 300, 500, 900]
    assert np.all(np.diff(run.confidence, axis=0) >= 0)
    assert np.median(run.confidence[-1]) > 0.9


def test_a_run_is_a_prefix_of_any_longer_run(digits_model, priors):
    """Generations never depend on the budget, so reading a long run at a budget is the short run."""
    short = invert_cma(access_view(digits_model.model, "queries"), priors, query_budget=500, stop_level=1.0)
    long = invert_cma(access_view(digits_model.model, "queries"), priors, query_budget=2000, stop_level=1.0)
    shared = len(short.checkpoints)
    assert long.checkpoints[:shared].tolist() == short.checkpoints.tolist()
    assert np.allclose(long.confidence[:shared], short.confidence)
    assert np.allclose(long.profiles[:shared], short.profiles)


def test_the_global_numpy_generator_changes_nothing(digits_model, priors):
    np.random.seed(1)
    first = invert_cma(access_view(digits_model.model, "queries"), priors, query_budget=600, seed=3)
    np.random.seed(2)
    second = invert_cma(access_view(digits_model.model, "queries"), priors, query_budget=600, seed=3)
    other = invert_cma(access_view(digits_model.model, "queries"), priors, query_budget=600, seed=4)
    assert np.array_equal(first.confidence, second.confidence)
    assert not np.array_equal(first.confidence, other.confidence)


def test_classes_that_reached_the_stop_level_are_no_longer_searched(digits_model, priors):
    view = access_view(digits_model.model, "queries")
    run = invert_cma(view, priors, query_budget=5000, stop_level=0.5)
    assert (run.confidence[-1] >= 0.5).all() and run.queries < 5000


def test_refuses_a_budget_below_the_priors(digits_model, priors):
    with pytest.raises(ParameterError, match="20 priors"):
        invert_cma(access_view(digits_model.model, "queries"), priors, query_budget=19)
    with pytest.raises(ParameterError, match="popsize must be even"):
        PriorCMAInversion(popsize=7)
    with pytest.raises(ParameterError, match="query_budget"):
        PriorCMAInversion(query_budget=30).check_target(num_classes=10)


def test_needs_its_shadow_priors(digits_model):
    with pytest.raises(CalibrationError, match="calibrate"):
        PriorCMAInversion(**FAST).infer(access_view(digits_model.model, "queries"))


def test_calibrated_on_shadows_it_names_the_forgotten_class(digit_shadows, forgot_three, monkeypatch):
    attack = PriorCMAInversion(query_budget=600, **FAST).calibrate(digit_shadows)
    assert attack.calibration_.n_shadow == 4 and attack.priors_.shape == (10, 2, 1, 4, 4)
    view = access_view(forgot_three, "queries")
    result = attack.infer(view)
    assert result.predicted == (3,) and result.queries == view.queries_used <= 600
    assert result.artifacts["read_queries"] in result.artifacts["run"].checkpoints
    # the priors are stored with the shadows: a second attack does not invert them again
    import labelleak.attacks.evolution as evolution

    monkeypatch.setattr(evolution, "invert_priors", lambda *a, **k: pytest.fail("priors inverted twice"))
    again = PriorCMAInversion(query_budget=600, **FAST).calibrate(digit_shadows)
    assert torch.equal(again.priors_, attack.priors_)


def test_shadow_runs_search_from_the_other_originals_priors(digits, tmp_path):
    from labelleak.attacks.knowledge import draw_knowledge
    from labelleak.attacks.shadow import ShadowConfig, Shadows
    from labelleak.store import ArtifactStore

    config = ShadowConfig(methods=("retrain",), forget_sets=((1,), (4,)), epochs=2, aux_per_class=3, n_models=2)
    shadows = Shadows(
        digits,
        draw_knowledge(digits, aux_per_class=3, seed=0),
        config=config,
        eval_seeds=[0],
        store=ArtifactStore(tmp_path),
    )
    attack = PriorCMAInversion(query_budget=200, **FAST)
    searched = []
    search = attack.search
    attack.search = lambda target, priors: searched.append(priors) or search(target, priors)
    attack.calibrate(shadows)
    by_seed = attack.priors_by_seed_
    assert sorted(by_seed) == [1000, 1001] and attack.priors_.shape == (10, 4, 1, 4, 4)
    assert not torch.equal(by_seed[1000], by_seed[1001])
    shadow_seeds = [shadow.seed for shadow in shadows.targets()]
    assert sorted(set(shadow_seeds)) == [1000, 1001] and len(searched) == len(shadow_seeds)
    for seed, priors in zip(shadow_seeds, searched):
        assert torch.equal(priors, by_seed[2001 - seed])  # the other original's priors, never its own


def test_the_changed_default_stop_level_never_reads_results_stored_before_it():
    # stop_level's default went from 0.99 to 1.0: the attack built with the same given options computes
    # something else than before, so its revision (in its calibration, θ_o-run and row keys) moved on
    assert PriorCMAInversion.revision({}) == 2 and PriorCMAInversion.revision({"stop_level": 0.99}) == 1
    assert PriorCMAInversion().calibration_key()["revision"] == 2
    assert "revision" not in PriorCMAInversion(stop_level=0.99).calibration_key()
