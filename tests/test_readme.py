"""README's Python examples run as written, so they can never drift from the API."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_a_python_example():
    assert BLOCKS, "README.md lost its Python API example"


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, tmp_path, monkeypatch):
    monkeypatch.setenv("LABELLEAK_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(BLOCKS[index], f"README.md python block {index}", "exec"), namespace)
    if "result" in namespace:  # the main job: the attack names the class that was unlearned
        assert namespace["result"].predicted == tuple(namespace["target"].forget_classes)
