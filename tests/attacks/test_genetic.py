"""Black-box genetic inversion: query budget, access, determinism, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labelleak.access import QueryAccess
from labelleak.attacks.genetic import BlackBoxInversion, GeneticSettings, invert_genetic, upsample
from labelleak.validation import ParameterError


def _queries(model, budget=None):
    spec = model.spec
    return QueryAccess.from_model(
        model,
        num_classes=spec.num_classes,
        input_shape=(spec.in_channels, spec.image_size, spec.image_size),
        budget=budget,
    )


def test_reaches_high_confidence_and_reports_queries(digits_model):
    access = _queries(digits_model.model)
    result = BlackBoxInversion(query_budget=3000, population=20).infer(access)
    assert result.queries == access.queries_used <= 3000
    run = result.artifacts["run"]
    assert run.queries == result.queries and run.checkpoints[-1] == result.queries
    assert np.median(run.confidence[-1]) > 0.9
    assert np.all(np.diff(run.confidence, axis=0) >= 0)
    assert result.artifacts["prototypes"].shape == (10, 1, 8, 8)
    assert 0 <= result.artifacts["prototypes"].min() and result.artifacts["prototypes"].max() <= 1


@pytest.mark.parametrize("budget", [20, 95, 1000, 1234])
def test_never_spends_more_than_the_budget(digits_model, budget):
    access = _queries(digits_model.model)
    result = BlackBoxInversion(query_budget=budget).infer(access)
    assert result.queries <= budget
    assert result.queries > budget - 10 * 32, "the budget is used, not wasted"


def test_a_budgeted_target_stops_the_ga_cleanly(digits_model):
    """The view's own budget is smaller than the attack's: no QueryBudgetExceeded escapes."""
    access = _queries(digits_model.model, budget=700)
    result = BlackBoxInversion(query_budget=100_000).infer(access)
    assert result.queries == access.queries_used <= 700
    assert len(result.predicted) >= 1


def test_a_budget_exhausted_by_someone_else_mid_run_stops_cleanly(digits_model):
    access = _queries(digits_model.model, budget=1000)
    original = access.query
    # another consumer of the same view spends queries between generations
    access.query = lambda x: (original(x), access._charge(150))[0]
    run = invert_genetic(access, query_budget=1000)
    assert access.queries_used <= 1000 and run.queries < 1000 and len(run.checkpoints) >= 1


def test_too_small_a_budget_is_a_clear_error(digits_model):
    with pytest.raises(ParameterError, match="query_budget"):
        BlackBoxInversion(query_budget=10).infer(_queries(digits_model.model))


def test_queries_only_attack_never_touches_gradients_or_weights(digits_model):
    """The GA runs on a bare callable: nothing but probabilities is available to it."""
    model = digits_model.model

    def predict(x):
        with torch.no_grad():
            return torch.softmax(model(x), 1)

    access = QueryAccess(predict, num_classes=10, input_shape=(1, 8, 8))
    assert not hasattr(access, "log_probs") and not hasattr(access, "model")
    result = BlackBoxInversion(query_budget=500).infer(access)
    assert result.access == "queries" and result.queries == access.queries_used


def test_same_seed_same_result(digits_model):
    a = BlackBoxInversion(query_budget=800, seed=2).infer(_queries(digits_model.model))
    b = BlackBoxInversion(query_budget=800, seed=2).infer(_queries(digits_model.model))
    c = BlackBoxInversion(query_budget=800, seed=3).infer(_queries(digits_model.model))
    assert torch.equal(a.artifacts["prototypes"], b.artifacts["prototypes"]) and np.array_equal(a.scores, b.scores)
    assert not torch.equal(a.artifacts["prototypes"], c.artifacts["prototypes"])


@pytest.mark.parametrize("crossover", ["uniform", "blend"])
def test_batched_run_equals_a_per_class_loop(digits_model, crossover):
    settings = GeneticSettings(population=12, crossover=crossover)
    batched = invert_genetic(_queries(digits_model.model), query_budget=12 * 10 * 6, settings=settings, seed=1)
    for k in (0, 5, 9):
        alone = invert_genetic(
            _queries(digits_model.model), classes=[k], query_budget=12 * 6, settings=settings, seed=1
        )
        assert np.allclose(alone.confidence[:, 0], batched.confidence[:, k], atol=1e-5)
        assert torch.allclose(alone.prototypes[0], batched.prototypes[k], atol=1e-5)


def test_one_query_call_per_generation(digits_model):
    access = _queries(digits_model.model)
    calls = []
    original = access.query
    access.query = lambda x: calls.append(len(x)) or original(x)
    run = invert_genetic(access, query_budget=10 * 8 + 5 * 10 * 6, settings=GeneticSettings(population=8, elite=2))
    assert calls == [80] + [60] * 5 and len(run.checkpoints) == 6


def test_upsample_keeps_the_box():
    x = upsample(torch.rand(3, 1, 7, 7), (1, 28, 28))
    assert x.shape == (3, 1, 28, 28) and 0 <= x.min() and x.max() <= 1


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"population": 1}, "population"),
        ({"elite": 40}, "elite"),
        ({"tournament": 0}, "tournament"),
        ({"crossover": "x"}, "crossover"),
        ({"mutation_rate": 2.0}, "mutation_rate"),
        ({"sigma_start": 0.1, "sigma_end": 0.2}, "sigma_end"),
        ({"query_budget": 1}, "query_budget"),
        ({"criterion": "x"}, "criterion"),
        ({"generations": 3}, "unknown GA parameter"),
    ],
)
def test_parameters_are_validated(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        BlackBoxInversion(**kwargs)
