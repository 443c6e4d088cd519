"""Who may do what with a key: RBAC permission matching (wildcards, notDataActions), the doctor hook "may the app
disable versions on this vault", and the ROTATION_RETIRE setting."""

from __future__ import annotations

import pytest

from shared.errors import ConfigurationError
from shared.model import VaultAccess
from shared.retirement_access import UNWRAP, UPDATE, PermissionSet, grants, may_disable_versions
from shared.settings import load_settings

VAULT = VaultAccess("/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv", "kv", True)
POLICY_VAULT = VaultAccess(VAULT.id, "kv", False, {"app-oid": frozenset({"get", "list"})})


@pytest.mark.parametrize(("data_actions", "not_data_actions", "unwraps"), [
    (("Microsoft.KeyVault/vaults/*",), (), True),  # Key Vault Administrator
    (("Microsoft.KeyVault/vaults/keys/*",), (), True),  # Key Vault Crypto Officer
    (("Microsoft.KeyVault/vaults/keys/unwrap/action",), (), True),
    (("*",), (), True),  # a custom role with every data action
    (("Microsoft.KeyVault/vaults/keys/*",), ("Microsoft.KeyVault/vaults/keys/unwrap/action",), False),
    (("Microsoft.KeyVault/vaults/*/read",), (), False),  # Key Vault Reader
    (("Microsoft.KeyVault/vaults/keys/read", UPDATE), (), False),  # the retirement role
    ((), (), False),  # Owner: control plane only
])
def test_a_role_lets_its_holder_unwrap_as_azure_rbac_decides(data_actions, not_data_actions, unwraps) -> None:
    assert grants([PermissionSet(data_actions, not_data_actions)], UNWRAP) is unwraps


def test_the_app_may_disable_versions_with_read_and_update_on_an_rbac_vault() -> None:
    role = PermissionSet(("Microsoft.KeyVault/vaults/keys/read", UPDATE))
    assert may_disable_versions(VAULT, [role], None).allowed is True
    reader = may_disable_versions(VAULT, [PermissionSet(("Microsoft.KeyVault/vaults/*/read",))], None)
    assert reader.allowed is False and UPDATE in reader.detail
    assert may_disable_versions(VAULT, None, None).allowed is None


def test_an_access_policy_vault_needs_the_update_key_permission() -> None:
    verdict = may_disable_versions(POLICY_VAULT, None, "app-oid")
    assert verdict.allowed is False and "update" in verdict.detail
    granted = VaultAccess(VAULT.id, "kv", False, {"app-oid": frozenset({"get", "list", "update"})})
    assert may_disable_versions(granted, None, "APP-OID").allowed is True
    assert may_disable_versions(POLICY_VAULT, None, None).allowed is None


@pytest.mark.parametrize("value", ["yes", "retire", "on"])
def test_rotation_retire_is_off_plan_or_auto(value: str) -> None:
    with pytest.raises(ConfigurationError, match="ROTATION_RETIRE"):
        load_settings({"ROTATION_RETIRE": value})
    assert load_settings({}).retire == "plan" and load_settings({"ROTATION_RETIRE": " AUTO "}).retire == "auto"
