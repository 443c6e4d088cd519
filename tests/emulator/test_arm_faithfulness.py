"""Stand-in registry responses against the 2025-11-01 OpenAPI extract and the real azure-cli recording.

The schema and recording live in ../shared/azure-wire (absent in users' clones: those tests skip).
The facts relied on are also pinned in tests/fixtures/acr-arm/pinned-wire-facts.json, checked always.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from azure.identity import DefaultAzureCredential
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from standin_seed import FAST, Seed, encryption_update, kid

from emulator import AzureStandIn
from tests.reference import ABSENT, AZURE_WIRE

pytestmark = pytest.mark.standin

ROOT = Path(__file__).resolve().parents[2]
WIRE = AZURE_WIRE
PINNED = json.loads((ROOT / "tests/fixtures/acr-arm/pinned-wire-facts.json").read_text())
COMMON_PREFIX = "../../../../../../common-types/resource-management/v6/types.json#/definitions/"
needs_wire = pytest.mark.skipif(not WIRE.is_dir(), reason=ABSENT)


def _capture(az: AzureStandIn) -> tuple[Seed, dict[str, Any]]:
    """A CMK registry rotated once by the app, with every raw ARM answer kept (url -> list of answers)."""
    seen: dict[str, Any] = {"answers": []}

    def hook(response: Any) -> None:
        http = response.http_response
        body = http.read().decode()  # LRO initial answers are streamed; read() caches them for the SDK
        seen["answers"].append({"method": http.request.method, "url": http.request.url, "status": http.status_code,
                                "headers": dict(http.headers), "body": json.loads(body) if body else None})

    seed = Seed(az)
    _, ident, key = seed.cmk_setup(versions=2)
    reg = seed.registry(identity=ident, key_id=kid(key, 0))
    client = ContainerRegistryManagementClient(DefaultAzureCredential(), seed.sub, raw_response_hook=hook)
    client.registries.begin_update(seed.rg, reg.name, encryption_update(kid(key, 1), ident.client_id),
                                   **FAST).result()
    list(client.registries.list())
    seen.update(name=reg.name, key=key, ident=ident)
    return seed, seen


def _answers(seen: dict[str, Any], method: str, pattern: str) -> list[dict[str, Any]]:
    return [a for a in seen["answers"] if a["method"] == method and re.search(pattern, a["url"].split("?")[0])]


def _validator(definition: str) -> jsonschema.protocols.Validator:
    spec = json.loads((WIRE / "acr-arm/containerregistry.2025-11-01.extract.json").read_text())
    common = json.loads((WIRE / "acr-arm/common-types-v6.extract.json").read_text())

    def fix(node: Any, prefix: str) -> Any:
        """Point refs into the common-types file (and that file's own refs) at 'common.*' definitions."""
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(prefix):
                node = {**node, "$ref": "#/definitions/common." + ref[len(prefix):]}
            return {k: fix(v, prefix) for k, v in node.items()}
        if isinstance(node, list):
            return [fix(v, prefix) for v in node]
        return node

    defs = fix(spec["definitions"], COMMON_PREFIX)
    defs.update({f"common.{k}": fix(v, "#/definitions/") for k, v in common["definitions"].items()})
    # Documented spec-vs-service difference (NOTES.md): the service answers identity types in lower camel case.
    lower_camel = ["systemAssigned", "userAssigned", "systemAssigned, userAssigned"]
    ident_type = defs["ResourceIdentityType"]
    defs["ResourceIdentityType"] = {**ident_type, "enum": [*ident_type["enum"], *lower_camel]}
    schema = {"$ref": f"#/definitions/{definition}", "definitions": defs}
    return jsonschema.Draft4Validator(schema)


@needs_wire
def test_get_list_patch_bodies_validate_against_the_2025_11_01_schema(az: AzureStandIn) -> None:
    _, seen = _capture(az)
    registry = _validator("Registry")
    gets = _answers(seen, "GET", r"/registries/[^/]+$")
    patches = _answers(seen, "PATCH", r"/registries/[^/]+$")
    lists = _answers(seen, "GET", r"/registries$")
    assert gets and patches and lists
    for answer in gets + patches:
        registry.validate(answer["body"])
    for answer in lists:
        _validator("RegistryListResult").validate(answer["body"])
    # The schema really bites: a wrong type is caught.
    broken = copy.deepcopy(gets[-1]["body"])
    broken["properties"]["encryption"]["keyVaultProperties"]["keyRotationEnabled"] = "no"
    with pytest.raises(jsonschema.ValidationError):
        registry.validate(broken)


@needs_wire
def test_pinned_facts_match_the_recording() -> None:
    yaml = pytest.importorskip("yaml")
    recording = yaml.safe_load((WIRE / "recordings/azure-cli/test_acr_encryption_with_cmk.yaml").read_text())
    final = json.loads(recording["interactions"][19]["response"]["body"]["string"])
    patch = recording["interactions"][16]["response"]
    assert sorted(final) == PINNED["registry_top_level_keys"]
    assert sorted(final["properties"]) == PINNED["registry_property_keys"]
    assert final["identity"]["type"] == PINNED["identity_type_user_assigned"]
    assert final["properties"]["encryption"] == PINNED["encryption_after_rotation"]
    assert patch["status"]["code"] == PINNED["patch_status"]


def test_shape_matches_the_recorded_real_registry(az: AzureStandIn) -> None:
    _, seen = _capture(az)
    body = _answers(seen, "GET", r"/registries/[^/]+$")[-1]["body"]
    assert sorted(body) == PINNED["registry_top_level_keys"]
    expected_props = (set(PINNED["registry_property_keys"]) - set(PINNED["preview_only_property_keys"])
                      | set(PINNED["stable_2025_11_01_added_property_keys"]))
    assert set(body["properties"]) == expected_props
    assert set(body["properties"]["policies"]) == (set(PINNED["registry_policy_keys"])
                                                   - set(PINNED["preview_only_policy_keys"]))
    assert sorted(body["identity"]) == PINNED["identity_keys"]
    assert body["identity"]["type"] == PINNED["identity_type_user_assigned"]
    [(ua_key, ua_value)] = body["identity"]["userAssignedIdentities"].items()
    assert "/resourcegroups/" in ua_key and "/resourceGroups/" in body["id"]
    assert sorted(ua_value) == PINNED["user_assigned_identity_value_keys"]
    assert sorted(body["systemData"]) == PINNED["system_data_keys"]
    assert body["sku"] == PINNED["sku"]
    kvp = body["properties"]["encryption"]["keyVaultProperties"]
    assert sorted(kvp) == PINNED["encryption_keyvault_property_keys_after_rotation"]
    assert kvp["keyIdentifier"] == kvp["versionedKeyIdentifier"] and kvp["keyRotationEnabled"] is False
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}\+00:00$")
    for value in (kvp["lastKeyRotationTimestamp"], body["systemData"]["createdAt"]):
        assert stamp.match(value)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$", body["properties"]["creationDate"])


def test_patch_and_operation_status_match_the_recorded_exchange(az: AzureStandIn) -> None:
    _, seen = _capture(az)
    [patch] = _answers(seen, "PATCH", r"/registries/[^/]+$")
    assert patch["status"] == PINNED["patch_status"]
    assert patch["body"]["properties"]["provisioningState"] == PINNED["patch_provisioning_state"]
    url = patch["headers"]["Azure-AsyncOperation"]
    path, query = url.split("?")
    pattern = re.escape(PINNED["operation_status_path_pattern"]).replace(r"\{uuid\}", "[0-9a-f-]{36}")
    pattern = re.sub(r"\\\{[a-z]+\\\}", "[^/]+", pattern)
    assert re.match(r"^https://management\.azure\.com" + pattern + "$", path)
    assert sorted(p.split("=")[0] for p in query.split("&")) == PINNED["operation_status_query_keys"]
    assert "Retry-After" not in patch["headers"]  # as recorded: clients must choose their polling interval
    polls = [a["body"] for a in _answers(seen, "GET", r"/operationStatuses/")]
    assert polls[-1] == PINNED["operation_status_bodies"][-1]
    assert all(p in PINNED["operation_status_bodies"] for p in polls)
