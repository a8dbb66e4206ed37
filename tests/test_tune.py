"""``labelleak tune``: Optuna on a validation split of the training data, resumable, writes the defaults."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("optuna")

from labelleak.cli import main
from labelleak.tune import score, search_space, validation_split
from labelleak.validation import ParameterError


def _set_scores(result):
    """Each forget set's score, recomputed from what the result reports about it."""
    return [
        score(
            m["forget_test_acc"],
            m["retain_test_acc"],
            m["cpu_seconds"],
            m["retrain_forget"] + 0.02,
            m["budget_cpu_seconds"],
            m["retain_floor"],
        )
        for m in result.per_set
    ]


def test_validation_split_uses_only_training_data(digits):
    split = validation_split(digits)
    assert len(split.y_train) + len(split.y_test) == len(digits.y_train)
    assert torch.equal(torch.unique(split.y_test), torch.arange(10))
    # the validation images are training images, not test images
    assert any(torch.equal(split.x_test[0], t) for t in digits.x_train)
    assert not any(torch.equal(split.x_test[0], t) for t in digits.x_test)


def test_objective_prefers_forgetting_then_retain_then_cost():
    assert score(0.0, 0.90, 1.0, target=0.02) > score(0.5, 0.99, 0.1, target=0.02)
    assert score(0.0, 0.95, 1.0, target=0.02) > score(0.0, 0.90, 0.1, target=0.02)
    assert score(0.0, 0.95, 1.0, target=0.02) > score(0.0, 0.95, 5.0, target=0.02)
    # over the cost budget is infeasible, however well it forgets, and the further over the worse
    assert score(0.0, 0.50, 9.0, target=0.02, budget=10.0) > score(0.0, 0.99, 11.0, target=0.02, budget=10.0)
    assert score(0.0, 0.99, 11.0, target=0.02, budget=10.0) > score(0.0, 0.99, 30.0, target=0.02, budget=10.0)
    # forgetting by wrecking the retained classes is infeasible too
    assert score(0.0, 0.80, 1.0, target=0.02, retain_floor=0.95) < -1.0
    assert score(0.0, 0.96, 1.0, target=0.02, retain_floor=0.95) > -1.0
    # SCRUB's α is its distillation weight, searched on its own scale, not SSD's threshold range
    assert search_space("scrub")["alpha"][2] <= 1.0 < search_space("ssd")["alpha"][2]
    with pytest.raises(ParameterError, match="nothing to tune"):
        search_space("retrain")


def test_tune_digits_writes_the_defaults_and_resumes(capsys, tmp_path):
    out = tmp_path / "defaults.json"
    out.write_text(json.dumps({"digits": {"ssd": {"alpha": 15.0}}}))
    argv = ["tune", "--dataset", "digits", "--method", "scrub", "--forget", "3", "--trials", "8"]
    argv += ["--cache", str(tmp_path / "cache"), "--write", str(out), "--threads", "1", "--quiet"]
    # digits' θ_o trains for 40 epochs of 23 steps: two of them are too few for any trial, and a study
    # with no trial inside the budget writes nothing
    assert main([*argv, "--budget-epochs", "0.01"]) == 1
    assert "nothing written" in capsys.readouterr().out and json.loads(out.read_text()) == {
        "digits": {"ssd": {"alpha": 15.0}}
    }
    argv += ["--budget-epochs", "40"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "8 trials" in printed and "wrote digits/scrub" in printed and "budget CPU s" in printed
    table = json.loads(out.read_text())
    entry = table["digits"]["scrub"]
    # the tuned parameters, plus the packaged digits defaults the trials ran with (batch sizes 32)
    assert table["digits"]["ssd"] == {"alpha": 15.0} and {"lr", "epochs", "optimizer", "alpha", "max_steps"} <= set(
        entry
    )
    assert entry["batch_size"] == 32 and entry["forget_batch_size"] == 32
    assert list((tmp_path / "cache" / "tune").glob("*.journal"))
    # resumed: the study already holds 8 trials, so nothing new runs
    assert main(argv) == 0 and "8 trials" in capsys.readouterr().out


def test_tune_trains_the_update_record_a_method_needs(tmp_path):
    from labelleak.data import load_dataset
    from labelleak.store import ArtifactStore
    from labelleak.tune import tune

    store = ArtifactStore(tmp_path / "cache")
    result = tune(load_dataset("digits"), method="amnesiac_updates", forget_sets=[[3]], trials=1, store=store)
    assert result.trials == 1 and "repair_epochs" in result.params
    assert list((tmp_path / "cache" / "update-record").iterdir())


def test_tune_scores_a_trial_as_its_worst_forget_set(tmp_path, capsys):
    from labelleak.data import load_dataset
    from labelleak.store import ArtifactStore
    from labelleak.tune import tune

    store = ArtifactStore(tmp_path / "cache")
    sets = [[0], [3], [3], [0, 3]]
    result = tune(load_dataset("digits"), method="finetune", forget_sets=sets, trials=2, store=store, budget_epochs=40)
    assert result.forget_sets == ((0,), (3,), (0, 3)) and len(result.per_set) == 3  # the repeated set once
    study = next((tmp_path / "cache" / "tune").glob("*.journal")).name
    assert "digits-finetune-0_3_0+3-seed0" in study
    # the study's value is the worst set's score, each set against its own Retrain reference
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(next((tmp_path / "cache" / "tune").glob("*.journal")))))
    best = optuna.load_study(study_name=study.removesuffix(".journal"), storage=storage).best_value
    scores = _set_scores(result)
    assert best == pytest.approx(min(scores)) and result.feasible == (min(scores) > -1.0)
    argv = ["tune", "--dataset", "digits", "--method", "finetune", "--forget-sets", "0;3;0,3", "--trials", "2"]
    argv += ["--cache", str(tmp_path / "cache"), "--budget-epochs", "40", "--no-write", "--quiet"]
    main(argv)
    printed = capsys.readouterr().out
    assert "2 trials" in printed and "| {0, 3} |" in printed and "| {3} |" in printed
    with pytest.raises(SystemExit) as stopped:
        main(["tune", "--dataset", "digits", "--method", "finetune", "--forget-sets", "0;x"])
    assert stopped.value.code == 2
    assert "must be forget sets like '0;3;0,3', got '0;x'" in capsys.readouterr().err


