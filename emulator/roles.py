"""Built-in role definitions (their permissions), and the action matching Azure RBAC does with them.

The permissions are those of Azure's built-in roles as documented in "Azure built-in roles"
(learn.microsoft.com/azure/role-based-access-control/built-in-roles), trimmed to the resource
providers the stand-in serves: a role's other actions could never match a request here. The
effective-permissions API (``.../providers/Microsoft.Authorization/permissions``) answers from them,
and ``World.allows`` decides with them for the resources added for misconfigurations (Event Grid,
provider registration, crypto operations). The older ``world.PERMISSIONS`` table must agree with them
(tests/emulator/test_misconfig_rbac.py checks it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from emulator import world as w

_KV_CONTROL = ("Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Resources/deployments/*",
               "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Support/*",
               "Microsoft.KeyVault/checkNameAvailability/read", "Microsoft.KeyVault/deletedVaults/read",
               "Microsoft.KeyVault/locations/*/read", "Microsoft.KeyVault/vaults/*/read",
               "Microsoft.KeyVault/operations/read")


@dataclass(frozen=True)
class RoleDefinition:
    name: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()


DEFINITIONS: dict[str, RoleDefinition] = {
    w.OWNER: RoleDefinition("Owner", ("*",)),
    w.CONTRIBUTOR: RoleDefinition("Contributor", ("*",), (
        "Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
        "Microsoft.Authorization/elevateAccess/Action", "Microsoft.Blueprint/blueprintAssignments/write",
        "Microsoft.Blueprint/blueprintAssignments/delete", "Microsoft.Compute/galleries/share/action",
        "Microsoft.Purview/consents/write", "Microsoft.Purview/consents/delete",
        "Microsoft.Resources/deploymentStacks/manageDenySetting/action", "Microsoft.Subscription/cancel/action",
        "Microsoft.Subscription/enable/action")),
    w.READER: RoleDefinition("Reader", ("*/read",)),
    w.USER_ACCESS_ADMINISTRATOR: RoleDefinition("User Access Administrator",
                                                ("*/read", "Microsoft.Authorization/*", "Microsoft.Support/*")),
    w.KEY_VAULT_ADMINISTRATOR: RoleDefinition("Key Vault Administrator", _KV_CONTROL,
                                              data_actions=("Microsoft.KeyVault/vaults/*",)),
    w.KEY_VAULT_READER: RoleDefinition("Key Vault Reader", _KV_CONTROL, data_actions=(
        "Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/secrets/readMetadata/action")),
    w.KEY_VAULT_CRYPTO_OFFICER: RoleDefinition("Key Vault Crypto Officer", _KV_CONTROL, data_actions=(
        "Microsoft.KeyVault/vaults/keys/*", "Microsoft.KeyVault/vaults/keyrotationpolicies/*")),
    w.KEY_VAULT_CRYPTO_USER: RoleDefinition("Key Vault Crypto User", data_actions=tuple(
        f"Microsoft.KeyVault/vaults/keys/{a}" for a in (
            "read", "update/action", "backup/action", "encrypt/action", "decrypt/action", "wrap/action",
            "unwrap/action", "sign/action", "verify/action"))),
    w.KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER: RoleDefinition(
        "Key Vault Crypto Service Encryption User",
        ("Microsoft.EventGrid/eventSubscriptions/write", "Microsoft.EventGrid/eventSubscriptions/read",
         "Microsoft.EventGrid/eventSubscriptions/delete"),
        data_actions=("Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/wrap/action",
                      "Microsoft.KeyVault/vaults/keys/unwrap/action")),
    w.MANAGED_HSM_CRYPTO_SERVICE_ENCRYPTION_USER: RoleDefinition(
        "Managed HSM Crypto Service Encryption User",
        data_actions=("Microsoft.KeyVault/managedHsm/keys/read/action",
                      "Microsoft.KeyVault/managedHsm/keys/wrap/action",
                      "Microsoft.KeyVault/managedHsm/keys/unwrap/action")),
    w.CONTAINER_REGISTRY_CONTRIBUTOR_AND_DATA_ACCESS_CONFIG_ADMIN: RoleDefinition(
        "Container Registry Contributor and Data Access Configuration Administrator", (
            "Microsoft.Authorization/*/read", "Microsoft.ContainerRegistry/registries/operationStatuses/read",
            "Microsoft.ContainerRegistry/registries/read", "Microsoft.ContainerRegistry/registries/write",
            "Microsoft.ContainerRegistry/registries/delete",
            "Microsoft.ContainerRegistry/registries/importImage/action",
            "Microsoft.ContainerRegistry/registries/listCredentials/action",
            "Microsoft.ContainerRegistry/registries/regenerateCredential/action",
            "Microsoft.ContainerRegistry/registries/scopeMaps/*", "Microsoft.ContainerRegistry/registries/tokens/*",
            "Microsoft.Insights/alertRules/*", "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Support/*")),
    w.MANAGED_IDENTITY_OPERATOR: RoleDefinition("Managed Identity Operator", (
        "Microsoft.ManagedIdentity/userAssignedIdentities/*/read",
        "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "Microsoft.Authorization/*/read",
        "Microsoft.Insights/alertRules/*", "Microsoft.Resources/subscriptions/resourceGroups/read",
        "Microsoft.Resources/deployments/*", "Microsoft.Support/*")),
    w.MONITORING_METRICS_PUBLISHER: RoleDefinition("Monitoring Metrics Publisher", (
        "Microsoft.Insights/Register/Action", "Microsoft.Support/*",
        "Microsoft.Resources/subscriptions/resourceGroups/read"),
        data_actions=("Microsoft.Insights/Metrics/Write", "Microsoft.Insights/Telemetry/Write")),
    w.EVENTGRID_CONTRIBUTOR: RoleDefinition("EventGrid Contributor", (
        "Microsoft.Authorization/*/read", "Microsoft.EventGrid/*", "Microsoft.Insights/alertRules/*",
        "Microsoft.Resources/deployments/*", "Microsoft.Resources/subscriptions/resourceGroups/read",
        "Microsoft.Support/*")),
    w.EVENTGRID_EVENTSUBSCRIPTION_READER: RoleDefinition("EventGrid EventSubscription Reader", (
        "Microsoft.Authorization/*/read", "Microsoft.EventGrid/eventSubscriptions/read",
        "Microsoft.EventGrid/topicTypes/eventSubscriptions/read",
        "Microsoft.EventGrid/locations/eventSubscriptions/read",
        "Microsoft.EventGrid/locations/topicTypes/eventSubscriptions/read",
        "Microsoft.Resources/subscriptions/resourceGroups/read")),
    w.KEY_VERSION_RETIREMENT: RoleDefinition("ACR CMK Key Version Retirement", data_actions=(
        "Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/update/action")),
}

@lru_cache(maxsize=512)
def _pattern(action: str) -> re.Pattern[str]:
    """``*`` matches anything; a ``/*/`` segment also matches none (Managed Identity Operator's
    ``userAssignedIdentities/*/assign/action`` grants ``userAssignedIdentities/assign/action``)."""
    text = ".*".join(re.escape(part) for part in action.split("*"))
    return re.compile("^" + text.replace("/.*/", "/(?:.*/)?") + "$", re.IGNORECASE)


def matches(patterns: tuple[str, ...], action: str) -> bool:
    return any(_pattern(p).match(action) for p in patterns)


def grants(role: str, action: str, data: bool = False) -> bool:
    """Whether the built-in role ``role`` (bare id) permits ``action`` (a data action when ``data``)."""
    d = DEFINITIONS.get(role)
    if d is None:
        return False
    allow, deny = (d.data_actions, d.not_data_actions) if data else (d.actions, d.not_actions)
    return matches(allow, action) and not matches(deny, action)


def allows(world: w.World, principal_id: str | None, action: str, scope: str, data: bool = False) -> bool:
    """Azure RBAC's decision for ``action`` at ``scope``: some applicable assignment's role grants it."""
    return any(grants(ra.role_definition_id, action, data) for ra in world.assignments_for(principal_id, scope))
