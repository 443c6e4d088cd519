"""ARM: subscriptions, Key Vault vaults / managed HSMs, user-assigned identities, role assignments."""

from __future__ import annotations

import re
from typing import Any

from emulator.arm_common import (
    error,
    iso,
    json_body,
    lower_rg,
    require,
    resource_not_found,
    system_data,
    write_body,
)
from emulator.clouds import cloud_for_management
from emulator.world import ROLE_NAMES, Request, Response, RoleAssignment, Vault, World, role_id

# --- subscriptions --------------------------------------------------------------------------


def _subscription_body(world: World, sub: str) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{sub}", "authorizationSource": "RoleBased", "managedByTenants": [],
        "subscriptionId": sub, "tenantId": world.tenant_of_subscription(sub), "displayName": world.subscriptions[sub],
        "state": "Enabled",
        "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01",
                                 "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"},
    }


def _visible_subscriptions(world: World, principal_id: str | None, tenant: str | None = None) -> list[str]:
    """Subscriptions of ``tenant`` (the world's by default) where the caller, or a group it is in, holds any
    role, at the subscription or anywhere below it."""
    who = world.identities_of(principal_id) if principal_id else set()
    tenant = tenant or world.tenant_id
    with world.lock:
        scopes = [ra.scope.lower() for ra in world.role_assignments.values() if ra.principal_id in who]
        return [s for s in world.subscriptions if world.tenant_of_subscription(s) == tenant
                and any(sc == f"/subscriptions/{s}" or sc.startswith(f"/subscriptions/{s}/") or sc in ("", "/")
                        for sc in scopes)]


def list_subscriptions(world: World, req: Request) -> Response:
    """The subscriptions of the token's tenant the caller can see (none of another tenant's)."""
    subs = _visible_subscriptions(world, req.principal_id, (req.token_claims or {}).get("tid"))
    return Response(200, {"value": [_subscription_body(world, s) for s in subs],
                          "count": {"type": "Total", "value": len(subs)}})


