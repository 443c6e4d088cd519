"""Container Registry ARM (2025-11-01) through azure-mgmt-containerregistry 15: CRUD, paging, the
long-running PATCH and ACR's customer-managed-key rules."""

from __future__ import annotations

import threading

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import DefaultAzureCredential
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerregistry import models as acr
from standin_seed import FAST, Seed, encryption_update, kid

from emulator import AzureStandIn

pytestmark = pytest.mark.standin


def _code(err: HttpResponseError) -> str:
    assert err.error is not None
    return str(err.error.code)


def test_create_get_delete(az: AzureStandIn) -> None:
    seed = Seed(az)
    _, ident, key = seed.cmk_setup()
    created = seed.registry(identity=ident, key_id=kid(key))
    got = seed.acr.registries.get(seed.rg, created.name)
    assert got.id == f"/subscriptions/{seed.sub}/resourceGroups/{seed.rg}/providers/" \
                     f"Microsoft.ContainerRegistry/registries/{created.name}"
    assert got.properties.provisioning_state == "Succeeded"
    assert got.properties.login_server == f"{created.name}.azurecr.io"
    assert got.sku.name == "Premium" and got.sku.tier == "Premium"
    assert got.identity.type == "userAssigned"
    [(ua_id, ua)] = got.identity.user_assigned_identities.items()
    assert "/resourcegroups/" in ua_id and ua.client_id == ident.client_id
    kvp = got.properties.encryption.key_vault_properties
    assert (kvp.key_rotation_enabled, kvp.versioned_key_identifier) == (False, kid(key))
    assert kvp.last_key_rotation_timestamp is None  # only set by a change
    assert got.system_data.created_by_type == "Application"
    seed.acr.registries.begin_delete(seed.rg, created.name, **FAST).result()
    with pytest.raises(ResourceNotFoundError) as err:
        seed.acr.registries.get(seed.rg, created.name)
    assert _code(err.value) == "ResourceNotFound"


def test_list_per_subscription_and_resource_group_is_paged(az: AzureStandIn) -> None:
    az.world.settings.arm_page_size = 2
    seed, other_rg = Seed(az), Seed(az, rg="rg-other")
    mine = {seed.registry(sku="Standard").name for _ in range(3)}
    theirs = {other_rg.registry(sku="Basic").name for _ in range(2)}
    Seed(az, subscription_id=az.subscription_ids[1]).registry(sku="Basic")  # another subscription
    client = ContainerRegistryManagementClient(DefaultAzureCredential(), seed.sub)
    assert {r.name for r in client.registries.list()} == mine | theirs
    assert {r.name for r in client.registries.list_by_resource_group(seed.rg)} == mine
    pages = [r for r in az.requests if r["path"].endswith("/registries") and r["method"] == "GET"]
    assert any("$skipToken" in r["query"] for r in pages)  # the SDK followed nextLink


def test_patch_is_long_running_201_updating_then_succeeded(az: AzureStandIn) -> None:
    seed = Seed(az)
    _, ident, key = seed.cmk_setup(versions=2)
    reg = seed.registry(identity=ident, key_id=kid(key, 0))
    client = ContainerRegistryManagementClient(DefaultAzureCredential(), seed.sub)
    poller = client.registries.begin_update(seed.rg, reg.name, encryption_update(kid(key, 1), ident.client_id),
                                            **FAST)
    during = seed.acr.registries.get(seed.rg, reg.name)
    assert during.properties.provisioning_state == "Updating"
    done = poller.result()
    assert done.properties.provisioning_state == "Succeeded"
    kvp = done.properties.encryption.key_vault_properties
    assert kvp.versioned_key_identifier == kid(key, 1) and kvp.key_rotation_enabled is False
    assert kvp.last_key_rotation_timestamp is not None
    patch = next(r for r in az.requests if r["method"] == "PATCH")
    assert patch["status"] == 201 and patch["principal"] == az.principal_id
    assert patch["body"] == {"properties": {"encryption": {"status": "enabled", "keyVaultProperties": {
        "keyIdentifier": kid(key, 1), "identity": ident.client_id}}}}
    polls = [r for r in az.requests if "/operationStatuses/" in r["path"]]
    assert polls and all(r["query"]["api-version"] == "2025-11-01" for r in polls)


