"""docs/reasons.md is what operators read next to an alert: every result, reason and problem is explained there."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

import pytest

from shared.planner import reasons_in_check_order
from shared.reasons import Problem, Reason, Result

DOC = Path(__file__).resolve().parents[2] / "docs" / "reasons.md"


def table_rows(heading: str) -> dict[str, str]:
    """First-column code -> the row's text, for the table under ``## heading``."""
    section = DOC.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): line for line in section.splitlines() if (m := re.match(r"\| `([A-Za-z_]+)` \|", line))}


@pytest.mark.parametrize(("heading", "vocabulary"), [("Results", Result), ("Reasons", Reason),
                                                     ("Problems in the status report", Problem)],
                         ids=["every result is explained", "every reason is explained",
                              "every problem is explained"])
def test_the_operator_reference_explains_each_constant_and_nothing_else(heading: str,
                                                                         vocabulary: type[StrEnum]) -> None:
    rows = table_rows(heading)
    assert set(rows) == {member.value for member in vocabulary}


def test_reasons_are_listed_in_the_order_the_planner_checks_them() -> None:
    """The planner's reasons first, in the order of ``planner.CHECKS`` (not the enum's), then those of applying."""
    planner_order = [reason.value for reason in reasons_in_check_order()]
    listed = list(table_rows("Reasons"))
    assert listed[:len(planner_order)] == planner_order
    assert set(listed[len(planner_order):]) == {r.value for r in Reason} - set(planner_order)
