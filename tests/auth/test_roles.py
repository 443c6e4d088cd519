"""What each app role allows (shared.auth.Gate), the break-glass reason, and the auth settings."""

from __future__ import annotations

import json

import pytest

from emulator.entra import EntraTenant
from shared.auth import (
    Action,
    Forbidden,
    Gate,
    SigningKeysUnavailable,
    Unauthenticated,
    entra_config,
    refusal,
    request_reason,
    rotate_action,
)
from shared.errors import BadRequest, ConfigurationError
from shared.keyids import Cloud
from shared.settings import load_settings
from tests.auth.support import TENANT_ID, TenantKeys, bearer, config_for

ALLOWED = {
    "Rotation.Read": {Action.STATUS, Action.DOCTOR, Action.DRY_RUN},
    "Rotation.Operate": {Action.ROTATE},
    "Rotation.BreakGlass": {Action.BREAK_GLASS},
}


@pytest.fixture
def tenant() -> EntraTenant:
    return EntraTenant(TENANT_ID)


def gate(tenant: EntraTenant, reachable: bool = True) -> Gate:
    return Gate("entra", config_for(tenant), TenantKeys(tenant, reachable))


@pytest.mark.parametrize("role", sorted(ALLOWED))
@pytest.mark.parametrize("action", list(Action))
def test_each_role_allows_exactly_its_actions(tenant, role, action) -> None:
    headers = bearer(tenant.mint([role], name="ana@contoso.example"))
    if action in ALLOWED[role]:
        admitted = gate(tenant).admit(headers, action)
        assert (admitted.role, admitted.caller.name) == (role, "ana@contoso.example")
    else:
        with pytest.raises(Forbidden):
            gate(tenant).admit(headers, action)


def test_operate_does_not_imply_break_glass(tenant) -> None:
    with pytest.raises(Forbidden) as info:
        gate(tenant).admit(bearer(tenant.mint(["Rotation.Read", "Rotation.Operate"])), Action.BREAK_GLASS)
    status, body, _ = refusal(info.value, config_for(tenant))
    assert status == 403
    assert body["error"]["requiredRole"] == "Rotation.BreakGlass" and "Rotation.BreakGlass" in body["error"]["message"]


def test_a_token_without_roles_is_a_403_naming_the_role(tenant) -> None:
    with pytest.raises(Forbidden) as info:
        gate(tenant).admit(bearer(tenant.mint([])), Action.STATUS)
    assert refusal(info.value, config_for(tenant))[1]["error"]["requiredRole"] == "Rotation.Read"


def test_the_role_recorded_is_the_one_that_allowed_the_request(tenant) -> None:
    headers = bearer(tenant.mint(["Rotation.Read", "Rotation.Operate", "Rotation.BreakGlass"]))
    assert gate(tenant).admit(headers, Action.DRY_RUN).role == "Rotation.Read"
    assert gate(tenant).admit(headers, Action.BREAK_GLASS).role == "Rotation.BreakGlass"


def test_unreachable_signing_keys_are_a_503_not_a_401(tenant) -> None:
    with pytest.raises(SigningKeysUnavailable) as info:
        gate(tenant, reachable=False).admit(bearer(tenant.mint(["Rotation.Read"])), Action.STATUS)
    status, body, headers = refusal(info.value, config_for(tenant))
    assert (status, body["error"]["code"], headers["Retry-After"]) == (503, "SigningKeysUnavailable", "30")


def test_functionkey_mode_trusts_no_identity_header_and_attributes_to_functionkey(tenant) -> None:
    headers = {**bearer(tenant.mint(["Rotation.BreakGlass"], name="mallory@contoso.example")),
               "X-MS-CLIENT-PRINCIPAL-NAME": "mallory@contoso.example"}
    admitted = Gate("functionkey").admit(headers, Action.BREAK_GLASS)
    assert (admitted.caller.kind, admitted.caller.name, admitted.role) == ("functionkey", "", "")


def test_entra_mode_without_a_tenant_is_refused_at_construction() -> None:
    with pytest.raises(ConfigurationError):
        Gate("entra")
    with pytest.raises(ConfigurationError):
        Gate("none")


