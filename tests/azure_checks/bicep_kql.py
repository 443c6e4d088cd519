"""The KQL that Bicep sends: each ``loadTextContent('*.kql')`` in infra/, and each ``replace(loadTextContent(...),
search, replacement)`` evaluated as Bicep would, with parameters at their defaults. A replace() whose search text does
not occur in its file would deploy the query unchanged: that is reported, never skipped."""

from __future__ import annotations

import re
from pathlib import Path

from tests.infra.bicep_support import strip_comments

STRING = r"'(?:[^'\\]|\\.)*'"
LOAD = re.compile(r"loadTextContent\(\s*'([^']+\.kql)'\s*\)")
REPLACE = re.compile(rf"replace\(\s*loadTextContent\(\s*'([^']+\.kql)'\s*\)\s*,\s*(\w+|{STRING})\s*,\s*({STRING})\s*\)")
VAR = re.compile(rf"^var\s+(\w+)\s*=\s*({STRING})\s*$", re.M)
PARAM = re.compile(r"^param\s+(\w+)\s+\w+\s*=\s*('(?:[^'\\]|\\.)*'|[-\w.]+)\s*$", re.M)


class BicepKqlError(ValueError):
    """A query expression this evaluator cannot read, or a replace() that would change nothing."""


def _literal(token: str, names: dict[str, str]) -> str:
    if not token.startswith("'"):
        if token not in names:
            raise BicepKqlError(f"{token} is not a literal var or parameter default")
        return names[token]
    body = token[1:-1].replace("\\'", "'").replace("\\\\", "\\")

    def interpolate(match: re.Match[str]) -> str:
        if match[1] not in names:
            raise BicepKqlError(f"${{{match[1]}}} is not a literal var or parameter default")
        return names[match[1]]

    return re.sub(r"\$\{(\w+)\}", interpolate, body)


def _names(text: str) -> dict[str, str]:
    names = {name: value.strip("'") for name, value in PARAM.findall(text)}
    for name, value in VAR.findall(text):
        try:
            names[name] = _literal(value, names)
        except BicepKqlError:
            continue  # not evaluable offline; an error only if a query uses it
    return names


def queries_sent(text: str, folder: Path, label: str) -> dict[str, str]:
    """Each KQL query the template's text sends, named ``label:file`` (``label:file after replace()``)."""
    text = strip_comments(text)
    names = _names(text)
    found: dict[str, str] = {}
    replaced = list(REPLACE.finditer(text))
    if text.count("replace(") != len(replaced):
        raise BicepKqlError(f"{label}: a replace() of a form this check cannot evaluate")
    for match in replaced:
        original = (folder / match[1]).read_text()
        search, replacement = _literal(match[2], names), _literal(match[3], names)
        if search not in original:
            raise BicepKqlError(f"{label}: replace() search text {search!r} does not occur in {match[1]}")
        found[f"{label}:{Path(match[1]).name} after replace()"] = original.replace(search, replacement)
    remaining = REPLACE.sub("", text)
    for match in LOAD.finditer(remaining):
        found[f"{label}:{Path(match[1]).name}"] = (folder / match[1]).read_text()
    return found
