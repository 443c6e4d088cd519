"""emulator.seed: seeding a CMK setup through the official SDKs, end to end."""

from __future__ import annotations

import secrets

import pytest

from emulator import AzureStandIn, seed


@pytest.mark.standin
def test_seed_a_vault_key_identity_and_two_registries(az: AzureStandIn) -> None:
    sub, rg = az.subscription_ids[0], "rg-seed"
    vault_url = seed.create_vault(az, sub, rg, f"kv-seed-{secrets.token_hex(3)}")
    key = seed.create_key(az, vault_url, "cmk")
    identity_id, client_id, principal_id = seed.create_identity(az, sub, rg, "id-acr")
    vault_id = az.world.vaults[vault_url.split("/")[2]].resource_id
    assignment = seed.grant(az, principal_id, "Key Vault Crypto Service Encryption User", vault_id)
    assert assignment.lower().startswith(vault_id.lower() + "/providers/microsoft.authorization/roleassignments/")

    pinned = seed.create_registry(az, sub, rg, "acrpinned", identity_id, key.id, tags={"env": "test"})
    kvp = pinned.encryption.key_vault_properties
    assert (kvp.key_identifier, kvp.identity, kvp.key_rotation_enabled) == (key.id, client_id, False)
    assert pinned.tags == {"env": "test"}

    versionless = seed.create_registry(az, sub, rg, "acrfollows", identity_id, f"{vault_url}keys/cmk")
    kvp = versionless.encryption.key_vault_properties
    assert kvp.key_rotation_enabled is True and kvp.versioned_key_identifier == key.id

    rotated = seed.rotate_key(az, vault_url, "cmk")
    assert rotated.properties.version != key.properties.version
    props = seed.update_key(az, vault_url, "cmk", key.properties.version, enabled=False)
    assert props.enabled is False
