"""Seed the stand-in's Azure state through the official SDKs, as an administrator would.

Used by tests, the demo and benchmarks. Every call goes over HTTPS through the stand-in's proxy
with ``az.admin_credential`` (Owner and Key Vault Administrator on every seeded subscription).
The proxy and CA are passed to each client explicitly, so seeding works whether or not
``az.env`` has been applied to ``os.environ``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from azure.keyvault.keys import KeyClient, KeyProperties, KeyVaultKey
from azure.mgmt.authorization import AuthorizationManagementClient

# The client defaults to api-version 2022-04-01; its models module re-exports another version for typing.
from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerregistry import models as acr
from azure.mgmt.eventgrid import EventGridManagementClient
from azure.mgmt.eventgrid import models as eg
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.keyvault import models as kvm
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.msi.models import Identity

from emulator.world import role_id

if TYPE_CHECKING:
    from emulator.standin import AzureStandIn

POLL_S = 0.02  # stand-in LROs finish in lro_seconds; don't wait ARM's default 30 s


def client_options(az: AzureStandIn) -> dict[str, Any]:
    """Keyword arguments that point an azure-core client at the stand-in (proxy and trusted CA)."""
    return {"proxies": {"https": az.env["HTTPS_PROXY"]}, "connection_verify": az.env["REQUESTS_CA_BUNDLE"]}


def _subscription_of(scope: str, default: str) -> str:
    parts = scope.strip("/").split("/")
    return parts[1] if len(parts) >= 2 and parts[0].lower() == "subscriptions" else default


# ---- Key Vault (management plane) -------------------------------------------------------------

def create_vault(az: AzureStandIn, subscription_id: str, resource_group: str, name: str,
                 location: str = "westeurope", soft_delete_retention_days: int = 90,
                 purge_protection: bool = False) -> str:
    """An RBAC-authorized vault; returns its URL (``https://{name}.vault.azure.net/``)."""
    client = KeyVaultManagementClient(az.admin_credential, subscription_id, **client_options(az))
    props = kvm.VaultProperties(tenant_id=az.world.tenant_id, sku=kvm.Sku(family="A", name="standard"),
                                enable_rbac_authorization=True,
                                soft_delete_retention_in_days=soft_delete_retention_days,
                                enable_purge_protection=purge_protection or None)
    vault = client.vaults.begin_create_or_update(
        resource_group, name, kvm.VaultCreateOrUpdateParameters(location=location, properties=props),
        polling_interval=POLL_S).result()
    return str(vault.properties.vault_uri)


def create_managed_hsm(az: AzureStandIn, subscription_id: str, resource_group: str, name: str,
                       location: str = "westeurope") -> str:
    """A Managed HSM; returns its URL (``https://{name}.managedhsm.azure.net/``)."""
    client = KeyVaultManagementClient(az.admin_credential, subscription_id, **client_options(az))
    hsm = kvm.ManagedHsm(location=location, sku=kvm.ManagedHsmSku(family="B", name="Standard_B1"),
                         properties=kvm.ManagedHsmProperties(tenant_id=az.world.tenant_id,
                                                             initial_admin_object_ids=[az.admin_principal_id]))
    result = client.managed_hsms.begin_create_or_update(resource_group, name, hsm, polling_interval=POLL_S).result()
    assert result.properties is not None
    return str(result.properties.hsm_uri)


# ---- Key Vault keys (data plane) --------------------------------------------------------------

def key_client(az: AzureStandIn, vault_url: str, credential: Any = None) -> KeyClient:
    """A KeyClient on ``vault_url`` (admin unless another credential is given)."""
    return KeyClient(vault_url, credential or az.admin_credential, **client_options(az))


def create_key(az: AzureStandIn, vault_url: str, name: str, kty: str = "RSA", size: int | None = None,
               curve: str | None = None, enabled: bool = True, not_before: datetime | None = None,
               expires_on: datetime | None = None, tags: dict[str, str] | None = None,
               key_ops: list[str] | None = None) -> KeyVaultKey:
    """A new key, or a new version of an existing one (kty: RSA, RSA-HSM, EC, EC-HSM)."""
    with key_client(az, vault_url) as client:
        return client.create_key(name, kty, size=size, curve=curve, enabled=enabled, not_before=not_before,
                                 expires_on=expires_on, tags=tags, key_operations=key_ops)


def rotate_key(az: AzureStandIn, vault_url: str, name: str) -> KeyVaultKey:
    with key_client(az, vault_url) as client:
        return client.rotate_key(name)


def update_key(az: AzureStandIn, vault_url: str, name: str, version: str | None = None,
               **changes: Any) -> KeyProperties:
    """``KeyClient.update_key_properties`` (changes: enabled, not_before, expires_on, tags, key_operations)."""
    with key_client(az, vault_url) as client:
        result: KeyProperties = client.update_key_properties(name, version, **changes).properties
        return result


# ---- identities and role assignments ----------------------------------------------------------

def create_identity(az: AzureStandIn, subscription_id: str, resource_group: str, name: str,
                    location: str = "westeurope") -> tuple[str, str, str]:
    """A user-assigned managed identity; returns (resource_id, client_id, principal_id)."""
    client = ManagedServiceIdentityClient(az.admin_credential, subscription_id, **client_options(az))
    ident = client.user_assigned_identities.create_or_update(resource_group, name, Identity(location=location))
    return str(ident.id), str(ident.client_id), str(ident.principal_id)


def grant(az: AzureStandIn, principal_id: str, role: str, scope: str,
          principal_type: str = "ServicePrincipal") -> str:
    """A role assignment (role: built-in name or id) at ``scope`` through ARM; returns its id."""
    sub = _subscription_of(scope, az.subscription_ids[0])
    client = AuthorizationManagementClient(az.admin_credential, sub, **client_options(az))
    params = RoleAssignmentCreateParameters(
        role_definition_id=f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role_id(role)}",
        principal_id=principal_id, principal_type=principal_type)
    return str(client.role_assignments.create(scope, str(uuid.uuid4()), params).id)


