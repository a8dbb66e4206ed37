from dataclasses import replace

import numpy as np
import pytest
import torch

from labelleak.attacks.base import ATTACKS, CalibrationError
from labelleak.attacks.knowledge import draw_knowledge, image_hashes
from labelleak.attacks.shadow import (
    ShadowConfig,
    ShadowLeakError,
    Shadows,
    calibrate,
    shadow_archs,
    shadow_dataset,
    shadow_targets,
)
from labelleak.device import torch_threads
from labelleak.models.foreign import register_factory
from labelleak.store import ArtifactStore
from labelleak.targets import train_original, unlearn_original
from labelleak.validation import ParameterError

CONFIG = ShadowConfig(methods=("retrain",), forget_sets=((1,), (4,), (2, 6)), epochs=5, aux_per_class=3)


@pytest.fixture(scope="module")
def draw(digits):
    return draw_knowledge(digits, aux_per_class=3, seed=0)


def test_shadow_seeds_must_differ_from_evaluation_seeds(digits, draw, store):
    with pytest.raises(ShadowLeakError, match="overlap"):
        next(shadow_targets(digits, draw, config=CONFIG, eval_seeds=[0, 1000], store=store))
    with pytest.raises(ShadowLeakError, match="overlap"):
        calibrate(digits, draw, config=ShadowConfig(n_models=2, seed=5), eval_seeds=[6], store=store)


def test_shadow_data_must_not_contain_training_images(digits, draw):
    leaky = type(draw)(
        knowledge=draw.knowledge,
        shadow_x=torch.cat([draw.shadow_x, digits.x_train[:1]]),
        shadow_y=torch.cat([draw.shadow_y, digits.y_train[:1]]),
        aux_indices=draw.aux_indices,
        shadow_indices=draw.shadow_indices,
        dropped_duplicates=0,
    )
    with pytest.raises(ShadowLeakError, match="training set"):
        shadow_dataset(digits, leaky, train_fraction=0.8, seed=1000)


def test_shadow_dataset_splits_the_pool(digits, draw):
    shadow = shadow_dataset(digits, draw, train_fraction=0.8, seed=1000)
    assert len(shadow.y_train) + len(shadow.y_test) == len(draw.shadow_y)
    train = set(image_hashes(digits.x_train))
    assert not any(h in train for h in image_hashes(shadow.x_train))


def test_shadows_unlearn_with_the_per_dataset_defaults_of_the_dataset_they_were_drawn_from(digits, draw, store):
    from labelleak.unlearning.defaults import dataset_defaults

    shadow = shadow_dataset(digits, draw, train_fraction=0.8, seed=1000)
    assert shadow.name == "digits-shadow" and shadow.settings_name == "digits"
    tuned = dataset_defaults("digits", "random_labels")
    assert tuned, "the packaged table has a digits entry for random labels"
    original = train_original(shadow, seed=1000, store=store)
    result = unlearn_original(original, shadow, method="random_labels", forget_classes=[4], seed=1000, store=store)
    assert {k: result.params[k] for k in tuned} == tuned
    config = ShadowConfig(methods=("random_labels",))
    # and the calibrations' cache key names the parameters the shadows ran with
    assert {k: config.to_dict("digits")["methods"]["random_labels"][k] for k in tuned} == tuned


def test_shadow_targets_yield_unlearned_models_with_their_own_knowledge(digits, draw, store):
    targets = list(shadow_targets(digits, draw, config=CONFIG, eval_seeds=[0], store=store))
    assert [t.forget_classes for t in targets] == [(1,), (4,), (2, 6)]
    t = targets[0]
    assert t.method == "retrain" and t.seed == 1000 and t.metrics["forget_test_acc"] == 0.0
    assert t.knowledge.original is not None and len(t.knowledge.aux_y) == 30
    pool = set(image_hashes(draw.shadow_x))
    assert all(h in pool for h in image_hashes(t.knowledge.aux_x))


