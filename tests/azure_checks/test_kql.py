"""Every KQL query the app ships, parsed and bound by Kusto.Language (Microsoft's own KQL parser and binder, the one
behind Log Analytics' editor) against the Application Insights tables, with zero diagnostics: the files in
infra/kql/, each alert-rule query as Bicep sends it (after its replace()), and each workbook query with its parameters
at their defaults."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.azure_checks.bicep_kql import BicepKqlError, queries_sent
from tests.azure_checks.kusto import app_insights_tables, diagnostics
from tests.reference import AZURE_WIRE, needs_reference

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
WORKBOOK = INFRA / "workbook/rotation-workbook.json"


def kql_files() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted((INFRA / "kql").glob("*.kql"))}


def alert_rule_queries() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(INFRA.rglob("*.bicep")):
        found.update(queries_sent(path.read_text(), path.parent, str(path.relative_to(INFRA))))
    return found


def with_defaults(query: str, parameters: list[dict]) -> str:
    """The query as the workbook runs it when every parameter keeps its default value."""
    for parameter in parameters:
        value = parameter.get("value")
        if isinstance(value, str):
            query = re.sub(r"\{" + re.escape(parameter["name"]) + r"(:[^}]*)?\}", value, query)
    left = re.findall(r"\{(\w+)(?::[^}]*)?\}", query)
    assert not left, f"parameters without a default: {left}"
    return query


def workbook_queries(workbook: dict) -> dict[str, str]:
    parameters = [p for item in workbook["items"] if item["type"] == 9 for p in item["content"]["parameters"]]
    return {f"workbook:{item['name']}": with_defaults(item["content"]["query"], parameters)
            for item in workbook["items"] if item["type"] == 3}


def shipped_queries() -> dict[str, str]:
    return {**kql_files(), **alert_rule_queries(), **workbook_queries(json.loads(WORKBOOK.read_text()))}


def test_every_shipped_query_has_zero_diagnostics() -> None:
    queries = shipped_queries()
    assert len(kql_files()) >= 5 and sum(name.startswith("app/alerts.bicep:") for name in queries) == 6
    assert sum(name.startswith("workbook:") for name in queries) >= 5
    assert {name: found for name, found in diagnostics(queries).items() if found} == {}


def test_kusto_reports_a_misspelt_column_an_unknown_table_and_a_syntax_error() -> None:
    # The checker's wrong input: each must give at least one diagnostic, or the check above proves nothing.
    wrong = {
        "misspelt column": 'customEvents | where nmae == "RegistryKeyRotation"',
        "unknown table": "customEvent | take 1",
        "syntax error": "customEvents | where name == ",
        "function misuse": "customEvents | extend x = tostring()",
    }
    found = diagnostics(wrong)
    assert all(found[name] for name in wrong), found


def test_a_replace_whose_search_text_is_absent_is_reported(tmp_path: Path) -> None:
    (tmp_path / "q.kql").write_text("let thresholdDays = 30;\ncustomEvents | take 1\n")
    good = ("param days int = 14\n"
            "var q = replace(loadTextContent('q.kql'), 'let thresholdDays = 30;', 'let thresholdDays = ${days};')\n")
    assert queries_sent(good, tmp_path, "t")["t:q.kql after replace()"].startswith("let thresholdDays = 14;")
    with pytest.raises(BicepKqlError, match="does not occur"):
        queries_sent(good.replace("= 30;'", "=30;'"), tmp_path, "t")
    with pytest.raises(BicepKqlError, match="cannot evaluate"):
        queries_sent("var q = replace(loadTextContent('q.kql'), toLower('x'), 'y')\n", tmp_path, "t")


def test_a_workbook_parameter_without_a_default_is_reported() -> None:
    with pytest.raises(AssertionError, match="without a default"):
        with_defaults("customEvents | take {Rows}", [{"name": "Rows"}])


@needs_reference
def test_the_pinned_tables_match_the_reference() -> None:
    reference = json.loads((AZURE_WIRE / "schemas/appinsights-tables.json").read_text())
    assert app_insights_tables() == reference["classic"]
