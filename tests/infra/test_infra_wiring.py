"""The templates and the code agree: event types, app settings, function names, roles, files and parameters."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from emulator.functions_host import user_functions
from shared.doctor import DOCTOR_SETTINGS
from shared.events import KeyEventKind
from shared.settings import DEFAULTS, load_settings
from tests.infra.bicep_support import INFRA, ROOT, bicep_files, parse, strip_comments

ROLE_IDS = {  # built-in role definition ids (DOMAIN-NOTES.md and the Flex Consumption samples)
    "Key Vault Reader": "21090545-7ca7-4776-b22c-e363652d74d2",
    "Key Vault Crypto Officer": "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
    "Container Registry Contributor and Data Access Configuration Administrator":
        "3bc748fc-213d-45c1-8d91-9da5725539b9",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
}
MANAGED_IDENTITY_OPERATOR = "f1a07417-d97a-45cb-824c-7a7467783830"
GUID = re.compile(r"'([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'")


def _text(relative: str) -> str:
    return (INFRA / relative).read_text()


def _code(path: Path) -> str:
    return strip_comments(path.read_text())


def test_the_subscription_filter_is_exactly_the_events_on_key_event_handles() -> None:
    template = parse(INFRA / "app" / "eventgrid-subscription.bicep")
    subscription = template["resources"]["keyEvents"]["config"]["properties"]
    assert subscription["filter"] == {"includedEventTypes": "keyEventTypes"}
    assert template["variables"]["keyEventTypes"]["value"] == [k.value for k in KeyEventKind]
    assert subscription["destination"]["endpointType"] == "AzureFunction"
    assert subscription["deadLetterWithResourceIdentity"]["identity"]["type"] == "SystemAssigned"
    assert subscription["retryPolicy"]["maxDeliveryAttempts"] >= 1


def test_every_setting_the_engine_reads_is_set_by_the_template() -> None:
    main = parse(INFRA / "main.bicep")
    settings = main["variables"]["rotationSettings"]["value"]
    assert set(settings) == set(DEFAULTS) | set(DOCTOR_SETTINGS)
    assert main["modules"]["function"]["config"]["params"]["appSettings"] == "rotationSettings"
    assert "union(appSettings," in _code(INFRA / "app" / "function.bicep")


def test_defaults_in_the_template_match_the_engine() -> None:
    params = parse(INFRA / "main.bicep")["parameters"]
    assert params["sweepSchedule"]["default"] == DEFAULTS["ROTATION_SWEEP_SCHEDULE"] == "0 0 * * * *"
    assert str(params["nearExpiryDays"]["default"]) == DEFAULTS["ROTATION_NEAR_EXPIRY_DAYS"]
    assert str(params["dryRun"]["default"]).lower() == DEFAULTS["ROTATION_DRY_RUN"]
    assert str(params["autoRotateKeys"]["default"]).lower() == DEFAULTS["ROTATION_AUTO_ROTATE_KEYS"]
    # Tuning settings default to empty in the template, which the engine reads as its own default.
    tuning = {
        "pollIntervalSeconds": "ROTATION_POLL_INTERVAL_SECONDS",
        "maxParallelPerSubscription": "ROTATION_MAX_PARALLEL_PER_SUBSCRIPTION",
        "eventBudgetSeconds": "ROTATION_EVENT_BUDGET_SECONDS",
        "httpTimeoutSeconds": "ROTATION_HTTP_TIMEOUT_SECONDS",
    }
    for param, setting in tuning.items():
        default = params[param]["default"]
        assert default in ("", DEFAULTS[setting]), f"{param}: {default!r}, the engine: {DEFAULTS[setting]!r}"
        assert load_settings({setting: default}) == load_settings({}), f"{setting}={default!r} is not the default"


def test_the_host_settings_are_identity_based_and_keyless() -> None:
    code = _code(INFRA / "app" / "function.bicep")
    for setting in (
        "AzureWebJobsStorage__credential: 'managedidentity'", "AzureWebJobsStorage__clientId:",
        "AzureWebJobsStorage__blobServiceUri:", "AzureWebJobsStorage__queueServiceUri:",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD;ClientId=${identityClientId}'",
        "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'", "AZURE_CLIENT_ID: identityClientId",
        "name: 'python'", "version: '3.13'", "type: 'UserAssignedIdentity'", "name: 'FC1'",
    ):
        assert setting in code, setting
    for forbidden in ("AccountKey", "listKeys(", "FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage:"):
        assert forbidden not in code, forbidden
    storage = _code(INFRA / "app" / "storage.bicep")
    assert "allowSharedKeyAccess: false" in storage
    monitoring = _code(INFRA / "app" / "monitoring.bicep")
    assert "DisableLocalAuth: true" in monitoring and "disableLocalAuth: true" in monitoring


def test_host_json_exports_opentelemetry() -> None:
    assert json.loads((ROOT / "host.json").read_text())["telemetryMode"] == "OpenTelemetry"


def test_every_function_the_templates_name_exists_in_function_app() -> None:
    import function_app

    names = set(user_functions(function_app.app))
    referenced = {
        m.group(1) for p in bicep_files() for m in re.finditer(r"/functions/([A-Za-z0-9_]+)", _code(p))
    }
    assert referenced == {"on_key_event"}
    assert referenced <= names, f"not in function_app.py: {referenced - names}"


def test_every_role_is_named_and_assigned_under_a_deterministic_name() -> None:
    for path in bicep_files():
        text = path.read_text()
        for line in text.splitlines():
            for role_id in GUID.findall(line):
                name = next((n for n, i in ROLE_IDS.items() if i == role_id), None)
                assert name, f"{path.name}: unknown role id {role_id}"
                assert f"// {name}" in line, f"{path.name}: role {role_id} without its name beside it: {line!r}"
        for block in re.findall(r"'Microsoft\.Authorization/roleAssignments@[^']+' = (?:if \([^)]*\) )?\{\n(.*?)\n\}",
                                text, re.S):
            assert re.match(r"\s*name: guid\(", block), f"{path.name}: role assignment not named by guid()"
            assert "principalType: 'ServicePrincipal'" in block


def test_roles_are_exactly_the_least_privilege_set() -> None:
    used = {i for p in bicep_files() for i in GUID.findall(_code(p))}
    assert used == set(ROLE_IDS.values())
    assert MANAGED_IDENTITY_OPERATOR not in used  # explained in rbac.bicep: the registry PATCH adds no identity
    assert "Managed Identity Operator (f1a07417-d97a-45cb-824c-7a7467783830)" in _text("app/rbac.bicep")


def test_crypto_officer_follows_auto_rotation() -> None:
    code = _code(INFRA / "app" / "rbac-keyvault.bicep")
    assert re.search(r"resource cryptoOfficer '[^']+' = if \(autoRotateKeys\)", code)
    main = _code(INFRA / "main.bicep")
    assert "ROTATION_AUTO_ROTATE_KEYS: string(autoRotateKeys)" in main
    assert "autoRotateKeys: autoRotateKeys" in main


def test_alerts_load_the_telemetry_queries_verbatim() -> None:
    code = _code(INFRA / "app" / "alerts.bicep")
    loaded = re.findall(r"loadTextContent\('\.\./kql/([^']+)'\)", code)
    # The threshold line the keys-expiring query declares for replacement is really there (else no-op replace).
    threshold = re.search(r"var thresholdLine = '([^']+)'", code)
    assert threshold and threshold.group(1) in (INFRA / "kql" / "keys-expiring.kql").read_text().splitlines()
    assert sorted(loaded) == sorted(
        ["failed-rotations.kql", "keys-expiring.kql", "expired-keys-in-use.kql", "registries-lagging.kql",
         "configuration-problems.kql", "downgrades-forced.kql"]
    )
    assert "metricName: 'DeadLetteredCount'" in code
    assert "emailReceivers:" in code and "webhookReceivers:" in code


def test_the_workbook_is_deployed_from_its_file() -> None:
    code = _code(INFRA / "app" / "workbook.bicep")
    assert "serializedData: loadTextContent('../workbook/rotation-workbook.json')" in code
    assert json.loads((INFRA / "workbook" / "rotation-workbook.json").read_text())["version"] == "Notebook/1.0"
    assert "module workbook 'app/workbook.bicep'" in _code(INFRA / "main.bicep")


def test_every_file_a_template_loads_or_calls_exists() -> None:
    for path in bicep_files():
        code = _code(path)
        for relative in re.findall(r"load(?:Text|Json|YamlFile)Content\('([^']+)'", code):
            assert (path.parent / relative).is_file(), f"{path.name} loads {relative}, which is missing"
        for relative in re.findall(r"^module \w+ '([^':]+\.bicep)'", code, re.M):
            assert (path.parent / relative).is_file(), f"{path.name} calls {relative}, which is missing"


def test_the_parameters_file_only_names_template_parameters() -> None:
    params = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    declared = parse(INFRA / "main.bicep")["parameters"]
    assert set(params) <= set(declared)
    assert params["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert params["location"]["value"] == "${AZURE_LOCATION}"
    required = {n for n, p in declared.items() if "default" not in p}
    assert required <= set(params), f"required but not in main.parameters.json: {required - set(params)}"


def test_every_template_parameter_can_be_set_from_the_azd_environment_with_the_same_default() -> None:
    params = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    declared = parse(INFRA / "main.bicep")["parameters"]
    assert set(params) == set(declared), f"not settable with azd env set: {set(declared) - set(params)}"
    for name, p in declared.items():
        if p.get("default") is None:  # required: environmentName, location (checked above)
            continue
        match = re.fullmatch(r"\$\{([A-Z_]+)=(.*)\}", params[name]["value"])
        assert match, f"{name}: expected ${{AZD_VARIABLE=default}}"
        default = p["default"]
        expected = str(default).lower() if isinstance(default, bool) else str(default)
        assert match[2] == expected, f"{name}: azd default {match[2]!r}, template default {expected!r}"


def test_azure_yaml_deploys_the_app_and_runs_the_postdeploy_hook() -> None:
    azure = yaml.safe_load((ROOT / "azure.yaml").read_text())
    service = azure["services"]["rotation"]
    assert service["host"] == "function" and service["language"] == "python" and service["project"] == "."
    assert "serviceName string = 'rotation'" in _text("app/function.bicep")  # the azd-service-name tag
    hooks = azure["hooks"]["postdeploy"]
    for platform in ("posix", "windows"):
        assert (ROOT / hooks[platform]["run"]).is_file()
    hook = (INFRA / "hooks" / "postdeploy.sh").read_text()
    outputs = set(parse(INFRA / "main.bicep")["outputs"])
    for name in set(re.findall(r"\$\{([A-Z_]+)[:}]", hook)) - {"AZURE_ENV_NAME", "AZURE_SUBSCRIPTION_ID",
                                                                  "CREATE_EVENT_SUBSCRIPTIONS"}:
        assert name in outputs or name == "AZURE_LOCATION", f"the hook reads {name}, which main.bicep does not output"
    assert "eventgrid-subscriptions.bicep" in hook


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX shell")
def test_the_postdeploy_hook_is_valid_shell() -> None:
    subprocess.run(["sh", "-n", str(INFRA / "hooks" / "postdeploy.sh")], check=True)
