"""The operator endpoints of ``function_app`` in entra mode, end to end: tokens minted by the stand-in's tenant,
signing keys fetched from its login.microsoftonline.com through the proxy, the run against its ARM."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

import function_app
from emulator import entra, seed
from emulator.functions_host import FunctionsHost, user_functions

pytestmark = [pytest.mark.standin, pytest.mark.usefixtures("function_app_engine")]
OTHER_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"


@pytest.fixture
def tenant(az, app_env, monkeypatch) -> entra.EntraTenant:
    found = entra.tenant(az.world)
    for name, value in found.settings().items():
        monkeypatch.setenv(name, value)
    return found


def call(name: str, token: str | None = None, body: object = None, headers: dict | None = None):
    headers = dict(headers or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    raw = body if isinstance(body, bytes) else json.dumps(body if body is not None else {}).encode()
    method, route = ("GET", f"/api/{name}") if name in ("status", "doctor") else ("POST", "/api/rotate")
    resp = user_functions(function_app.app)[name](func.HttpRequest(method, route, body=raw, headers=headers))
    assert resp.mimetype == "application/json" and resp.headers.get("Cache-Control") == "no-store"
    return resp.status_code, json.loads(resp.get_body()), resp.headers


def writes(az) -> list[dict]:
    return [r for r in az.requests if r["method"] == "PATCH" and r["host"] == "management.azure.com"]


def arm_calls(az) -> int:
    return len([r for r in az.requests if r["host"] == "management.azure.com"])


def test_rotation_read_may_see_the_status(az, estate, tenant) -> None:
    status, body, _ = call("status", tenant.mint(["Rotation.Read"]))
    assert status == 200 and {r["name"] for r in body["registries"]} >= {"acrpinned"}


def test_rotation_read_may_dry_run_but_not_rotate(az, estate, tenant) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)
    reader = tenant.mint(["Rotation.Read"], name="auditor@contoso.example")
    status, body, _ = call("rotate", reader, {"dryRun": True})
    assert status == 200 and body["dryRun"] is True
    status, body, headers = call("rotate", reader, {"registry": estate.registries["acrpinned"]})
    assert (status, body["error"]["requiredRole"]) == (403, "Rotation.Operate")
    assert 'error="insufficient_scope"' in headers["WWW-Authenticate"]
    assert writes(az) == []


def test_rotation_operate_rotates(az, estate, tenant) -> None:
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    status, body, _ = call("rotate", tenant.mint(["Rotation.Operate"]), {"registry": estate.registries["acrpinned"]})
    assert status == 200
    assert [(o["result"], o["toVersion"]) for o in body["outcomes"]] == [("rotated", new.properties.version)]


@pytest.mark.parametrize("endpoint", ["status", "doctor"])
def test_rotation_operate_is_not_enough_to_read(az, estate, tenant, endpoint) -> None:
    status, body, _ = call(endpoint, tenant.mint(["Rotation.Operate", "Rotation.BreakGlass"]))
    assert (status, body["error"]["code"], body["error"]["requiredRole"]) == (403, "Forbidden", "Rotation.Read")


def test_a_downgrade_needs_break_glass_and_a_reason(az, estate, tenant) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)
    pinned = estate.registries["acrpinned"]
    assert call("rotate", tenant.mint(["Rotation.Operate"]), {"registry": pinned})[0] == 200
    downgrade = {"registry": pinned, "toVersion": estate.first_version, "allowDowngrade": True}
    status, body, _ = call("rotate", tenant.mint(["Rotation.Operate"]), downgrade)
    assert (status, body["error"]["requiredRole"]) == (403, "Rotation.BreakGlass")
    breaker = tenant.mint(["Rotation.BreakGlass"], name="oncall@contoso.example")
    status, body, _ = call("rotate", breaker, downgrade)
    assert (status, body["error"]["field"]) == (400, "reason")
    before = len(writes(az))
    status, body, _ = call("rotate", breaker, {**downgrade, "reason": "INC-4711: new version breaks pulls"})
    assert status == 200
    assert [(o["result"], o["reason"]) for o in body["outcomes"]] == [("rotated", "DOWNGRADE_FORCED")]
    assert len(writes(az)) == before + 1


@pytest.mark.parametrize("kind", ["none", "forged", "expired", "wrong-tenant", "wrong-audience", "unknown-kid"])
def test_bad_tokens_are_401_before_anything_is_read(az, estate, tenant, kind) -> None:
    roles = ["Rotation.Read", "Rotation.Operate", "Rotation.BreakGlass"]
    token = {
        "none": lambda: None,
        "forged": lambda: tenant.mint(roles, forged=True),
        "expired": lambda: tenant.mint(roles, expires_in=-3600),
        "wrong-tenant": lambda: tenant.mint(roles, tenant_id=OTHER_TENANT),
        "wrong-audience": lambda: tenant.mint(roles, audience="https://management.azure.com"),
        "unknown-kid": lambda: tenant.mint(roles, kid="rolled-out-long-ago"),
    }[kind]()
    before = arm_calls(az)
    for name, body in (("status", None), ("doctor", None), ("rotate", {"dryRun": True}), ("rotate", {})):
        status, answer, headers = call(name, token, body)
        assert status == 401 and answer["error"]["code"] == "Unauthenticated"
        assert headers["WWW-Authenticate"].startswith("Bearer ")
        assert "Traceback" not in json.dumps(answer)
    assert arm_calls(az) == before


def test_easy_auth_headers_without_a_token_are_refused(az, estate, tenant) -> None:
    status, _, _ = call("rotate", None, {}, headers={"X-MS-CLIENT-PRINCIPAL-NAME": "admin@contoso.example",
                                                     "X-MS-CLIENT-PRINCIPAL-ID": "x", "X-MS-CLIENT-PRINCIPAL": "e30="})
    assert status == 401


def test_entra_mode_without_its_settings_fails_closed(az, estate, tenant, monkeypatch) -> None:
    monkeypatch.delenv("ROTATION_AUTH_CLIENT_ID")
    status, body, _ = call("status", tenant.mint(["Rotation.Read"]))
    assert status == 500 and "ROTATION_AUTH_CLIENT_ID" in body["error"]["message"]
    monkeypatch.setenv("ROTATION_HTTP_AUTH", "off")
    status, body, _ = call("rotate", None, {"dryRun": True})
    assert status == 500 and "ROTATION_HTTP_AUTH" in body["error"]["message"]


def test_functionkey_mode_ignores_tokens_and_serves(az, estate, tenant, monkeypatch) -> None:
    monkeypatch.setenv("ROTATION_HTTP_AUTH", "functionkey")
    assert call("status", None)[0] == 200
    assert call("status", tenant.mint([], forged=True))[0] == 200  # the host checked the function key


class Events(logging.Handler):
    """The custom events the app emits (what Azure Monitor exports as customEvents rows)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.events: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        name = getattr(record, "microsoft.custom_event.name", None)
        if name:
            self.events.append({"name": name, **{k: v for k, v in vars(record).items() if k.startswith(
                ("requested", "request", "reason", "trigger", "result", "registryName", "correlationId"))}})

    def named(self, name: str) -> list[dict]:
        return [e for e in self.events if e["name"] == name]


