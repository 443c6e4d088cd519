"""Secrets never leak: tokens, the managed-identity header secret and the connection string appear in no
log record (at any level), no HTTP answer and no outcome, during a full end-to-end run."""

from __future__ import annotations

import json
import logging

import azure.functions as func
import pytest

import function_app
from emulator import seed
from emulator.functions_host import FunctionsHost, user_functions

pytestmark = [pytest.mark.standin, pytest.mark.usefixtures("function_app_engine")]


class Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.lines.append(json.dumps({k: str(v) for k, v in vars(record).items()}))


def secrets_of(az) -> list[str]:
    connection = az.env["APPLICATIONINSIGHTS_CONNECTION_STRING"]
    tokens = list(az.world.tokens)
    assert tokens, "the run should have issued tokens"
    return [az.env["IDENTITY_HEADER"], connection, az.instrumentation_key, *tokens,
            *(t.split(".")[2] for t in tokens if t.count(".") == 2 and t.split(".")[2])]


def test_no_secret_in_logs_answers_or_outcomes(az, estate) -> None:
    handler = Everything()
    root, sdk = logging.getLogger(), logging.getLogger("azure")
    old_levels = root.level, sdk.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    sdk.setLevel(logging.DEBUG)  # even the SDKs' HTTP logging (the app quiets it to WARNING by default)
    try:
        with FunctionsHost(function_app.app) as host:
            az.subscribe_webhook(host.url("on_key_event"))
            seed.create_key(az, estate.vault_url, estate.key_name)
            assert az.wait_for_deliveries(timeout=30)
        functions = user_functions(function_app.app)
        answers = [functions["rotate"](func.HttpRequest("POST", "/api/rotate", body=b'{"dryRun": true}')),
                   functions["rotate"](func.HttpRequest("POST", "/api/rotate", body=b"{bad")),
                   functions["status"](func.HttpRequest("GET", "/api/status", body=b""))]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_levels[0])
        sdk.setLevel(old_levels[1])
    emitted = "\n".join(handler.lines) + "\n".join(a.get_body().decode() for a in answers)
    # The capture really saw the SDKs' HTTP logging and our outcomes, headers included.
    assert "Request URL" in emitted and "Authorization" in emitted and "RegistryKeyRotation" in emitted
    for secret in secrets_of(az):
        assert secret not in emitted, "a secret appeared in logs or answers"


def test_operator_tokens_never_reach_logs_events_or_answers(az, estate, monkeypatch) -> None:
    """Entra mode: good, forged, expired, wrong-audience and oversized bearer tokens, accepted and refused. The log
    records' attributes are what Azure Monitor exports as telemetry, so they are checked whole."""
    from emulator import entra

    tenant = entra.tenant(az.world)
    for name, value in tenant.settings().items():
        monkeypatch.setenv(name, value)
    tokens = [tenant.mint(["Rotation.Read", "Rotation.Operate", "Rotation.BreakGlass"], name="ana@contoso.example"),
              tenant.mint(["Rotation.Operate"], forged=True), tenant.mint(["Rotation.Read"], expires_in=-3600),
              tenant.mint(["Rotation.Read"], audience="https://management.azure.com"),
              tenant.mint(["Rotation.Read"], extra={"pad": "x" * 9000})]
    seed.create_key(az, estate.vault_url, estate.key_name)
    bodies = [b'{"dryRun": true}', b"{}", b"{bad", json.dumps({
        "registry": estate.registries["acrpinned"], "toVersion": estate.first_version, "allowDowngrade": True,
        "reason": "INC-1"}).encode()]
    handler = Everything()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        functions = user_functions(function_app.app)
        answers = [functions["rotate"](func.HttpRequest("POST", "/api/rotate", body=body,
                                                        headers={"Authorization": f"Bearer {token}"}))
                   for token in tokens for body in bodies]
        answers += [functions["status"](func.HttpRequest("GET", "/api/status", body=b"",
                                                         headers={"Authorization": f"Bearer {token}"}))
                    for token in tokens]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert {a.status_code for a in answers} >= {200, 400, 401}, "accepted and refused requests both ran"
    emitted = "\n".join(handler.lines) + "\n".join(a.get_body().decode() + json.dumps(dict(a.headers.items()))
                                                   for a in answers)
    assert "RegistryKeyRotation" in emitted and "operator request refused" in emitted
    for token in tokens:
        _header, payload, signature = token.split(".")
        for part in (token, payload, signature):
            assert part not in emitted, "an operator token appeared in logs, events or answers"
