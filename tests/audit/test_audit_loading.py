"""Loading an owner's model for an audit: factories, head detection, normalisation, ONNX access."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch import nn

from labelleak.access import QueryBudgetExceeded
from labelleak.attacks import ATTACKS
from labelleak.attacks.base import AttackResult
from labelleak.audit import (
    AuditedModel,
    AuditError,
    OnnxModel,
    construct_attack,
    find_head,
    load_factory,
    load_user_model,
    looks_like_probabilities,
    onnx_target,
    score_margin,
    select_attacks,
    verdict,
    weights_target,
)
from labelleak.validation import ParameterError
from tests.audit.conftest import USER_MODEL, load_user_module, need

SAMPLE = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))


def test_factory_from_file_and_from_module():
    model = load_factory(f"{USER_MODEL}:build")()
    assert isinstance(model, nn.Module) and model(SAMPLE).shape == (4, 10)
    assert isinstance(load_factory("torch.nn:Identity")(), nn.Identity)


def test_head_is_found_by_outputs_not_by_name():
    model = load_user_module().build()
    assert find_head(model, num_classes=10, sample=SAMPLE) == "classifier.3"
    assert find_head(model, num_classes=10, sample=SAMPLE, head="classifier.3") == "classifier.3"


def test_of_several_k_output_layers_the_one_producing_the_output_is_the_head():
    class AuxHead(nn.Module):  # an auxiliary 10-way classifier that does not produce the output
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU())
            self.main = nn.Linear(32, 10)
            self.aux = nn.Linear(32, 10)

        def forward(self, x):
            z = self.body(x)
            self.aux(z)
            return self.main(z)

    assert find_head(AuxHead(), num_classes=10, sample=SAMPLE) == "main"


def test_ambiguous_head_lists_the_candidates():
    model = load_user_module().build_two_heads()
    with pytest.raises(AuditError, match=r"name one with head: head_a, head_b"):
        find_head(model, num_classes=10, sample=SAMPLE)
    assert find_head(model, num_classes=10, sample=SAMPLE, head="head_b") == "head_b"


@pytest.mark.parametrize(
    "head, message",
    [
        ("classifier.9", "names no module"),
        ("conv.0", "not an nn.Linear"),
        ("classifier.1", "has 64 outputs"),
    ],
)
def test_bad_head_option(head, message):
    with pytest.raises(AuditError, match=message) as raised:
        find_head(load_user_module().build(), num_classes=10, sample=SAMPLE, head=head)
    # the library names its parameter; a front end may call it otherwise
    assert str(raised.value).startswith(f"head {head!r} ")
    assert raised.value.naming({"head": "--head"}).startswith(f"--head {head!r} ")


def test_no_linear_with_k_outputs():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 7))
    with pytest.raises(AuditError, match=r"no nn.Linear with 10 outputs"):
        find_head(model, num_classes=10, sample=SAMPLE)


def test_normalisation_wrapper_feeds_the_user_model_normalised_inputs():
    seen = []
    probe = nn.Identity()
    probe.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0]))
    wrapped = AuditedModel(probe, mean=[0.5], std=[0.25])
    wrapped(torch.ones(1, 1, 2, 2))
    assert torch.allclose(seen[0], torch.full((1, 1, 2, 2), 2.0))


@pytest.fixture()
def unlearned(owner_files, digits):
    """The owner's unlearned model, loaded as the audit loads it."""
    return load_user_model(
        load_factory(f"{USER_MODEL}:build"),
        spec="m",
        weights=owner_files.unlearned,
        num_classes=10,
        sample=digits.x_test[:16],
    )


def test_probability_outputs_become_log_probabilities(owner_files, unlearned, digits):
    loaded = load_user_model(
        load_factory(f"{USER_MODEL}:build_softmax"),
        spec="softmax model",
        weights=_prefixed(owner_files.unlearned, "0."),
        num_classes=10,
        sample=digits.x_test[:16],
    )
    assert loaded.outputs == "probabilities" and loaded.user_head_name == "0.classifier.3"
    plain = unlearned
    x = digits.x_test[:32]
    with torch.no_grad():
        assert torch.allclose(torch.softmax(loaded.model(x), 1), torch.softmax(plain.model(x), 1), atol=1e-5)


def test_weights_view_exposes_the_users_head(owner_files, unlearned, digits):
    loaded = unlearned
    target = weights_target(loaded, num_classes=10, input_shape=(1, 8, 8), description="m")
    view = target.view()
    state = torch.load(owner_files.unlearned, weights_only=True)
    assert torch.equal(view.head_weight, state["classifier.3.weight"])
    assert view.features(digits.x_test[:5]).shape == (5, 64)


