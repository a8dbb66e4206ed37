"""``labelleak report RESULTS_DIR``: Markdown and HTML report (tables and figures) of a finished run."""

from __future__ import annotations

import sys

from labelleak.cli.common import add_verb


def register(subparsers) -> None:
    parser = add_verb(
        subparsers,
        "report",
        help="write the Markdown/HTML report of a results directory",
        description="Read RESULTS_DIR/results.csv and utility.csv (written by `labelleak run`) and write\n"
        "report.md, report.html and figures/ next to them: ASR tables per dataset\n"
        "(attack x unlearning method, n and 95% Wilson intervals, chance level),\n"
        "multi-class tables, the utility table, heatmaps, ASR vs query budget, prototypes.\n"
        "Targets unlearned with settings that today's defaults no longer give (a method was\n"
        "tuned since), and shadow models whose settings changed or are not recorded, are listed\n"
        "above the tables and warned about: a rerun can differ there.",
        handler=run,
    )
    parser.add_argument("results_dir", metavar="RESULTS_DIR", help="directory written by `labelleak run`")


def run(args) -> int:
    from labelleak.report.document import write_report
    from labelleak.report.staleness import check

    stale = check(args.results_dir)
    md, page = write_report(args.results_dir, stale=stale)
    print(f"report written: {md} and {page}")
    for line in stale.warnings():
        print(f"warning: {line}", file=sys.stderr)
    return 0
