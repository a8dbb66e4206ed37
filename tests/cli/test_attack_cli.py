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


def test_attack_with_calibrated_decider_and_no_aux_of_forgotten(capsys, cache):
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
        "--no-aux-of-forgotten",
        "--aux-per-class",
        "3",
        "--cache",
        cache,
        "--threads",
        "1",
        "--quiet",
    )
    assert code == 0
    assert "shadow targets: methods ['random_labels']" in out
    assert "A without the forgotten classes" in out and "none of [2, 5]" in out
    assert "truth C = [2, 5]" in out


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
