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


def _readme_results_table() -> tuple[list[str], dict[str, list[str]]]:
    """The README's real-data table: its dataset columns and, per attack row, its cells."""
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| attack | mnist |"))
    columns = [c.strip() for c in lines[start].strip("|").split("|")][1:]
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return columns, rows


def test_readme_results_table_recomputes_from_the_committed_csv():
    from labelleak.report.tables import asr_matrix, fmt_asr, load_results

    columns, rows = _readme_results_table()
    results, _ = load_results(README.parent / "docs" / "results" / "paper")
    checked = 0
    for column, dataset in enumerate(columns):
        singles = results[(results["dataset"] == dataset) & (results["n_forget"] == 1)]
        labels, _, cells = asr_matrix(singles)
        for label in labels:
            assert rows[label][column] == fmt_asr(cells[(label, "all methods")]), (label, dataset)
            checked += 1
    # every attack row of the table was recomputed (the chance row is a constant)
    assert checked == len(columns) * (len(rows) - 1)