@pytest.fixture
def events() -> Iterator[Events]:
    handler, logger = Events(), logging.getLogger("shared")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old)


ONCALL = "3f2e1d0c-9b8a-4765-8432-10fedcba9876"


def test_a_forced_downgrade_is_attributed_on_outcomes_and_events(az, estate, tenant, events) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)
    pinned = estate.registries["acrpinned"]
    call("rotate", tenant.mint(["Rotation.Operate"], name="ana@contoso.example"), {"registry": pinned})
    token = tenant.mint(["Rotation.BreakGlass"], name="oncall@contoso.example", object_id=ONCALL)
    status, body, _ = call("rotate", token, {"registry": pinned, "toVersion": estate.first_version,
                                             "allowDowngrade": True, "reason": "INC-4711: pulls fail"})
    assert status == 200
    who = {"kind": "user", "objectId": ONCALL, "name": "oncall@contoso.example", "tenantId": tenant.tenant_id,
           "role": "Rotation.BreakGlass"}
    assert body["requestedBy"] == who and body["requestReason"] == "INC-4711: pulls fail"
    [outcome] = body["outcomes"]
    assert outcome["requestedBy"] == who and outcome["requestReason"] == "INC-4711: pulls fail"
    forced = [e for e in events.named("RegistryKeyRotation") if e["reason"] == "DOWNGRADE_FORCED"]
    assert [(e["requestedBy"], e["requestedByObjectId"], e["requestedByTenantId"], e["requestedByRole"],
             e["requestReason"]) for e in forced] == [
        ("oncall@contoso.example", ONCALL, tenant.tenant_id, "Rotation.BreakGlass", "INC-4711: pulls fail")]
    runs = [e for e in events.named("RotationRun") if e["correlationId"] == body["correlationId"]]
    assert [(r["requestedBy"], r["requestedByKind"], r["requestedByRole"]) for r in runs] == [
        ("oncall@contoso.example", "user", "Rotation.BreakGlass")]


