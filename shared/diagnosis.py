"""Problems found about registries, as constants. Pure: judges what observation and the access reads found.

Access is judged from the vault's own configuration (RBAC role assignments or access policies) for the
identity that unwraps the registry's key. It is best-effort: what could not be read is reported as
unknown, and nothing here ever blocks a rotation (ACR itself judges access when it is asked to switch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from shared.keyids import KeyRef
from shared.model import RSA_KEY_TYPES, AccessObservation, KeyObservation, Registry, VaultAccess
from shared.reasons import Finding, Problem
from shared.status import registry_problems

# Built-in roles that allow wrapKey and unwrapKey on a vault's keys.
WRAP_ROLE_IDS = frozenset({
    "00482a5a-887f-4fb3-b363-3b7fe8e74483",  # Key Vault Administrator
    "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",  # Key Vault Crypto Officer
    "12338af0-0e69-4776-bea7-57ae8d297424",  # Key Vault Crypto User
    "e147488a-f6f5-4113-8e2d-b22465e65bf6",  # Key Vault Crypto Service Encryption User
})
# Access-policy key permissions ACR needs.
POLICY_PERMISSIONS = frozenset({"get", "wrapkey", "unwrapkey"})


def key_type_problem(key: KeyObservation | None) -> Problem | None:
    """The key's current version is not RSA (an EC key cannot encrypt a registry)."""
    if key is None or key.current_version is None:
        return None
    details = key.details.get(key.current_version)
    if details is not None and details.key_type not in RSA_KEY_TYPES:
        return Problem.KEY_TYPE_UNSUPPORTED
    return None


def access_problem(registry: Registry, vault: VaultAccess | None, roles: frozenset[str] | None) -> Problem | None:
    """None when the identity can wrap and unwrap, or when there is nothing to judge (Managed HSM uses its
    own local RBAC, which ARM does not show)."""
    if registry.key_id is None or ".managedhsm." in registry.key_id.key.host:
        return None
    principal = registry.encryption_principal_id
    if principal is None:
        return None  # IDENTITY_MISSING is reported from the registry alone
    if vault is None:
        return Problem.KEY_ACCESS_UNKNOWN
    if not vault.rbac:
        granted = vault.policies.get(principal.lower(), frozenset())
        return None if granted >= POLICY_PERMISSIONS else Problem.IDENTITY_WITHOUT_KEY_ACCESS
    if roles is None:
        return Problem.KEY_ACCESS_UNKNOWN
    return None if roles & WRAP_ROLE_IDS else Problem.IDENTITY_WITHOUT_KEY_ACCESS


def vault_problems(registry: Registry, vault: VaultAccess | None) -> list[Problem]:
    """Risks in the vault's configuration for this registry (never judged for Managed HSM)."""
    if vault is None or registry.key_id is None or ".managedhsm." in registry.key_id.key.host:
        return []
    found = []
    trusted = registry.encryption_identity.lower() == "system" and vault.trusted_services
    if vault.public_network != "open" and not trusted:
        found.append(Problem.VAULT_FIREWALL_BLOCKS_REGISTRY)
    if not vault.purge_protection:
        found.append(Problem.VAULT_WITHOUT_PURGE_PROTECTION)
    return found


def problems_of(registry: Registry, key: KeyObservation | None, now: datetime, near_expiry_days: int,
                access: AccessObservation) -> list[Finding]:
    problems = registry_problems(registry, key, now, near_expiry_days)
    extra: list[Problem | None] = [key_type_problem(key)]
    if access.checked:
        extra.append(access_problem(registry, access.vault_of(registry), access.roles_of(registry)))
        extra.extend(vault_problems(registry, access.vault_of(registry)))
    return problems + [p for p in extra if p is not None and p not in problems]


def diagnose(registries: Iterable[Registry], keys: Mapping[KeyRef, KeyObservation], access: AccessObservation,
             now: datetime, near_expiry_days: int) -> dict[str, list[Finding]]:
    """Problems per registry id."""
    return {r.id: problems_of(r, keys.get(r.key_id.key) if r.key_id else None, now, near_expiry_days, access)
            for r in registries}
