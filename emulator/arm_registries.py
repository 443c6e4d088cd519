"""ARM: Microsoft.ContainerRegistry/registries (api-version 2025-11-01) with its long-running PATCH.

A registry's ARM body lives in ``world.registries``; private state (the pending operation, the
system-assigned principal) in ``world.registry_state``. Time-dependent parts (operation completion,
versionless key following) are settled lazily whenever a registry is read or written.
"""

from __future__ import annotations

import copy
import re
import secrets
import uuid
from typing import Any

from emulator import arm_encryption as enc
from emulator.arm_common import (
    authorization_failed,
    error,
    iso,
    lower_rg,
    require,
    resource_not_found,
    system_data,
    write_body,
)
from emulator.clouds import cloud_for_management
from emulator.world import PERMISSIONS, Request, Response, World

RTYPE = "Microsoft.ContainerRegistry/registries"
NAME_RE = re.compile(r"^[a-zA-Z0-9]{5,50}$")
SKUS = {"basic": "Basic", "standard": "Standard", "premium": "Premium"}
IDENTITY_TYPES = {"systemassigned": "systemAssigned", "userassigned": "userAssigned",
                  "systemassigned,userassigned": "systemAssigned, userAssigned", "none": "None"}
# Writable properties we keep as sent (RegistryProperties / RegistryPropertiesUpdateParameters).
WRITABLE = ("adminUserEnabled", "networkRuleSet", "dataEndpointEnabled", "publicNetworkAccess",
            "networkRuleBypassOptions", "networkRuleBypassAllowedForTasks", "anonymousPullEnabled",
            "roleAssignmentMode")


