"""Seeding helpers for stand-in tests: everything goes through the official management SDKs
with the admin credential, except Key Vault keys, which go straight into the world until the
Key Vault data plane is wired in."""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.authorization.models import RoleAssignmentCreateParameters
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerregistry import models as acr
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.keyvault.models import Sku as VaultSku
from azure.mgmt.keyvault.models import SkuFamily, SkuName, VaultCreateOrUpdateParameters, VaultProperties
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.msi.models import Identity

from emulator import AzureStandIn
from emulator.world import KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER, Key, KeyVersion

FAST = {"polling_interval": 0.02}  # the stand-in sends no Retry-After on LROs, like ARM


class Seed:
    def __init__(self, az: AzureStandIn, subscription_id: str | None = None, rg: str = "rg-cmk") -> None:
        self.az = az
        self.sub = subscription_id or az.subscription_ids[0]
        self.rg = rg
        cred = az.admin_credential
        self.acr = ContainerRegistryManagementClient(cred, self.sub)
        self.kv = KeyVaultManagementClient(cred, self.sub)
        self.msi = ManagedServiceIdentityClient(cred, self.sub)
        self.auth = AuthorizationManagementClient(cred, self.sub)

    def vault(self, name: str | None = None) -> Any:
        name = name or f"kv{secrets.token_hex(4)}"
        params = VaultCreateOrUpdateParameters(
            location="westeurope",
            properties=VaultProperties(tenant_id=self.az.world.tenant_id,
                                       sku=VaultSku(family=SkuFamily.A, name=SkuName.STANDARD),
                                       enable_rbac_authorization=True))
        return self.kv.vaults.begin_create_or_update(self.rg, name, params, **FAST).result()

    def identity(self, name: str | None = None) -> Any:
        name = name or f"id-{secrets.token_hex(4)}"
        return self.msi.user_assigned_identities.create_or_update(self.rg, name, Identity(location="westeurope"))

    def key(self, vault_host: str, name: str, kty: str = "RSA", versions: int = 1, created: int | None = None) -> Key:
        """Put a key straight into the world (stand-in for the Key Vault data plane)."""
        world = self.az.world
        now = int(created if created is not None else world.now())
        with world.lock:
            key = world.keys.setdefault((vault_host.lower(), name.lower()), Key(vault_host.lower(), name))
            for i in range(versions):
                key.versions.append(self.version(kty, now + i))
        return key

    @staticmethod
    def version(kty: str = "RSA", created: int | None = None, enabled: bool = True) -> KeyVersion:
        ts = int(created if created is not None else time.time())
        ops = ["sign", "verify"] if kty.startswith("EC") else ["encrypt", "decrypt", "wrapKey", "unwrapKey"]
        return KeyVersion(uuid.uuid4().hex, kty, ops, key_size=2048 if kty.startswith("RSA") else None,
                          curve="P-256" if kty.startswith("EC") else None, enabled=enabled, created=ts, updated=ts)

    def grant_wrap(self, principal_id: str, scope: str) -> Any:
        params = RoleAssignmentCreateParameters(
            role_definition_id=f"/subscriptions/{self.sub}/providers/Microsoft.Authorization/roleDefinitions/"
                               f"{KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER}",
            principal_id=principal_id, principal_type="ServicePrincipal")
        return self.auth.role_assignments.create(scope, str(uuid.uuid4()), params)

    def registry(self, name: str | None = None, identity: Any = None, key_id: str | None = None,
                 sku: str = "Premium", tags: dict[str, str] | None = None) -> Any:
        name = name or f"acr{secrets.token_hex(5)}"
        reg = acr.Registry(location="westeurope", sku=acr.Sku(name=sku), tags=tags or {})
        if identity is not None:
            reg.identity = acr.IdentityProperties(
                type="UserAssigned", user_assigned_identities={identity.id: acr.UserIdentityProperties()})
        if key_id is not None:
            reg.properties = acr.RegistryProperties(encryption=acr.EncryptionProperty(
                status="enabled", key_vault_properties=acr.KeyVaultProperties(
                    key_identifier=key_id, identity=identity.client_id if identity is not None else "system")))
        return self.acr.registries.begin_create(self.rg, name, reg, **FAST).result()

    def cmk_setup(self, kty: str = "RSA", versions: int = 1, wrap: bool = True) -> tuple[Any, Any, Key]:
        """A vault, a key and a user-assigned identity (with wrap/unwrap on the vault unless wrap=False)."""
        vault = self.vault()
        host = vault.properties.vault_uri.split("/")[2]
        key = self.key(host, f"key-{secrets.token_hex(3)}", kty=kty, versions=versions)
        ident = self.identity()
        if wrap:
            self.grant_wrap(ident.principal_id, vault.id)
        return vault, ident, key


def kid(key: Key, version: int | None = -1) -> str:
    base = f"https://{key.vault_host}/keys/{key.name}"
    return base if version is None else f"{base}/{key.versions[version].version}"


def encryption_update(key_id: str, identity: str) -> acr.RegistryUpdateParameters:
    return acr.RegistryUpdateParameters(properties=acr.RegistryPropertiesUpdateParameters(
        encryption=acr.EncryptionProperty(status="enabled", key_vault_properties=acr.KeyVaultProperties(
            key_identifier=key_id, identity=identity))))
