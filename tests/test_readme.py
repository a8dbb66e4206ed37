"""README's Python examples run as written, so they can never drift from the API."""

import re
from pathlib import Path

import pytest

from tests.conftest import markdown_tables

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


def _readme_table(header: str) -> tuple[list[str], dict[str, list[str]]]:
    """The first README table whose header row starts with the cells of ``header``: its columns and,
    per row, its cells."""
    wanted = [cell.strip() for cell in header.strip("| ").split("|")]
    table = next(t for t in markdown_tables(README.read_text()) if t[0][: len(wanted)] == wanted)
    return table[0][1:], {cells[0]: cells[1:] for cells in table[2:]}


def _size_column(n_forget: int) -> str:
    return f"{n_forget} forgotten {'class' if n_forget == 1 else 'classes'}"


def _check_readme_table(header: str, column: str, rows_in_table) -> tuple[int, set[str]]:
    """Recompute every cell of the README table under ``header`` (rows: attack labels, columns: the
    values of ``column``) from ``rows_in_table``; returns the cells checked and the table's labels."""
    from labelleak.report.tables import fmt_asr, summary_table

    columns, rows = _readme_table(header)
    summary = summary_table(rows_in_table, ["label", column])
    cells = {(r["label"], r[column]): fmt_asr(r) for r in summary.to_dict("records")}
    checked = 0
    for label, values in rows.items():
        if label == "chance":
            continue
        assert len(values) == len(columns), label
        for name, value in zip(columns, values):
            assert value == cells[(label.strip("`"), name)], (label, name)
            checked += 1
    return checked, set(rows)


def test_readme_results_tables_recompute_from_the_committed_csv():
    from labelleak.report.tables import load_results, met_unlearning_goal, row_label

    results, utility = load_results(README.parent / "docs" / "results" / "paper")
    labelled = results.assign(label=row_label(results), size=results["n_forget"].map(_size_column))
    met = labelled[labelled["cell"].map(met_unlearning_goal(utility)).eq(True)]
    checked = 0
    for header, column, rows_in_table in (
        ("| attack | mnist |", "dataset", labelled),
        ("| attack | 1 forgotten class |", "size", labelled),
        ("| attack, targets that met the unlearning goal | 1 forgotten class |", "size", met),
    ):
        count, labels = _check_readme_table(header, column, rows_in_table)
        checked += count
        # every attack of the full knowledge setting is in the table
        assert {label for label in labelled["label"] if label.endswith("/ default")} <= labels, header
    assert checked > 150


def test_readme_attack_grid_tables_recompute_from_the_committed_csv():
    from labelleak.report.document import EFFECTIVE_FORGET_ACC
    from labelleak.report.tables import load_results, row_label

    results, utility = load_results(README.parent / "docs" / "results" / "attack-grid")
    forget_acc = dict(zip(utility["cell"], utility["forget_test_acc"]))
    # the targets that forgot, as the report counts them (forget-class test accuracy ≤ 10%)
    forgot = results[results["cell"].map(forget_acc).le(EFFECTIVE_FORGET_ACC)]
    labelled = forgot.assign(label=row_label(forgot), size=forgot["n_forget"].map(_size_column))
    singles = labelled[labelled["n_forget"] == 1]
    fashion_sets = labelled[(labelled["n_forget"] > 1) & (labelled["dataset"] == "fashion-mnist")]
    checked = 0
    for header, column, rows_in_table in (
        ("| attack, single classes that forgot |", "dataset", singles),
        ("| attack, Fashion-MNIST sets that forgot |", "size", fashion_sets),
    ):
        checked += _check_readme_table(header, column, rows_in_table)[0]
    assert checked >= 20