def _rid(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{RTYPE}/{name}"


def settle(world: World, key: str) -> dict[str, Any] | None:
    """Bring one registry up to date with the clock; returns its body. Call under world.lock."""
    reg = world.registries.get(key)
    state = world.registry_state.get(key)
    if reg is None or state is None:
        return reg
    op = world.operations.get(state.get("op") or "")
    if op is not None and world.now() >= op["done_at"]:
        state["op"] = None
        if op["failed"]:
            reg = world.registries[key] = op["previous"]  # the update never happened
            reg["properties"]["provisioningState"] = op["failed"]
        else:
            reg["properties"]["provisioningState"] = "Succeeded"
    enc.follow_versionless(world, reg["properties"].get("encryption") or {})
    return reg


def _status_url(req: Request, rid: str, op_id: str) -> str:
    ticks = int(uuid.uuid1().time)  # opaque, like the recording's t=...; c/s/h mimic its signature params
    return (f"https://{req.host}{rid}/operationStatuses/{op_id}?api-version={req.query.get('api-version', '')}"
            f"&t={ticks}&c={secrets.token_urlsafe(24)}&s={secrets.token_urlsafe(24)}&h={secrets.token_urlsafe(16)}")


def _start_op(world: World, req: Request, key: str, rid: str, kind: str, seconds: float,
              previous: dict[str, Any] | None, failed: str | None) -> str:
    op_id = f"registries-{uuid.uuid1()}"
    world.operations[op_id] = {"registry": key, "kind": kind, "done_at": world.now() + seconds,
                               "failed": failed, "previous": previous}
    world.registry_state[key]["op"] = op_id
    return _status_url(req, rid, op_id)


def _identity(world: World, req: Request, requested: dict[str, Any] | None, current: dict[str, Any] | None,
              state: dict[str, Any]) -> dict[str, Any] | Response | None:
    """The registry identity after a PUT/PATCH: normalised type, lower-case 'resourcegroups' keys."""
    if requested is None:
        return current
    rtype = str(requested.get("type") or (current or {}).get("type") or "None").replace(" ", "").lower()
    if rtype not in IDENTITY_TYPES:
        return error(400, "InvalidIdentityType", f"The identity type '{requested.get('type')}' is invalid.")
    if rtype == "none":
        return None
    out: dict[str, Any] = {}
    if "systemassigned" in rtype:
        if not state.get("system_principal"):
            state["system_principal"] = world.add_principal(f"registry {req.path.rsplit('/', 1)[-1]}").principal_id
        out.update({"principalId": state["system_principal"], "tenantId": world.tenant_id})
    out["type"] = IDENTITY_TYPES[rtype]
    if "userassigned" in rtype:
        merged = dict((current or {}).get("userAssignedIdentities") or {})
        for ua_id, value in (requested.get("userAssignedIdentities") or {}).items():
            norm = lower_rg(ua_id)
            existing_key = next((k for k in merged if k.lower() == norm.lower()), None)
            if value is None:  # PATCH semantics: null removes
                merged.pop(existing_key or norm, None)
                continue
            if existing_key:
                continue
            ua = world.identities.get(norm.lower())
            if ua is None:
                return error(400, "InvalidUserAssignedIdentity",
                             f"The user-assigned identity '{ua_id}' was not found.")
            if not world.can(req.principal_id, "identity/assign", norm):
                caller = world.principals.get(req.principal_id or "")
                return error(403, "LinkedAuthorizationFailed",
                             f"The client '{caller.client_id if caller else req.principal_id}' with object id "
                             f"'{req.principal_id}' has permission "
                             f"to perform action '{RTYPE}/write' on scope '{req.path}'; however, it does not have "
                             "permission to perform action(s) 'Microsoft.ManagedIdentity/userAssignedIdentities/"
                             f"assign/action' on the linked scope(s) '{norm}' (respectively) or the linked "
                             "scope(s) are invalid.")
            merged[norm] = {"principalId": ua["properties"]["principalId"],
                            "clientId": ua["properties"]["clientId"]}
        out["userAssignedIdentities"] = merged
    return out


def _new_body(world: World, req: Request, rid: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    now = world.now()
    cloud = cloud_for_management(req.host)
    props: dict[str, Any] = {
        "loginServer": f"{name.lower()}.{cloud.acr_suffix}", "creationDate": iso(now, zulu=True),
        "provisioningState": "Creating", "adminUserEnabled": False,
        "networkRuleSet": {"defaultAction": "Allow", "ipRules": []},
        "policies": {"quarantinePolicy": {"status": "disabled"},
                     "trustPolicy": {"type": "Notary", "status": "disabled"},
                     "retentionPolicy": {"days": 7, "lastUpdatedTime": iso(now), "status": "disabled"},
                     "exportPolicy": {"status": "enabled"},
                     "azureADAuthenticationAsArmPolicy": {"status": "enabled"}},
        "encryption": {"status": "disabled"}, "dataEndpointEnabled": False, "dataEndpointHostNames": [],
        "privateEndpointConnections": [], "publicNetworkAccess": "Enabled",
        "networkRuleBypassOptions": "AzureServices", "networkRuleBypassAllowedForTasks": False,
        "zoneRedundancy": "Disabled", "anonymousPullEnabled": False,
        "roleAssignmentMode": "LegacyRegistryPermissions",
    }
    zr = (body.get("properties") or {}).get("zoneRedundancy")
    if zr in ("Enabled", "Disabled"):
        props["zoneRedundancy"] = zr
    return {"sku": {}, "type": RTYPE, "id": rid, "name": name, "location": body.get("location"),
            "tags": {}, "systemData": system_data(world, req), "properties": props}


def _apply(world: World, req: Request, reg: dict[str, Any], body: dict[str, Any], state: dict[str, Any],
           creating: bool) -> Response | None:
    """Merge a PUT/PATCH body into ``reg`` in place, enforcing ACR's rules."""
    if "tags" in body and body["tags"] is not None:
        reg["tags"] = dict(body["tags"])
    sku = body.get("sku")
    if sku is not None or creating:
        sku_name = SKUS.get(str((sku or {}).get("name", "")).lower())
        if sku_name is None:
            return error(400, "InvalidSku", f"The sku '{(sku or {}).get('name')}' is invalid.")
        reg["sku"] = {"name": sku_name, "tier": sku_name}
    identity = _identity(world, req, body.get("identity"), reg.get("identity"), state)
    if isinstance(identity, Response):
        return identity
    props_in = body.get("properties") or {}
    props = reg["properties"]
    for name in WRITABLE:
        if props_in.get(name) is not None:
            props[name] = props_in[name]
    for pname, policy in (props_in.get("policies") or {}).items():
        if isinstance(policy, dict):
            merged = {**props["policies"].get(pname, {}), **policy}
            if pname == "retentionPolicy":
                merged["lastUpdatedTime"] = iso(world.now())
            props["policies"][pname] = merged
    requested = props_in.get("encryption")
    if requested is not None:
        current = {} if creating else props.get("encryption") or {}
        if (not creating and str(current.get("status", "disabled")).lower() == "disabled"
                and str(requested.get("status", "enabled")).lower() == "enabled"):
            return error(400, "EncryptionCannotBeEnabled",
                         "Customer-managed key encryption can only be enabled when the registry is created. "
                         + enc.CMK_HELP)
        new = enc.build_encryption(world, requested, current, reg["sku"]["name"], identity,
                                   state.get("system_principal"), reg["id"])
        if isinstance(new, Response):
            return new
        props["encryption"] = new
    elif reg["sku"]["name"] != "Premium" and str(props["encryption"].get("status")).lower() == "enabled":
        return error(400, "EncryptionNotSupportedForSku",
                     "A registry encrypted with a customer-managed key must stay Premium. " + enc.CMK_HELP)
    reg["identity"] = identity
    _reorder(reg)
    reg["systemData"] = system_data(world, req, reg.get("systemData") if not creating else None)
    return None


def _reorder(reg: dict[str, Any]) -> None:
    """ARM key order as recorded: sku, type, identity, id, name, location, tags, systemData, properties."""
    order = ("sku", "type", "identity", "id", "name", "location", "tags", "systemData", "properties")
    items = {k: reg[k] for k in order if reg.get(k) is not None}
    items.update({k: v for k, v in reg.items() if k not in order})
    reg.clear()
    reg.update(items)


def registry(world: World, req: Request, sub: str, rg: str, name: str, lro_failed: str | None) -> Response:
    rid = _rid(sub, rg, name)
    key = rid.lower()
    if req.method == "GET":
        denied = require(world, req, "arm/read", f"{RTYPE}/read", rid)
        if denied:
            return denied
        with world.lock:
            reg = settle(world, key)
            return Response(200, copy.deepcopy(reg)) if reg else resource_not_found(RTYPE, name, rg)
    if req.method == "DELETE":
        denied = require(world, req, "registry/write", f"{RTYPE}/delete", rid)
        if denied:
            return denied
        with world.lock:
            if world.registries.pop(key, None) is None:
                return Response(204)
            world.registry_state.pop(key, None)
        return Response(200)
    body = write_body(world, req, ("PUT", "PATCH"), "registry/write", RTYPE, rid)
    if isinstance(body, Response):
        return body
    with world.lock:
        current = settle(world, key)
        if req.method == "PATCH" and current is None:
            return resource_not_found(RTYPE, name, rg)
        if current is None:
            return _create(world, req, rid, key, name, body)
        state = world.registry_state[key]
        if state.get("op"):
            return error(409, "AnotherOperationInProgress",
                         f"The registry '{current['name']}' is in provisioning state "
                         f"'{current['properties']['provisioningState']}'. Another operation is in progress; "
                         "retry after it completes.")
        previous = copy.deepcopy(current)
        updated = copy.deepcopy(current)
        failed = _apply(world, req, updated, body, state, creating=False)
        if failed:
            return failed
        updated["properties"]["provisioningState"] = "Updating"
        world.registries[key] = updated
        url = _start_op(world, req, key, rid, "update", world.settings.lro_seconds, previous, lro_failed)
        return Response(201, copy.deepcopy(updated), {"Azure-AsyncOperation": url})


def _create(world: World, req: Request, rid: str, key: str, name: str, body: dict[str, Any]) -> Response:
    if not NAME_RE.match(name):
        return error(400, "InvalidRegistryName", f"The registry name '{name}' is invalid: 5-50 alphanumerics.")
    if not body.get("location"):
        return error(400, "LocationRequired", "The location property is required for this definition.")
    if any(r["name"].lower() == name.lower() for r in world.registries.values()):
        return error(409, "AlreadyInUse", f"The registry DNS name {name.lower()}.azurecr.io is already in use.")
    state: dict[str, Any] = {"op": None}
    reg = _new_body(world, req, rid, name, body)
    failed = _apply(world, req, reg, body, state, creating=True)
    if failed:
        return failed
    world.registries[key] = reg
    world.registry_state[key] = state
    # Creation completes at once (a real one takes ~10 s): seeding thousands of registries stays fast.
    url = _start_op(world, req, key, rid, "create", 0.0, None, None)
    return Response(201, copy.deepcopy(reg), {"Azure-AsyncOperation": url})


def operation_status(world: World, req: Request, sub: str, rg: str, name: str, op_id: str) -> Response:
    rid = _rid(sub, rg, name)
    denied = require(world, req, "arm/read", f"{RTYPE}/read", rid)
    if denied:
        return denied
    with world.lock:
        op = world.operations.get(op_id)
        if op is None or op["registry"] != rid.lower():
            return error(404, "OperationNotFound", f"The operation '{op_id}' was not found.")
        settle(world, op["registry"])
        headers = {"Azure-AsyncOperation": _status_url(req, rid, op_id)}
        if world.now() < op["done_at"]:
            return Response(200, {"status": "Creating" if op["kind"] == "create" else "Updating"}, headers)
        if op["failed"]:
            return Response(200, {"status": "Failed", "error": {
                "code": "RegistryUpdateFailed",
                "message": f"The update of registry '{name}' failed; the registry keeps its previous state."}},
                headers)
        return Response(200, {"status": "Succeeded"}, headers)


def _reads_anything_within(world: World, principal_id: str | None, prefix: str) -> bool:
    """Whether some read role of the caller applies at, above or below the listed scope. With none, ARM
    refuses the list itself (403 AuthorizationFailed over the list's scope) rather than answering empty."""
    if world.can(principal_id, "arm/read", prefix):
        return True
    who = world.identities_of(principal_id) if principal_id else set()
    with world.lock:
        return any(ra.principal_id in who and ra.scope.lower().startswith(prefix)
                   and ra.role_definition_id in PERMISSIONS["arm/read"] for ra in world.role_assignments.values())


def list_registries(world: World, req: Request, sub: str, rg: str | None) -> Response:
    prefix = (f"/subscriptions/{sub}/resourcegroups/{rg}/" if rg else f"/subscriptions/{sub}/").lower()
    try:
        skip = int(req.query.get("$skipToken", "0") or 0)
    except ValueError:
        return error(400, "InvalidSkipToken", "The $skipToken is invalid.")
    size = max(1, world.settings.arm_page_size)
    if not _reads_anything_within(world, req.principal_id, prefix):
        return authorization_failed(world, req, f"{RTYPE}/read", prefix.rstrip("/"))
    with world.lock:
        keys = [k for k in world.registries if k.startswith(prefix)]
        # Per-item read checks: ARM lists what the caller may see (a resource-group Reader sees that group).
        if not world.can(req.principal_id, "arm/read", prefix):
            keys = [k for k in keys if world.can(req.principal_id, "arm/read", k)]
        page = [copy.deepcopy(settle(world, k)) for k in keys[skip:skip + size]]
    out: dict[str, Any] = {"value": page}
    if skip + size < len(keys):
        out["nextLink"] = (f"https://{req.host}{req.path}?api-version={req.query.get('api-version', '')}"
                           f"&$skipToken={skip + size}")
    return Response(200, out)