# ---- container registries ---------------------------------------------------------------------

def create_registry(az: AzureStandIn, subscription_id: str, resource_group: str, name: str,
                    identity_id: str | None = None, key_id: str | None = None, sku: str = "Premium",
                    tags: dict[str, str] | None = None, location: str = "westeurope") -> acr.Registry:
    """A registry, with CMK encryption by ``key_id`` (versioned or versionless) through the user-assigned
    identity ``identity_id`` when both are given (``keyVaultProperties.identity`` is its client id)."""
    client = ContainerRegistryManagementClient(az.admin_credential, subscription_id, **client_options(az))
    registry = acr.Registry(location=location, sku=acr.Sku(name=sku), tags=tags or {})
    if identity_id is not None:
        registry.identity = acr.IdentityProperties(
            type="UserAssigned", user_assigned_identities={identity_id: acr.UserIdentityProperties()})
    if key_id is not None:
        client_id = "system"
        if identity_id is not None:
            msi = ManagedServiceIdentityClient(az.admin_credential, _subscription_of(identity_id, subscription_id),
                                               **client_options(az))
            rg, ident_name = identity_id.split("/")[4], identity_id.rstrip("/").split("/")[-1]
            client_id = str(msi.user_assigned_identities.get(rg, ident_name).client_id)
        registry.properties = acr.RegistryProperties(encryption=acr.EncryptionProperty(
            status="enabled", key_vault_properties=acr.KeyVaultProperties(key_identifier=key_id, identity=client_id)))
    return client.registries.begin_create(resource_group, name, registry, polling_interval=POLL_S).result()


# ---- Event Grid (system topic on a vault, and its event subscription) ------------------------------------------

KEY_EVENTS = ("Microsoft.KeyVault.KeyNewVersionCreated", "Microsoft.KeyVault.KeyNearExpiry",
              "Microsoft.KeyVault.KeyExpired")


def create_system_topic(az: AzureStandIn, subscription_id: str, resource_group: str, name: str, vault_id: str,
                        location: str = "westeurope") -> eg.SystemTopic:
    """The vault's Event Grid system topic (one per vault)."""
    client = EventGridManagementClient(az.admin_credential, subscription_id, **client_options(az))
    topic = eg.SystemTopic(location=location, source=vault_id, topic_type="Microsoft.KeyVault.vaults")
    return client.system_topics.begin_create_or_update(resource_group, name, topic,
                                                       polling_interval=POLL_S).result()


def create_event_subscription(az: AzureStandIn, subscription_id: str, resource_group: str, topic: str, name: str,
                              function_id: str | None = None, webhook_url: str | None = None,
                              event_types: tuple[str, ...] = KEY_EVENTS,
                              dead_letter: tuple[str, str] | None = None) -> eg.EventSubscription:
    """A subscription on a system topic delivering ``event_types`` to a function (``AzureStandIn.add_function``
    must know it) or a webhook, with a dead-letter container ``(storage account id, container)`` if given."""
    client = EventGridManagementClient(az.admin_credential, subscription_id, **client_options(az))
    destination: Any = (eg.AzureFunctionEventSubscriptionDestination(resource_id=function_id, max_events_per_batch=1)
                        if function_id else eg.WebHookEventSubscriptionDestination(endpoint_url=webhook_url))
    info = eg.EventSubscription(
        destination=destination, filter=eg.EventSubscriptionFilter(included_event_types=list(event_types)),
        event_delivery_schema="EventGridSchema",
        retry_policy=eg.RetryPolicy(max_delivery_attempts=30, event_time_to_live_in_minutes=1440),
        dead_letter_destination=eg.StorageBlobDeadLetterDestination(
            resource_id=dead_letter[0], blob_container_name=dead_letter[1]) if dead_letter else None)
    return client.system_topic_event_subscriptions.begin_create_or_update(
        resource_group, topic, name, info, polling_interval=POLL_S).result()
