"""Outcomes, alerts and metrics through the real Azure Monitor exporters into the stand-in's ingestion:
the envelopes have the names, properties and shapes the captured exporter output has."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from telemetry_support import (
    CAPTURES,
    ISSUE_PROPERTIES,
    PINS,
    assert_shape,
    events,
    metric_points,
)

from emulator import seed
from shared.composition import build_engine
from shared.metrics import DAYS_UNTIL_EXPIRY, REGISTRIES_IN_SCOPE, ROTATION_DURATION, ROTATIONS, RUN_DURATION
from shared.requests import RunRequest
from tests.reference import ABSENT

pytestmark = pytest.mark.standin


def props(envelope) -> dict[str, str]:
    return envelope["data"]["baseData"]["properties"]


def test_a_sweep_sends_one_rotation_event_per_registry_and_one_run_event(az, estate, app_env, exported) -> None:
    new_version = seed.create_key(az, estate.vault_url, estate.key_name).properties.version
    report = build_engine(app_env, sink=exported.sink).run(RunRequest.sweep())
    exported.flush()

    rotations = events(az.telemetry, "RegistryKeyRotation")
    assert len(rotations) == 3
    for envelope in rotations:
        assert_shape(envelope, "EventData")
        assert ISSUE_PROPERTIES["RegistryKeyRotation"] <= set(props(envelope))
    by_name = {props(e)["registryName"]: props(e) for e in rotations}
    pinned = by_name["acrpinned"]
    assert pinned["registry"] == estate.registries["acrpinned"]
    assert (pinned["result"], pinned["reason"]) == ("rotated", "NEWER_VERSION_AVAILABLE")
    assert (pinned["fromVersion"], pinned["toVersion"]) == (estate.first_version, new_version)
    assert pinned["vault"] == "kv-acr-demo.vault.azure.net" and pinned["key"] == estate.key_url
    assert (pinned["subscription"], pinned["trigger"], pinned["dryRun"]) == (estate.subscription_id, "sweep", "false")
    assert int(pinned["durationMs"]) > 0 and pinned["correlationId"] == report.correlation_id
    assert (by_name["acroptedout"]["result"], by_name["acroptedout"]["reason"]) == ("skipped", "OPTED_OUT")
    assert by_name["acroptedout"]["toVersion"] == ""  # absent values arrive as empty strings

    [run] = events(az.telemetry, "RotationRun")
    assert ISSUE_PROPERTIES["RotationRun"] <= set(props(run))
    assert {k: props(run)[k] for k in ("trigger", "rotated", "skipped", "failed", "correlationId")} == {
        "trigger": "sweep", "rotated": "1", "skipped": "2", "failed": "0", "correlationId": report.correlation_id}


def test_a_version_in_use_near_expiry_sends_a_key_expiry_alert(az, estate, app_env, exported) -> None:
    soon = datetime.now(UTC) + timedelta(days=10)
    seed.update_key(az, estate.vault_url, estate.key_name, estate.first_version, expires_on=soon)
    build_engine(app_env, sink=exported.sink).run(RunRequest.sweep())
    exported.flush()

    [alert] = events(az.telemetry, "KeyExpiryAlert")
    assert_shape(alert, "EventData")
    p = props(alert)
    assert ISSUE_PROPERTIES["KeyExpiryAlert"] <= set(p)
    assert (p["version"], p["severity"], p["key"]) == (estate.first_version, "warning", estate.key_url)
    assert 9 < float(p["daysLeft"]) <= 10 and p["expiresOn"].startswith(soon.date().isoformat())
    assert sorted(p["affectedRegistries"].split(",")) == sorted(estate.registries.values())


def test_metrics_arrive_as_metric_data_with_result_reason_and_key_version(az, estate, app_env, exported) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)
    soon = datetime.now(UTC) + timedelta(days=20)
    seed.update_key(az, estate.vault_url, estate.key_name, estate.first_version, expires_on=soon)
    build_engine(app_env, sink=exported.sink).run(RunRequest.sweep())
    exported.flush()

    rotations = metric_points(az.telemetry, ROTATIONS)
    counted = {(p["result"], p["reason"]): m["value"] for m, p in rotations}
    assert counted == {("rotated", "NEWER_VERSION_AVAILABLE"): 1, ("skipped", "OPTED_OUT"): 1,
                       ("skipped", "VERSIONLESS"): 1}
    envelope = next(e for e in az.telemetry if e["data"]["baseType"] == "MetricData"
                    and e["data"]["baseData"]["metrics"][0]["name"] == ROTATIONS)
    assert_shape(envelope, "MetricData")
    assert sorted(envelope["data"]["baseData"]["metrics"][0]) == PINS["shapes"]["MetricData"]["metric"]

    [(duration, duration_props)] = metric_points(az.telemetry, ROTATION_DURATION)
    assert duration["count"] == 1 and duration["value"] > 0 and duration_props == {"result": "rotated"}
    assert [p["trigger"] for _, p in metric_points(az.telemetry, RUN_DURATION)] == ["sweep"]
    assert [m["value"] for m, _ in metric_points(az.telemetry, REGISTRIES_IN_SCOPE)] == [3]
    # The pinned registry moved to the new version (no expiry); the opted-out one still uses the first.
    [(days, days_props)] = metric_points(az.telemetry, DAYS_UNTIL_EXPIRY)
    assert days_props == {"vault": "kv-acr-demo.vault.azure.net", "key": estate.key_name,
                          "version": estate.first_version}
    assert 19 < days["value"] <= 20


def test_the_pinned_shapes_match_the_captured_exporter_output() -> None:
    if not CAPTURES.is_dir():
        pytest.skip(ABSENT)
    for base_type, pin in PINS["shapes"].items():
        body = json.loads((CAPTURES / pin["capture"]).read_text())["body"]
        [envelope] = [e for e in body if e["data"]["baseType"] == base_type
                      and e["data"]["baseData"].get("metrics", [{}])[0].get("name") != "_OTELRESOURCE_"]
        assert_shape(envelope, base_type)
        assert sorted(envelope["tags"]) == pin["tags"]
