"""Event Grid side of the stand-in: Key Vault events, tick(), and webhook delivery."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from emu_support import Caller, add_vault

from emulator import AzureStandIn, eventgrid, seed
from emulator.world import Vault, World

HOST = "kv-test.vault.azure.net"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "eventgrid"
DAY = 86400


def create(kv: Caller, name: str, **body: Any) -> dict:
    r = kv("POST", HOST, f"/keys/{name}/create", {"kty": "RSA", **body})
    assert r.status == 200, r.body
    return r.body


def test_create_and_rotate_publish_new_version_events_with_the_real_shape(world: World, vault: Vault,
                                                                          kv: Caller) -> None:
    sample = json.loads((FIXTURES / "keyvault-event.eventgrid-schema.sample.json").read_text())
    created = create(kv, "cmk", attributes={"exp": 2000000000})
    rotated = kv("POST", HOST, "/keys/cmk/rotate").body
    assert [e["eventType"] for e in world.events] == ["Microsoft.KeyVault.KeyNewVersionCreated"] * 2
    first, second = world.events
    assert list(first) == list(sample)  # same envelope fields, same order
    assert list(first["data"]) == list(sample["data"])
    assert first["topic"] == vault.resource_id and first["subject"] == "cmk"
    assert first["dataVersion"] == "1" and first["metadataVersion"] == "1"
    assert first["eventTime"].endswith("Z") and len(first["eventTime"]) == len(sample["eventTime"])
    version = created["key"]["kid"].rsplit("/", 1)[1]
    assert first["data"] == {"Id": created["key"]["kid"], "VaultName": "kv-test", "ObjectType": "Key",
                             "ObjectName": "cmk", "Version": version, "NBF": None, "EXP": "2000000000"}
    assert second["data"]["Id"] == rotated["key"]["kid"] and second["id"] != first["id"]


def test_tick_publishes_near_expiry_and_expired_once_each(world: World, vault: Vault, kv: Caller) -> None:
    exp = int(world.now()) + 40 * DAY
    create(kv, "k", attributes={"exp": exp})
    world.events.clear()
    assert eventgrid.tick(world) == []
    world.advance(11 * DAY)  # 29 days before EXP: inside the default 30-day Notify window
    near = eventgrid.tick(world)
    assert [e["eventType"] for e in near] == ["Microsoft.KeyVault.KeyNearExpiry"]
    assert near[0]["data"]["EXP"] == str(exp)
    assert eventgrid.tick(world) == []
    world.advance(30 * DAY)
    assert [e["eventType"] for e in eventgrid.tick(world)] == ["Microsoft.KeyVault.KeyExpired"]
    assert eventgrid.tick(world) == []
    assert [e["eventType"] for e in world.events] == ["Microsoft.KeyVault.KeyNearExpiry",
                                                      "Microsoft.KeyVault.KeyExpired"]


def test_tick_uses_the_rotation_policy_notify_time_and_only_the_current_version(world: World, vault: Vault,
                                                                                kv: Caller) -> None:
    now = int(world.now())
    create(kv, "k", attributes={"exp": now + 10 * DAY})
    create(kv, "k", attributes={"exp": now + 50 * DAY})  # the current version
    kv("PUT", HOST, "/keys/k/rotationpolicy",
       {"lifetimeActions": [{"action": {"type": "Notify"}, "trigger": {"timeBeforeExpiry": "P60D"}}]})
    due = eventgrid.tick(world)
    assert [(e["eventType"], e["data"]["EXP"]) for e in due] == [
        ("Microsoft.KeyVault.KeyNearExpiry", str(now + 50 * DAY))]


def test_a_clock_jump_past_expiry_yields_both_events_in_order(world: World, vault: Vault, kv: Caller) -> None:
    create(kv, "k", attributes={"exp": int(world.now()) + DAY})
    world.advance(2 * DAY)
    assert [e["eventType"] for e in eventgrid.tick(world)] == ["Microsoft.KeyVault.KeyNearExpiry",
                                                               "Microsoft.KeyVault.KeyExpired"]


def test_managed_hsm_keys_publish_nothing(world: World, admin: str) -> None:
    from emulator import keyvault
    add_vault(world, "hsm1", "hsm1.managedhsm.azure.net")
    hsm = Caller(world, keyvault.handle, admin, "https://managedhsm.azure.net")
    r = hsm("POST", "hsm1.managedhsm.azure.net", "/keys/k/create", {"kty": "RSA-HSM", "attributes": {"exp": 1}})
    assert r.status == 200
    assert world.events == [] and eventgrid.tick(world) == []


# ---- webhook delivery ------------------------------------------------------------------------

class Receiver:
    """A tiny Functions-host stand-in: records POSTs, answers with queued statuses (then 202)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, Any]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.calls.append((self.path, self.headers, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 202
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = (f"http://127.0.0.1:{self.server.server_address[1]}"
                    "/runtime/webhooks/EventGrid?functionName=on_key_event")
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_webhook_gets_each_event_with_the_functions_local_protocol(world: World, vault: Vault, kv: Caller,
                                                                   receiver: Receiver,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Deliveries must not go through a proxy even when the environment names one.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    eventgrid.subscribe(world, receiver.url)
    create(kv, "k")
    kv("POST", HOST, "/keys/k/rotate")
    assert eventgrid.wait_idle(world, 5)
    assert len(receiver.calls) == 2
    path, headers, body = receiver.calls[0]
    assert path == "/runtime/webhooks/EventGrid?functionName=on_key_event"
    assert headers["aeg-event-type"] == "Notification"
    assert headers["Content-Type"] == "application/json"
    assert isinstance(body, list) and body == [world.events[0]]
    assert [d["status"] for d in world.deliveries] == [202, 202]


def test_failed_delivery_is_retried_so_duplicates_happen(world: World, vault: Vault, kv: Caller,
                                                         receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    eventgrid.subscribe(world, receiver.url)
    create(kv, "k")
    assert eventgrid.wait_idle(world, 5)
    ids = [body[0]["id"] for _, _, body in receiver.calls]
    assert len(ids) == 3 and len(set(ids)) == 1  # the same event, delivered three times
    assert [(d["attempt"], d["status"]) for d in world.deliveries] == [(1, 500), (2, 503), (3, 202)]


def test_unreachable_webhook_is_given_up_after_a_few_attempts(world: World, vault: Vault, kv: Caller) -> None:
    eventgrid.subscribe(world, "http://127.0.0.1:9/runtime/webhooks/EventGrid?functionName=x")
    create(kv, "k")
    assert eventgrid.wait_idle(world, 5)
    assert len(world.deliveries) == eventgrid.ATTEMPTS
    assert all(str(d["status"]).startswith("error") for d in world.deliveries)


def test_events_before_subscribing_are_not_delivered(world: World, vault: Vault, kv: Caller,
                                                     receiver: Receiver) -> None:
    create(kv, "before")
    eventgrid.subscribe(world, receiver.url)
    create(kv, "after")
    assert eventgrid.wait_idle(world, 5)
    assert [body[0]["subject"] for _, _, body in receiver.calls] == ["after"]
    eventgrid.close(world)
    assert eventgrid.wait_idle(world, 1)


# ---- end to end: keys made through the SDK, events through az ----------------------------------

@pytest.mark.standin
def test_sdk_writes_publish_events_and_az_delivers_them(az: AzureStandIn, receiver: Receiver) -> None:
    az.subscribe_webhook(receiver.url)
    vault_url = seed.create_vault(az, az.subscription_ids[0], "rg-events", f"kv-ev-{secrets.token_hex(3)}")
    expires = datetime.now(UTC) + timedelta(days=40)
    key = seed.create_key(az, vault_url, "cmk", expires_on=expires)
    assert az.wait_for_deliveries(5)
    (event,) = az.events
    assert event["eventType"] == "Microsoft.KeyVault.KeyNewVersionCreated"
    assert event["data"]["Id"] == key.id and event["data"]["EXP"] == str(int(expires.timestamp()))
    assert event["topic"] == az.world.vaults[vault_url.split("/")[2]].resource_id
    assert [body for _, _, body in receiver.calls] == [[event]]
    az.world.advance(11 * DAY)
    assert [e["eventType"] for e in az.tick()] == ["Microsoft.KeyVault.KeyNearExpiry"]
    assert az.wait_for_deliveries(5) and len(receiver.calls) == 2
