"""Helpers for the telemetry tests: the pinned envelope shapes, envelope lookups, and the secrets search."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emulator import AzureStandIn
from tests.reference import AZURE_WIRE

ROOT = Path(__file__).parents[2]
PINS = json.loads((ROOT / "tests/fixtures/appinsights/envelope-shapes.json").read_text())
CAPTURES = AZURE_WIRE / "appinsights"
ISSUE_PROPERTIES = {
    "RegistryKeyRotation": {"registry", "subscription", "vault", "key", "fromVersion", "toVersion", "result",
                            "reason", "trigger", "dryRun", "correlationId", "durationMs"},
    "KeyExpiryAlert": {"vault", "key", "version", "expiresOn", "daysLeft", "severity", "affectedRegistries"},
    "RotationRun": {"trigger", "durationMs", "rotated", "planned", "unchanged", "skipped", "failed"},
}


def of_type(envelopes: list[dict[str, Any]], base_type: str) -> list[dict[str, Any]]:
    return [e for e in envelopes if e["data"]["baseType"] == base_type]


def events(envelopes: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in of_type(envelopes, "EventData") if e["data"]["baseData"]["name"] == name]


def metric_points(envelopes: list[dict[str, Any]], name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(metric item, properties) for every data point of one metric."""
    return [(m, e["data"]["baseData"].get("properties", {})) for e in of_type(envelopes, "MetricData")
            for m in e["data"]["baseData"]["metrics"] if m["name"] == name]


def assert_shape(envelope: dict[str, Any], base_type: str) -> None:
    """Same keys as the exporter's captured envelope of this type (values differ run to run)."""
    pin = PINS["shapes"][base_type]
    assert envelope["name"] == pin["name"]
    assert sorted(set(envelope) - set(PINS["optionalEnvelope"])) == pin["envelope"]
    assert sorted(envelope["data"]) == pin["data"]
    assert sorted(envelope["data"]["baseData"]) == pin["baseData"]
    # Device tags depend on the machine; the correlation and SDK tags are what queries rely on.
    wanted = {t for t in pin["tags"] if not t.startswith("ai.device.")}
    assert wanted <= set(envelope["tags"]), wanted - set(envelope["tags"])
    if PINS["propertiesAreStrings"]:
        assert all(isinstance(v, str) for v in envelope["data"]["baseData"].get("properties", {}).values())


def secrets_of(az: AzureStandIn) -> dict[str, str]:
    found = {"IDENTITY_HEADER": az.world.identity_header,
             "connection string": az.env["APPLICATIONINSIGHTS_CONNECTION_STRING"],
             "instrumentation key": az.instrumentation_key}
    found.update({f"token {i}": token for i, token in enumerate(list(az.world.tokens))})
    return found


def envelope_contents(envelopes: list[dict[str, Any]]) -> str:
    """Everything in the envelopes but ``iKey``: the ingestion wire format's routing field necessarily carries
    the instrumentation key; what must not carry it (or anything secret) is what the app put in them."""
    return json.dumps([{k: v for k, v in e.items() if k != "iKey"} for e in envelopes])


def assert_no_secrets(emitted: str, az: AzureStandIn) -> None:
    assert az.world.tokens, "no token was issued: the run did not authenticate, so this proves nothing"
    leaked = [what for what, secret in secrets_of(az).items() if secret and secret in emitted]
    assert not leaked, f"secrets found in what was emitted: {leaked}"
