"""Best-effort access diagnosis: judged from the vault's RBAC roles or access policies."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from shared.diagnosis import access_problem, key_type_problem, problems_of, vault_problems
from shared.keyids import KeyId, KeyRef
from shared.model import AccessObservation, KeyDetails, VaultAccess
from shared.reasons import Problem
from tests.builders import CLIENT_ID, NOW, observation, registry, version

IDENTITY_WITHOUT_KEY_ACCESS = Problem.IDENTITY_WITHOUT_KEY_ACCESS
KEY_ACCESS_UNKNOWN = Problem.KEY_ACCESS_UNKNOWN
KEY_TYPE_UNSUPPORTED = Problem.KEY_TYPE_UNSUPPORTED
PRINCIPAL = "22222222-2222-2222-2222-222222222222"
ENCRYPTION_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
READER = "21090545-7ca7-4776-b22c-e363652d74d2"
REG = replace(registry(), identity_principals=MappingProxyType({CLIENT_ID: PRINCIPAL}))
RBAC = VaultAccess("/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-prod", "kv-prod", True)
POLICIES = VaultAccess(RBAC.id, "kv-prod", False, MappingProxyType({PRINCIPAL: frozenset({"get", "wrapkey",
                                                                                           "unwrapkey"})}))


@pytest.mark.parametrize(("reg", "vault", "roles", "expected"), [
    (REG, RBAC, frozenset({ENCRYPTION_USER}), None),
    (REG, RBAC, frozenset({READER}), IDENTITY_WITHOUT_KEY_ACCESS),
    (REG, RBAC, frozenset(), IDENTITY_WITHOUT_KEY_ACCESS),
    (REG, RBAC, None, KEY_ACCESS_UNKNOWN),
    (REG, None, None, KEY_ACCESS_UNKNOWN),
    (REG, POLICIES, None, None),
    (REG, replace(POLICIES, policies=MappingProxyType({PRINCIPAL: frozenset({"get", "wrapkey"})})), None,
     IDENTITY_WITHOUT_KEY_ACCESS),
    (REG, replace(POLICIES, policies=MappingProxyType({})), None, IDENTITY_WITHOUT_KEY_ACCESS),
    (registry(), RBAC, frozenset(), None),
    (replace(REG, key_id=KeyId(KeyRef("hsm1.managedhsm.azure.net", "k"), "v1")), None, None, None),
], ids=[
    "an identity with Crypto Service Encryption User on the vault has access",
    "an identity with only Key Vault Reader cannot wrap",
    "an identity with no role on the vault cannot wrap",
    "unreadable role assignments are reported as unknown",
    "a vault outside the readable scope is reported as unknown",
    "an access policy with get, wrapKey and unwrapKey grants access",
    "an access policy without unwrapKey does not",
    "a vault whose policies omit the identity does not",
    "a registry whose encryption identity is not on the registry is left to IDENTITY_MISSING",
    "Managed HSM keys are not judged (their RBAC is local to the HSM)",
])
def test_access_problem(reg, vault, roles, expected) -> None:
    assert access_problem(reg, vault, roles) == expected


def test_a_key_whose_current_version_is_ec_is_reported() -> None:
    key = observation(version("v1", 1), details={"v1": KeyDetails("EC", None)})
    assert key_type_problem(key) == KEY_TYPE_UNSUPPORTED
    assert KEY_TYPE_UNSUPPORTED in problems_of(registry(), key, NOW, 30, AccessObservation())


def test_access_is_only_judged_when_it_was_checked() -> None:
    key = observation(version("v1", 1))
    roles = MappingProxyType({(PRINCIPAL, RBAC.id.lower(), REG.key_id.key.name): frozenset()})
    read = AccessObservation(MappingProxyType({"kv-prod": RBAC}), roles, checked=True)
    assert problems_of(REG, key, NOW, 30, AccessObservation()) == []
    assert problems_of(REG, key, NOW, 30, read) == [IDENTITY_WITHOUT_KEY_ACCESS]


@pytest.mark.parametrize(("identity", "network", "trusted", "expected"), [
    (CLIENT_ID, "open", True, []),
    (CLIENT_ID, "firewalled", True, [Problem.VAULT_FIREWALL_BLOCKS_REGISTRY]),
    (CLIENT_ID, "closed", True, [Problem.VAULT_FIREWALL_BLOCKS_REGISTRY]),
    ("system", "firewalled", True, []),
    ("system", "closed", True, []),
    ("system", "firewalled", False, [Problem.VAULT_FIREWALL_BLOCKS_REGISTRY]),
], ids=["an open vault", "a firewall and a user-assigned identity", "public access off and a user-assigned identity",
        "a firewall and the system identity through trusted services",
        "public access off and the system identity through trusted services",
        "a firewall that lets no trusted service through"])
def test_only_a_system_identity_passes_a_vault_firewall_as_a_trusted_service(identity, network, trusted,
                                                                              expected) -> None:
    reg = replace(REG, encryption_identity=identity)
    vault = replace(RBAC, public_network=network, trusted_services=trusted)
    assert vault_problems(reg, vault) == expected


def test_a_vault_without_purge_protection_is_a_risk_worth_a_warning() -> None:
    assert vault_problems(REG, replace(RBAC, purge_protection=False)) == [Problem.VAULT_WITHOUT_PURGE_PROTECTION]
    hsm = replace(REG, key_id=KeyId(KeyRef("hsm1.managedhsm.azure.net", "k"), "v1"))
    assert vault_problems(hsm, replace(RBAC, purge_protection=False)) == []
