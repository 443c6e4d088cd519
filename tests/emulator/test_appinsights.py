"""Application Insights ingestion of the stand-in, and the real Azure Monitor exporter against it."""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from emu_support import Caller, PlainHTTPFront

from emulator import AzureStandIn, appinsights
from emulator.world import World

HOST = "westeurope-5.in.applicationinsights.azure.com"
IKEY = "00000000-0000-0000-0000-0000000000a1"


def envelope(name: str = "Microsoft.ApplicationInsights.Event", **data: Any) -> dict[str, Any]:
    return {"name": name, "time": "2026-11-29T00:22:19.411878Z", "iKey": IKEY, "tags": {},
            "data": {"baseType": "EventData", "baseData": {"ver": 2, "name": "X", **data}}}


@pytest.fixture
def ai(world: World) -> Caller:
    return Caller(world, appinsights.handle, None, None)


def test_track_accepts_a_json_array_and_keeps_every_envelope(world: World, ai: Caller) -> None:
    r = ai("POST", HOST, "/v2.1/track", [envelope(), envelope()], token=False)
    assert (r.status, r.body) == (200, {"itemsReceived": 2, "itemsAccepted": 2, "errors": []})
    assert world.telemetry == [envelope(), envelope()]


def test_track_accepts_gzip(world: World, ai: Caller) -> None:
    body = gzip.compress(json.dumps([envelope()]).encode())
    r = ai("POST", "eastus-0.in.applicationinsights.azure.com", "/v2.1/track", body, token=False,
           headers={"Content-Encoding": "gzip"})
    assert r.status == 200 and r.body["itemsAccepted"] == 1 and len(world.telemetry) == 1


def test_malformed_bodies_are_400_and_bad_items_partial(world: World, ai: Caller) -> None:
    assert ai("POST", HOST, "/v2.1/track", b"[{nope", token=False).status == 400
    assert ai("POST", HOST, "/v2.1/track", b"", token=False).status == 400
    r = ai("POST", HOST, "/v2.1/track", [envelope(), {"name": "x"}], token=False)
    assert r.status == 206
    assert r.body["itemsReceived"] == 2 and r.body["itemsAccepted"] == 1
    assert [e["index"] for e in r.body["errors"]] == [1]
    assert len(world.telemetry) == 1


def test_entra_ingestion_checks_the_token_audience(world: World, admin: str) -> None:
    good = Caller(world, appinsights.handle, admin, "https://monitor.azure.com//.default")
    assert good("POST", HOST, "/v2.1/track", [envelope()]).status == 200
    wrong = Caller(world, appinsights.handle, admin, "https://vault.azure.net")
    assert wrong("POST", HOST, "/v2.1/track", [envelope()]).status == 401
    assert len(world.telemetry) == 1


@pytest.fixture
def exporter_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Keep the exporter's side traffic (statsbeat, control plane, SDK stats) switched off.
    for name in ("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "APPLICATIONINSIGHTS_SDKSTATS_DISABLED",
                 "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED"):
        monkeypatch.setenv(name, "true")


@pytest.fixture
def front(world: World) -> Iterator[PlainHTTPFront]:
    f = PlainHTTPFront(world, appinsights.handle, HOST)
    yield f
    f.close()


def send_custom_event(connection_string: str) -> None:
    """What the rotation app does: a log record carrying ``microsoft.custom_event.name``."""
    from azure.monitor.opentelemetry.exporter import AzureMonitorLogExporter
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    exporter = AzureMonitorLogExporter(connection_string=connection_string, disable_offline_storage=True)
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger("tests.appinsights.custom_event")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = LoggingHandler(logger_provider=provider)
    logger.addHandler(handler)
    try:
        logger.info("dropped", extra={"microsoft.custom_event.name": "CmkRotated", "registry": "acr1",
                                      "attempts": 2})
        assert provider.force_flush()
    finally:
        logger.removeHandler(handler)
        provider.shutdown()


def assert_custom_event(telemetry: list[dict[str, Any]]) -> None:
    events = [t for t in telemetry if t["data"]["baseType"] == "EventData"]
    assert len(events) == 1
    item = events[0]
    assert item["name"] == "Microsoft.ApplicationInsights.Event" and item["iKey"] == IKEY
    base = item["data"]["baseData"]
    assert base["name"] == "CmkRotated"
    assert base["properties"]["registry"] == "acr1" and base["properties"]["attempts"] == "2"


def test_real_exporter_custom_event_arrives_as_event_data(world: World, exporter_env: None,
                                                          front: PlainHTTPFront) -> None:
    send_custom_event(f"InstrumentationKey={IKEY};IngestionEndpoint={front.url}")
    assert [(r.method, r.path) for r, _ in front.requests] == [("POST", "/v2.1/track")]
    assert front.requests[0][1].status == 200
    assert_custom_event(world.telemetry)


@pytest.mark.standin
def test_real_exporter_reaches_the_standin_over_https(az: AzureStandIn) -> None:
    connection_string = az.env["APPLICATIONINSIGHTS_CONNECTION_STRING"]
    send_custom_event(connection_string.replace(az.instrumentation_key, IKEY))
    track = [r for r in az.requests if r["path"] == "/v2.1/track"]
    assert [(r["method"], r["host"], r["status"]) for r in track] == [
        ("POST", "westeurope-5.in.applicationinsights.azure.com", 200)]
    assert_custom_event(az.telemetry)
