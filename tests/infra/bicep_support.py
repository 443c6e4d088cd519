"""Offline reading of the Bicep templates: two independent parsers (no Bicep CLI here) and file helpers."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import tree_sitter as ts
import tree_sitter_bicep
from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"


class BicepSyntaxError(ValueError):
    """A template one of the parsers rejects, with where."""


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@functools.cache
def _tree_sitter() -> ts.Parser:
    return ts.Parser(ts.Language(tree_sitter_bicep.language()))


@functools.cache
def _pycep() -> BicepParser:
    return BicepParser()


def _first_error(node: ts.Node) -> ts.Node | None:
    if node.type == "ERROR" or node.is_missing:
        return node
    for child in node.children:
        if child.has_error:
            found = _first_error(child)
            if found is not None:
                return found
    return node if node.has_error else None


def check_syntax(text: str, name: str = "<text>") -> None:
    """Raise BicepSyntaxError unless both tree-sitter-bicep and pycep-parser (checkov's parser) accept the text."""
    tree = _tree_sitter().parse(text.encode())
    if tree.root_node.has_error:
        bad = _first_error(tree.root_node) or tree.root_node
        line, column = bad.start_point
        raise BicepSyntaxError(f"{name}:{line + 1}:{column + 1}: tree-sitter-bicep: unexpected {bad.type}")
    try:
        _pycep().parse(text=text)
    except Exception as exc:  # lark raises several exception types
        raise BicepSyntaxError(f"{name}: pycep-parser: {str(exc).splitlines()[0]}") from None


def parse(path: Path) -> dict[str, Any]:
    """pycep-parser's JSON form of one template (the form checkov scans)."""
    return _pycep().parse(text=path.read_text())


def strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", text)
