"""The pinned misconfiguration facts against ../shared/azure-wire/misconfig (skipped without it), and the stand-in's
own tables against the shapes they stand for (always run)."""

from __future__ import annotations

import json

import pytest
import requests
from misconfig_reference import FIXTURE, extract
from misconfig_support import BODIES, FACTS, norm

from emulator import AzureStandIn, arm_auth, identity, roles
from emulator.arm_auth import LEGACY_CLAIMS, challenge_header
from emulator.arm_resources import _vault_properties_as_served
from emulator.world import PERMISSIONS, Request, Settings, World
from tests.reference import AZURE_WIRE, needs_reference


@needs_reference
def test_pinned_facts_are_the_references() -> None:
    assert extract(AZURE_WIRE / "misconfig") == json.loads(FIXTURE.read_text())


def test_pinned_facts_cover_every_row_the_stand_in_reproduces() -> None:
    """A row dropped from the pinned copy would silently turn its tests into no-ops: they all must be here."""
    for body in ("arm-401-InvalidAuthenticationTokenTenant", "arm-401-ExpiredAuthenticationToken",
                 "arm-401-CAE-claims-challenge", "arm-403-AuthorizationFailed", "arm-404-SubscriptionNotFound",
                 "arm-404-ResourceNotFound-vault", "arm-409-MissingSubscriptionRegistration",
                 "appservice-msi-400-unable-to-load", "kv-401-AKV10032-invalid-issuer", "kv-403-ForbiddenByRbac",
                 "kv-403-ForbiddenByPolicy-accesspolicy-key", "kv-403-AccessDenied-accesspolicy-secret",
                 "kv-403-ForbiddenByFirewall", "kv-403-ForbiddenByConnection", "kv-403-KeyDisabled-unwrap",
                 "kv-403-KeyOperationForbidden", "kv-404-KeyNotFound", "kv-404-DeletedKeyNotFound",
                 "kv-409-ObjectIsDeletedButRecoverable-secret", "kv-arm-vault-networkAcls-Deny-rbac",
                 "kv-arm-vault-publicNetworkAccess-Disabled", "kv-arm-vault-purgeProtection-accessPolicies"):
        assert body in BODIES
    assert FACTS["surfacing"]["keyvault: 403 ForbiddenByRbac"]["error.innererror"] == {"code": "ForbiddenByRbac"}
    assert FACTS["surfacing"]["arm: 409 MissingSubscriptionRegistration"]["class"] == (
        "azure.core.exceptions.ResourceExistsError")


def test_app_service_refusal_is_the_captured_body(az: AzureStandIn) -> None:
    az.misconfig.no_managed_identity()
    answer = requests.get(az.env["IDENTITY_ENDPOINT"], timeout=5,
                          headers={"X-IDENTITY-HEADER": az.env["IDENTITY_HEADER"]},
                          params={"api-version": "2019-08-01", "resource": "https://management.azure.com"})
    real = BODIES["appservice-msi-400-unable-to-load"]
    assert answer.status_code == real["status"]
    mine = answer.json()
    assert list(mine) == list(real["body"]) and mine["message"] == real["body"]["message"]
    assert answer.headers["Server"] == "Kestrel"


def test_challenge_headers_are_the_recorded_forms() -> None:
    headers = BODIES["arm-401-CAE-claims-challenge"]["headers"]
    legacy = next(v for k, v in headers.items() if "legacy" in k.lower())
    entra = next(v for k, v in headers.items() if "insufficient_claims" in k)
    assert challenge_header("legacy") == legacy and LEGACY_CLAIMS in legacy
    assert norm(challenge_header("insufficient_claims").split("claims=")[0]) == norm(entra.split("claims=")[0])


def test_role_definitions_agree_with_the_permission_table() -> None:
    """world.PERMISSIONS (what older handlers decide with) and roles.DEFINITIONS (what the effective-permissions
    API answers) must say the same thing for the action each permission stands for."""
    stands_for = {"arm/read": ("Microsoft.ContainerRegistry/registries/read", False),
                  "registry/write": ("Microsoft.ContainerRegistry/registries/write", False),
                  "identity/assign": ("Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", False),
                  "authorization/write": ("Microsoft.Authorization/roleAssignments/write", False),
                  "keys/read": ("Microsoft.KeyVault/vaults/keys/read", True),
                  "keys/write": ("Microsoft.KeyVault/vaults/keys/create/action", True),
                  "keys/update": ("Microsoft.KeyVault/vaults/keys/update/action", True),
                  "keys/wrap": ("Microsoft.KeyVault/vaults/keys/wrap/action", True),
                  "keys/crypto": ("Microsoft.KeyVault/vaults/keys/decrypt/action", True)}
    for permission, (action, data) in stands_for.items():
        for role in roles.DEFINITIONS:
            if role == roles.w.MANAGED_HSM_CRYPTO_SERVICE_ENCRYPTION_USER:
                continue  # a Managed HSM local role: its data actions are on managedHsm, not vaults
            assert (role in PERMISSIONS[permission]) == roles.grants(role, action, data), (permission, role)


def test_expired_token_is_seen_by_the_services_not_by_its_holder() -> None:
    world = World(Settings())
    p = world.add_principal("app")
    token, expires_on = identity.mint_token(world, p.principal_id, "https://management.azure.com")
    assert identity.expire_tokens(world, p.principal_id) == 1
    assert world.token_claims[token]["exp"] < world.now() < expires_on
    req = Request("GET", "management.azure.com", "/subscriptions", {}, {}, token_claims=world.token_claims[token])
    refused = arm_auth.expired(world, req)
    assert refused is not None and refused.status == 401
    assert refused.body["error"]["code"] == BODIES["arm-401-ExpiredAuthenticationToken"]["body"]["error"]["code"]


@pytest.mark.parametrize("name", ["kv-arm-vault-networkAcls-Deny-rbac", "kv-arm-vault-networkAcls-rules",
                                  "kv-arm-vault-publicNetworkAccess-Disabled",
                                  "kv-arm-vault-purgeProtection-accessPolicies"])
def test_vault_properties_as_served_leave_real_bodies_as_they_are(name: str) -> None:
    """Real vault bodies are fixed points of the stand-in's normalisation (casing, omissions, order)."""
    real = BODIES[name]["body"]["properties"]
    served = _vault_properties_as_served(json.loads(json.dumps(real)))
    assert json.dumps(served) == json.dumps(real)
    with_false = _vault_properties_as_served({**real, "enablePurgeProtection": False, "enableRbacAuthorization": False})
    assert "enablePurgeProtection" not in with_false and "enableRbacAuthorization" not in with_false


def test_every_switch_is_documented_for_the_app_side() -> None:
    import inspect
    from pathlib import Path

    from emulator.misconfig import Misconfig

    doc = (Path(__file__).resolve().parents[2] / "docs" / "misconfig-standin.md").read_text()
    switches = [n for n, f in inspect.getmembers(Misconfig, inspect.isfunction) if not n.startswith("_")]
    assert switches and [n for n in switches if n != "vault" and f"{n}(" not in doc] == []
    for name in ("env_without_credential", "add_function", "remove_function", "dead_letters",
                 "provider_registrations"):
        assert name in doc