def test_calibration_is_cached_and_calibrates_attacks(digits, draw, store):
    calibration = calibrate(digits, draw, config=CONFIG, eval_seeds=[0], store=store)
    assert calibration.features["diff"].shape == (3, 10, 5)
    assert calibration.forgotten.sum(1).tolist() == [1, 1, 2]
    again = calibrate(digits, draw, config=CONFIG, eval_seeds=[0], store=store)
    assert np.allclose(again.features["dot"], calibration.features["dot"])
    assert list(store.root.glob("shadow-calibration/*/result.json"))
    shadows = Shadows(digits, draw, config=CONFIG, eval_seeds=[0], store=store)
    attack = ATTACKS.build("param-diff", decider="youden").calibrate(shadows)
    assert attack._decider.threshold is not None
    assert np.array_equal(attack.calibration_.features["diff"], calibration.features["diff"])
    # one extraction per reference, shared by every decider and family
    assert ATTACKS.build("param-dot", decider="tree").calibrate(shadows).calibration_ is attack.calibration_


def test_inversion_calibration_is_stored_under_the_shadows_key(digits, draw, store):
    shadows = Shadows(digits, draw, config=CONFIG, eval_seeds=[0], store=store)
    attack = ATTACKS.build("invert-wb", steps=5, checkpoints=[2]).calibrate(shadows)
    assert attack.calibration_.n_shadow == 3 and attack.calibration_.criterion == "threshold"
    again = ATTACKS.build("invert-wb", steps=5, checkpoints=[2])
    fresh = Shadows(digits, draw, config=CONFIG, eval_seeds=[0], store=store)
    before = store.counts[("inversion-calibration", "cached")]
    assert again.calibrate(fresh).calibration_.to_dict() == attack.calibration_.to_dict()
    assert store.counts[("inversion-calibration", "cached")] == before + 1


def test_shadows_refuse_evaluation_seeds(digits, draw):
    with pytest.raises(ShadowLeakError, match="overlap the evaluation seeds"):
        Shadows(digits, draw, config=CONFIG, eval_seeds=[CONFIG.seed])


def test_shadow_config_validation():
    with pytest.raises(ParameterError, match="methods"):
        ShadowConfig(methods=())
    with pytest.raises(ParameterError, match="train_fraction"):
        ShadowConfig(train_fraction=1.0)
    assert ShadowConfig(n_models=3, seed=7).seeds() == [7, 8, 9]


def test_calibration_skips_shadows_where_unlearning_failed(digits, draw, store, monkeypatch):
    import labelleak.attacks.shadow as shadow_module
    from labelleak.attacks.parameter import CalibrationError

    real = list(shadow_targets(digits, draw, config=CONFIG, eval_seeds=[0], store=store))
    for t in real:
        t.metrics["forget_test_acc"] = 0.9
    monkeypatch.setattr(shadow_module, "shadow_targets", lambda *a, **k: iter(real))
    with pytest.raises(CalibrationError, match="none of the 3 shadow targets"):
        calibrate(digits, draw, config=CONFIG, eval_seeds=[0], store=store)
    kept = calibrate(
        digits, draw, config=ShadowConfig(**{**vars(CONFIG), "max_forget_accuracy": None}), eval_seeds=[0], store=store
    )
    assert kept.forgotten.shape[0] == 3 and "skipped" not in kept.description


def test_shadow_config_key_follows_the_methods_default_parameters(monkeypatch):
    from labelleak.unlearning import UNLEARNERS

    config = ShadowConfig(methods=("gradient_ascent",))
    before = config.to_dict()
    assert before["methods"] == {"gradient_ascent": UNLEARNERS.get("gradient_ascent")().params()}
    # a release that changes a shadow method's defaults must not reuse calibrations fitted before
    monkeypatch.setitem(UNLEARNERS.get("gradient_ascent").__init__.__kwdefaults__, "lr", 1e-2)
    assert config.to_dict() != before


