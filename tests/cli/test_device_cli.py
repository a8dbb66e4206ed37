"""``--device``: on every verb that trains or attacks; ``cpu`` runs, ``cuda`` without CUDA is one line."""

from __future__ import annotations

import pytest
import torch

from labelleak.cli import build_parser, main
from labelleak.device import default_device

VERBS_THAT_COMPUTE = ("train", "unlearn", "attack", "audit", "demo", "run", "reproduce", "tune")


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("verb", VERBS_THAT_COMPUTE)
def test_every_verb_that_computes_has_device(verb):
    subparsers = next(a for a in build_parser()._actions if a.dest == "verb")
    device = next(a for a in subparsers.choices[verb]._actions if a.dest == "device")
    assert device.choices == ("auto", "cpu", "cuda") and device.default == "auto"


def test_device_cpu_trains(capsys, tmp_path):
    code, out, _ = _run(capsys, "train", "--dataset", "digits", "--epochs", "1", "--cache", tmp_path, "--device", "cpu")
    assert code == 0 and "trained in" in out
    assert default_device() == torch.device("cpu")


def test_an_unknown_device_is_a_parser_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--device", "tpu"])
    assert info.value.code == 2
    assert "argument --device: invalid choice: 'tpu' (choose from 'auto', 'cpu', 'cuda')" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_one_line_and_exit_2(capsys, tmp_path):
    code, out, err = _run(
        capsys, "train", "--dataset", "digits", "--epochs", "1", "--cache", tmp_path, "--device", "cuda"
    )
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and out == ""
    assert lines[0].startswith("labelleak: error: device 'cuda' was requested, but CUDA is not available")
    assert not (tmp_path / "original").exists()
