"""benchmarks/checkpoint_transfer.py: what its command line refuses."""

from __future__ import annotations

import pytest

from tests.conftest import benchmark_script


@pytest.mark.parametrize("originals", ["1", "0", "two"])
def test_fewer_than_two_shadow_originals_are_refused(originals, tmp_path):
    # leave-one-original-out needs a second original to leave out; refused before the config is read
    with benchmark_script("checkpoint_transfer.py") as module, pytest.raises(SystemExit) as exit_info:
        module.main(["missing.toml", "--dataset", "mnist", "--out", str(tmp_path), "--shadow-originals", originals])
    assert exit_info.value.code == 2