def test_shadow_key_follows_the_shadow_training_recipe(monkeypatch):
    from labelleak.attacks.shadow import shadow_key
    from labelleak.models import DEFAULT_RECIPES, TrainConfig

    config = ShadowConfig(methods=("finetune",))
    before = shadow_key(config, "digits")
    assert shadow_key(ShadowConfig(methods=("finetune",), epochs=3), "digits") != before
    monkeypatch.setitem(DEFAULT_RECIPES, "digits", TrainConfig(**{**DEFAULT_RECIPES["digits"].to_dict(), "lr": 0.5}))
    assert shadow_key(config, "digits") != before


def test_shadow_config_draws_pairs_and_triples_with_its_own_seed():
    config = ShadowConfig(pairs=3, triples=2)
    sets = config.resolved_forget_sets(10)
    assert sets[:10] == tuple((c,) for c in range(10))
    assert [len(s) for s in sets[10:]] == [2, 2, 2, 3, 3]
    assert sets == ShadowConfig(pairs=3, triples=2).resolved_forget_sets(10)  # seeded
    assert sets != ShadowConfig(pairs=3, triples=2, seed=2000).resolved_forget_sets(10)
    assert ShadowConfig().resolved_forget_sets(4) == ((0,), (1,), (2,), (3,))
    assert ShadowConfig(forget_sets=((1, 2),)).resolved_forget_sets(4) == ((1, 2),)
    with pytest.raises(ParameterError, match="either forget_sets or pairs/triples"):
        ShadowConfig(forget_sets=((1,),), pairs=1)
    with pytest.raises(ParameterError, match="pairs"):
        ShadowConfig(pairs=-1)
    assert config.to_dict()["pairs"] == 3 and config.to_dict()["triples"] == 2


def test_one_method_per_set_takes_the_methods_in_turn():
    every = ShadowConfig(methods=("gradient_ascent", "random_labels"), pairs=2, triples=1)
    one = ShadowConfig(methods=("gradient_ascent", "random_labels"), pairs=2, triples=1, methods_per_set="one")
    sets = every.resolved_forget_sets(4)
    assert every.plan(4) == tuple((m, s) for m in every.methods for s in sets)
    assert one.plan(4) == tuple((("gradient_ascent", "random_labels")[i % 2], s) for i, s in enumerate(sets))
    assert set(one.plan(4)) < set(every.plan(4))  # a first audit's "one" shadows are among "all"'s stored ones
    # "all" leaves the key as it was before the choice existed, so stored calibrations stay valid
    assert "methods_per_set" not in every.to_dict() and one.to_dict()["methods_per_set"] == "one"
    assert (
        ShadowConfig(methods=("finetune",), methods_per_set="one").to_dict()
        == ShadowConfig(methods=("finetune",)).to_dict()
    )
    with pytest.raises(ParameterError, match=r"methods_per_set must be one of 'all', 'one', got 'some'"):
        ShadowConfig(methods_per_set="some")


def test_a_shadow_method_spec_unlearns_with_its_parameters_here_and_in_the_workers(digits, draw, tmp_path, one_thread):
    config = ShadowConfig(
        methods=("gradient_ascent", "gradient_ascent:ascend_on=all:lr=0.01"),
        forget_sets=((1, 4),),
        epochs=3,
        aux_per_class=3,
    )
    resolved = config.method_params("digits")
    assert resolved["gradient_ascent"]["ascend_on"] == "correct"
    assert resolved["gradient_ascent:ascend_on=all:lr=0.01"]["ascend_on"] == "all"
    assert resolved["gradient_ascent:ascend_on=all:lr=0.01"]["lr"] == 0.01
    store = ArtifactStore(tmp_path / "here")
    here = list(shadow_targets(digits, draw, config=config, eval_seeds=[0], store=store))
    assert [t.method for t in here] == list(config.methods)
    assert store.counts[("unlearned", "computed")] == 2
    plain, spec = (dict(t.unlearned.state_dict()) for t in here)
    assert any(not torch.equal(plain[name], spec[name]) for name in plain)
    there = list(
        shadow_targets(digits, draw, config=config, eval_seeds=[0], store=ArtifactStore(tmp_path / "w"), workers=2)
    )
    for built_here, built_there in zip(here, there, strict=True):
        for name, tensor in built_here.unlearned.state_dict().items():
            assert torch.equal(tensor, built_there.unlearned.state_dict()[name]), name