def test_second_patch_while_updating_is_409(az: AzureStandIn) -> None:
    az.world.settings.lro_seconds = 5  # the first update stays in flight for the whole test
    seed = Seed(az)
    _, ident, key = seed.cmk_setup(versions=2)
    reg = seed.registry(identity=ident, key_id=kid(key, 0))
    seed.acr.registries.begin_update(seed.rg, reg.name, encryption_update(kid(key, 1), ident.client_id), **FAST)
    with pytest.raises(HttpResponseError) as err:
        seed.acr.registries.begin_update(seed.rg, reg.name, acr.RegistryUpdateParameters(tags={"a": "b"}), **FAST)
    assert err.value.status_code == 409
    az.world.advance(5)  # move the stand-in's clock instead of sleeping
    assert seed.acr.registries.get(seed.rg, reg.name).properties.provisioning_state == "Succeeded"
    seed.acr.registries.begin_update(seed.rg, reg.name, acr.RegistryUpdateParameters(tags={"a": "b"}), **FAST)


def test_versionless_key_follows_newest_enabled_version_after_lag(az: AzureStandIn) -> None:
    az.world.settings.versionless_lag_s = 3600
    seed = Seed(az)
    _, ident, key = seed.cmk_setup()
    reg = seed.registry(identity=ident, key_id=kid(key, None))
    kvp = reg.properties.encryption.key_vault_properties
    assert kvp.key_rotation_enabled is True and kvp.versioned_key_identifier == kid(key, 0)
    with az.world.lock:
        key.versions.append(seed.version(created=int(az.world.now())))
    get = seed.acr.registries.get
    assert get(seed.rg, reg.name).properties.encryption.key_vault_properties.versioned_key_identifier == kid(key, 0)
    az.world.advance(3601)
    after = get(seed.rg, reg.name).properties.encryption.key_vault_properties
    assert after.versioned_key_identifier == kid(key, 1)
    assert after.key_identifier == kid(key, None) and after.last_key_rotation_timestamp is not None
    with az.world.lock:  # a disabled newer version is not followed
        key.versions.append(seed.version(created=int(az.world.now()) - 3700, enabled=False))
    assert get(seed.rg, reg.name).properties.encryption.key_vault_properties.versioned_key_identifier == kid(key, 1)


def test_versionless_without_lag_follows_at_once(az: AzureStandIn) -> None:
    seed = Seed(az)
    _, ident, key = seed.cmk_setup()
    reg = seed.registry(identity=ident, key_id=kid(key, None))
    with az.world.lock:
        key.versions.append(seed.version(created=int(az.world.now()) + 1))
    az.world.advance(2)
    got = seed.acr.registries.get(seed.rg, reg.name).properties.encryption.key_vault_properties
    assert got.versioned_key_identifier == kid(key, 1)


def test_ec_key_is_rejected(az: AzureStandIn) -> None:
    seed = Seed(az)
    _, ident, key = seed.cmk_setup(kty="EC")
    with pytest.raises(HttpResponseError) as err:
        seed.registry(identity=ident, key_id=kid(key))
    assert err.value.status_code == 400 and _code(err.value) == "UnsupportedKeyType"
    assert "RSA or RSA-HSM" in str(err.value)


def test_rsa_hsm_key_is_accepted(az: AzureStandIn) -> None:
    seed = Seed(az)
    _, ident, key = seed.cmk_setup(kty="RSA-HSM")
    assert seed.registry(identity=ident, key_id=kid(key)).properties.encryption.status == "enabled"


@pytest.mark.parametrize("case", ["not-premium", "unknown-identity", "missing-version", "disabled-version",
                                  "no-vault", "no-key"])
def test_encryption_rules(az: AzureStandIn, case: str) -> None:
    seed = Seed(az)
    _, ident, key = seed.cmk_setup()
    key_id, identity, sku = kid(key), ident, "Premium"
    if case == "not-premium":
        sku = "Standard"
    elif case == "unknown-identity":
        identity = seed.identity()  # exists, but the key's client id must be the registry's identity
        seed.grant_wrap(identity.principal_id, f"/subscriptions/{seed.sub}")
        bad = acr.Registry(
            location="westeurope", sku=acr.Sku(name="Premium"),
            identity=acr.IdentityProperties(type="UserAssigned",
                                            user_assigned_identities={ident.id: acr.UserIdentityProperties()}),
            properties=acr.RegistryProperties(encryption=acr.EncryptionProperty(
                status="enabled", key_vault_properties=acr.KeyVaultProperties(
                    key_identifier=key_id, identity=identity.client_id))))
        with pytest.raises(HttpResponseError) as err:
            seed.acr.registries.begin_create(seed.rg, "acrunknownid", bad, **FAST)
        assert _code(err.value) == "InvalidEncryptionIdentity"
        return
    elif case == "missing-version":
        key_id = kid(key, None) + "/" + "0" * 32
    elif case == "disabled-version":
        with az.world.lock:
            key.versions[0].enabled = False
    elif case == "no-vault":
        key_id = f"https://nosuchvault.vault.azure.net/keys/{key.name}/{key.versions[0].version}"
    elif case == "no-key":
        key_id = kid(key).replace(key.name, "nosuchkey")
    with pytest.raises(HttpResponseError) as err:
        seed.registry(identity=identity, key_id=key_id, sku=sku)
    assert err.value.status_code == 400
    expected = {"not-premium": "EncryptionNotSupportedForSku", "missing-version": "KeyVersionNotFound",
                "disabled-version": "KeyNotEnabled", "no-vault": "KeyVaultNotFound", "no-key": "KeyNotFound"}
    assert _code(err.value) == expected[case]