def test_a_resumed_study_draws_new_trials(tmp_path):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from labelleak.data import load_dataset
    from labelleak.store import ArtifactStore
    from labelleak.tune import tune

    store = ArtifactStore(tmp_path / "cache")
    options = dict(method="finetune", forget_sets=[[3]], store=store, budget_epochs=40)
    tune(load_dataset("digits"), trials=2, **options)
    tune(load_dataset("digits"), trials=4, **options)  # resumed: two more
    journal = next((tmp_path / "cache" / "tune").glob("*.journal"))
    storage = JournalStorage(JournalFileBackend(str(journal)))
    trials = optuna.load_study(study_name=journal.name.removesuffix(".journal"), storage=storage).trials
    drawn = [tuple(sorted(t.params.items())) for t in trials]
    # the resumed call's random start-up draws are not the first call's again
    assert len(drawn) == 4 and len(set(drawn)) == 4


def test_a_trial_that_cannot_beat_the_best_stops_after_its_first_set(tmp_path, monkeypatch):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    import labelleak.tune as tuning
    from labelleak.data import load_dataset
    from labelleak.store import ArtifactStore

    store = ArtifactStore(tmp_path / "cache")
    unlearned = []
    real_unlearn = tuning.unlearn_original

    def counting_unlearn(*args, method, forget_classes, **kwargs):
        if method != "retrain":
            unlearned.append(tuple(forget_classes))
        return real_unlearn(*args, method=method, forget_classes=forget_classes, **kwargs)

    monkeypatch.setattr(tuning, "unlearn_original", counting_unlearn)
    options = dict(method="finetune", forget_sets=[[0], [3], [0, 3]], store=store, budget_epochs=40)
    first = tuning.tune(load_dataset("digits"), trials=1, **options)
    assert first.trials == 1 and first.stopped_early == 0 and len(unlearned) == 3
    # the next trial fine-tunes one epoch at a rate too small to forget any set: worse than the first
    # on whichever set it runs first
    journal = next((tmp_path / "cache" / "tune").glob("*.journal"))
    study = optuna.load_study(
        study_name=journal.name.removesuffix(".journal"), storage=JournalStorage(JournalFileBackend(str(journal)))
    )
    study.enqueue_trial({"lr": 1e-5, "epochs": 1, "optimizer": "sgd"})
    unlearned.clear()
    result = tuning.tune(load_dataset("digits"), trials=2, **options)
    # stopped after one set, the one the best trial did worst on, and counted as a finished trial
    set_scores = _set_scores(first)
    worst = first.forget_sets[set_scores.index(min(set_scores))]
    assert result.trials == 2 and result.stopped_early == 1 and unlearned == [worst]
    # the stopped trial is not the best, and its partial cost is counted
    assert result.params == first.params and result.cpu_seconds > first.cpu_seconds
    stopped = study.trials[-1]
    assert stopped.state == optuna.trial.TrialState.PRUNED and list(stopped.intermediate_values) == [0]
