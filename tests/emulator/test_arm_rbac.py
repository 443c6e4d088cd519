"""Authorization as ARM does it: roles on scopes, AuthorizationFailed, role assignments, identities."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.identity import DefaultAzureCredential
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.authorization.models import RoleAssignmentCreateParameters
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerregistry import models as acr
from azure.mgmt.resource.subscriptions import SubscriptionClient
from standin_seed import FAST, Seed, encryption_update, kid

from emulator import AzureStandIn
from emulator.identity import AdminCredential
from emulator.world import (
    CONTAINER_REGISTRY_CONTRIBUTOR_AND_DATA_ACCESS_CONFIG_ADMIN,
    KEY_VAULT_READER,
    READER,
)

pytestmark = pytest.mark.standin


def _code(err: HttpResponseError) -> str:
    assert err.error is not None
    return str(err.error.code)


def test_app_principal_holds_exactly_the_rotation_roles(az: AzureStandIn) -> None:
    for sub in az.subscription_ids:
        held = {ra.role_definition_id for ra in az.world.role_assignments.values()
                if ra.principal_id == az.principal_id and ra.scope == f"/subscriptions/{sub}"}
        assert held == {READER, KEY_VAULT_READER, CONTAINER_REGISTRY_CONTRIBUTOR_AND_DATA_ACCESS_CONFIG_ADMIN}
    assert not any(ra.principal_id == az.principal_id and ra.scope != f"/subscriptions/{ra.scope.split('/')[2]}"
                   for ra in az.world.role_assignments.values())


def test_app_can_read_and_update_registries_but_not_vaults_or_roles(az: AzureStandIn) -> None:
    seed = Seed(az)
    _, ident, key = seed.cmk_setup(versions=2)
    reg = seed.registry(identity=ident, key_id=kid(key, 0))
    app = DefaultAzureCredential()
    client = ContainerRegistryManagementClient(app, seed.sub)
    client.registries.begin_update(seed.rg, reg.name, encryption_update(kid(key, 1), ident.client_id),
                                   **FAST).result()
    app_seed = Seed(az)
    app_seed.kv = type(seed.kv)(app, seed.sub)
    with pytest.raises(HttpResponseError) as err:
        app_seed.vault()
    assert err.value.status_code == 403 and _code(err.value) == "AuthorizationFailed"
    assert "Microsoft.KeyVault/vaults/write" in str(err.value) and az.principal_id in str(err.value)
    auth = AuthorizationManagementClient(app, seed.sub)
    with pytest.raises(HttpResponseError) as err:
        auth.role_assignments.create(f"/subscriptions/{seed.sub}", str(uuid.uuid4()), RoleAssignmentCreateParameters(
            role_definition_id=CONTAINER_REGISTRY_CONTRIBUTOR_AND_DATA_ACCESS_CONFIG_ADMIN,
            principal_id=az.principal_id))
    assert err.value.status_code == 403


def test_principal_without_roles_sees_nothing_and_gets_403(az: AzureStandIn) -> None:
    seed = Seed(az)
    reg = seed.registry(sku="Basic")
    nobody = az.world.add_principal("nobody")
    cred = AdminCredential(az.world, nobody.principal_id)  # any principal can be given a credential
    assert list(SubscriptionClient(cred).subscriptions.list()) == []
    client = ContainerRegistryManagementClient(cred, seed.sub)
    with pytest.raises(HttpResponseError) as err:
        client.registries.get(seed.rg, reg.name)
    assert err.value.status_code == 403
    assert _code(err.value) == "AuthorizationFailed"
    assert "Microsoft.ContainerRegistry/registries/read" in str(err.value)
    with pytest.raises(HttpResponseError) as err:  # no role anywhere in the subscription: the list is refused
        list(client.registries.list())
    assert err.value.status_code == 403 and _code(err.value) == "AuthorizationFailed"
    assert f"'Microsoft.ContainerRegistry/registries/read' over scope '/subscriptions/{seed.sub}'" in str(err.value)
    # A Reader on the resource group sees that group's registries and that subscription only.
    az.grant(nobody.principal_id, "Reader", f"/subscriptions/{seed.sub}/resourceGroups/{seed.rg}")
    assert [r.name for r in client.registries.list()] == [reg.name]
    assert [s.subscription_id for s in SubscriptionClient(cred).subscriptions.list()] == [seed.sub]
    with pytest.raises(HttpResponseError) as err:  # Reader cannot write
        client.registries.begin_update(seed.rg, reg.name, acr.RegistryUpdateParameters(tags={"x": "y"}), **FAST)
    assert "Microsoft.ContainerRegistry/registries/write" in str(err.value)


def test_registry_identity_without_wrap_role_is_rejected(az: AzureStandIn) -> None:
    seed = Seed(az)
    vault, ident, key = seed.cmk_setup(versions=2, wrap=False)
    with pytest.raises(HttpResponseError) as err:
        seed.registry(identity=ident, key_id=kid(key, 0))
    assert err.value.status_code == 400 and _code(err.value) == "KeyVaultAccessDenied"
    seed.grant_wrap(ident.principal_id, f"{vault.id}/keys/{key.name}")
    reg = seed.registry(identity=ident, key_id=kid(key, 0))
    # A role that does not include wrap/unwrap (Key Vault Reader) does not help another key.
    other = seed.key(key.vault_host, "otherkey")
    az.grant(ident.principal_id, "Key Vault Reader", vault.id)
    with pytest.raises(HttpResponseError) as err:
        seed.acr.registries.begin_update(seed.rg, reg.name, encryption_update(kid(other), ident.client_id), **FAST)
    assert _code(err.value) == "KeyVaultAccessDenied"


def test_role_assignments_put_get_delete_and_errors(az: AzureStandIn) -> None:
    seed = Seed(az)
    ident = seed.identity()
    scope = f"/subscriptions/{seed.sub}/resourceGroups/{seed.rg}"
    name = str(uuid.uuid4())
    params = RoleAssignmentCreateParameters(
        role_definition_id=f"/subscriptions/{seed.sub}/providers/Microsoft.Authorization/roleDefinitions/{READER}",
        principal_id=ident.principal_id, principal_type="ServicePrincipal")
    created = seed.auth.role_assignments.create(scope, name, params)
    assert created.scope == scope and created.principal_id == ident.principal_id
    assert created.role_definition_id.endswith(READER)
    assert seed.auth.role_assignments.get(scope, name).id == created.id
    assert az.world.can(ident.principal_id, "arm/read", f"{scope}/providers/X/y/z")
    with pytest.raises(ResourceExistsError) as err:
        seed.auth.role_assignments.create(scope, str(uuid.uuid4()), params)
    assert _code(err.value) == "RoleAssignmentExists"
    listed = seed.auth.role_assignments.list_for_scope(scope, filter=f"principalId eq '{ident.principal_id}'")
    assert [ra.name for ra in listed] == [name]
    seed.auth.role_assignments.delete(scope, name)
    assert not az.world.can(ident.principal_id, "arm/read", scope)
    ghost = RoleAssignmentCreateParameters(role_definition_id=READER, principal_id=str(uuid.uuid4()))
    with pytest.raises(HttpResponseError) as err:
        seed.auth.role_assignments.create(scope, str(uuid.uuid4()), ghost)
    assert _code(err.value) == "PrincipalNotFound"


def test_user_assigned_identity_shape(az: AzureStandIn) -> None:
    seed = Seed(az)
    created = seed.identity("id-app")
    got = seed.msi.user_assigned_identities.get(seed.rg, "id-app")
    assert got.id == created.id and "/resourcegroups/" in got.id  # as ARM returns it
    assert got.client_id == created.client_id and got.principal_id in az.world.principals
    assert got.tenant_id == az.world.tenant_id
    assert az.world.principals[got.principal_id].client_id == got.client_id


def test_assigning_an_identity_needs_managed_identity_operator(az: AzureStandIn) -> None:
    seed = Seed(az)
    ident = seed.identity()
    reg = seed.registry(sku="Premium")
    app = ContainerRegistryManagementClient(DefaultAzureCredential(), seed.sub)
    add = acr.RegistryUpdateParameters(identity=acr.IdentityProperties(
        type="UserAssigned", user_assigned_identities={ident.id: acr.UserIdentityProperties()}))
    with pytest.raises(HttpResponseError) as err:
        app.registries.begin_update(seed.rg, reg.name, add, **FAST)
    assert _code(err.value) == "LinkedAuthorizationFailed"
    az.grant(az.principal_id, "Managed Identity Operator", ident.id)
    done = app.registries.begin_update(seed.rg, reg.name, add, **FAST).result()
    assert done.identity.type == "userAssigned"