def test_varied_recipes_train_each_shadow_original_its_own_way():
    from labelleak.attacks.shadow import RECIPE_VARIANTS, shadow_key, shadow_recipes
    from labelleak.models import recipe_for

    base = recipe_for("mnist")
    same = ShadowConfig(methods=("finetune",), n_models=4)
    assert shadow_recipes(same, "mnist") == [base] * 4
    varied = ShadowConfig(methods=("finetune",), n_models=4, recipes="varied")
    recipes = shadow_recipes(varied, "mnist")
    assert recipes[0] == base and recipes[3] == base  # the variants are taken in turn
    assert [(r.epochs, r.lr) for r in recipes[1:3]] == [
        (round(base.epochs * epochs), base.lr * lr) for epochs, lr in RECIPE_VARIANTS[1:3]
    ]
    assert len({(r.epochs, r.lr) for r in recipes}) == len(RECIPE_VARIANTS)
    # "same" keys as before the choice existed (stored calibrations stay valid); "varied" keys apart
    assert "recipes" not in same.to_dict() and shadow_key(same, "mnist")["recipe"] == base.to_dict()
    assert shadow_key(varied, "mnist")["recipe"] == [r.to_dict() for r in recipes]
    assert shadow_key(varied, "mnist") != shadow_key(same, "mnist")
    # one original is trained by the dataset's recipe either way, and is stored and keyed as one
    one_varied, one_same = (ShadowConfig(methods=("finetune",), recipes=r) for r in ("varied", "same"))
    assert not one_varied.recipes_vary and shadow_recipes(one_varied, "mnist") == [base]
    assert shadow_key(one_varied, "mnist") == shadow_key(one_same, "mnist")
    with pytest.raises(ParameterError, match=r"recipes must be one of 'same', 'varied', got 'mixed'"):
        ShadowConfig(recipes="mixed")


def test_varied_shadow_originals_are_trained_by_their_recipes(digits, draw, store, monkeypatch):
    from labelleak.attacks import shadow as shadow_module

    trained = []

    def recording(*args, train_config, **kwargs):
        trained.append((kwargs["seed"], train_config.epochs))
        return train_original(*args, train_config=train_config, **kwargs)

    train_original = shadow_module.train_original
    monkeypatch.setattr(shadow_module, "train_original", recording)
    config = ShadowConfig(methods=("finetune",), forget_sets=((1,),), n_models=2, recipes="varied", epochs=4)
    shadows = list(Shadows(digits, draw, config=config, eval_seeds=[0], store=store).targets())
    assert [t.seed for t in shadows] == [1000, 1001]
    assert trained == [(1000, 4), (1001, 8)]


def test_shadow_scores_line_up_across_attacks(digits, draw, store):
    shadows = Shadows(digits, draw, config=CONFIG, eval_seeds=[0], store=store)
    parameter = ATTACKS.build("param-diff", decider="calibrated").calibrate(shadows).shadow_scores(shadows)
    inversion = ATTACKS.build("invert-wb", steps=5, checkpoints=[2]).calibrate(shadows).shadow_scores(shadows)
    baseline = ATTACKS.build("accuracy-probe").shadow_scores(shadows)
    expected = ["1000:retrain:1", "1000:retrain:4", "1000:retrain:2-6"]
    for rows in (parameter, inversion, baseline):
        assert rows.ids == expected
        assert rows.scores.shape == (3, 10)
        assert rows.forgotten.sum(1).tolist() == [1, 1, 2]
    # the baseline ran on every shadow model: a second call loads its scores from the store
    before = store.counts[("shadow-scores", "cached")]
    again = ATTACKS.build("accuracy-probe").shadow_scores(shadows)
    assert np.array_equal(again.scores, baseline.scores)
    assert store.counts[("shadow-scores", "cached")] == before + 1