@pytest.mark.parametrize(
    "mean, std, message",
    [
        ([0.5], None, "^mean and std must be given together"),
        ([0.5, 0.5], [0.2, 0.2], r"^mean needs 1 value"),
        ([0.5], [0.0], r"^std values must be positive, got \[0.0\]"),
    ],
)
def test_bad_normalisation(owner_files, digits, mean, std, message):
    with pytest.raises(AuditError, match=message):
        load_user_model(
            load_factory(f"{USER_MODEL}:build"),
            spec="m",
            weights=owner_files.unlearned,
            num_classes=10,
            sample=digits.x_test[:16],
            mean=mean,
            std=std,
        )


def test_onnx_logits_are_softmaxed_and_counted(unlearned, owner_onnx, digits):
    onnx = OnnxModel(owner_onnx, num_classes=10, input_shape=(1, 8, 8), sample=digits.x_test[:16])
    assert onnx.outputs == "logits"
    plain = unlearned
    view = onnx_target(onnx, num_classes=10, input_shape=(1, 8, 8)).view(budget=40)
    probs = view.query(digits.x_test[:30])
    with torch.no_grad():
        assert torch.allclose(probs, torch.softmax(plain.model(digits.x_test[:30]), 1), atol=1e-4)
    assert view.queries_used == 30
    with pytest.raises(QueryBudgetExceeded):
        view.query(digits.x_test[:11])
    labels = onnx_target(onnx, num_classes=10, input_shape=(1, 8, 8), level="labels").view(budget=30)
    assert labels.level == "labels" and not hasattr(labels, "query")
    assert torch.equal(labels.query_labels(digits.x_test[:30]), probs.argmax(1)) and labels.remaining == 0


def test_target_level_is_validated(unlearned, digits):
    with pytest.raises(ParameterError, match="level must be one of 'labels', 'queries', 'gradients', 'weights'"):
        weights_target(unlearned, num_classes=10, input_shape=digits.input_shape, description="m", level="api")
    target = weights_target(unlearned, num_classes=10, input_shape=digits.input_shape, description="m", level="labels")
    view = target.view(budget=5)
    assert view.level == "labels" and not hasattr(view, "query")
    assert view.query_labels(digits.x_test[:5]).shape == (5,) and view.remaining == 0


def test_onnx_with_fixed_batch_and_probability_outputs(export_onnx, tmp_path, digits):
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.Softmax(dim=1))
    path = export_onnx(net, torch.zeros(4, 1, 8, 8), tmp_path / "fixed.onnx", dynamic_batch=False)  # batch of 4
    onnx = OnnxModel(path, num_classes=10, input_shape=(1, 8, 8), sample=digits.x_test[:16])
    assert onnx.outputs == "probabilities"
    with torch.no_grad():
        assert torch.allclose(onnx.predict_proba(digits.x_test[:7]), net(digits.x_test[:7]), atol=1e-5)


def test_missing_onnx_file(tmp_path):
    need("onnxruntime", reason="auditing ONNX models needs onnxruntime (pip install 'labelleak[onnx]')")
    with pytest.raises(AuditError, match=r"ONNX file not found"):
        OnnxModel(tmp_path / "x.onnx", num_classes=10, input_shape=(1, 8, 8), sample=SAMPLE)


def test_onnx_without_onnxruntime_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    with pytest.raises(AuditError, match=r"needs onnxruntime: pip install 'labelleak\[onnx\]'"):
        OnnxModel(tmp_path / "x.onnx", num_classes=10, input_shape=(1, 8, 8), sample=SAMPLE)


def test_probability_detection():
    logits = torch.randn(5, 10, generator=torch.Generator().manual_seed(0))
    assert looks_like_probabilities(torch.softmax(logits, 1))
    assert not looks_like_probabilities(logits)
    assert not looks_like_probabilities(torch.log_softmax(logits, 1))


def test_attack_selection_follows_declared_access():
    # every attack says what it needs (Attack.unmet_needs): "all" is those the access permits
    for level, has_original in [("queries", False), ("queries", True), ("weights", False), ("weights", True)]:
        expected = [
            n for n in ATTACKS.names() if ATTACKS.get(n).unmet_needs(access=level, original=has_original) is None
        ]
        assert select_attacks("all", level=level, has_original=has_original) == expected
    assert set(select_attacks("all", level="weights", has_original=True)) == set(ATTACKS.names())
    queries_only = select_attacks("all", level="queries", has_original=False)
    assert all(
        ATTACKS.get(n).requires in ("labels", "queries") and not ATTACKS.get(n).needs_original for n in queries_only
    )
    assert "label-reach" in queries_only and select_attacks("all", level="labels", has_original=False) == [
        "label-reach"
    ]
    assert "param-diff-orig" not in select_attacks("all", level="weights", has_original=False)


