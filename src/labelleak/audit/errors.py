"""The audit's error: one line, naming the library's parameters (a front end may rename them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from labelleak import LabelleakError


class AuditError(LabelleakError):
    """The model, weights or options given to an audit do not fit together.

    A message that names parameters of the audit's functions (``mean``, ``head``, ``attacks``,
    ``original``, ...) is a template with one ``{parameter}`` field for each, listed in
    ``parameters``; every other value in it is a ``{field}`` filled from ``values``. ``str(err)``
    names the parameters themselves; :meth:`naming` lets a front end name its own options instead
    (the command line names its flags). A message without parameters is used as it is.
    """

    def __init__(self, message: str, /, *, parameters: Sequence[str] = (), **values: Any) -> None:
        self.template = message
        self.parameters = tuple(parameters)
        self.values = values
        super().__init__(self.naming({}))

    def naming(self, names: Mapping[str, str]) -> str:
        """The message with each parameter called ``names.get(parameter, parameter)``."""
        if not self.parameters:
            return self.template
        return self.template.format(**self.values, **{p: names.get(p, p) for p in self.parameters})


def one_line(err: BaseException) -> str:
    """``Type: first line of the message``: how a foreign exception is reported inside an audit error."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__