def test_progress_options_stay_out_of_cache_keys():
    # a quiet and a verbose audit share one inversion calibration and one set of shadow scores
    quiet = ATTACKS.build("invert-wb", steps=5, verbose=False)
    loud = ATTACKS.build("invert-wb", steps=5, verbose=True)
    assert quiet.calibration_key() == loud.calibration_key() == {"attack": "invert-wb", "options": {"steps": 5}}
    assert loud.options == {"steps": 5, "verbose": True}


def test_shadow_config_knowledge_settings_validation_and_key():
    assert ShadowConfig(aux_per_class=0).aux_per_class == 0  # data-free
    with pytest.raises(ParameterError, match=r"aux_per_class must be an integer >= 0, got -1"):
        ShadowConfig(aux_per_class=-1)
    with pytest.raises(ParameterError, match=r"aux_classes must be an integer >= 1, got 0"):
        ShadowConfig(aux_classes=0)
    with pytest.raises(ParameterError, match=r"aux_classes needs a non-empty A'"):
        ShadowConfig(aux_per_class=0, aux_classes=3)
    key = ShadowConfig().to_dict()
    # the full setting keeps the key it had before partial settings existed (stored calibrations stay valid)
    assert key["exclude_forgotten"] is False and "aux_classes" not in key
    assert ShadowConfig(aux_classes=4).to_dict() != key


def test_partial_shadows_share_random_classes_per_shadow_seed(digits, draw, store):
    config = ShadowConfig(**{**vars(CONFIG), "aux_classes": 4})
    targets = list(shadow_targets(digits, draw, config=config, eval_seeds=[0], store=store))
    held = [sorted(set(t.knowledge.aux_y.tolist())) for t in targets]
    # drawn with the shadow seed, not from a shadow's forgotten classes: one set for all of them
    assert len(held[0]) == 4 and held == [held[0]] * len(targets)
    assert all(len(t.knowledge.aux_y) == 12 for t in targets)
    calibration = calibrate(digits, draw, config=config, eval_seeds=[0], store=store)
    assert "A of 4 random classes per shadow seed" in calibration.description
    with pytest.raises(ParameterError, match=r"aux_classes must be an integer in \[1, 9\], got 10"):
        next(shadow_targets(digits, draw, config=ShadowConfig(aux_classes=10), eval_seeds=[0], store=store))


def test_data_free_shadows_yield_the_two_version_features_only(digits, store):
    free = draw_knowledge(digits, aux_per_class=0, seed=0)
    config = ShadowConfig(**{**vars(CONFIG), "aux_per_class": 0})
    targets = list(shadow_targets(digits, free, config=config, eval_seeds=[0], store=store))
    assert all(t.knowledge.aux_x is None and t.knowledge.unrelated_x is not None for t in targets)
    calibration = calibrate(digits, free, config=config, eval_seeds=[0], store=store)
    assert set(calibration.features) == {"orig"} and "no A (data-free)" in calibration.description
    shadows = Shadows(digits, free, config=config, eval_seeds=[0], store=store)
    assert ATTACKS.build("param-diff-orig", decider="youden").calibrate(shadows)._decider.threshold is not None