def test_an_application_is_attributed_by_its_client_id(az, estate, tenant, events) -> None:
    pipeline = "0f4f4a8e-1c55-4b6a-9a0e-4d5c6b7a8e9f"
    status, body, _ = call("rotate", tenant.mint(["Rotation.Operate"], kind="app", name=pipeline), {})
    assert status == 200
    assert {(o["requestedBy"]["kind"], o["requestedBy"]["name"], o["requestedBy"]["role"])
            for o in body["outcomes"]} == {("app", pipeline, "Rotation.Operate")}
    assert {e["requestedByKind"] for e in events.named("RegistryKeyRotation")} == {"app"}


def test_event_and_timer_runs_say_system(az, estate, tenant, events) -> None:
    with FunctionsHost(function_app.app) as host:
        az.subscribe_webhook(host.url("on_key_event"))
        seed.create_key(az, estate.vault_url, estate.key_name)
        assert az.wait_for_deliveries(timeout=30)
    user_functions(function_app.app)["sweep"](TimerRequest(past_due=False))
    triggers = {e["trigger"] for e in events.named("RotationRun")}
    assert triggers == {"event", "sweep"}
    assert {(e["requestedBy"], e["requestedByKind"], e["requestedByRole"])
            for e in events.events if e["name"] in ("RegistryKeyRotation", "RotationRun")} == {
        ("system", "system", "")}


def test_functionkey_runs_are_attributed_to_functionkey(az, estate, tenant, monkeypatch, events) -> None:
    monkeypatch.setenv("ROTATION_HTTP_AUTH", "functionkey")
    status, body, _ = call("rotate", tenant.mint(["Rotation.Operate"], name="mallory@contoso.example"),
                           {"dryRun": True}, headers={"X-MS-CLIENT-PRINCIPAL-NAME": "mallory@contoso.example"})
    assert status == 200 and body["requestedBy"]["kind"] == "functionkey"
    assert "mallory" not in json.dumps(body) + json.dumps(events.events)


def test_a_manual_runs_alerts_carry_who_asked_too(az, estate, tenant, events) -> None:
    from datetime import UTC, datetime, timedelta

    new = seed.create_key(az, estate.vault_url, estate.key_name)
    seed.update_key(az, estate.vault_url, estate.key_name, new.properties.version,
                    expires_on=datetime.now(UTC) + timedelta(days=5))
    status, body, _ = call("rotate", tenant.mint(["Rotation.Read"], name="auditor@contoso.example"), {"dryRun": True})
    assert status == 200 and body["alerts"]
    alerts = events.named("KeyExpiryAlert")
    assert alerts and {(a["requestedBy"], a["requestedByRole"]) for a in alerts} == {
        ("auditor@contoso.example", "Rotation.Read")}
