"""The CLI configures Azure Monitor itself when a connection string is set (the real distro, in its own
process, so no global OpenTelemetry state leaks into the test run): events, metrics and the Azure SDK's
HTTP calls arrive at the stand-in's ingestion, the calls as dependencies in the run's operation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from telemetry_support import assert_no_secrets, assert_shape, envelope_contents, events, metric_points, of_type

from emulator import seed
from shared.metrics import ROTATIONS

pytestmark = pytest.mark.standin
ROOT = Path(__file__).parents[2]


def cli(app_env: dict[str, str], *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FUNCTIONS_WORKER_RUNTIME",
                                                             "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY")}
    env.update(app_env, **extra_env)
    return subprocess.run([sys.executable, "-m", "shared", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def sweep_telemetry(az, estate, app_env) -> tuple[str, list[dict], subprocess.CompletedProcess[str]]:
    """A CLI sweep that rotates the pinned registry; the run's operation id and everything ingested."""
    seed.create_key(az, estate.vault_url, estate.key_name)
    run = cli(app_env, "sweep")
    assert run.returncode == 0, run.stderr
    run_events = events(az.telemetry, "RegistryKeyRotation") + events(az.telemetry, "RotationRun")
    assert len(run_events) == 4
    [operation] = {e["tags"]["ai.operation.id"] for e in run_events}
    assert operation != "0" * 32  # logged inside the run's span
    return operation, az.telemetry, run


def http_calls(telemetry: list[dict], operation: str) -> set[tuple[str, str]]:
    return {(e["data"]["baseData"]["name"].split(" ")[0], e["data"]["baseData"]["target"].split(":")[0])
            for e in of_type(telemetry, "RemoteDependencyData")
            if e["tags"]["ai.operation.id"] == operation and e["data"]["baseData"]["type"] == "HTTP"}


def test_cli_sweep_exports_events_metrics_and_sdk_dependencies_in_one_operation(az, estate, app_env) -> None:
    operation, telemetry, run = sweep_telemetry(az, estate, app_env)

    spans = {e["data"]["baseData"]["id"]: e for e in of_type(telemetry, "RemoteDependencyData")
             if e["tags"]["ai.operation.id"] == operation}
    for envelope in spans.values():
        if envelope["data"]["baseData"]["type"] == "HTTP":
            assert_shape(envelope, "RemoteDependencyData")
    assert {("GET", "management.azure.com"), ("PATCH", "management.azure.com")} <= http_calls(telemetry, operation)
    # The registry PATCH sits beneath rotation.registry, beneath the run's span rotation.sweep.
    [patch] = [e for e in spans.values() if e["data"]["baseData"]["name"].startswith("PATCH ")]
    chain = []
    parent = patch["tags"]["ai.operation.parentId"]
    while parent in spans:
        chain.append(spans[parent]["data"]["baseData"]["name"])
        parent = spans[parent]["tags"].get("ai.operation.parentId")
    assert chain[-2:] == ["rotation.registry", "rotation.sweep"], chain

    assert {p["result"] for _, p in metric_points(telemetry, ROTATIONS)} == {"rotated", "skipped"}
    assert_no_secrets(run.stdout + run.stderr + envelope_contents(telemetry), az)


def test_key_vault_reads_are_dependencies_of_the_run_too(az, estate, app_env) -> None:
    operation, telemetry, _ = sweep_telemetry(az, estate, app_env)
    assert ("GET", "kv-acr-demo.vault.azure.net") in http_calls(telemetry, operation)


def test_without_a_connection_string_the_cli_works_and_exports_nothing(az, estate, app_env) -> None:
    env = {k: v for k, v in app_env.items() if k != "APPLICATIONINSIGHTS_CONNECTION_STRING"}
    run = cli(env, "sweep", "--dry-run", APPLICATIONINSIGHTS_CONNECTION_STRING="")
    assert run.returncode == 0, run.stderr
    assert "1 unchanged, 2 skipped" in run.stdout
    assert az.telemetry == []


def test_cli_status_html_writes_a_self_contained_page(az, estate, app_env, tmp_path) -> None:
    page = tmp_path / "status.html"
    run = cli(app_env, "status", "--html", str(page), APPLICATIONINSIGHTS_CONNECTION_STRING="")
    assert run.returncode == 0, run.stderr
    html = page.read_text()
    assert html.startswith("<!doctype html>") and "<svg" in html
    for name in estate.registries:
        assert name in html
    for external in ("<script", "<link", "src=", "href=", "@import", "url("):
        assert external not in html
