"""The four functions of ``function_app`` end to end: Event Grid through the Functions webhook protocol,
HTTP through ``func.HttpRequest``, the timer through ``TimerRequest``."""

from __future__ import annotations

import json
import logging

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

import function_app
from emulator import seed
from emulator.functions_host import FunctionsHost, user_functions
from shared.triggers import RetryLater

pytestmark = [pytest.mark.standin, pytest.mark.usefixtures("function_app_engine")]


def fn(name: str):
    return user_functions(function_app.app)[name]


def post_rotate(body: object) -> tuple[int, dict]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    resp = fn("rotate")(func.HttpRequest("POST", "/api/rotate", body=raw, headers={"content-type": "application/json"}))
    assert resp.mimetype == "application/json"
    return resp.status_code, json.loads(resp.get_body())


def test_the_published_event_reaches_on_key_event_and_moves_the_pinned_registry(az, estate) -> None:
    with FunctionsHost(function_app.app) as host:
        az.subscribe_webhook(host.url("on_key_event"))
        new = seed.create_key(az, estate.vault_url, estate.key_name)
        assert az.wait_for_deliveries(timeout=30)
    assert host.invocations[-1] == {"function": "on_key_event", "event": az.events[-1]["id"], "outcome": "succeeded"}
    _, body = post_rotate({"dryRun": True})
    rows = {o["name"]: o for o in body["outcomes"]}
    assert rows["acrpinned"]["reason"] == "ALREADY_CURRENT" and rows["acrpinned"]["toVersion"] == new.properties.version


def test_cloud_events_schema_is_handled_too(az, estate) -> None:
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    published = az.events[-1]
    cloud_event = {"specversion": "1.0", "id": published["id"], "source": published["topic"],
                   "subject": published["subject"], "type": published["eventType"], "time": published["eventTime"],
                   "data": published["data"]}
    with FunctionsHost(function_app.app) as host:
        assert host.deliver("on_key_event", [cloud_event]) == 202
    _, body = post_rotate({"dryRun": True})
    assert {o["name"]: o for o in body["outcomes"]}["acrpinned"]["fromVersion"] == new.properties.version


@pytest.mark.parametrize("event_type", [
    "Microsoft.KeyVault.SecretNewVersionCreated", "Microsoft.KeyVault.CertificateNearExpiry",
    "Microsoft.KeyVault.VaultAccessPolicyChanged",
])
def test_other_key_vault_events_are_acknowledged_and_ignored(az, estate, event_type, caplog) -> None:
    caplog.set_level(logging.INFO, logger="shared")
    event = dict(az.events[0], eventType=event_type)
    with FunctionsHost(function_app.app) as host:
        assert host.deliver("on_key_event", [event]) == 202
    assert "not a key version or expiry event" in caplog.text
    assert not [r for r in az.requests if r["method"] == "PATCH"]


def test_a_malformed_key_event_is_logged_and_acknowledged(az, estate, caplog) -> None:
    event = dict(az.events[0], data={"Id": "https://evil.example.com/keys/acr-cmk/abc", "ObjectType": "Key"})
    before = len(az.requests)
    with FunctionsHost(function_app.app) as host:
        assert host.deliver("on_key_event", [event]) == 202
    assert "malformed key event" in caplog.text
    assert not [r for r in az.requests[before:] if "evil" in r["host"]]
    assert az.unexpected_egress == []


def test_transient_failures_make_the_event_function_raise_after_handling_the_rest(az, estate) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)
    az.inject_fault(method="PATCH", path_contains="/registries/acrpinned", status=409, times=1)
    with pytest.raises(RetryLater):
        fn("on_key_event")(func.EventGridEvent(
            id=az.events[-1]["id"], data=az.events[-1]["data"], topic=az.events[-1]["topic"],
            subject=az.events[-1]["subject"], event_type=az.events[-1]["eventType"], event_time=None,
            data_version="1"))
    fn("on_key_event")(func.EventGridEvent(  # the redelivery converges
        id=az.events[-1]["id"], data=az.events[-1]["data"], topic=az.events[-1]["topic"],
        subject=az.events[-1]["subject"], event_type=az.events[-1]["eventType"], event_time=None, data_version="1"))
    assert len([r for r in az.requests if r["method"] == "PATCH" and r["status"] < 300]) == 1


