"""A small explicit name -> object registry that refuses duplicates and builds its entries from options."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from labelleak import LabelleakError
from labelleak.validation import ParameterError

T = TypeVar("T")


class UnknownNameError(LabelleakError, KeyError):
    """Raised when a registry is asked for a name it does not hold."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry(Generic[T]):
    """Maps names to objects (classes or factories). ``kind`` names what it holds in errors, ``item``
    (default: ``kind``) names one entry in an unknown-option error."""

    def __init__(self, kind: str, *, item: str | None = None) -> None:
        self.kind = kind
        self.item = item or kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, *, force: bool = False) -> Callable[[T], T]:
        """Decorator adding ``obj`` under ``name``; a second registration raises unless ``force``."""

        def decorator(obj: T) -> T:
            if name in self._entries and not force:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; choose one of: {', '.join(sorted(self._entries))}"
            ) from None

    def options(self, name: str) -> list[str]:
        """The keyword-only options the entry ``name`` is built with, in signature order."""
        return [p.name for p in self._parameters(name) if p.kind is inspect.Parameter.KEYWORD_ONLY]

    def build(self, name: str, /, **options: Any) -> Any:
        """The entry ``name`` called with ``options``; an option it does not take is a one-line
        :class:`~labelleak.validation.ParameterError` that lists the valid ones."""
        entry: Any = self.get(name)
        if not self.open_ended(name):
            valid = self.options(name)
            unknown = sorted(set(options) - set(valid))
            if unknown:
                raise ParameterError(
                    f"unknown parameter {unknown[0]!r} for {self.item} {name!r}; valid: {', '.join(valid) or '(none)'}"
                )
        return entry(**options)

    def open_ended(self, name: str) -> bool:
        """True when the entry ``name`` also takes options beyond :meth:`options` (``**kwargs``)."""
        return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in self._parameters(name))

    def _parameters(self, name: str) -> list[inspect.Parameter]:
        entry: Any = self.get(name)
        target = entry.__init__ if inspect.isclass(entry) else entry
        return list(inspect.signature(target).parameters.values())

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
