"""Best-effort reads for diagnosis: how each vault authorizes, and which roles an identity holds on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from azure.core.exceptions import AzureError
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.keyvault import KeyVaultManagementClient

from shared.adapters.errors import Call, translate
from shared.errors import RotationError
from shared.model import VaultAccess
from shared.reasons import Reason
from shared.retirement import Unwrappers
from shared.retirement_access import UNWRAP, UNWRAP_POLICY_PERMISSIONS, PermissionSet, grants


def _error(exc: Exception, what: str) -> RotationError:
    return translate(exc, Call(what, not_found=Reason.KEY_NOT_FOUND))


def _text(value: Any, default: str) -> str:
    """An SDK enum or a plain string, lower-cased (``str()`` of an azure-core enum is its name, not its value)."""
    return str(getattr(value, "value", value) or default).lower()


def _network(props: Any) -> tuple[str, bool]:
    """How the vault takes public traffic: publicNetworkAccess Disabled overrides networkAcls; absent acls: open."""
    acls = props.network_acls
    bypass = _text(getattr(acls, "bypass", None), "AzureServices") == "azureservices"
    if _text(props.public_network_access, "Enabled") == "disabled":
        return "closed", bypass
    if acls is not None and _text(acls.default_action, "Allow") == "deny":
        return "firewalled", bypass
    return "open", bypass


def _permission_sets(definition: Any) -> list[PermissionSet]:
    return [PermissionSet(tuple(p.data_actions or ()), tuple(p.not_data_actions or ()))
            for p in (definition.permissions or ())]


def _policy_unwrappers(vault: Any) -> Unwrappers:
    """Access policies that allow unwrapKey: their object ids; a compound (application-bound) one is unsettled."""
    principals, unsettled = set(), []
    for policy in vault.properties.access_policies or ():
        keys = {str(getattr(k, "value", k)).lower() for k in (policy.permissions.keys_property or ())} \
            if policy.permissions is not None else set()
        if not keys & UNWRAP_POLICY_PERMISSIONS:
            continue
        if policy.application_id:
            unsettled.append(f"access policy for {policy.object_id} bound to application {policy.application_id}")
        else:
            principals.add(str(policy.object_id).lower())
    return Unwrappers(frozenset(principals), tuple(unsettled))


class AccessAdapter:
    def __init__(self, vaults_for: Callable[[str], KeyVaultManagementClient],
                 authorization_for: Callable[[str], AuthorizationManagementClient]) -> None:
        self._vaults_for = vaults_for
        self._authorization_for = authorization_for

    def list_vaults(self, subscription_id: str) -> list[VaultAccess]:
        try:
            vaults = list(self._vaults_for(subscription_id).vaults.list_by_subscription())
        except AzureError as exc:
            raise _error(exc, f"listing vaults in subscription {subscription_id}") from None
        found = []
        for vault in vaults:
            props = vault.properties
            policies = {
                str(p.object_id).lower(): frozenset(str(getattr(k, "value", k)).lower()
                                                     for k in (p.permissions.keys_property or ()))
                for p in (props.access_policies or ()) if p.object_id and p.permissions is not None
            }
            found.append(VaultAccess(str(vault.id), str(vault.name).lower(), bool(props.enable_rbac_authorization),
                                     policies, bool(props.enable_purge_protection), *_network(props)))
        return found

    def list_deleted_vault_names(self, subscription_id: str) -> list[str]:
        try:
            return [str(v.name).lower() for v in self._vaults_for(subscription_id).vaults.list_deleted()]
        except AzureError as exc:
            raise _error(exc, f"listing deleted vaults in subscription {subscription_id}") from None

    def role_ids(self, principal_id: str, vault_id: str, key_name: str) -> frozenset[str]:
        """Role definition ids the principal holds on the vault (at or above it) or on this key."""
        subscription_id = vault_id.split("/")[2]
        key_scope = f"{vault_id}/keys/{key_name}".lower()
        vault_scope = vault_id.lower() + "/"
        try:
            assignments = list(self._authorization_for(subscription_id).role_assignments.list_for_scope(
                vault_id, filter=f"principalId eq '{principal_id}'"))
        except AzureError as exc:
            raise _error(exc, f"reading role assignments on {vault_id}") from None
        roles = set()
        for assignment in assignments:
            scope = str(assignment.scope or "").lower().rstrip("/")
            if vault_scope.startswith(scope + "/") or scope == key_scope:
                roles.add(str(assignment.role_definition_id or "").rsplit("/", 1)[-1].lower())
        return frozenset(roles)

    # --- Retirement: who can unwrap with a key; what the app may do on a vault ---------------------------

    def unwrappers(self, vault_id: str, key_name: str) -> Unwrappers:
        """Access policies and RBAC, both read whatever the vault's mode (the mode can be switched); anything
        that cannot be read is unsettled, and blocks."""
        parts = vault_id.strip("/").split("/")
        try:
            vault = self._vaults_for(parts[1]).vaults.get(parts[3], parts[7])
        except (AzureError, IndexError) as exc:
            return Unwrappers(unsettled=(f"vault {vault_id} not readable: {exc.__class__.__name__}",))
        policies = _policy_unwrappers(vault)
        rbac = self._rbac_unwrappers(parts[1], f"{vault_id.rstrip('/')}/keys/{key_name}")
        return Unwrappers(policies.principals | rbac.principals, policies.unsettled + rbac.unsettled)

    def _rbac_unwrappers(self, subscription_id: str, key_scope: str) -> Unwrappers:
        client = self._authorization_for(subscription_id)
        try:  # at the key's scope, ARM lists the assignments made there and above it (vault to management group)
            assignments = list(client.role_assignments.list_for_scope(key_scope))
        except AzureError as exc:
            return Unwrappers(unsettled=(f"role assignments on {key_scope} not readable: "
                                         f"{_error(exc, 'listing role assignments').message}",))
        principals, unsettled = set(), []
        definitions: dict[str, list[PermissionSet] | None] = {}
        for assignment in assignments:
            role = str(assignment.role_definition_id or "")
            if role.lower() not in definitions:
                definitions[role.lower()] = self._definition(client, role)
            permissions = definitions[role.lower()]
            if permissions is None:
                unsettled.append(f"role definition {role.rsplit('/', 1)[-1]} of {assignment.principal_id} not readable")
            elif grants(permissions, UNWRAP):
                if "group" in str(assignment.principal_type or "").lower():
                    unsettled.append(f"group {assignment.principal_id} can unwrap")
                else:
                    principals.add(str(assignment.principal_id).lower())
        return Unwrappers(frozenset(principals), tuple(unsettled))

    @staticmethod
    def _definition(client: AuthorizationManagementClient, role_definition_id: str) -> list[PermissionSet] | None:
        try:
            return _permission_sets(client.role_definitions.get_by_id(role_definition_id))
        except AzureError:
            return None