def test_timer_sweep_converges(az, estate) -> None:
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    fn("sweep")(TimerRequest(past_due=False))
    _, body = post_rotate({"registry": estate.registries["acrpinned"], "dryRun": True})
    assert body["outcomes"][0]["reason"] == "ALREADY_CURRENT"
    assert body["outcomes"][0]["toVersion"] == new.properties.version


def test_rotate_one_registry_by_id(az, estate) -> None:
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    status, body = post_rotate({"registry": estate.registries["acrpinned"]})
    assert status == 200
    assert [(o["name"], o["result"], o["toVersion"]) for o in body["outcomes"]] == [
        ("acrpinned", "rotated", new.properties.version)]


def test_rotate_by_key_covers_every_registry_on_that_key(az, estate) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)
    status, body = post_rotate({"key": estate.key_url})
    assert status == 200
    assert sorted((o["name"], o["result"]) for o in body["outcomes"]) == [
        ("acroptedout", "skipped"), ("acrpinned", "rotated"), ("acrversionless", "skipped")]


def test_break_glass_downgrade_needs_allow_downgrade_and_is_recorded(az, estate) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)
    post_rotate({"registry": estate.registries["acrpinned"]})
    refused = post_rotate({"registry": estate.registries["acrpinned"], "toVersion": estate.first_version})[1]
    assert refused["outcomes"][0]["reason"] == "WOULD_DOWNGRADE"
    forced = post_rotate({"registry": estate.registries["acrpinned"], "toVersion": estate.first_version,
                          "allowDowngrade": True, "reason": "INC-1: the new version breaks pulls"})[1]
    assert (forced["outcomes"][0]["result"], forced["outcomes"][0]["reason"]) == ("rotated", "DOWNGRADE_FORCED")
    assert forced["outcomes"][0]["toVersion"] == estate.first_version


@pytest.mark.parametrize(("body", "field"), [
    (b"not json", "body"),
    ([1, 2], "body"),
    ({"registry": "acrpinned"}, "registry"),
    ({"registry": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/a"}, "registry"),
    ({"key": "https://evil.example.com/keys/k"}, "key"),
    ({"key": "https://kv.vault.azure.net/keys/k/0123456789abcdef"}, "key"),
    ({"dryRun": "yes"}, "dryRun"),
    ({"toVersion": "abc"}, "toVersion"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_rotate_input_is_a_json_400_naming_the_field(az, estate, body, field) -> None:
    status, answer = post_rotate(body)
    assert status == 400
    assert answer["error"]["field"] == field and answer["error"]["message"]


def test_status_lists_registries_and_versions_no_longer_used(az, estate) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)
    post_rotate({})
    resp = fn("status")(func.HttpRequest("GET", "/api/status", body=b""))
    body = json.loads(resp.get_body())
    assert resp.status_code == 200
    rows = {r["name"]: r for r in body["registries"]}
    assert rows["acrpinned"]["versionInUse"] == rows["acrpinned"]["newestUsableVersion"]
    [key] = body["keys"]
    # The first version is still used by the opted-out registry and the versionless one follows the newest.
    assert key["candidatesToDisable"] == []
    assert estate.first_version in key["versionsInUse"]


def test_a_bad_setting_is_a_clear_json_error_not_a_stack_trace(az, estate, monkeypatch) -> None:
    monkeypatch.setenv("ROTATION_NEAR_EXPIRY_DAYS", "soon")
    status, body = post_rotate({})
    assert status == 500 and "ROTATION_NEAR_EXPIRY_DAYS" in body["error"]["message"]
    assert "Traceback" not in json.dumps(body)
