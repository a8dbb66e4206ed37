"""Markdown tables, written in one place so that every cell is escaped the same way (a literal ``|``
would end a cell and break the table). Imports nothing heavy: the CLI prints tables with it before
torch or pandas is loaded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def markdown_cell(value: Any) -> str:
    """``value`` as one Markdown table cell: a literal ``|`` (as in ``|C|``) would end the cell, so it is escaped."""
    return str(value).replace("|", "\\|")


def markdown_row(cells: Sequence[Any]) -> str:
    """One Markdown table line of ``cells``, each escaped by :func:`markdown_cell` (for tables printed
    a row at a time, as their rows are measured)."""
    return "| " + " | ".join(map(markdown_cell, cells)) + " |"


def markdown_header(headers: Sequence[str]) -> str:
    """The header line and the separator line of a Markdown table."""
    return markdown_row(headers) + "\n" + markdown_row(["---"] * len(headers))


def markdown_table(headers: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    return "\n".join([markdown_header(headers), *map(markdown_row, body)])
