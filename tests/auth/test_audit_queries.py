"""The auditor's view: the KQL, the workbook tiles and the downgrade alert read the properties the app writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from shared.outcomes import requester_to_dict
from shared.requests import SYSTEM, Requester
from shared.telemetry import requester_properties
from tests.infra.bicep_support import parse

ROOT = Path(__file__).parents[2]
KQL = ROOT / "infra" / "kql"
ANA = Requester("user", "5d9b1c7e-4a2f-4c1e-9a8b-0c1d2e3f4a5b", "ana@contoso.example",
                "72f988bf-86f1-41af-91ab-2d7cd011db47", "Rotation.BreakGlass")


def dimensions(query: str) -> set[str]:
    return set(re.findall(r"customDimensions\.(\w+)", query))


def test_the_queries_read_only_properties_the_app_writes() -> None:
    written = set(requester_properties(requester_to_dict(ANA))) | {
        "requestReason", "trigger", "dryRun", "result", "reason", "registryName", "registry", "fromVersion",
        "toVersion", "correlationId"}
    for name in ("manual-changes-by-person", "downgrades-forced"):
        read = dimensions((KQL / f"{name}.kql").read_text())
        assert read <= written, f"{name}.kql reads {read - written}, which nobody writes"
        assert {"requestedBy", "requestedByRole"} <= read


def test_requester_properties_name_the_person_and_say_system_for_timers() -> None:
    props = requester_properties(requester_to_dict(ANA))
    assert (props["requestedBy"], props["requestedByRole"], props["requestedByObjectId"]) == (
        "ana@contoso.example", "Rotation.BreakGlass", ANA.object_id)
    assert requester_properties(requester_to_dict(SYSTEM))["requestedBy"] == "system"


def test_the_workbook_shows_both_queries_verbatim() -> None:
    workbook = json.loads((ROOT / "infra/workbook/rotation-workbook.json").read_text())
    queries = {i["name"]: i["content"]["query"] for i in workbook["items"] if i["type"] == 3}
    for name in ("manual-changes-by-person", "downgrades-forced"):
        assert queries[name] == (KQL / f"{name}.kql").read_text()


def test_every_forced_downgrade_alerts_on_its_own() -> None:
    alerts = parse(ROOT / "infra" / "app" / "alerts.bicep")
    rule = alerts["resources"]["downgradesForced"]["config"]["properties"]
    assert rule["autoMitigate"] is False and rule["severity"] <= 1
    query = alerts["variables"]["downgradesForcedQuery"]["value"]
    assert "loadTextContent('../kql/downgrades-forced.kql')" in query and "ingestion_time()" in query
    assert '"DOWNGRADE_FORCED"' in (KQL / "downgrades-forced.kql").read_text()
