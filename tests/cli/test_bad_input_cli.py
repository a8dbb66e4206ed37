"""Bad input on the command line (issue 19, "Bad input" 1-7): one clear line, exit 2, no work lost,
nothing half-written. On digits and generated files."""

from __future__ import annotations

import json
import logging
import os
import resource
import sys
import textwrap

import pytest
import torch

from labelleak.cli import main
from labelleak.store import ArtifactStore, temp_prefix
from tests.audit.conftest import USER_MODEL


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One artifact store for the module, so θ_o and θ_u on digits are trained once."""
    return tmp_path_factory.mktemp("cache")


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code, err, *fragments):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("labelleak: error:")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _parser_error(capsys, *argv):
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    err = capsys.readouterr().err
    return info.value.code, err.strip().splitlines()[-1]


TRAIN = ("train", "--dataset", "digits", "--epochs", "1", "--quiet")


# 1. a store that cannot be written: refused before training; a failed write is one line, no folder left


def test_cache_under_a_regular_file(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    code, out, err = _run(capsys, *TRAIN, "--cache", tmp_path / "file" / "cache")
    _one_line_error(code, err, f"the artifact store {tmp_path}/file/cache is not writable", "is not a directory")
    assert "trained" not in out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux's /proc")
def test_cache_under_proc(capsys):
    code, out, err = _run(capsys, *TRAIN, "--cache", "/proc/labelleak-no-such-dir/cache")
    _one_line_error(code, err, "is not writable", "cannot create directory /proc/labelleak-no-such-dir")
    assert "trained" not in out


def test_file_size_limit_is_one_line_and_leaves_no_artifact(capsys, caplog, tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, hard))  # `ulimit -f 2` for this process
    try:
        with caplog.at_level(logging.WARNING):
            code, _out, err = _run(capsys, *TRAIN, "--cache", tmp_path / "cache")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    _one_line_error(code, err, "cannot write the original artifact to the store", "File too large", "ulimit -f")
    assert "the file size limit" in caplog.text  # warned before training
    assert list((tmp_path / "cache").iterdir()) == []  # no empty or half-written artifact folder


# 2. output paths that cannot be created: refused before any work


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux's /proc")
def test_audit_json_in_a_folder_that_cannot_be_created(capsys, tmp_path):
    # the weights file does not even exist: the output path is checked first
    code, _out, err = _run(
        capsys,
        "audit",
        "--model-factory",
        f"{USER_MODEL}:build",
        "--weights",
        tmp_path / "missing.pt",
        "--dataset",
        "digits",
        "--json",
        "/proc/labelleak-x/out.json",
        "--quiet",
    )
    _one_line_error(code, err, "--json /proc/labelleak-x/out.json: cannot create directory /proc/labelleak-x")


def test_audit_report_under_a_regular_file(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    code, _out, err = _run(
        capsys,
        "audit",
        "--model-factory",
        f"{USER_MODEL}:build",
        "--weights",
        tmp_path / "missing.pt",
        "--dataset",
        "digits",
        "--report",
        tmp_path / "file" / "audit.md",
        "--quiet",
    )
    _one_line_error(code, err, "--report", f"{tmp_path}/file is not a directory")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux's /proc")
def test_run_out_in_a_folder_that_cannot_be_created(capsys, tmp_path):
    code, out, err = _run(
        capsys, "run", "configs/quick.toml", "--out", "/proc/labelleak-x/out", "--cache", tmp_path, "--quiet"
    )
    _one_line_error(code, err, "--out /proc/labelleak-x/out: cannot create directory /proc/labelleak-x")
    assert out == "" and not list(tmp_path.iterdir())


def test_demo_out_that_is_a_file(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    code, _out, err = _run(capsys, "demo", "--out", tmp_path / "file", "--cache", tmp_path / "cache", "--quiet")
    _one_line_error(code, err, f"--out {tmp_path}/file: not a directory")
    assert not (tmp_path / "cache").exists()


def test_the_output_check_leaves_nothing_behind(tmp_path):
    from labelleak.store import check_output_dir, check_output_file

    check_output_dir(tmp_path / "a" / "b", what="--out")
    check_output_file(tmp_path / "c" / "d.json", what="--json")
    assert list(tmp_path.iterdir()) == []


# 3. corrupt artifacts in the store: warned about and recomputed by the next run


TINY = textwrap.dedent(
    """\
    name = "tiny-prototypes"
    seeds = [0]

    [[datasets]]
    name = "digits"
    epochs = 2
    singles = [3]

    [unlearning]
    methods = ["retrain"]
    params = { retrain = { epochs = 2 } }

    [[knowledge]]
    name = "default"
    aux_per_class = 3
    unrelated_size = 16

    [[attacks]]
    name = "invert-wb"
    params = { steps = 20 }

    [[attacks]]
    name = "random-guess"
    """
)


def test_truncated_prototypes_and_corrupt_results_are_recomputed(capsys, caplog, tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    store = tmp_path / "cache"
    code, _out, _err = _run(capsys, "run", config, "--out", tmp_path / "first", "--cache", store, "--quiet")
    assert code == 0
    (prototypes,) = (store / "prototypes").glob("*/tensors.safetensors")
    prototypes.write_bytes(prototypes.read_bytes()[: prototypes.stat().st_size // 2])
    results = sorted((store / "attack-row").glob("*/result.json"))
    corrupt = next(p for p in results if p.parent.name != prototypes.parent.name)  # random-guess's row
    corrupt.write_text(corrupt.read_text()[:100])
    with caplog.at_level(logging.WARNING):
        code, out, _err = _run(capsys, "run", config, "--out", tmp_path / "second", "--cache", store, "--quiet")
    assert code == 0 and "row: 2 computed, 0 loaded from the store" in out
    assert "ignoring unreadable cached tensors" in caplog.text and "ignoring unreadable cached result" in caplog.text
    row_key = json.loads((prototypes.parent / "config.json").read_text())
    assert ArtifactStore(store).load_tensors("prototypes", row_key) is not None  # stored again, whole
    assert list((tmp_path / "second" / "prototypes").glob("*.safetensors"))


# 4. numbers the parser refuses


@pytest.mark.parametrize(
    "argv,line",
    [
        (["train", "--threads", "-3"], "argument --threads: must be an integer >= 1, got -3"),
        (["train", "--threads", "0"], "argument --threads: must be an integer >= 1, got 0"),
        (["train", "--threads", "two"], "argument --threads: must be an integer >= 1, got 'two'"),
        (["train", "--seed", "-1"], "argument --seed: must be an integer >= 0, got -1"),
        (
            ["attack", "--method", "retrain", "--forget", "3", "--seed", "-1"],
            "argument --seed: must be an integer >= 0, got -1",
        ),
        (["run", "configs/quick.toml", "--jobs", "0"], "argument --jobs: must be an integer >= 1, got 0"),
        (["run", "configs/quick.toml", "--threads", "-3"], "argument --threads: must be an integer >= 1, got -3"),
    ],
)
def test_parser_refuses_bad_numbers(capsys, argv, line):
    code, last = _parser_error(capsys, *argv)
    assert code == 2 and last.endswith(f"error: {line}")


# 5. a query budget too small for K classes is refused before training; a long one is warned about


def test_too_small_query_budget_is_refused_before_training(capsys, tmp_path):
    code, out, err = _run(
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
        "--queries",
        "5",
        "--cache",
        tmp_path / "cache",
        "--quiet",
    )
    _one_line_error(code, err, "query_budget must allow at least 2 queries per class (20 for 10 classes), got 5")
    assert out == "" and not (tmp_path / "cache").exists()  # nothing trained, nothing stored


def test_black_box_inversion_shows_queries_and_warns_of_a_long_budget(capsys, caplog, cache, monkeypatch):
    from labelleak.attacks import genetic

    monkeypatch.setattr(genetic, "LONG_RUN_SECONDS", 0.0)  # any budget "needs hours"
    with caplog.at_level(logging.WARNING):
        code, out, err = _run(
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
            "--queries",
            "2000",
            "--cache",
            cache,
            "--threads",
            "1",
        )
    assert code == 0 and "1820 queries" in out
    assert "invert-bb queries" in err and "query/s" in err  # the progress bar counts queries
    assert "invert-bb: a budget of 2000 queries needs about" in caplog.text


# 6. a refused checkpoint names the refused global and never suggests unsafe loading


def test_refused_checkpoint_names_the_global(capsys, tmp_path):
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    torch.save({"classifier.3.weight": Exploit()}, evil)
    code, _out, err = _run(
        capsys, "audit", "--model-factory", f"{USER_MODEL}:build", "--weights", evil, "--dataset", "digits", "--quiet"
    )
    line = _one_line_error(code, err, "refusing to load", "refused global posix.system")
    assert "weights_only" not in line and "will likely succeed" not in line
    assert not marker.exists()


# 7. a killed writer's temporaries are removed when the store is opened


def test_stale_temporary_of_a_killed_writer_is_removed(capsys, tmp_path):
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a writer that is gone, like one killed with kill -9
    artifact = tmp_path / "cache" / "original" / "0123456789abcdef01234567"
    artifact.mkdir(parents=True)
    left = artifact / f"{temp_prefix('model').rsplit('-', 1)[0]}-{child.pid}.x1y2z3w4.tmp"
    left.write_bytes(b"")
    code, out, _err = _run(capsys, *TRAIN, "--cache", tmp_path / "cache")
    assert code == 0 and "trained in" in out
    assert not artifact.exists()
    assert not list((tmp_path / "cache").rglob("*.tmp"))
