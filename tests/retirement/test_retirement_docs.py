"""The operator pages explain every retirement result and check, in the order the checks run."""

from __future__ import annotations

import re
from pathlib import Path

from shared.reasons import RetireCheck, RetireResult
from shared.retirement import KEY_CHECKS, VERSION_CHECKS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def codes(page: str, heading: str) -> list[str]:
    section = (DOCS / page).read_text().split(f"{heading}\n", 1)[1].split("\n#", 1)[0]
    return [m.group(1) for line in section.splitlines() if (m := re.match(r"\| `([A-Za-z_]+)` \|", line))]


def test_reasons_md_explains_every_retirement_result_and_every_check_in_order() -> None:
    assert set(codes("reasons.md", "### Retirement results")) == {r.value for r in RetireResult}
    assert codes("reasons.md", "### Retirement checks") == [c.value for c in RetireCheck]


def test_the_checks_run_in_the_documented_order() -> None:
    assert [c.value for c in KEY_CHECKS + VERSION_CHECKS] == [c.value for c in RetireCheck]
    assert codes("retirement.md", "## What must hold, all in the same run") == [c.value for c in RetireCheck]


def test_every_test_reliability_md_names_for_retirement_exists() -> None:
    page = (DOCS.parent / "RELIABILITY.md").read_text()
    section = page.split("## Retiring superseded key versions\n", 1)[1].split("\n## ", 1)[0]
    here = Path(__file__).parent
    files = {p.name: p.read_text() for p in here.glob("test_*.py")}
    named: list[tuple[str, str]] = []
    for row in section.splitlines():
        current = None
        for m in re.finditer(r"`(test_[a-z_]+\.py)?(?:::(test_[a-z0-9_]+))?(?:\[[^\]]*\])?`", row):
            current = m.group(1) or current
            if m.group(2):
                named.append((current or "", m.group(2)))
    assert len(named) > 15
    for file, test in named:
        assert file in files and f"def {test}(" in files[file], f"{file}::{test}"