def test_cmk_cannot_be_enabled_after_creation_nor_disabled(az: AzureStandIn) -> None:
    seed = Seed(az)
    _, ident, key = seed.cmk_setup()
    plain = seed.registry(identity=ident)
    with pytest.raises(HttpResponseError) as err:
        seed.acr.registries.begin_update(seed.rg, plain.name, encryption_update(kid(key), ident.client_id), **FAST)
    assert _code(err.value) == "EncryptionCannotBeEnabled"
    cmk = seed.registry(identity=ident, key_id=kid(key))
    off = acr.RegistryUpdateParameters(properties=acr.RegistryPropertiesUpdateParameters(
        encryption=acr.EncryptionProperty(status="disabled")))
    with pytest.raises(HttpResponseError) as err:
        seed.acr.registries.begin_update(seed.rg, cmk.name, off, **FAST)
    assert _code(err.value) == "EncryptionCannotBeDisabled"


def test_system_assigned_identity_can_take_over(az: AzureStandIn) -> None:
    seed = Seed(az)
    vault, ident, key = seed.cmk_setup()
    reg = seed.registry(identity=ident, key_id=kid(key))
    both = acr.RegistryUpdateParameters(identity=acr.IdentityProperties(
        type="SystemAssigned, UserAssigned", user_assigned_identities={ident.id: acr.UserIdentityProperties()}))
    updated = seed.acr.registries.begin_update(seed.rg, reg.name, both, **FAST).result()
    assert updated.identity.type == "systemAssigned, userAssigned" and updated.identity.principal_id
    with pytest.raises(HttpResponseError):  # no wrap role yet for the system identity
        seed.acr.registries.begin_update(seed.rg, reg.name, encryption_update(kid(key), "system"), **FAST)
    seed.grant_wrap(updated.identity.principal_id, f"{vault.id}/keys/{key.name}")  # key scope is enough
    done = seed.acr.registries.begin_update(seed.rg, reg.name, encryption_update(kid(key), "system"), **FAST).result()
    assert done.properties.encryption.key_vault_properties.identity == "system"


def test_concurrent_updates_of_different_registries(az: AzureStandIn) -> None:
    seed = Seed(az)
    _, ident, key = seed.cmk_setup(versions=2)
    names = [seed.registry(identity=ident, key_id=kid(key, 0)).name for _ in range(4)]
    client = ContainerRegistryManagementClient(DefaultAzureCredential(), seed.sub)
    errors: list[BaseException] = []

    def rotate(name: str) -> None:
        try:
            client.registries.begin_update(seed.rg, name, encryption_update(kid(key, 1), ident.client_id),
                                           **FAST).result()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=rotate, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {client.registries.get(seed.rg, n).properties.encryption.key_vault_properties.versioned_key_identifier
            for n in names} == {kid(key, 1)}


def test_keys_from_the_key_vault_data_plane_drive_cmk_end_to_end(az: AzureStandIn) -> None:
    from azure.keyvault.keys import KeyClient

    seed = Seed(az)
    vault = seed.vault()
    ident = seed.identity()
    seed.grant_wrap(ident.principal_id, vault.id)
    admin_keys = KeyClient(vault.properties.vault_uri, az.admin_credential)
    first = admin_keys.create_rsa_key("cmk", size=2048)
    reg = seed.registry(identity=ident, key_id=str(first.id))
    second = admin_keys.rotate_key("cmk")
    # The app reads the new version with its own identity and moves the registry to it.
    app = DefaultAzureCredential()
    latest = KeyClient(vault.properties.vault_uri, app).get_key("cmk")
    assert latest.id == second.id
    client = ContainerRegistryManagementClient(app, seed.sub)
    done = client.registries.begin_update(seed.rg, reg.name, encryption_update(str(latest.id), ident.client_id),
                                          **FAST).result()
    assert done.properties.encryption.key_vault_properties.versioned_key_identifier == second.id
    assert [e["eventType"] for e in az.events].count("Microsoft.KeyVault.KeyNewVersionCreated") == 2
    assert az.tick() == []  # nothing near expiry
    assert az.wait_for_deliveries(timeout=1)
