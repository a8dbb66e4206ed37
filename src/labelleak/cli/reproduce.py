"""``labelleak reproduce --profile quick|mnist-mini|paper``: run a bundled experiment profile, then write its report."""

from __future__ import annotations

from pathlib import Path

from labelleak.cli.common import add_verb
from labelleak.cli.run import add_execution_options, execute
from labelleak.validation import ParameterError

#: profile name -> config file under the repository's configs/ directory
PROFILES = {
    "quick": "quick.toml",
    "mnist-mini": "mnist-mini.toml",
    "paper": "paper.toml",
    "paper-setup": "paper-setup.toml",
}


def configs_dir() -> Path:
    """The repository's configs/ directory (next to src/)."""
    return Path(__file__).resolve().parents[3] / "configs"


def register(subparsers) -> None:
    parser = add_verb(
        subparsers,
        "reproduce",
        help="run a bundled profile (quick, mnist-mini, paper, paper-setup) and write its report",
        description="Run configs/<profile>.toml and write the report: `labelleak run` followed by\n"
        "`labelleak report`. quick: digits, a few minutes, used in CI. mnist-mini: MNIST,\n"
        "4 methods x 4 forget sets, every attack (about half an hour). paper: MNIST,\n"
        "Fashion-MNIST, the CIFAR-10 subset (and SVHN when present), the paper's five\n"
        "methods, every attack, 3 seeds, single and multi-class, on 1,000 training images\n"
        "per class (about two hours on 2 cores, see docs/runner.md). paper-setup: the\n"
        "paper's own models (LeNet; ResNet-18 on CIFAR-10) on the full training data,\n"
        "1,125 targets, meant for a GPU (--device cuda); --datasets mnist,fashion-mnist\n"
        "runs the part a CPU can.",
        handler=run,
    )
    parser.add_argument("--profile", required=True, choices=sorted(PROFILES), help="which profile to run")
    add_execution_options(parser)


def run(args) -> int:
    from labelleak.report.document import write_report

    path = configs_dir() / PROFILES[args.profile]
    if not path.is_file():
        raise ParameterError(f"profile {args.profile!r} needs {path}, which is missing (run from a source checkout)")
    out = execute(str(path), args)
    md, page = write_report(out)
    print(f"report written: {md} and {page}")
    return 0
