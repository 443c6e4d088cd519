"""The app's own effective permissions on a vault: ARM's ``Microsoft.Authorization/permissions``, through
azure-mgmt-authorization (``permissions.list_for_resource``). ARM resolves them for the caller, group grants
included, so doctor judges "may create key versions" without creating one."""

from __future__ import annotations

from collections.abc import Callable

from azure.core.exceptions import AzureError
from azure.mgmt.authorization import AuthorizationManagementClient

from shared.adapters.errors import Call, translate
from shared.doctor import Permissions


class PermissionsAdapter:
    def __init__(self, authorization_for: Callable[[str], AuthorizationManagementClient]) -> None:
        self._authorization_for = authorization_for

    def vault_permissions(self, vault_id: str) -> tuple[Permissions, ...]:
        segments = vault_id.strip("/").split("/")
        subscription, group, name = segments[1], segments[3], segments[-1]
        try:
            found = self._authorization_for(subscription).permissions.list_for_resource(
                group, "Microsoft.KeyVault", "", "vaults", name)
            return tuple(Permissions(tuple(p.data_actions or ()), tuple(p.not_data_actions or ())) for p in found)
        except AzureError as exc:
            raise translate(exc, Call(f"reading the app's effective permissions on {vault_id}")) from None
