"""`labelleak reproduce --profile quick` end to end (the CI check): sane structure, not paper numbers."""

from __future__ import annotations

import json

import pandas as pd

from labelleak.cli import main
from labelleak.cli.reproduce import configs_dir
from labelleak.experiments.config import load_config
from labelleak.experiments.grid import attack_variants, cells

BASELINES = {"random-guess", "noise-frequency", "noise-logprob", "accuracy-probe", "hu-probe"}
PAPER_ATTACKS = {"param-dot", "param-diff", "invert-wb", "invert-bb"}


def test_reproduce_quick_then_resume(tmp_path, capsys):
    out, cache = tmp_path / "quick", tmp_path / "cache"
    assert main(["reproduce", "--profile", "quick", "--out", str(out), "--cache", str(cache), "--quiet"]) == 0

    config = load_config(configs_dir() / "quick.toml")
    grid, variants = cells(config), attack_variants(config)
    rows = pd.read_csv(out / "results.csv")
    assert len(rows) == len(grid) * len(variants) * len(config.knowledge)
    assert set(rows["attack"]) >= BASELINES | PAPER_ATTACKS
    assert rows["success"].isin([True, False]).all()
    assert rows.groupby("cell").size().eq(len(variants)).all()
    assert all(len(json.loads(s)) == 10 for s in rows["scores"])
    assert (rows["queries"].notna() == rows["access"].ne("weights")).all()

    utility = pd.read_csv(out / "utility.csv")
    assert len(utility) == len(grid) and utility["retain_test_acc"].between(0, 1).all()
    run = json.loads((out / "run.json").read_text())
    assert run["cells_total"] == len(grid) and run["cells_skipped"] == 0 and run["git_revision"] is not None

    report = (out / "report.md").read_text()
    assert "## Dataset: digits" in report and "### Multi-class unlearning" in report
    assert "### Decided set size" in report and "| param-diff (calibrated) | 2 | 4 |" in report
    assert "## Utility of the unlearning methods" in report and "labelleak reproduce --profile quick" in report
    for method in config.methods:
        assert f"| {method} |" in report or f" {method} |" in report
    assert (out / "report.html").is_file()
    assert (out / "figures" / "asr_heatmap_digits.png").is_file()
    assert (out / "figures" / "asr_vs_budget_digits.png").is_file()
    assert list((out / "figures").glob("digits_*invert*.png")), "prototype grids"

    capsys.readouterr()
    assert main(["run", str(configs_dir() / "quick.toml"), "--out", str(out), "--cache", str(cache), "--quiet"]) == 0
    assert f"0 cells run, {len(grid)} finished earlier and skipped" in capsys.readouterr().out


def test_the_recorded_command_names_the_thread_count_whose_default_depends_on_the_machine():
    from labelleak.cli import build_parser
    from labelleak.cli.run import command_line

    args = build_parser().parse_args(
        ["reproduce", "--profile", "paper", "--out", "OUT", "--jobs", "2", "--threads", "1"]
    )
    assert command_line(args) == "labelleak reproduce --profile paper --out OUT --jobs 2 --threads 1"
    args = build_parser().parse_args(["run", "configs/quick.toml"])
    assert f"--threads {args.threads}" in command_line(args)