def test_several_architectures_take_turns_among_the_shadow_originals(digits, draw, store):
    assert shadow_archs(("mlp", "smallcnn"), "digits", 3) == ["mlp", "smallcnn", "mlp"]
    assert shadow_archs("auto", "digits", 2) == ["mlp", "mlp"]
    with pytest.raises(ParameterError, match=r"at least the number of shadow architectures \(2\), got 1"):
        shadow_archs(("mlp", "smallcnn"), "digits", 1)
    with pytest.raises(ParameterError, match=r"arch names an architecture twice: \['mlp', 'mlp'\]"):
        shadow_archs(("mlp", "auto"), "digits", 2)
    with pytest.raises(ParameterError, match="n_models"):
        Shadows(digits, draw, config=CONFIG, eval_seeds=[0], arch=("mlp", "smallcnn"))
    config = ShadowConfig(methods=("retrain",), forget_sets=((1,), (2, 6)), epochs=2, aux_per_class=3, n_models=2)
    targets = list(shadow_targets(digits, draw, config=config, eval_seeds=[0], arch=("mlp", "smallcnn"), store=store))
    assert [(t.seed, t.original.spec.arch, t.unlearned.spec.arch) for t in targets] == [
        (1000, "mlp", "mlp"),
        (1000, "mlp", "mlp"),
        (1001, "smallcnn", "smallcnn"),
        (1001, "smallcnn", "smallcnn"),
    ]
    # calibrations fit on them are keyed apart from those of one architecture
    one = Shadows(digits, draw, config=config, eval_seeds=[0], store=store)
    several = Shadows(digits, draw, config=config, eval_seeds=[0], arch=("mlp", "smallcnn"), store=store)
    assert one.key["arch"] == "mlp" and several.key["arch"] == ["mlp", "smallcnn"]


@pytest.fixture()
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture()
def two_threads():
    with torch_threads(2):
        yield


def test_shadow_models_are_trained_and_unlearned_at_one_thread_whatever_the_callers_count(
    digits, draw, store, monkeypatch, two_threads
):
    from labelleak import targets
    from labelleak.unlearning.gradient_ascent import GradientAscent

    counts = []

    def train(*args, **kwargs):
        counts.append(("train", torch.get_num_threads()))
        return real_train(*args, **kwargs)

    def unlearn(self, *args, **kwargs):
        counts.append(("unlearn", torch.get_num_threads()))
        return real_unlearn(self, *args, **kwargs)

    real_train, real_unlearn = targets.train, GradientAscent._unlearn
    monkeypatch.setattr(targets, "train", train)
    monkeypatch.setattr(GradientAscent, "_unlearn", unlearn)
    config = ShadowConfig(methods=("gradient_ascent",), forget_sets=((1,), (2, 6)), epochs=2, aux_per_class=3)
    list(shadow_targets(digits, draw, config=config, eval_seeds=[0], store=store))
    assert counts == [("train", 1), ("unlearn", 1), ("unlearn", 1)]
    assert torch.get_num_threads() == 2
    # the thread count is part of their cache keys: a store of shadows built at another count is not read
    records = [
        path.read_text() for kind in ("original", "unlearned") for path in store.root.glob(f"{kind}/*/model.json")
    ]
    assert len(records) == 3 and all('"threads": 1' in record for record in records)


def test_shadow_models_built_in_worker_processes_equal_those_built_here(digits, draw, tmp_path, two_threads):
    config = ShadowConfig(methods=("gradient_ascent",), forget_sets=((1,), (4,), (2, 6)), epochs=5, aux_per_class=3)
    here = list(shadow_targets(digits, draw, config=config, eval_seeds=[0], store=ArtifactStore(tmp_path / "here")))
    store = ArtifactStore(tmp_path / "workers")
    there = list(shadow_targets(digits, draw, config=config, eval_seeds=[0], store=store, workers=2))
    # θ_o′ trained here, the three unlearned models in the workers and then loaded here
    assert store.counts[("original", "computed")] == 1
    assert store.counts[("unlearned", "computed")] == 0 and store.counts[("unlearned", "cached")] == 3
    for built_here, built_there in zip(here, there, strict=True):
        assert built_here.forget_classes == built_there.forget_classes
        # the one utility metric the calibrations read is measured, here and in the workers
        assert set(built_here.metrics) == set(built_there.metrics) == {"forget_test_acc", "seconds", "cpu_seconds"}
        assert built_here.metrics["forget_test_acc"] == built_there.metrics["forget_test_acc"]
        for name, tensor in built_here.unlearned.state_dict().items():
            assert torch.equal(tensor, built_there.unlearned.state_dict()[name]), name


