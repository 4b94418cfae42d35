"""Plain-text tables for the admin CLI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def cell(value: Any) -> str:
    """Return the text of one table cell; a missing value shows as `-`."""
    return "-" if value is None else str(value)


def print_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    titles: Mapping[str, str] | None = None,
) -> None:
    """Print `rows` as aligned columns, headed by `titles` (default: the upper-case key)."""
    if not rows:
        print("(none)")
        return
    headings = {column: (titles or {}).get(column, column.upper()) for column in columns}
    widths = {
        column: max(len(headings[column]), *(len(cell(row[column])) for row in rows))
        for column in columns
    }
    print("  ".join(headings[column].ljust(widths[column]) for column in columns).rstrip())
    for row in rows:
        print("  ".join(cell(row[column]).ljust(widths[column]) for column in columns).rstrip())
