"""Shared pieces of the ARM stand-in: error shapes, authorization, timestamps, ids."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from emulator.world import Request, Response, World

RG_RE = re.compile(r"/resourcegroups/", re.IGNORECASE)


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, {"error": {"code": code, "message": message}}, headers or {})


def authorization_failed(world: World, req: Request, action: str, scope: str) -> Response:
    """ARM's 403 (misconfig README A1): the client is named by its appid (a user by UPN), then its object id."""
    pid = req.principal_id
    principal = world.principals.get(pid or "")
    client = principal.client_id if principal else pid
    return error(403, "AuthorizationFailed",
                 f"The client '{client}' with object id '{pid}' does not have authorization to perform action "
                 f"'{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, "
                 "please refresh your credentials.", {"x-ms-failure-cause": "gateway"})


def require(world: World, req: Request, permission: str, action: str, scope: str) -> Response | None:
    """None when the caller may; else ARM's 403 AuthorizationFailed."""
    if world.can(req.principal_id, permission, scope):
        return None
    return authorization_failed(world, req, action, scope)


def require_action(world: World, req: Request, action: str, scope: str) -> Response | None:
    """As ``require``, decided by the built-in roles' actions (emulator/roles.py)."""
    from emulator import roles

    if roles.allows(world, req.principal_id, action, scope):
        return None
    return authorization_failed(world, req, action, scope)


def resource_not_found(rtype: str, name: str, rg: str) -> Response:
    return error(404, "ResourceNotFound",
                 f"The Resource '{rtype}/{name}' under resource group '{rg}' was not found. For more details "
                 "please go to https://aka.ms/ARMResourceNotFoundFix")


def iso(ts: float, zulu: bool = False) -> str:
    """ARM's 7-digit fractional timestamps: 2023-12-21T23:57:13.3199686+00:00 (or ...Z)."""
    text = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"
    return text + ("Z" if zulu else "+00:00")


def system_data(world: World, req: Request, created: dict[str, Any] | None = None) -> dict[str, Any]:
    """systemData for a create (created=None) or an update of an existing resource's systemData."""
    principal = world.principals.get(req.principal_id or "")
    who = principal.client_id if principal else (req.principal_id or "")
    now = iso(world.now())
    data = dict(created) if created else {"createdBy": who, "createdByType": "Application", "createdAt": now}
    data.update({"lastModifiedBy": who, "lastModifiedByType": "Application", "lastModifiedAt": now})
    return data


def json_body(req: Request) -> dict[str, Any] | Response:
    try:
        body = req.json()
    except ValueError:
        return error(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.")
    if body is None:
        return {}
    if not isinstance(body, dict):
        return error(400, "InvalidRequestContent", "The request content must be a JSON object.")
    return body


def write_body(world: World, req: Request, methods: tuple[str, ...], permission: str, rtype: str, rid: str,
               location_required: bool = False) -> dict[str, Any] | Response:
    """What every resource write checks first, in ARM's order: method, authorization, a JSON body, location."""
    if req.method not in methods:
        return error(405, "MethodNotAllowed", f"The method '{req.method}' is not allowed.")
    denied = require(world, req, permission, f"{rtype}/write", rid)
    if denied:
        return denied
    body = json_body(req)
    if isinstance(body, Response) or not location_required or body.get("location"):
        return body
    return error(400, "LocationRequired", "The location property is required for this definition.")


def lower_rg(resource_id: str) -> str:
    """User-assigned identity ids as ARM hands them back: '/resourcegroups/' in lower case."""
    return RG_RE.sub("/resourcegroups/", resource_id)
