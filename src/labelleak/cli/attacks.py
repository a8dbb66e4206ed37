"""``labelleak attacks [NAME]``: the registered attacks, one line each, or one attack's options."""

from __future__ import annotations

import inspect
import re
from typing import Any

from labelleak.cli.common import add_verb, print_table

#: the order families are listed in
CATEGORIES = ("parameter", "inversion", "baseline")


def register(subparsers) -> None:
    parser = add_verb(
        subparsers,
        "attacks",
        help="list the label-leakage attacks and what each one needs",
        description="List every registered attack (for `labelleak attack --attack NAME` and the [[attacks]]\n"
        "tables of a config): its family, the access to the unlearned model it needs (weights >\n"
        "gradients > queries), the attacker knowledge it uses (the auxiliary set A, the unrelated\n"
        "set N, the original model θ_o), and whether it is fit on the attacker's shadow models.\n"
        "With NAME: that attack's options and their defaults.",
        handler=run,
    )
    parser.add_argument("name", nargs="?", metavar="NAME", help="show this attack's options")


def summary(cls: type) -> str:
    """The first paragraph of the attack's docstring, without reST markup and cross-references."""
    text = " ".join((inspect.getdoc(cls) or "").split("\n\n")[0].split())
    text = re.sub(r"\s*\(see [^)]*\)", "", text)
    return re.sub(r":\w+:`([^`]*)`", r"\1", text).replace("``", "")


def calibration(name: str, attack: Any) -> str:
    """When the attack is fit on shadow models: always, on request, with some options, or never."""
    from labelleak.attacks import ATTACKS
    from labelleak.attacks.deciders import DECIDERS

    if attack.needs_calibration:
        return "required"
    if attack.calibratable:
        return "optional (calibrate = true)"
    if "decider" in ATTACKS.options(name):
        fitted = [d for d in DECIDERS if ATTACKS.build(name, decider=d).needs_calibration]
        if fitted:
            return (
                f"with decider {', '.join(fitted[:-1])} or {fitted[-1]}"
                if len(fitted) > 1
                else f"with decider {fitted[0]}"
            )
    return "no"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def run(args) -> int:
    from labelleak.attacks import ATTACKS

    if args.name is not None:
        return describe(args.name)
    names = sorted(
        ATTACKS.names(),
        key=lambda n: CATEGORIES.index(c) if (c := ATTACKS.get(n).category) in CATEGORIES else len(CATEGORIES),
    )
    rows = []
    for name in names:
        attack = ATTACKS.build(name)  # default options: some needs depend on them (see `attacks NAME`)
        rows.append(
            [
                name,
                attack.category,
                attack.requires,
                _yes(attack.needs_aux),
                _yes(attack.needs_unrelated),
                _yes(attack.needs_original),
                calibration(name, attack),
                summary(type(attack)),
            ]
        )
    print_table(
        ["attack", "family", "access", "needs A", "needs N", "needs θ_o", "fit on shadows", "what it does"], rows
    )
    print(
        "\naccess: weights > gradients > queries > labels (an attack runs with its level or more). A: a labelled sample of "
        "the data; N: unrelated inputs; θ_o: the model before unlearning.\n"
        "options of one attack: labelleak attacks NAME; run one: labelleak attack --attack NAME ..."
    )
    return 0


def describe(name: str) -> int:
    """One attack: what it does, what it needs, and its options with their defaults."""
    from labelleak.attacks import ATTACKS

    cls = ATTACKS.get(name)
    attack = ATTACKS.build(name)
    print(f"{name} ({attack.category}): {summary(cls)}")
    needs = [
        what
        for what, flag in (
            ("the auxiliary set A", attack.needs_aux),
            ("the unrelated set N", attack.needs_unrelated),
            ("the original model θ_o", attack.needs_original),
        )
        if flag
    ]
    print(f"access: {attack.requires}; knowledge: {', '.join(needs) or 'none'} (with the default options)")
    print(f"fit on the attacker's shadow models: {calibration(name, attack)}")
    print(f"run by labelleak audit: {'yes' if cls.in_default_audit else 'only when named (--attacks all or NAME)'}")
    parameters = inspect.signature(cls.__init__).parameters
    rows = [
        [option, "(required)" if p.default is inspect.Parameter.empty else repr(p.default)]
        for option, p in parameters.items()
        if option in ATTACKS.options(name)
    ]
    if rows:
        print_table(["option", "default"], rows)
    return 0
