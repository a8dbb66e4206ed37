"""`--executor ray` on a local Ray started on loopback: the quick profile's results, identical to the
local executor's (timing columns aside). Skipped with a reason where Ray is not installed."""

import importlib.util

import pandas as pd
import pytest
import torch

from labelleak.cli import main
from labelleak.cli.reproduce import configs_dir
from labelleak.experiments.config import load_config
from labelleak.experiments.executor import RayExecutor, make_executor
from labelleak.experiments.runner import run_experiment
from labelleak.store import ArtifactStore
from labelleak.validation import ParameterError

TIMING = ["seconds", "cpu_seconds"]


@pytest.fixture
def one_thread():
    """One torch thread in this process, as `labelleak run` sets it and as every Ray task runs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tidy(path, order):
    frame = pd.read_csv(path)
    return frame.drop(columns=[c for c in TIMING if c in frame]).sort_values(order).reset_index(drop=True)


@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="ray is not installed (pip install 'labelleak[ray]')"
)
def test_quick_profile_on_ray_matches_the_local_executor(tmp_path, one_thread):
    config = load_config(configs_dir() / "quick.toml")
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    run_experiment(config, results_dir=local, store=ArtifactStore(tmp_path / "cache-local"))
    summary = run_experiment(
        config, results_dir=on_ray, store=ArtifactStore(tmp_path / "cache-ray"), executor="ray", jobs=2
    )
    assert summary.cells_total == 20
    order = ["cell", "attack_label"]
    pd.testing.assert_frame_equal(tidy(local / "results.csv", order), tidy(on_ray / "results.csv", order))
    pd.testing.assert_frame_equal(tidy(local / "utility.csv", ["cell"]), tidy(on_ray / "utility.csv", ["cell"]))


def test_executor_choices_are_checked_before_any_work(tmp_path, capsys):
    assert isinstance(make_executor("ray", jobs=2, cells_to_run=5), RayExecutor)
    with pytest.raises(ParameterError, match="executor must be one of"):
        make_executor("dask", jobs=1, cells_to_run=1)
    with pytest.raises(ParameterError, match="address is for the ray executor"):
        make_executor("local", jobs=1, cells_to_run=1, address="auto")
    code = main(
        [
            "run",
            str(configs_dir() / "quick.toml"),
            "--executor",
            "local",
            "--address",
            "auto",
            "--out",
            str(tmp_path / "x"),
            "--cache",
            str(tmp_path / "c"),
            "--quiet",
        ]
    )
    assert code == 2 and "address is for the ray executor" in capsys.readouterr().err
    assert not (tmp_path / "x" / "results.csv").exists()
