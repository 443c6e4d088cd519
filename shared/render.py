"""Plain-text tables for people (the CLI and the demo)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value) or "-"
    text = str(value)
    return text[:12] if len(text) == 32 and text.isalnum() else text  # key versions: short form


def table(rows: list[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """``columns``: (heading, key) pairs."""
    cells = [[h for h, _ in columns]] + [[cell(r.get(k)) for _, k in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
