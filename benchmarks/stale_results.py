"""Which committed results a rerun of their command would not reproduce, because a method's settings
changed since (labelleak.report.staleness): per results folder, the Markdown tables of the
(dataset, method) pairs whose recorded unlearning parameters differ from today's, and of the shadow
methods whose parameters differ from today's defaults or are not recorded.

    python benchmarks/stale_results.py docs/results/*/

A folder with a report gets the table from `labelleak report`; a folder documented by its RUN.md
alone carries it there, under "Settings changed since this run".
"""

from __future__ import annotations

import argparse
from pathlib import Path

from labelleak.report.staleness import check, markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", help="results folders (with utility.csv and config.json)")
    args = parser.parse_args(argv)
    for folder in map(Path, args.folders):
        if not (folder / "utility.csv").is_file():
            continue
        stale = check(folder)
        targets = sum(s.targets for s in stale.targets)
        shadows = len(stale.shadows)
        summary = f"{targets} targets stale, {shadows} shadow methods changed or not recorded" if stale else "current"
        print(f"## {folder.name}: {summary}\n")
        if stale:
            print(markdown(stale))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
