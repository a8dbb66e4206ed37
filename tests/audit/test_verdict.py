"""The audit verdict: fused calibrated log-odds when a verdict model is fit, else a majority vote."""

import numpy as np

from labelleak.attacks.base import AttackResult, ShadowScores
from labelleak.audit.report import AuditReport, verdict_rule
from labelleak.audit.verdict import VerdictModel, verdict


def result(name: str, scores, predicted, *, access: str = "weights", queries=None, abstains="") -> AttackResult:
    return AttackResult(
        attack=name,
        access=access,
        scores=np.asarray(scores, float),
        predicted=tuple(predicted),
        queries=queries,
        seconds=0.0,
        abstains=abstains,
    )


def shadow_rows(seed: int, *, noise: float, n: int = 40, k: int = 6) -> ShadowScores:
    """n shadow targets forgetting one or two classes, scored 4 above the rest plus noise."""
    rng = np.random.default_rng(0)  # the same forgotten sets for every attack
    forgotten = np.zeros((n, k), dtype=bool)
    for i in range(n):
        forgotten[i, rng.choice(k, size=1 + i % 2, replace=False)] = True
    scores = 4.0 * forgotten + noise * np.random.default_rng(seed).normal(size=(n, k))
    return ShadowScores(ids=[f"s{i}" for i in range(n)], scores=scores, forgotten=forgotten)


def test_majority_vote_without_a_model():
    results = [result("a", [0, 1, 0], [1]), result("b", [0, 1, 1], [1, 2]), result("c", [1, 0, 0], [0])]
    v = verdict(results, num_classes=3)
    assert v.rule == "majority" and v.forgotten == [1] and v.agreeing_attacks == 2 and v.confidence == []
    chance = result("random-guess", [0, 0, 1], [2], access="queries", queries=0)
    assert verdict([*results, chance], num_classes=3).attacks_run == 4


def test_fused_verdict_names_a_pair_that_no_majority_names():
    model = VerdictModel.fit({"a": shadow_rows(1, noise=0.5), "b": shadow_rows(2, noise=0.5)})
    assert model is not None and model.n_shadow == 40 and model.shadow_exact > 0.9
    # each attack ranks the pair {1, 4} on top but decides a single class: no class has a majority
    results = [result("a", [0, 4.2, 0, 0, 3.9, 0], [1]), result("b", [0, 3.9, 0, 0, 4.1, 0], [4])]
    v = verdict(results, num_classes=6, model=model)
    assert v.rule == "fused" and v.forgotten == [1, 4] and v.fused_attacks == ["a", "b"]
    assert min(v.confidence[1], v.confidence[4]) > 0.5 > max(v.confidence[c] for c in (0, 2, 3, 5))
    assert v.agreeing_attacks == 1
    assert verdict(results, num_classes=6).forgotten == [1, 4]  # majority fallback: most-named tie
    single = [result("a", [0, 4.0, 0, 0, 0.2, 0], [1]), result("b", [0.1, 4.1, 0, 0, 0, 0], [1])]
    assert verdict(single, num_classes=6, model=model).forgotten == [1]


def test_a_class_above_the_cut_that_no_attack_named_is_left_out_and_reported():
    model = VerdictModel.fit({"a": shadow_rows(1, noise=0.5), "b": shadow_rows(2, noise=0.5)})
    # both attacks name class 1 only; their log-odds for class 2, averaged, clear the cut
    results = [result("a", [0, 4.2, 3.0, 0, 0, 0], [1]), result("b", [0, 4.0, 3.0, 0, 0, 0], [1])]
    evidence, cut, _ = model.fuse(results)
    assert np.flatnonzero(evidence > cut).tolist() == [1, 2]
    v = verdict(results, num_classes=6, model=model)
    assert v.forgotten == [1] and v.unsupported == [2] and v.agreeing_attacks == 2
    assert v.confidence[2] > 0.5
    # once an attack names it, the same evidence names it
    named = [result("a", [0, 4.2, 3.0, 0, 0, 0], [1, 2]), results[1]]
    assert verdict(named, num_classes=6, model=model).forgotten == [1, 2]
    # nothing above the cut has a vote: the named class with the most fused evidence
    lone = [result("a", [0, 4.2, 3.0, 0, 0, 0], [0]), result("b", [0, 4.0, 3.0, 0, 0, 0], [3])]
    v = verdict(lone, num_classes=6, model=model)
    assert v.forgotten in ([0], [3]) and v.unsupported == [1, 2] and v.agreeing_attacks == 1


def test_attacks_outside_the_model_do_not_enter_the_fusion():
    model = VerdictModel.fit({"a": shadow_rows(1, noise=0.5)})
    results = [result("a", [0, 4, 0, 0, 0, 0], [1]), result("other", [4, 0, 0, 0, 0, 0], [0])]
    v = verdict(results, num_classes=6, model=model)
    assert v.fused_attacks == ["a"] and v.forgotten == [1]
    assert model.probabilities(results[1]) is None and model.probabilities(results[0]).shape == (6,)
    assert (
        VerdictModel.fit({"bad": ShadowScores(ids=["x"], scores=np.zeros((1, 6)), forgotten=np.eye(6)[:1] > 0)}) is None
    )


