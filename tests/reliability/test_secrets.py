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