def test_default_selection_leaves_out_the_papers_genetic_black_box():
    # an audit runs invert-cma as its black box; the paper's GA only when named or with "all"
    for level, has_original in [("queries", False), ("weights", True)]:
        every = select_attacks("all", level=level, has_original=has_original)
        default = select_attacks("default", level=level, has_original=has_original)
        assert default == [n for n in every if n != "invert-bb"]
        assert "invert-bb" in every and "invert-cma" in default
    assert select_attacks("invert-bb", level="queries", has_original=False) == ["invert-bb"]
    assert select_attacks("default", level="labels", has_original=False) == ["label-reach"]


def test_naming_an_attack_the_access_does_not_permit(digits):
    with pytest.raises(AuditError, match=r"'param-diff' cannot run in this audit: needs weights access"):
        select_attacks("param-diff,noise-logprob", level="queries", has_original=False)
    assert select_attacks("noise-logprob", level="queries", has_original=False) == ["noise-logprob"]
    with pytest.raises(
        AuditError, match=r"'param-diff-orig' cannot run in this audit: needs the original model.*\(original\)$"
    ):
        select_attacks("param-diff-orig", level="weights", has_original=False)
    with pytest.raises(AuditError, match=r"^attacks must be 'default', 'all' or a comma-separated list"):
        select_attacks([], level="weights", has_original=False)


def test_attacks_are_built_with_the_options_they_take():
    options = {"seed": 3, "query_budget": 200, "verbose": False, "decider": "youden"}
    assert construct_attack("param-diff", options=options).options == {"seed": 3, "decider": "youden"}
    assert construct_attack("invert-bb", options=options).options == {"seed": 3, "query_budget": 200, "verbose": False}
    assert construct_attack("accuracy-probe", options=options).options == {}
    assert construct_attack("invert-bb", options={**options, "query_budget": None}).options == {
        "seed": 3,
        "verbose": False,
    }


def test_score_margin_and_verdict():
    assert score_margin(np.array([0.0, 3.0, 1.0]), (1,)) == pytest.approx(2.0 / np.std([0.0, 3.0, 1.0]))
    assert score_margin(np.array([0.0, 3.0, 1.0]), (0,)) < 0
    assert score_margin(np.zeros(4), (2,)) == 0.0

    def result(name, predicted, access="weights", queries=None):
        return AttackResult(
            attack=name, access=access, scores=np.zeros(4), predicted=predicted, queries=queries, seconds=0.0
        )

    results = [
        result("a", (1,)),
        result("b", (1, 2)),
        result("c", (2,)),
        result("chance", (3,), access="queries", queries=0),
        result("d", (1,), access="queries", queries=5),
    ]
    v = verdict(results, num_classes=4)
    assert (v.forgotten, v.agreeing_attacks, v.attacks_run) == ([1], 3, 5)
    tie = verdict(results[:3], num_classes=4)
    assert (tie.forgotten, tie.agreeing_attacks) == ([1, 2], 2)
    # a set: every class that a majority of the voting attacks name, not only the most-named one
    half = verdict([result("a", (1, 2)), result("b", (1, 2)), result("c", (1,)), result("d", (3,))], num_classes=4)
    assert (half.forgotten, half.agreeing_attacks) == ([1], 3)  # class 2: 2 of 4 voters is no majority
    pair = verdict([result("a", (1, 2)), result("b", (1, 2)), result("c", (1,))], num_classes=4)
    assert (pair.forgotten, pair.agreeing_attacks) == ([1, 2], 2)
    # no class with a majority: the most-named ones
    spread = verdict([result("a", (0,)), result("b", (1,)), result("c", (2,)), result("d", (2,))], num_classes=4)
    assert (spread.forgotten, spread.agreeing_attacks) == ([2], 2)


def _prefixed(path, prefix):
    """The owner's state dict with keys renamed for a model wrapped in nn.Sequential."""
    state = torch.load(path, weights_only=True)
    out = path.with_name(f"prefixed_{path.name}")
    torch.save({prefix + k: v for k, v in state.items()}, out)
    return out


def test_onnx_tests_fail_instead_of_skipping_where_required(monkeypatch):
    from tests.audit.conftest import REQUIRE_ONNX

    monkeypatch.setenv(REQUIRE_ONNX, "1")
    with pytest.raises(pytest.fail.Exception, match="LABELLEAK_REQUIRE_ONNX is set but no_such_onnx_pkg"):
        need("no_such_onnx_pkg", reason="test")
    monkeypatch.setenv(REQUIRE_ONNX, "0")
    with pytest.raises(pytest.skip.Exception):
        need("no_such_onnx_pkg", reason="test")
