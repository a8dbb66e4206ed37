"""Baselines on a digits model whose classes are 'forgotten' by pinning their head bias very low."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from labelleak.access import QueryAccess, WeightsAccess
from labelleak.attacks import ATTACKS, AttackerKnowledge, MissingKnowledgeError
from labelleak.attacks.baselines import AccuracyProbe, HuProbe, NoiseFrequency, NoiseLogProb, RandomGuess
from labelleak.attacks.knowledge import draw_knowledge
from labelleak.validation import ParameterError


def forgetting(model, classes):
    """A copy of ``model`` that never predicts ``classes`` (their logits pushed far down)."""
    target = copy.deepcopy(model)
    with torch.no_grad():
        target.head.bias[list(classes)] -= 100.0
    return target


def queries_view(model):
    spec = model.spec
    return QueryAccess.from_model(
        model, num_classes=spec.num_classes, input_shape=(spec.in_channels, spec.image_size, spec.image_size)
    )


@pytest.fixture(scope="module")
def knowledge(digits, digits_model):
    return draw_knowledge(
        digits, aux_per_class=5, original=WeightsAccess.of_classifier(digits_model.model), seed=0
    ).knowledge


def test_all_baselines_are_registered():
    assert {"random-guess", "noise-frequency", "noise-logprob", "accuracy-probe", "hu-probe"} <= set(ATTACKS.names())


@pytest.mark.parametrize("attack", [NoiseFrequency(), NoiseLogProb(), AccuracyProbe(), HuProbe(steps=30)])
@pytest.mark.parametrize("forgotten", [2, 7])
def test_informed_baselines_name_a_suppressed_class(attack, forgotten, digits_model, knowledge):
    result = attack.infer(queries_view(forgetting(digits_model.model, [forgotten])), knowledge=knowledge)
    assert result.predicted == (forgotten,)
    assert int(np.argmax(result.scores)) == forgotten
    assert result.queries and result.queries > 0


def test_queries_are_counted(digits_model, knowledge):
    view = queries_view(digits_model.model)
    result = NoiseLogProb(n_queries=17).infer(view, knowledge=knowledge)
    assert result.queries == 17 == view.queries_used
    assert AccuracyProbe().infer(queries_view(digits_model.model), knowledge=knowledge).queries == len(knowledge.aux_x)
    hu = HuProbe(probes_per_class=3, steps=5).infer(queries_view(digits_model.model), knowledge=knowledge)
    assert hu.queries == 3 * 10  # only θ_u's queries are charged to the target


def test_threshold_baselines_decide_several_classes(digits_model, knowledge):
    target = queries_view(forgetting(digits_model.model, [1, 6]))
    assert AccuracyProbe().infer(target, knowledge=knowledge).predicted == (1, 6)
    assert HuProbe(steps=30).infer(
        queries_view(forgetting(digits_model.model, [1, 6])), knowledge=knowledge
    ).predicted == (1, 6)


def test_hu_probes_are_built_once_per_original(digits_model, knowledge, monkeypatch):
    attack = HuProbe(probes_per_class=2, steps=5)
    built = []
    build = attack.build_probes
    monkeypatch.setattr(attack, "build_probes", lambda original: built.append(original) or build(original))
    first = attack.infer(queries_view(forgetting(digits_model.model, [1])), knowledge=knowledge)
    second = attack.infer(queries_view(forgetting(digits_model.model, [6])), knowledge=knowledge)
    assert len(built) == 1 and first.predicted != second.predicted
    fresh = HuProbe(probes_per_class=2, steps=5).infer(
        queries_view(forgetting(digits_model.model, [6])), knowledge=knowledge
    )
    assert np.array_equal(fresh.scores, second.scores)
    # another view of θ_o (another original) gets its own probes
    other = AttackerKnowledge(original=WeightsAccess.of_classifier(digits_model.model))
    attack.infer(queries_view(forgetting(digits_model.model, [6])), knowledge=other)
    assert len(built) == 2


def test_unrelated_source_uses_the_attackers_set(digits_model, knowledge):
    attack = NoiseFrequency(source="unrelated", n_queries=10)
    assert attack.needs_unrelated
    result = attack.infer(queries_view(forgetting(digits_model.model, [4])), knowledge=knowledge)
    assert result.queries == 10
    with pytest.raises(MissingKnowledgeError):
        attack.infer(queries_view(digits_model.model), knowledge=AttackerKnowledge())


def test_random_guess_is_seeded_and_free(digits_model):
    view = queries_view(digits_model.model)
    first = RandomGuess(seed=3).infer(view)
    assert RandomGuess(seed=3).infer(view).predicted == first.predicted
    guesses = {RandomGuess(seed=s).infer(view).predicted for s in range(30)}
    assert len(guesses) > 3 and all(len(g) == 1 for g in guesses)
    assert view.queries_used == 0


def test_missing_knowledge_is_refused(digits_model):
    view = queries_view(digits_model.model)
    with pytest.raises(MissingKnowledgeError, match="auxiliary"):
        AccuracyProbe().infer(view, knowledge=AttackerKnowledge())
    with pytest.raises(MissingKnowledgeError, match="original"):
        HuProbe().infer(view, knowledge=AttackerKnowledge())


@pytest.mark.parametrize(
    "factory, match",
    [
        (lambda: NoiseLogProb(n_queries=0), "n_queries"),
        (lambda: NoiseFrequency(source="mnist"), "source"),
        (lambda: AccuracyProbe(max_accuracy=1.5), "max_accuracy"),
        (lambda: HuProbe(probes_per_class=0), "probes_per_class"),
        (lambda: RandomGuess(seed=-1), "seed"),
    ],
)
def test_bad_parameters_name_themselves(factory, match):
    with pytest.raises(ParameterError, match=match):
        factory()