def decoyed_rows(seed: int, *, n: int = 40, k: int = 6) -> ShadowScores:
    """Like :func:`shadow_rows`, plus, on 80% of the targets, a decoy class scored about as high as
    the forgotten ones: the same decoys for every attack built here, so two of them agree on them."""
    clean = shadow_rows(seed, noise=0.5, n=n, k=k)
    rng = np.random.default_rng(99)
    decoy = np.zeros((n, k), dtype=bool)
    for i in range(n):
        if rng.random() < 0.8:
            decoy[i, rng.choice(np.flatnonzero(~clean.forgotten[i]))] = True
    return ShadowScores(ids=clean.ids, scores=clean.scores + 4.0 * decoy, forgotten=clean.forgotten)


def test_stacked_fusion_is_kept_only_when_it_beats_the_mean_on_the_shadows():
    rows = {"good": shadow_rows(1, noise=1.5), "loud": decoyed_rows(2), "echo": decoyed_rows(3)}
    model = VerdictModel.fit(rows)
    # two attacks that agree on decoys: weighting them (one nearly drops out) names the shadows'
    # sets exactly more often, out of fold, than averaging all three
    assert model.stacker is not None and model.stacked_exact > model.shadow_exact
    assert model.stacked_attacks == ["good", "loud", "echo"]
    results = [
        result("good", [0, 4.1, 0.2, 0, 0, 0], [1]),
        result("loud", [0, 4.0, 4.2, 0, 0, 0], [1, 2]),
        result("echo", [0, 3.9, 4.1, 0, 0, 0], [1, 2]),
    ]
    v = verdict(results, num_classes=6, model=model)
    assert v.fusion == "stacked" and v.forgotten == [1]
    # without every attack it was fit on, the stacker cannot run: the mean combines what is there
    assert verdict(results[1:], num_classes=6, model=model).fusion == "mean"
    # attacks the mean already combines perfectly on the shadows keep the mean
    clean = VerdictModel.fit({"a": shadow_rows(1, noise=0.5), "b": shadow_rows(2, noise=0.5)})
    assert clean.shadow_exact == 1.0 and clean.stacker is None


def test_one_attack_keeps_the_mean():
    model = VerdictModel.fit({"a": shadow_rows(1, noise=0.5)})
    assert model.stacker is None
    assert verdict([result("a", [0, 4, 0, 0, 0, 0], [1])], num_classes=6, model=model).fusion == "mean"


def test_an_attack_deciding_more_classes_than_any_shadow_forgot_abstains():
    model = VerdictModel.fit({"a": shadow_rows(1, noise=0.5), "b": shadow_rows(2, noise=0.5)})
    assert model is not None and model.largest_set == 2
    # "b" decides four classes, more than any shadow forgot: out of its range. Averaged in, it
    # would carry class 4, which "a" also leans to, over the cut.
    results = [result("a", [1, 4, 1, 0, 1, 0], [1]), result("b", [4, 4, 4, 0, 4, 0], [0, 1, 2, 4])]
    _, cut, _ = model.fuse(results)
    assert (model.fuse(results)[0] > cut).sum() == 2
    v = verdict(results, num_classes=6, model=model)
    assert v.forgotten == [1] and v.fused_attacks == ["a"] and v.abstained == ["b"]
    # every attack out of range: none abstains (the fusion needs evidence)
    wide = [result("a", [4, 4, 4, 0, 0, 0], [0, 1, 2]), result("b", [4, 4, 4, 0, 4, 0], [0, 1, 2, 4])]
    assert verdict(wide, num_classes=6, model=model).abstained == []


def test_a_result_that_abstains_is_neither_fused_nor_counted():
    model = VerdictModel.fit({"a": shadow_rows(1, noise=0.5), "b": shadow_rows(2, noise=0.5)})
    # "b" is sure of class 4, but found its premise false on this model
    results = [result("a", [0, 4, 0, 0, 1, 0], [1]), result("b", [0, 1, 0, 0, 9, 0], [4], abstains="not made from θ_o")]
    v = verdict(results, num_classes=6, model=model)
    assert v.forgotten == [1] and v.fused_attacks == ["a"] and v.abstained == ["b"] and v.attacks_run == 2
    counted = verdict([*results, result("c", [0, 0, 0, 0, 4, 0], [4])], num_classes=6)
    assert counted.rule == "majority" and counted.forgotten == [1, 4] and counted.abstained == ["b"]


def test_the_report_says_why_an_attack_abstained():
    results = [
        result("a", [0, 4, 0, 0, 1, 0], [1]),
        result("b", [0, 1, 0, 0, 9, 0], [4], abstains="θ_u does not descend from θ_o"),
    ]
    report = AuditReport(
        num_classes=6,
        class_names=tuple(map(str, range(6))),
        target="t",
        level="weights",
        dataset="d",
        knowledge="k",
        results=results,
    )
    assert report.verdict.forgotten == [1]
    assert "Abstained: b (θ_u does not descend from θ_o)." in verdict_rule(report)
    assert report.table_rows()[1][2] == "4 (abstains)"
    assert [a["abstains"] for a in report.to_json()["attacks"]] == ["", "θ_u does not descend from θ_o"]
