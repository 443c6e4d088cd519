"""Who may do what with a key, decided from Azure RBAC permission lists and access policies: pure.

Two questions, both for retirement:
- does a role (its dataActions and notDataActions) let its holder unwrap with a key? (``grants``)
- may the app disable versions on a vault? (``may_disable_versions``): the hook ``python -m shared doctor`` calls
  to check retirement's permission, from the effective-permissions API (RBAC vaults) or the vault's access policies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from shared.model import VaultAccess

UNWRAP = "Microsoft.KeyVault/vaults/keys/unwrap/action"
READ = "Microsoft.KeyVault/vaults/keys/read"
UPDATE = "Microsoft.KeyVault/vaults/keys/update/action"
RETIRE_DATA_ACTIONS = (READ, UPDATE)  # what the custom role of infra/app/rbac-retirement.bicep holds, and only that
UNWRAP_POLICY_PERMISSIONS = frozenset({"unwrapkey", "all"})  # access-policy key permissions that allow unwrapping
RETIRE_POLICY_PERMISSIONS = frozenset({"get", "update"})  # what an access-policy vault must grant the app


class DataPermissions(Protocol):
    """One permission entry: a role definition's, or the effective-permissions API's (doctor's ``Permissions``)."""

    @property
    def data_actions(self) -> Sequence[str]: ...
    @property
    def not_data_actions(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class PermissionSet:
    """One entry of a role definition's ``permissions`` (or of the effective-permissions API): data actions only."""

    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()


@lru_cache(maxsize=256)
def _pattern(action: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(part) for part in action.split("*")) + "$", re.IGNORECASE)


def _matches(patterns: Iterable[str], action: str) -> bool:
    return any(_pattern(p).match(action) for p in patterns)


def grants(permissions: Sequence[DataPermissions], action: str) -> bool:
    """Azure RBAC: some permission entry allows the data action and does not exclude it."""
    return any(_matches(p.data_actions, action) and not _matches(p.not_data_actions, action) for p in permissions)


@dataclass(frozen=True)
class Verdict:
    allowed: bool | None  # None: could not be told
    detail: str


def may_disable_versions(vault: VaultAccess, effective: Sequence[DataPermissions] | None,
                         app_object_id: str | None) -> Verdict:
    """Can the app disable key versions on ``vault``? RBAC vaults: the app's effective data actions at the vault
    (ARM's effective-permissions API, as doctor reads them with ``adapters/permissions.py``; None when they could not
    be read); access-policy vaults: the app's policy needs get and update on keys."""
    if vault.rbac:
        if effective is None:
            return Verdict(None, f"the app's permissions on {vault.name} could not be read")
        missing = [a for a in RETIRE_DATA_ACTIONS if not grants(effective, a)]
        return Verdict(not missing, f"missing {', '.join(missing)} on {vault.name}" if missing
                       else f"may read and update keys on {vault.name}")
    granted = vault.policies.get((app_object_id or "").lower())
    if app_object_id is None or granted is None:
        return Verdict(False if app_object_id else None, f"no access policy for the app on {vault.name}")
    missing_policy = sorted(RETIRE_POLICY_PERMISSIONS - granted) if "all" not in granted else []
    return Verdict(not missing_policy, f"access policy on {vault.name} lacks key permissions "
                   f"{', '.join(missing_policy)}" if missing_policy else f"access policy on {vault.name} allows it")
