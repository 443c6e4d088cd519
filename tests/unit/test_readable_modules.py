"""Modules you can read in one sitting: no function in ``shared/`` over 40 lines, and the engine under 200."""

from __future__ import annotations

import ast
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
MAX_FUNCTION_LINES = 40


def functions(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [(f"{path.relative_to(SHARED.parent)}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1)
            for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno is not None]


def test_no_function_in_shared_is_over_40_lines() -> None:
    found = [f for path in sorted(SHARED.rglob("*.py")) for f in functions(path)]
    assert len(found) > 100  # the walk saw the package
    assert [f"{name} ({lines} lines)" for name, lines in found if lines > MAX_FUNCTION_LINES] == []


def test_the_engine_reads_in_one_sitting() -> None:
    assert len((SHARED / "engine.py").read_text().splitlines()) < 200