def test_several_shadow_originals_are_trained_in_the_worker_processes_too(digits, draw, tmp_path, one_thread):
    config = ShadowConfig(
        methods=("gradient_ascent", "random_labels"),
        forget_sets=((1,), (2, 6)),
        epochs=3,
        aux_per_class=3,
        n_models=3,
        recipes="varied",
    )
    here = list(shadow_targets(digits, draw, config=config, eval_seeds=[0], store=ArtifactStore(tmp_path / "here")))
    store = ArtifactStore(tmp_path / "workers")
    there = list(shadow_targets(digits, draw, config=config, eval_seeds=[0], store=store, workers=2))
    # every θ_o′ and its four unlearned models built in the workers, then loaded here
    assert store.counts[("original", "computed")] == 0 and store.counts[("original", "cached")] == 3
    assert store.counts[("unlearned", "computed")] == 0 and store.counts[("unlearned", "cached")] == 12
    assert [t.identity for t in here] == [t.identity for t in there]
    for built_here, built_there in zip(here, there, strict=True):
        for model_here, model_there in (
            (built_here.original, built_there.original),
            (built_here.unlearned, built_there.unlearned),
        ):
            for name, tensor in model_here.state_dict().items():
                assert torch.equal(tensor, model_there.state_dict()[name]), name


def test_a_single_shadow_original_to_train_is_trained_here_before_the_workers_start(digits, draw, tmp_path):
    two = ShadowConfig(methods=("gradient_ascent",), forget_sets=((1,), (4,)), epochs=2, aux_per_class=3, n_models=2)
    one = replace(two, n_models=1)
    list(shadow_targets(digits, draw, config=one, eval_seeds=[0], store=ArtifactStore(tmp_path)))
    store = ArtifactStore(tmp_path)
    list(shadow_targets(digits, draw, config=two, eval_seeds=[0], store=store, workers=2))
    # θ_o′ 1000 was stored; 1001 trained here, its two unlearned models in the workers; both loaded after
    assert store.counts[("original", "computed")] == 1 and store.counts[("original", "cached")] == 2
    assert store.counts[("unlearned", "computed")] == 0 and store.counts[("unlearned", "cached")] == 4


def test_no_worker_starts_for_a_single_model_left_to_build(digits, draw, store):
    config = ShadowConfig(methods=("gradient_ascent",), forget_sets=((1,),), epochs=2, aux_per_class=3)
    list(shadow_targets(digits, draw, config=config, eval_seeds=[0], store=store, workers=2))
    # θ_o′ trained here first, which leaves one unlearned model: built here too
    assert store.counts[("original", "computed")] == 1 and store.counts[("unlearned", "computed")] == 1


def test_a_factory_that_does_not_pickle_builds_its_shadows_here(digits, draw, store):
    def net():
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))

    arch = register_factory(lambda: net(), head="1", sample=digits.x_test[:4], source="a lambda")
    targets = list(shadow_targets(digits, draw, config=CONFIG, eval_seeds=[0], arch=arch, store=store, workers=2))
    assert len(targets) == 3 and store.counts[("unlearned", "computed")] == 3  # all built in this process


def _fail_in_a_worker():
    raise RuntimeError("this factory cannot be rebuilt here")


class _FactoryThatDoesNotUnpickle:
    """Pickles in this process; unpickling it in a worker raises, as a notebook's class would."""

    def __call__(self) -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))

    def __reduce__(self):
        return _fail_in_a_worker, ()


def test_workers_that_cannot_start_leave_the_shadows_to_this_process(digits, draw, store, caplog):
    arch = register_factory(_FactoryThatDoesNotUnpickle(), head="1", sample=digits.x_test[:4], source="no unpickle")
    config = ShadowConfig(methods=("gradient_ascent",), forget_sets=((1,), (4,)), epochs=2, aux_per_class=3)
    targets = list(shadow_targets(digits, draw, config=config, eval_seeds=[0], arch=arch, store=store, workers=2))
    assert "shadow workers failed" in caplog.text
    assert [t.forget_classes for t in targets] == [(1,), (4,)]
    assert store.counts[("unlearned", "computed")] == 2  # built in this process


