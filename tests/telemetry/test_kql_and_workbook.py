"""The operators' KQL files and the workbook: present where the alert rules load them, one query each, and the
workbook shows exactly those queries (alert rules and the workbook must never disagree)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
KQL = ROOT / "infra/kql"
ALERT_QUERIES = ("failed-rotations", "keys-expiring", "expired-keys-in-use", "registries-lagging",
                 "configuration-problems")
THRESHOLD_LINE = "let thresholdDays = 30;"


def statements(text: str) -> list[str]:
    code = "\n".join(line.split("//", 1)[0] for line in text.splitlines())
    return [s for s in (part.strip() for part in code.split(";")) if s]


@pytest.mark.parametrize("name", ALERT_QUERIES)
def test_each_alert_query_is_one_query_over_custom_events(name: str) -> None:
    text = (KQL / f"{name}.kql").read_text()
    *lets, query = statements(text)
    assert all(s.startswith("let ") for s in lets)
    assert query.startswith("customEvents") and "customDimensions" in query
    assert '"RegistryKeyRotation"' in query or '"KeyExpiryAlert"' in query or '"RotationProblem"' in query


def test_the_expiry_threshold_is_one_replaceable_line() -> None:
    text = (KQL / "keys-expiring.kql").read_text()
    assert text.count(THRESHOLD_LINE) == 1 and "<= thresholdDays" in statements(text)[-1]


def test_the_workbook_shows_the_same_queries() -> None:
    workbook = json.loads((ROOT / "infra/workbook/rotation-workbook.json").read_text())
    assert workbook["version"] == "Notebook/1.0"
    queries = {i["name"]: i["content"]["query"] for i in workbook["items"] if i["type"] == 3}
    for name, query in queries.items():
        expected = (KQL / f"{name}.kql").read_text()
        if name == "keys-expiring":
            expected = expected.replace(THRESHOLD_LINE, "let thresholdDays = {ThresholdDays};")
        assert query == expected, name
    assert set(ALERT_QUERIES) <= set(queries)
    for item in workbook["items"]:
        if item["type"] == 3:
            assert item["content"]["resourceType"] == "microsoft.insights/components"
