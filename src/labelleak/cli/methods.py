"""``labelleak methods``: the registered unlearning methods, one line each."""

from __future__ import annotations

from labelleak.cli.common import add_verb, print_table


def register(subparsers) -> None:
    add_verb(
        subparsers,
        "methods",
        help="list the unlearning methods and the data each one uses",
        description="List every registered unlearning method: its name (for --method), the data it\n"
        "touches (forget set D_f, retain set D_r) and what it does.",
        handler=run,
    )


def run(args) -> int:
    from labelleak.unlearning import UNLEARNERS

    rows = []
    for name in UNLEARNERS.names():
        cls = UNLEARNERS.get(name)
        rows.append([name, "+".join(sorted(cls.uses)), cls.summary])
    print_table(["method", "uses", "what it does"], rows)
    return 0