def test_an_inversion_calibration_chooses_across_originals_when_asked(digits, draw, store, monkeypatch):
    import labelleak.attacks.criteria as criteria

    seen = []
    fit = criteria.fit_calibration

    def spy(*args, **kwargs):
        seen.append(kwargs.get("groups"))
        return fit(*args, **kwargs)

    monkeypatch.setattr(criteria, "fit_calibration", spy)
    two = ShadowConfig(methods=("retrain",), forget_sets=((1,), (2, 6)), epochs=2, aux_per_class=3, n_models=2)
    shadows = Shadows(digits, draw, config=two, eval_seeds=[0], store=store)
    across = ATTACKS.build("invert-wb", steps=3, checkpoint_choice="across-originals").calibrate(shadows)
    pooled = ATTACKS.build("invert-wb", steps=3).calibrate(shadows)
    assert seen == [[1000, 1000, 1001, 1001], None]
    # stored apart: the pooled fit did not read the one across originals
    assert store.counts[("inversion-calibration", "computed")] == 2
    assert across.calibration_.n_shadow == pooled.calibration_.n_shadow == 4
    # the shadows' own scores (what the verdict is fit on) are scored against the other original's reference
    checkpoint = across.calibration_.checkpoint
    runs = list(shadows.targets())
    stats = np.stack([np.log(across.shadow_run(t).reading(checkpoint).confidence) for t in runs])
    labels = np.array([[c in t.forget_classes for c in range(10)] for t in runs])
    expected = criteria.across_originals(stats, labels, [t.seed for t in runs], "threshold")
    np.testing.assert_allclose(across.shadow_scores(shadows).scores, expected, rtol=1e-6)
    assert not np.allclose(expected, across.calibration_.reference - stats)
    one = ShadowConfig(methods=("retrain",), forget_sets=((1,), (2, 6)), epochs=2, aux_per_class=3)
    with pytest.raises(CalibrationError, match=r"at least two \(n_models ≥ 2\), got 1"):
        ATTACKS.build("invert-wb", steps=3, checkpoint_choice="across-originals").calibrate(
            Shadows(digits, draw, config=one, eval_seeds=[0], store=store)
        )
    with pytest.raises(ParameterError, match="applies to reference='shadows'"):
        ATTACKS.build("invert-wb", checkpoint_choice="across-originals", reference="original")


def _store_the_number_of_shadow_targets(shadows):
    shadows.cached("test-fit", {"what": "count"}, lambda: {"targets": len(list(shadows.targets()))})


def _fail_on_the_shadows(shadows):
    raise ValueError("this fit fails")


def test_fits_run_in_worker_processes_once_every_shadow_model_is_stored(digits, draw, store, caplog):
    config = ShadowConfig(methods=("gradient_ascent",), forget_sets=((1,), (4,), (2, 6)), epochs=2, aux_per_class=3)
    shadows = Shadows(digits, draw, config=config, eval_seeds=[0], store=store, workers=2)
    tasks = [_fail_on_the_shadows, _store_the_number_of_shadow_targets]
    caplog.set_level("INFO", logger="labelleak.attacks.shadow")
    assert shadows.fit_in_workers(tasks) == 0  # nothing stored yet: nothing runs there
    assert shadows.build() == 4 and shadows.build() == 0  # θ_o′ and three unlearned models lacked, then none
    assert shadows.fit_in_workers(tasks) == 1  # the failing task is left to this process
    assert "this fit fails" in caplog.text
    # what the worker stored is read here, not computed again
    assert shadows.cached("test-fit", {"what": "count"}, lambda: {"targets": -1}) == {"targets": 3}
    assert store.counts[("test-fit", "cached")] == 1 and store.counts[("test-fit", "computed")] == 0