def get_subscription(world: World, req: Request, sub: str) -> Response:
    if sub not in _visible_subscriptions(world, req.principal_id, world.tenant_of_subscription(sub)):
        return error(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
    return Response(200, _subscription_body(world, sub))


# --- Key Vault vaults and managed HSMs (the management side only) -----------------------------


def vault(world: World, req: Request, sub: str, rg: str, kind: str, name: str) -> Response:
    hsm = kind.lower() == "managedhsms"
    rtype = "Microsoft.KeyVault/managedHSMs" if hsm else "Microsoft.KeyVault/vaults"
    rid = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{rtype}/{name}"
    with world.lock:
        existing = next((v for v in world.vaults.values() if v.resource_id.lower() == rid.lower()), None)
    if req.method == "GET":
        denied = require(world, req, "arm/read", f"{rtype}/read", rid)
        if denied:
            return denied
        return Response(200, existing.arm) if existing else resource_not_found(rtype, name, rg)
    if req.method == "DELETE":
        denied = require(world, req, "arm/write", f"{rtype}/delete", rid)
        if denied:
            return denied
        if existing is None:
            return Response(204)
        with world.lock:
            soft_delete_vault(world, existing)
        return Response(200)
    body = write_body(world, req, ("PUT",), "arm/write", rtype, rid, location_required=True)
    if isinstance(body, Response):
        return body
    cloud = cloud_for_management(req.host)
    host = f"{name.lower()}.{cloud.hsm_suffix if hsm else cloud.vault_suffix}"
    with world.lock:
        taken = world.vaults.get(host)
        if taken is not None and taken.resource_id.lower() != rid.lower():
            return error(409, "VaultAlreadyExists",
                         f"The vault name '{name}' is already in use. Vault names are globally unique.")
        recovered = _recover_or_conflict(world, body, name, hsm)
        if isinstance(recovered, Response):
            return recovered
        if recovered is not None:
            return Response(200, recovered.arm)
        props = _new_vault_properties(world, body, host, hsm)
        arm_body = {"id": rid, "name": name, "type": rtype, "location": body["location"],
                    "tags": body.get("tags") or {},
                    "systemData": system_data(world, req, existing.arm.get("systemData") if existing else None),
                    "properties": props}
        if hsm:
            arm_body["sku"] = props.pop("sku")
        world.vaults[host] = Vault(rid, name, host, body["location"], sub, arm_body)
    return Response(200, arm_body)


def _new_vault_properties(world: World, body: dict[str, Any], host: str, hsm: bool) -> dict[str, Any]:
    """A PUT's properties with the RP's defaults. Assumption (not in the misconfig reference, which only says that
    an access-policy vault's answer omits the key): a PUT without ``enableRbacAuthorization`` makes an RBAC vault,
    the default announced for new vaults from api-version 2026-02-01 (azure-mgmt-keyvault 14.1 sends 2026-05-15).
    Send ``false`` (or use ``misconfig.access_policies``) for an access-policy vault."""
    props = {k: v for k, v in (body.get("properties") or {}).items() if v is not None and k != "createMode"}
    props.setdefault("tenantId", world.tenant_id)
    props.setdefault("sku", {"family": "B", "name": "Standard_B1"} if hsm else {"family": "A", "name": "standard"})
    props["hsmUri" if hsm else "vaultUri"] = f"https://{host}/"
    if not hsm:
        props.setdefault("accessPolicies", [])
        props.setdefault("enableRbacAuthorization", True)
        props.setdefault("enabledForDeployment", False)
    props.setdefault("enableSoftDelete", True)
    props.setdefault("softDeleteRetentionInDays", 90)
    props.setdefault("publicNetworkAccess", "Enabled")
    props["provisioningState"] = "Succeeded"
    return props if hsm else _vault_properties_as_served(props)


# The order real vault bodies list their properties in (misconfig bodies/kv-arm-vault-*.json).
_VAULT_PROPERTY_ORDER = ("sku", "tenantId", "networkAcls", "accessPolicies", "enabledForDeployment",
                         "enabledForDiskEncryption", "enabledForTemplateDeployment", "enableSoftDelete",
                         "softDeleteRetentionInDays", "enableRbacAuthorization", "enablePurgeProtection", "vaultUri",
                         "provisioningState", "publicNetworkAccess")


def _vault_properties_as_served(props: dict[str, Any]) -> dict[str, Any]:
    """Vault properties as Key Vault's RP hands them back: a setting that is off is omitted, not false
    (``enableRbacAuthorization`` on access-policy vaults, ``enablePurgeProtection`` on vaults without it);
    ``networkAcls`` only once set, with its defaults filled in and subnet ids lower-cased; recorded key order."""
    for flag in ("enableRbacAuthorization", "enablePurgeProtection"):
        if props.get(flag) is False:
            del props[flag]
    acls = props.get("networkAcls")
    if isinstance(acls, dict):
        props["networkAcls"] = {
            "bypass": acls.get("bypass") or "AzureServices", "defaultAction": acls.get("defaultAction") or "Allow",
            "ipRules": [{"value": str(r.get("value"))} for r in acls.get("ipRules") or []],
            "virtualNetworkRules": [{**r, "id": str(r.get("id", "")).lower()}
                                    for r in acls.get("virtualNetworkRules") or []]}
    ordered = {k: props[k] for k in _VAULT_PROPERTY_ORDER if k in props}
    ordered.update({k: v for k, v in props.items() if k not in ordered})
    return ordered


def _recover_or_conflict(world: World, body: dict[str, Any], name: str, hsm: bool) -> Vault | Response | None:
    """A PUT over a soft-deleted vault's name: ``createMode: recover`` brings it back (with its keys);
    anything else is refused until it is recovered or purged. None: the name is free. Call under world.lock."""
    record = None if hsm else world.deleted_vaults.get(name.lower())
    if record is None:
        return None
    if (body.get("properties") or {}).get("createMode") != "recover":
        # Assumption (no source in the misconfig reference): the code and text of this refusal.
        return error(409, "ConflictError", f"Exist soft deleted vault with the same name '{name}'. You need to "
                     "either recover or purge the existing key vault.")
    del world.deleted_vaults[name.lower()]
    restored: Vault = record["vault"]
    world.vaults[restored.host] = restored
    return restored


def list_vaults(world: World, req: Request, sub: str) -> Response:
    """``vaults.list_by_subscription``: the vaults the caller may read, with their properties."""
    with world.lock:
        vaults = [v.arm for v in world.vaults.values()
                  if v.subscription_id.lower() == sub.lower() and v.arm.get("type") == "Microsoft.KeyVault/vaults"
                  and world.can(req.principal_id, "arm/read", v.resource_id)]
    return Response(200, {"value": vaults})


# --- user-assigned managed identities ---------------------------------------------------------

IDENTITY_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"


def user_identity(world: World, req: Request, sub: str, rg: str, name: str) -> Response:
    rid = lower_rg(f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{IDENTITY_TYPE}/{name}")
    existing = world.identities.get(rid.lower())
    if req.method == "GET":
        denied = require(world, req, "arm/read", f"{IDENTITY_TYPE}/read", rid)
        if denied:
            return denied
        return Response(200, existing) if existing else resource_not_found(IDENTITY_TYPE, name, rg)
    if req.method == "DELETE":
        # The identity goes; resources that had it attached keep a dangling reference (ACR: README R1).
        denied = require(world, req, "arm/write", f"{IDENTITY_TYPE}/delete", rid)
        if denied:
            return denied
        with world.lock:
            world.identities.pop(rid.lower(), None)
        return Response(200 if existing else 204)
    body = write_body(world, req, ("PUT",), "arm/write", IDENTITY_TYPE, rid, location_required=True)
    if isinstance(body, Response):
        return body
    with world.lock:
        if existing is None:
            principal = world.add_principal(name)
            props = {"tenantId": world.tenant_id, "principalId": principal.principal_id,
                     "clientId": principal.client_id}
        else:
            props = existing["properties"]
        out = {"location": body["location"], "tags": body.get("tags") or {}, "id": rid, "name": name,
               "type": IDENTITY_TYPE, "properties": props}
        world.identities[rid.lower()] = out
    return Response(201 if existing is None else 200, out, {"Location": rid})


# --- role assignments -------------------------------------------------------------------------

RA_TYPE = "Microsoft.Authorization/roleAssignments"


def _ra_body(world: World, ra: RoleAssignment) -> dict[str, Any]:
    parts = ra.scope.split("/")
    prefix = f"/subscriptions/{parts[2]}" if len(parts) > 2 and parts[1].lower() == "subscriptions" else ""
    now = iso(world.now())
    return {
        "properties": {
            "roleDefinitionId": f"{prefix}/providers/Microsoft.Authorization/roleDefinitions/{ra.role_definition_id}",
            "principalId": ra.principal_id, "principalType": ra.principal_type, "scope": ra.scope,
            "condition": None, "conditionVersion": None, "createdOn": now, "updatedOn": now,
            "createdBy": None, "updatedBy": None, "delegatedManagedIdentityResourceId": None, "description": None,
        },
        "id": ra.assignment_id, "type": RA_TYPE, "name": ra.assignment_id.rsplit("/", 1)[-1],
    }


def role_assignment(world: World, req: Request, scope: str, name: str) -> Response:
    scope = scope.rstrip("/")
    rid = f"{scope}/providers/{RA_TYPE}/{name}"
    with world.lock:
        existing = world.role_assignments.get(rid.lower())
    if req.method == "GET":
        denied = require(world, req, "arm/read", f"{RA_TYPE}/read", scope)
        if denied:
            return denied
        if existing is None:
            return error(404, "RoleAssignmentNotFound", f"The role assignment '{name}' is not found.")
        return Response(200, _ra_body(world, existing))
    if req.method == "DELETE":
        denied = require(world, req, "authorization/write", f"{RA_TYPE}/delete", scope)
        if denied:
            return denied
        if existing is None:
            return Response(204)
        with world.lock:
            world.role_assignments.pop(rid.lower(), None)
        return Response(200, _ra_body(world, existing))
    if req.method != "PUT":
        return error(405, "MethodNotAllowed", f"The method '{req.method}' is not allowed.")
    denied = require(world, req, "authorization/write", f"{RA_TYPE}/write", scope)
    if denied:
        return denied
    body = json_body(req)
    if isinstance(body, Response):
        return body
    props = body.get("properties") or {}
    role = role_id(str(props.get("roleDefinitionId") or ""))
    principal_id = str(props.get("principalId") or "")
    if role not in ROLE_NAMES.values():
        return error(400, "RoleDefinitionDoesNotExist", "The specified role definition with ID "
                     f"'{role}' does not exist.")
    if principal_id not in world.principals:
        return error(400, "PrincipalNotFound",
                     f"Principal {principal_id.replace('-', '')} does not exist in the directory "
                     f"{world.tenant_id}. Check that you have the correct principal ID. If you are creating "
                     "this principal and then immediately assigning a role, this error might be related to a "
                     "replication delay. In this case, set the role assignment principalType property to a "
                     "value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype")
    with world.lock:
        for ra in world.role_assignments.values():
            if (ra.scope.lower() == scope.lower() and ra.role_definition_id == role
                    and ra.principal_id == principal_id and ra.assignment_id.lower() != rid.lower()):
                return error(409, "RoleAssignmentExists", "The role assignment already exists.")
        ra = RoleAssignment(rid, scope, role, principal_id)
        world.role_assignments[rid.lower()] = ra
    return Response(201, _ra_body(world, ra))


def list_role_assignments(world: World, req: Request, scope: str) -> Response:
    scope = scope.rstrip("/")
    denied = require(world, req, "arm/read", f"{RA_TYPE}/read", scope)
    if denied:
        return denied
    flt = req.query.get("$filter", "")
    wanted = flt.split("'")[1].lower() if "principalid eq '" in flt.lower() and flt.count("'") >= 2 else None
    at_scope = "atscope()" in flt.lower()
    target = scope.lower() + "/"
    with world.lock:
        found = []
        for ra in world.role_assignments.values():
            own = ra.scope.lower().rstrip("/") + "/"
            above = target.startswith(own)
            below = own.startswith(target)
            if (above or (below and not at_scope)) and (wanted is None or ra.principal_id.lower() == wanted):
                found.append(_ra_body(world, ra))
    return Response(200, {"value": found})




# --- effective permissions (what azure-mgmt-authorization's permissions.list_for_* read) ----------------------


def permissions(world: World, req: Request, scope: str) -> Response:
    """``GET {scope}/providers/Microsoft.Authorization/permissions``: the caller's own permissions at ``scope``,
    one entry per role that applies there (assigned at the scope or above, to the caller or to a group it is
    in). Any caller may read its own; a caller with no role there gets an empty list. Assumption: entries carry
    only the four lists (``condition``/``conditionVersion`` appear with conditional assignments, not modelled)."""
    from emulator.roles import DEFINITIONS

    # azure-mgmt-authorization's list_for_resource with an empty parent path (as the Azure CLI passes it) sends
    # ``Microsoft.KeyVault//vaults/{name}``; ARM reads it as the resource's scope (assumed: empty segments ignored).
    scope = re.sub(r"/{2,}", "/", scope)
    seen: list[str] = []
    for ra in world.assignments_for(req.principal_id, scope):
        if ra.role_definition_id not in seen and ra.role_definition_id in DEFINITIONS:
            seen.append(ra.role_definition_id)
    value = []
    for rid in seen:
        d = DEFINITIONS[rid]
        value.append({"actions": list(d.actions), "notActions": list(d.not_actions),
                      "dataActions": list(d.data_actions), "notDataActions": list(d.not_data_actions)})
    return Response(200, {"value": value})


def role_definition(world: World, req: Request, scope: str, name: str) -> Response:
    """``GET {scope}/providers/Microsoft.Authorization/roleDefinitions/{id}``: a built-in role's definition, as
    azure-mgmt-authorization's ``role_definitions.get_by_id`` reads it. Any signed-in caller may read one."""
    from emulator.roles import DEFINITIONS

    d = DEFINITIONS.get(name.lower())
    if d is None:
        return error(404, "RoleDefinitionDoesNotExist", f"The specified role definition with ID '{name}' does not "
                     "exist.")
    return Response(200, {
        "id": f"{scope.rstrip('/')}/providers/Microsoft.Authorization/roleDefinitions/{name.lower()}",
        "type": "Microsoft.Authorization/roleDefinitions", "name": name.lower(),
        "properties": {"roleName": d.name, "type": "BuiltInRole", "description": d.name, "assignableScopes": ["/"],
                       "permissions": [{"actions": list(d.actions), "notActions": list(d.not_actions),
                                        "dataActions": list(d.data_actions),
                                        "notDataActions": list(d.not_data_actions)}]}})


# --- soft-deleted vaults ------------------------------------------------------------------------------------


def _deleted_vault_body(record: dict[str, Any]) -> dict[str, Any]:
    vault_: Vault = record["vault"]
    props = vault_.arm.get("properties", {})
    return {"id": f"/subscriptions/{vault_.subscription_id}/providers/Microsoft.KeyVault/locations/"
                  f"{vault_.location}/deletedVaults/{vault_.name}",
            "name": vault_.name, "type": "Microsoft.KeyVault/deletedVaults",
            "properties": {"vaultId": vault_.resource_id, "location": vault_.location,
                           "deletionDate": iso(record["deleted"], zulu=True),
                           "scheduledPurgeDate": iso(record["purge_at"], zulu=True),
                           "tags": vault_.arm.get("tags") or {},
                           "purgeProtectionEnabled": bool(props.get("enablePurgeProtection"))}}


def deleted_vault(world: World, req: Request, sub: str, location: str, name: str, purge: bool) -> Response:
    scope = f"/subscriptions/{sub}"
    denied = require(world, req, "arm/write" if purge else "arm/read",
                     "Microsoft.KeyVault/locations/deletedVaults/" + ("purge/action" if purge else "read"), scope)
    if denied:
        return denied
    with world.lock:
        record = world.deleted_vaults.get(name.lower())
        if (record is None or record["vault"].subscription_id.lower() != sub.lower()
                or record["vault"].location.lower() != location.lower()):
            return error(404, "DeletedVaultNotFound", f"Deleted vault '{name}' not found.")
        if not purge:
            return Response(200, _deleted_vault_body(record))
        if record["vault"].arm.get("properties", {}).get("enablePurgeProtection"):
            return error(409, "VaultPurgeProtected", f"Vault '{name}' has purge protection enabled and cannot "
                         "be purged before its scheduled purge date.")
        del world.deleted_vaults[name.lower()]
        for k in [k for k in world.keys if k[0] == record["vault"].host]:
            del world.keys[k]
    return Response(202, None, {"Location": f"https://{req.host}{req.path}"})


def list_deleted_vaults(world: World, req: Request, sub: str) -> Response:
    denied = require(world, req, "arm/read", "Microsoft.KeyVault/deletedVaults/read", f"/subscriptions/{sub}")
    if denied:
        return denied
    with world.lock:
        value = [_deleted_vault_body(r) for r in world.deleted_vaults.values()
                 if r["vault"].subscription_id.lower() == sub.lower()]
    return Response(200, {"value": value})


def soft_delete_vault(world: World, existing: Vault) -> None:
    """What deleting a vault does: its name stops resolving, and it waits in deletedVaults with its keys
    until the retention period ends. Assumption (UNCONFIRMED, README K12): a soft-deleted vault's host
    does not resolve either. Call under world.lock."""
    world.vaults.pop(existing.host, None)
    days = int(existing.arm.get("properties", {}).get("softDeleteRetentionInDays") or 90)
    now = world.now()
    world.deleted_vaults[existing.name.lower()] = {"vault": existing, "deleted": now, "purge_at": now + days * 86400}
