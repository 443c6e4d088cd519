"""The registry's side of CMK misconfigurations (README rows R1, R2 and the trusted-services rule), and when ACR
stamps ``lastKeyRotationTimestamp``; through azure-mgmt-containerregistry unchanged."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.identity import DefaultAzureCredential
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerregistry import models as acr
from misconfig_support import error_of, norm

from emulator import AzureStandIn, seed
from emulator.scenario import KEY_NAME, RESOURCE_GROUP, Estate, seed_estate
from tests.reference import AZURE_WIRE, needs_reference

pytestmark = pytest.mark.standin
FAST = {"polling_interval": 0.02}
ACR_TEXTS = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "misconfig" /
                        "acr-cmk-messages.json").read_text())


@pytest.fixture
def demo(az: AzureStandIn) -> Estate:
    return seed_estate(az)


def rotate(demo: Estate, registry: str, key_id: str, identity: str) -> acr.Registry:
    client = ContainerRegistryManagementClient(DefaultAzureCredential(), demo.subscription_id)
    update = acr.RegistryUpdateParameters(properties=acr.RegistryPropertiesUpdateParameters(
        encryption=acr.EncryptionProperty(status="enabled", key_vault_properties=acr.KeyVaultProperties(
            key_identifier=key_id, identity=identity))))
    return client.registries.begin_update(RESOURCE_GROUP, registry, update, **FAST).result()


def new_version(az: AzureStandIn, demo: Estate) -> str:
    return str(seed.rotate_key(az, demo.vault_url, KEY_NAME).id)


def test_identity_deleted_blocks_rotation_with_acrs_text(az: AzureStandIn, demo: Estate) -> None:
    az.misconfig.delete_identity(demo.identity_id)
    with pytest.raises(HttpResponseError) as err:
        rotate(demo, "acrpinned", new_version(az, demo), demo.identity_client_id)
    assert err.value.status_code == 400
    message = error_of(err.value)["message"]
    assert norm(message) == norm(ACR_TEXTS["R1_identity_removed"]["text"].replace("<registry name>", "acrpinned"))
    assert demo.identity_client_id in message and "acrpinned" in message


def test_identity_without_key_access_blocks_rotation_with_acrs_text(az: AzureStandIn, demo: Estate) -> None:
    az.misconfig.revoke(demo.identity_principal_id, "Key Vault Crypto Service Encryption User")
    key_id = new_version(az, demo)
    with pytest.raises(HttpResponseError) as err:
        rotate(demo, "acrpinned", key_id, demo.identity_client_id)
    assert err.value.status_code == 400
    message = error_of(err.value)["message"]
    assert norm(message) == norm(ACR_TEXTS["R2_no_key_access"]["text"])
    assert f"Failed to access KeyId '{key_id}'" in message and f"identity '{demo.identity_client_id}'" in message


def test_firewalled_vault_lets_only_a_system_assigned_identity_through(az: AzureStandIn, demo: Estate) -> None:
    """Trusted services: the registry's system-assigned identity passes bypass=AzureServices, a user-assigned
    one does not (DOC-ACR 2021, MicrosoftDocs/azure-docs#75970)."""
    admin = ContainerRegistryManagementClient(az.admin_credential, demo.subscription_id)
    reg = admin.registries.begin_update(RESOURCE_GROUP, "acrpinned", acr.RegistryUpdateParameters(
        identity=acr.IdentityProperties(type="SystemAssigned, UserAssigned",
                                        user_assigned_identities={demo.identity_id: acr.UserIdentityProperties()})),
        **FAST).result()
    assert reg.identity is not None and reg.identity.principal_id
    vault_id = az.misconfig.vault("kv-acr-demo").resource_id
    seed.grant(az, reg.identity.principal_id, "Key Vault Crypto Service Encryption User", vault_id)
    versions = [new_version(az, demo) for _ in range(3)]  # made before the firewall shuts the admin out too
    az.misconfig.firewall("kv-acr-demo", "Deny")
    with pytest.raises(HttpResponseError) as err:
        rotate(demo, "acrpinned", versions[0], demo.identity_client_id)
    assert norm(error_of(err.value)["message"]) == norm(ACR_TEXTS["R2_no_key_access"]["text"])
    done = rotate(demo, "acrpinned", versions[1], "system")
    assert done.encryption is not None and done.encryption.key_vault_properties is not None
    assert done.encryption.key_vault_properties.identity == "system"
    az.misconfig.firewall("kv-acr-demo", "Deny", bypass="None")
    with pytest.raises(HttpResponseError) as err:
        rotate(demo, "acrpinned", versions[2], "system")
    assert "Failed to access KeyId" in error_of(err.value)["message"]


def test_last_key_rotation_timestamp_appears_when_acr_accepts_the_patch(az: AzureStandIn, demo: Estate) -> None:
    answers: list[dict[str, object]] = []

    def hook(response: object) -> None:
        http = response.http_response  # type: ignore[attr-defined]
        if http.request.method == "PATCH":
            answers.append(json.loads(http.read().decode()))

    client = ContainerRegistryManagementClient(DefaultAzureCredential(), demo.subscription_id, raw_response_hook=hook)
    kvp = client.registries.get(RESOURCE_GROUP, "acrpinned").encryption.key_vault_properties  # type: ignore[union-attr]
    assert kvp is not None and kvp.last_key_rotation_timestamp is None and kvp.key_rotation_enabled is False
    update = acr.RegistryUpdateParameters(properties=acr.RegistryPropertiesUpdateParameters(
        encryption=acr.EncryptionProperty(status="enabled", key_vault_properties=acr.KeyVaultProperties(
            key_identifier=new_version(az, demo), identity=demo.identity_client_id))))
    client.registries.begin_update(RESOURCE_GROUP, "acrpinned", update, **FAST).result()
    [patched] = answers
    stamp = patched["properties"]["encryption"]["keyVaultProperties"]["lastKeyRotationTimestamp"]  # type: ignore[index]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}\+00:00", stamp)


@needs_reference
def test_pinned_acr_texts_are_the_references() -> None:
    readme = (AZURE_WIRE / "misconfig" / "README.md").read_text()
    for entry in ACR_TEXTS.values():
        if isinstance(entry, dict):
            assert entry["text"] in readme