def test_entra_mode_with_no_token_is_401_even_with_every_header_else(tenant) -> None:
    with pytest.raises(Unauthenticated):
        gate(tenant).admit({"Cookie": "AppServiceAuthSession=abc", "X-CSRF-Token": "x"}, Action.STATUS)


@pytest.mark.parametrize(("body", "action"), [
    (b"", Action.ROTATE),
    (b"{}", Action.ROTATE),
    (b'{"dryRun": true}', Action.DRY_RUN),
    (b'{"dryRun": true, "toVersion": "abc", "allowDowngrade": true}', Action.DRY_RUN),
    (b'{"registry": "x", "toVersion": "abc"}', Action.ROTATE),
    (b'{"registry": "x", "toVersion": "abc", "allowDowngrade": true}', Action.BREAK_GLASS),
    (b'{"dryRun": "true"}', Action.ROTATE),
    (b"not json", Action.DRY_RUN),
    (b"[1, 2]", Action.DRY_RUN),
])
def test_what_a_rotate_body_amounts_to(body, action) -> None:
    assert rotate_action(body) == action


def test_break_glass_reason_is_kept_verbatim() -> None:
    reason = "  INC-4711: new key version breaks pulls in westeurope; rolling back per runbook \u00e9 "
    assert request_reason(json.dumps({"reason": reason}).encode(), required=True) == reason


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": 42}, {"reason": "x" * 1025}])
def test_break_glass_without_a_usable_reason_is_a_400_naming_reason(body) -> None:
    with pytest.raises(BadRequest) as info:
        request_reason(json.dumps(body).encode(), required=True)
    assert info.value.field == "reason"


def test_a_reason_is_optional_elsewhere_but_must_be_text_when_given() -> None:
    assert request_reason(b"{}", required=False) == ""
    assert request_reason(b'{"reason": "weekly check"}', required=False) == "weekly check"
    with pytest.raises(BadRequest):
        request_reason(b'{"reason": 42}', required=False)


def test_entra_config_fails_closed_naming_what_is_missing() -> None:
    with pytest.raises(ConfigurationError, match="ROTATION_AUTH_TENANT_ID and ROTATION_AUTH_CLIENT_ID"):
        entra_config("", "", "", Cloud.PUBLIC)
    client = "0f4f4a8e-1c55-4b6a-9a0e-4d5c6b7a8e9f"
    config = entra_config(TENANT_ID.upper(), client, "", Cloud.US_GOVERNMENT)
    assert config.audiences == (f"api://{client}", client)
    assert config.issuers == (f"https://sts.windows.net/{TENANT_ID}/", f"https://login.microsoftonline.us/{TENANT_ID}/v2.0")


def test_settings_default_to_entra_and_validate_the_auth_ids() -> None:
    assert load_settings({}).http_auth == "entra"
    assert load_settings({"ROTATION_HTTP_AUTH": " FunctionKey "}).http_auth == "functionkey"
    for env, name in [({"ROTATION_HTTP_AUTH": "none"}, "ROTATION_HTTP_AUTH"),
                      ({"ROTATION_HTTP_AUTH": "anonymous"}, "ROTATION_HTTP_AUTH"),
                      ({"ROTATION_AUTH_TENANT_ID": "contoso.onmicrosoft.com"}, "ROTATION_AUTH_TENANT_ID"),
                      ({"ROTATION_AUTH_CLIENT_ID": "rotation"}, "ROTATION_AUTH_CLIENT_ID"),
                      ({"ROTATION_AUTH_APP_ID_URI": "rotation app"}, "ROTATION_AUTH_APP_ID_URI")]:
        with pytest.raises(ConfigurationError, match=name):
            load_settings(env)


@pytest.mark.parametrize(("value", "needs_key"), [
    (None, False), ("entra", False), (" Entra ", False), ("functionkey", True), ("off", True), ("", False)])
def test_the_host_asks_for_a_function_key_unless_entra_is_readable(value, needs_key) -> None:
    from shared.settings import operator_routes_need_function_key

    env = {} if value is None else {"ROTATION_HTTP_AUTH": value}
    assert operator_routes_need_function_key(env) is needs_key
