import pytest

from labelleak.cli import main


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One artifact store for the module, so θ_o on digits is trained once."""
    return str(tmp_path_factory.mktemp("cache"))


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_attack_finds_the_retrained_digit(capsys, cache):
    code, out, _ = _run(
        capsys,
        "attack",
        "--dataset",
        "digits",
        "--method",
        "retrain",
        "--forget",
        "3",
        "--attack",
        "param-diff",
        "--decider",
        "kmeans",
        "--aux-per-class",
        "5",
        "--cache",
        cache,
        "--threads",
        "1",
        "--quiet",
    )
    assert code == 0
    assert "| 3 | 3 |" in out and "Ĉ = [3], truth C = [3]: SUCCESS" in out
    assert "A: 50 test samples" in out
    # the second run loads θ_o and θ_u from the cache
    code, out, _ = _run(
        capsys,
        "attack",
        "--dataset",
        "digits",
        "--method",
        "retrain",
        "--forget",
        "3",
        "--aux-per-class",
        "5",
        "--cache",
        cache,
        "--threads",
        "1",
        "--quiet",
    )
    assert code == 0 and "(cached)" in out


def test_attack_with_calibrated_decider_and_a_partial_aux(capsys, cache):
    from labelleak.attacks.knowledge import draw_aux_classes

    code, out, _ = _run(
        capsys,
        "attack",
        "--dataset",
        "digits",
        "--method",
        "retrain",
        "--forget",
        "2",
        "--forget",
        "5",
        "--attack",
        "param-dot",
        "--decider",
        "youden",
        "--shadow-methods",
        "random_labels",
        "--shadow-epochs",
        "5",
        "--aux-classes",
        "5",
        "--aux-per-class",
        "3",
        "--cache",
        cache,
        "--threads",
        "1",
        "--quiet",
    )
    assert code == 0
    # A's classes come from --seed (0) alone, not from --forget
    held = draw_aux_classes(10, 5, seed=0)
    among = {2, 5} & set(held)
    expected = "all" if among == {2, 5} else ("some" if among else "none")
    assert f"A held classes {list(held)} (5 of 10, drawn from --seed); forgotten classes among them: {expected}" in out
    assert f"A: 15 test samples (3/class of 5 of 10 classes: {' '.join(map(str, held))})" in out
    assert "shadow targets: methods ['random_labels']" in out and "A of 5 random classes per shadow seed" in out
    assert "truth C = [2, 5]" in out


def test_attack_without_aux_runs_the_two_version_attack(capsys, cache):
    code, out, _ = _run(
        capsys,
        "attack",
        "--dataset",
        "digits",
        "--method",
        "retrain",
        "--forget",
        "3",
        "--attack",
        "param-diff-orig",
        "--aux-per-class",
        "0",
        "--cache",
        cache,
        "--threads",
        "1",
        "--quiet",
    )
    assert code == 0 and "knowledge: A: none; θ_o: given" in out and "truth C = [3]" in out


@pytest.mark.parametrize(
    "options, message",
    [
        (["--attack", "param-diff", "--aux-per-class", "0"], "attack 'param-diff' needs the auxiliary set A; "),
        (["--aux-per-class", "0", "--aux-classes", "3"], "--aux-classes needs a non-empty A"),
        (["--aux-classes", "10"], "--aux-classes must be an integer in [1, 9], got 10"),
        (["--aux-per-class", "-1"], "--aux-per-class must be an integer >= 0, got -1"),
    ],
)
def test_attack_knowledge_options_are_checked_before_training(capsys, tmp_path, options, message):
    code, _, err = _run(
        capsys,
        "attack",
        "--dataset",
        "digits",
        "--method",
        "retrain",
        "--forget",
        "3",
        *options,
        "--cache",
        str(tmp_path),
        "--quiet",
    )
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("original/*"))


def test_attack_errors_are_one_line(capsys, cache):
    code, _, err = _run(
        capsys, "attack", "--dataset", "digits", "--method", "retrain", "--forget", "12", "--cache", cache
    )
    assert code == 2 and "forget" in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(
        capsys,
        "attack",
        "--dataset",
        "digits",
        "--method",
        "retrain",
        "--forget",
        "1",
        "--attack",
        "no-such-attack",
        "--cache",
        cache,
    )
    assert code == 2 and "unknown attack" in err
    code, _, err = _run(
        capsys,
        "attack",
        "--dataset",
        "digits",
        "--method",
        "retrain",
        "--forget",
        "1",
        "--attack",
        "param-diff",
        "--criterion",
        "entropy",
        "--aux-per-class",
        "2",
        "--cache",
        cache,
        "--quiet",
    )
    assert code == 2 and "--criterion" in err


def test_black_box_attack_takes_a_query_budget(capsys, cache):
    code, out, _ = _run(
        capsys,
        "attack",
        "--dataset",
        "digits",
        "--method",
        "retrain",
        "--forget",
        "3",
        "--attack",
        "invert-bb",
        "--criterion",
        "threshold",
        "--queries",
        "640",
        "--cache",
        cache,
        "--threads",
        "1",
        "--quiet",
    )
    assert code == 0
    queries = int(out.rsplit(" queries)", 1)[0].rsplit(", ", 1)[1])
    assert 0 < queries <= 640


def test_option_the_attack_does_not_take_is_one_line(capsys, cache):
    code, _, err = _run(
        capsys,
        "attack",
        "--dataset",
        "digits",
        "--method",
        "retrain",
        "--forget",
        "3",
        "--attack",
        "param-diff",
        "--queries",
        "100",
        "--cache",
        cache,
        "--quiet",
    )
    assert code == 2 and "takes no --queries option" in err and err.count("\n") == 1


def test_attack_takes_method_params_and_warns_when_nothing_was_forgotten(capsys, cache):
    argv = ["attack", "--dataset", "digits", "--method", "gradient_ascent", "--forget", "3", "--attack"]
    argv += ["param-diff", "--decider", "kmeans", "--aux-per-class", "5", "--cache", cache, "--threads", "1"]
    code, out, _ = _run(capsys, *argv, "--quiet", "--param", "epochs=1", "--param", "lr=1e-5")
    assert code == 0 and "DID NOT FORGET" in out
    code, out, _ = _run(capsys, *argv, "--quiet")
    assert code == 0 and "DID NOT FORGET" not in out
    code, _, err = _run(capsys, *argv, "--quiet", "--param", "nope=1")
    assert code != 0 and "unknown parameter 'nope'" in err
