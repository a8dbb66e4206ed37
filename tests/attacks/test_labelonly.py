"""Label-only access and the label-reach attack: labels and nothing else, budget, prefix, calibration."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labelleak.access import InsufficientAccessError, LabelAccess, QueryBudgetExceeded
from labelleak.attacks.base import ATTACKS
from labelleak.attacks.labelonly import LabelReach, reach_labels
from labelleak.targets import access_view

FAST = dict(genome=6, prior_restarts=4, prior_steps=60)


def test_a_labels_view_returns_top1_labels_only_and_counts_them(digits_model, digits):
    view = access_view(digits_model.model, "labels", budget=100)
    assert isinstance(view, LabelAccess) and view.level == "labels"
    assert not hasattr(view, "query") and not hasattr(view, "log_probs")
    labels = view.query_labels(digits.x_test[:60])
    assert labels.dtype == torch.int64 and labels.shape == (60,)
    expected = access_view(digits_model.model, "queries").query(digits.x_test[:60]).argmax(1)
    assert torch.equal(labels, expected) and view.queries_used == 60
    with pytest.raises(QueryBudgetExceeded):
        view.query_labels(digits.x_test[:41])


def test_a_query_view_also_answers_label_queries(digits_model, digits):
    view = access_view(digits_model.model, "queries")
    assert torch.equal(view.query_labels(digits.x_test[:5]), view.query(digits.x_test[:5]).argmax(1))
    assert view.queries_used == 10


def test_attacks_that_need_probabilities_refuse_a_labels_view(digits_model):
    with pytest.raises(InsufficientAccessError, match="'queries' access"):
        ATTACKS.build("noise-frequency").infer(access_view(digits_model.model, "labels"))
    assert (
        ATTACKS.get("noise-frequency").unmet_needs(access="labels")
        == "needs queries access, only labels access is given"
    )
    assert LabelReach.unmet_needs(access="labels") is None


def test_spends_at_most_its_budget_and_a_run_is_a_prefix_of_a_longer_one(digits_model, priors):
    view = access_view(digits_model.model, "labels")
    short = reach_labels(view, priors, query_budget=700)
    assert short.queries == view.queries_used and 700 - 4 * 10 < short.queries <= 700
    long = reach_labels(access_view(digits_model.model, "labels"), priors, query_budget=3000)
    assert short.checkpoints.tolist() == [100, 200, 300, 500, 700]
    shared = 4  # the ladder's budgets both runs record
    assert long.checkpoints[:shared].tolist() == short.checkpoints[:shared].tolist()
    assert np.allclose(long.confidence[:shared], short.confidence[:shared])
    # every class of θ_o is reached from its priors; profiles are label distributions
    assert np.median(long.confidence[-1]) > 0.8
    assert np.allclose(long.profiles[-1].sum(1), 1.0)


def test_same_seed_same_walk(digits_model, priors):
    runs = [
        reach_labels(access_view(digits_model.model, "labels"), priors, query_budget=500, seed=s) for s in (1, 1, 2)
    ]
    assert np.array_equal(runs[0].confidence, runs[1].confidence)
    assert not np.array_equal(runs[0].confidence, runs[2].confidence)


def test_calibrated_on_shadows_it_names_the_forgotten_class_from_labels_alone(digit_shadows, forgot_three):
    attack = LabelReach(query_budget=600, **FAST).calibrate(digit_shadows)
    view = access_view(forgot_three, "labels")
    result = attack.infer(view)
    assert result.access == "labels" and result.queries == view.queries_used <= 600
    assert result.predicted == (3,)
