"""A small CMK estate on the stand-in, seeded through the official SDKs: what the demo and the
end-to-end tests start from."""

from __future__ import annotations

from dataclasses import dataclass, field

from emulator import seed
from emulator.standin import AzureStandIn

RESOURCE_GROUP = "rg-registries"
KEY_NAME = "acr-cmk"


@dataclass
class Estate:
    subscription_id: str
    vault_url: str  # https://<vault>.vault.azure.net/
    key_name: str
    identity_id: str
    identity_client_id: str
    registries: dict[str, str] = field(default_factory=dict)  # short name -> resource id
    first_version: str = ""
    key_access_assignment_id: str = ""  # the identity's Crypto Service Encryption User assignment
    identity_principal_id: str = ""

    @property
    def key_url(self) -> str:
        return f"{self.vault_url.rstrip('/')}/keys/{self.key_name}"


def seed_estate(az: AzureStandIn, vault_name: str = "kv-acr-demo", subscription_index: int = 0) -> Estate:
    """A vault with one RSA key, an identity allowed to wrap and unwrap with it, and three Premium
    registries: pinned to the current version, versionless, and pinned but opted out."""
    sub = az.subscription_ids[subscription_index]
    vault_url = seed.create_vault(az, sub, RESOURCE_GROUP, vault_name, purge_protection=True)  # as ACR advises
    key = seed.create_key(az, vault_url, KEY_NAME, "RSA", size=2048)
    identity_id, client_id, principal_id = seed.create_identity(az, sub, RESOURCE_GROUP, "id-acr-cmk")
    vault_id = f"/subscriptions/{sub}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.KeyVault/vaults/{vault_name}"
    access = seed.grant(az, principal_id, "Key Vault Crypto Service Encryption User", vault_id)
    estate = Estate(sub, vault_url, KEY_NAME, identity_id, client_id, first_version=str(key.properties.version),
                    key_access_assignment_id=access, identity_principal_id=principal_id)
    versioned, versionless = str(key.id), estate.key_url
    for short, key_id, tags in (
        ("acrpinned", versioned, {}),
        ("acrversionless", versionless, {}),
        ("acroptedout", versioned, {"cmk-rotation": "off"}),
    ):
        registry = seed.create_registry(az, sub, RESOURCE_GROUP, short, identity_id=identity_id, key_id=key_id,
                                        tags=tags)
        estate.registries[short] = str(registry.id)
    return estate
