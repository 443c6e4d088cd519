"""Who may call what, as deployed: the app registration, the auth settings, Event Grid's own key, and Easy Auth."""

from __future__ import annotations

import json
import os
import re

import pytest

from emulator.functions_host import user_functions
from shared.auth import ROLES
from shared.settings import DEFAULTS, HTTP_AUTH_MODES, operator_routes_need_function_key
from tests.infra.bicep_support import INFRA, ROOT, bicep_files, parse, strip_comments

AZURE_CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
EVENTGRID_WEBHOOK = "/runtime/webhooks/eventgrid"


def registration() -> dict:
    return json.loads((INFRA / "app-registration.json").read_text())


def test_the_app_registration_has_exactly_the_roles_the_app_checks() -> None:
    roles = registration()["appRoles"]
    assert sorted(r["value"] for r in roles) == sorted(ROLES)
    for role in roles:
        assert set(role["allowedMemberTypes"]) == {"User", "Application"} and role["isEnabled"]
    assert len({r["id"] for r in roles} | {registration()["scope"]["id"]}) == len(ROLES) + 1


def test_the_azure_cli_may_ask_for_a_token_for_the_app() -> None:
    spec = registration()
    assert AZURE_CLI in spec["preAuthorizedClientIds"].values()
    assert spec["scope"]["isEnabled"] and spec["scope"]["value"]
    hook = (INFRA / "hooks" / "app-registration.sh").read_text()
    for needed in ("identifierUris", "api://${APP_ID}", "preAuthorizedApplications", "appRoleAssignmentRequired",
                   "azd env set ROTATION_AUTH_CLIENT_ID"):
        assert needed in hook or needed in hook.replace("{app_id}", "${APP_ID}"), needed


def test_the_template_deploys_entra_mode_for_this_tenant() -> None:
    main = parse(INFRA / "main.bicep")
    params, settings = main["parameters"], main["variables"]["rotationSettings"]["value"]
    assert params["httpAuth"]["default"] == DEFAULTS["ROTATION_HTTP_AUTH"] == "entra"
    allowed = next(d["argument"] for d in params["httpAuth"]["decorators"] if d["type"] == "allowed")
    assert tuple(allowed) == HTTP_AUTH_MODES
    assert settings["ROTATION_HTTP_AUTH"] == "httpAuth"
    assert settings["ROTATION_AUTH_TENANT_ID"]["operator"]["operands"]["operand_1"]["function"]["type"] == "tenant"
    assert (settings["ROTATION_AUTH_CLIENT_ID"], settings["ROTATION_AUTH_APP_ID_URI"]) == ("authClientId",
                                                                                         "authAppIdUri")
    azd = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert azd["httpAuth"]["value"] == "${ROTATION_HTTP_AUTH=entra}"
    assert azd["authClientId"]["value"] == "${ROTATION_AUTH_CLIENT_ID=}"


def test_operator_routes_ask_the_host_for_a_key_only_outside_entra_mode() -> None:
    """(The app indexes its functions once per process, so the bindings are read from the source.)"""
    import function_app

    source = (ROOT / "function_app.py").read_text()
    routes = re.findall(r"@app\.route\((.*?)\)\n", source)
    assert len(routes) == 3 and all("auth_level=OPERATOR_AUTH" in r for r in routes)  # rotate, status, doctor
    expected = "function" if operator_routes_need_function_key(os.environ) else "anonymous"
    assert function_app.OPERATOR_AUTH.value == expected


def test_event_grid_delivers_through_the_extension_webhook_with_the_system_key() -> None:
    """An AzureFunction destination is delivered to /runtime/webhooks/eventgrid with the eventgrid_extension
    system key: no function key, no token, no route of ours in between."""
    import function_app

    subscription = parse(INFRA / "app" / "eventgrid-subscription.bicep")["resources"]["keyEvents"]["config"]
    destination = subscription["properties"]["destination"]
    assert destination["endpointType"] == "AzureFunction"
    assert "/functions/on_key_event" in json.dumps(destination["properties"]["resourceId"])
    source = (ROOT / "function_app.py").read_text()
    assert '@app.event_grid_trigger(arg_name="event")\ndef on_key_event(' in source
    for path in bicep_files():  # no WebHook destination carrying a key in its URL
        code = strip_comments(path.read_text())
        assert "endpointType: 'WebHook'" not in code and "code=" not in code, path.name
    assert set(user_functions(function_app.app)) >= {"on_key_event"}


def easy_auth_problems(code: str) -> list[str]:
    """Easy Auth (authsettingsV2) in front would refuse Event Grid's deliveries unless their path is excluded."""
    problems = []
    for block in re.findall(r"name: 'authsettingsV2'(.*?)\n\s*\}\n\s*\}\n", code, flags=re.S) or (
            [code] if "authsettingsV2" in code else []):
        if EVENTGRID_WEBHOOK not in block.lower() or "excludedPaths" not in block:
            problems.append(f"Easy Auth without {EVENTGRID_WEBHOOK} in globalValidation.excludedPaths")
    return problems


def test_no_template_puts_easy_auth_in_front_of_event_grid() -> None:
    for path in bicep_files():
        assert easy_auth_problems(strip_comments(path.read_text())) == [], path.name


@pytest.mark.parametrize(("snippet", "bad"), [
    ("resource auth 'config' = {\n  name: 'authsettingsV2'\n  properties: {\n    globalValidation: {\n"
     "      requireAuthentication: true\n    }\n  }\n}\n", True),
    ("resource auth 'config' = {\n  name: 'authsettingsV2'\n  properties: {\n    globalValidation: {\n"
     "      requireAuthentication: true\n      excludedPaths: ['/runtime/webhooks/eventgrid']\n    }\n  }\n}\n", False),
])
def test_the_easy_auth_check_can_fail(snippet, bad) -> None:
    assert bool(easy_auth_problems(snippet)) is bad
