"""Kusto.Language (Microsoft's KQL parser and binder, from npm) run over queries against the Application Insights
tables pinned in tests/fixtures/appinsights/tables.json. `make test` installs it into .tools and names it in KUSTO;
run directly, the checks use .tools when present and skip otherwise."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BRIDGE = ROOT / os.environ.get("KUSTO", ".tools/node_modules/@kusto/language-service-next/Kusto.Language.Bridge.js")
TABLES = ROOT / "tests/fixtures/appinsights/tables.json"
SCRIPT = Path(__file__).with_name("kql_check.js")


def app_insights_tables() -> dict[str, dict[str, str]]:
    tables: dict[str, dict[str, str]] = json.loads(TABLES.read_text())["classic"]
    return tables


def require_kusto() -> Path:
    if not BRIDGE.exists():
        assert "KUSTO" not in os.environ, f"KUSTO={BRIDGE} does not exist: run `make test`"
        pytest.skip("Kusto.Language is not installed: `make test` installs it (npm @kusto/language-service-next)")
    assert shutil.which("node"), "node is required (it already runs Azurite)"
    return BRIDGE


def diagnostics(queries: dict[str, str], tables: dict[str, dict[str, str]] | None = None) -> dict[str, list[dict]]:
    """Every diagnostic Kusto.Language's ParseAndAnalyze reports, per query name."""
    payload = {"bridgeDir": str(require_kusto().parent), "tables": tables or app_insights_tables(), "queries": queries}
    done = subprocess.run(["node", str(SCRIPT)], input=json.dumps(payload), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, list[dict]] = json.loads(done.stdout)
    assert set(result) == set(queries)
    return result
