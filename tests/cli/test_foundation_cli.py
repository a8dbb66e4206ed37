import subprocess
import sys

import pytest

from labelleak.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_every_verb(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for verb in ("demo", "datasets", "train"):
        assert f"    {verb} " in out


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "labelleak", "datasets"], capture_output=True, text=True)
    assert result.returncode == 0 and "digits" in result.stdout


def test_train_on_digits_then_cached(capsys, tmp_path):
    code, out, _ = _run(capsys, "train", "--dataset", "digits", "--epochs", "2", "--cache", str(tmp_path), "--quiet")
    assert code == 0 and "trained in" in out and "overall test accuracy" in out
    code, out, _ = _run(capsys, "train", "--dataset", "digits", "--epochs", "2", "--cache", str(tmp_path), "--quiet")
    assert code == 0 and "loaded from cache" in out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["train", "--dataset", "nope"], "unknown dataset 'nope'"),
        (["train", "--dataset", "mnist", "--data-root", "/nonexistent/dir"], "dataset 'mnist' not found"),
        (["train", "--dataset", "digits", "--arch", "vgg99"], "unknown architecture 'vgg99'"),
        (["train", "--dataset", "digits", "--epochs", "0"], "epochs must be an integer >= 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, needle):
    code, _out, err = _run(capsys, *argv, "--cache", str(tmp_path), "--quiet")
    assert code == 2 and needle in err and err.count("\n") == 1


def test_truncated_idx_via_cli(capsys, tmp_path):
    from tests.data.fixtures import write_mnist_idx

    raw = tmp_path / "MNIST" / "raw"
    write_mnist_idx(raw, gz=False)
    data = (raw / "train-images-idx3-ubyte").read_bytes()
    (raw / "train-images-idx3-ubyte").write_bytes(data[:-50])
    code, _, err = _run(capsys, "train", "--dataset", "mnist", "--data-root", str(tmp_path), "--quiet")
    assert code == 2 and "truncated or corrupt IDX" in err and err.count("\n") == 1


def test_foreign_pickle_via_cli(capsys, tmp_path):
    from tests.data.fixtures import write_cifar_batches, write_malicious_batch

    batches = tmp_path / "cifar-10-batches-py"
    write_cifar_batches(batches)
    write_malicious_batch(batches / "test_batch", tmp_path / "pwned")
    code, _, err = _run(capsys, "datasets", "--data-root", str(tmp_path), "--check")
    assert code == 0  # `datasets --check` reports the invalid copy instead of failing
    code, _, err = _run(capsys, "train", "--dataset", "cifar10", "--data-root", str(tmp_path), "--quiet")
    assert code == 2 and "refusing global" in err and not (tmp_path / "pwned").exists()
