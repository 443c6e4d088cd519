"""Azure Resource Graph: POST /providers/Microsoft.ResourceGraph/resources on the management hosts.

Serves the ``Resources`` table for the registries the world holds, with the small part of KQL a
discovery query needs (``where`` with ``=~``/``==`` on a column or ``tostring(<path>)``, ``project``,
``order by``); anything else is answered with Resource Graph's 400 InvalidQuery. As the service does:
``type`` and ``resourceGroup`` are lower-case while ``id`` keeps ARM's casing; rows are only from
subscriptions (or resource groups) the caller can read; pages of at most 1,000 rows with an opaque
``$skipToken``; a per-principal quota (15 queries per 5 s) reported in ``x-ms-user-quota-*`` headers
and enforced, as ARM's buckets are, only when throttling is on. ``Settings.graph_lag_s`` > 0 serves a
snapshot refreshed that often: Resource Graph's data lags ARM.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import uuid
import weakref
from datetime import UTC, datetime
from typing import Any

from emulator.arm_common import json_body
from emulator.arm_registries import settle
from emulator.world import Request, Response, World

API_VERSIONS = ("2019-04-01", "2021-03-01", "2022-10-01", "2024-04-01")
MAX_TOP = 1000
QUOTA, QUOTA_WINDOW_S = 15, 5.0  # "at most 15 queries within every 5-second window" (guidance-for-throttled-requests)
# The Resources table's columns, in the service's order.
COLUMNS = ("id", "name", "type", "tenantId", "kind", "location", "resourceGroup", "subscriptionId", "managedBy",
           "sku", "plan", "properties", "tags", "identity", "zones", "extendedLocation")
_COLUMN_TYPES = {"sku": "object", "plan": "object", "properties": "object", "tags": "object", "identity": "object",
                 "zones": "object", "extendedLocation": "object"}
_SNAPSHOTS: weakref.WeakKeyDictionary[World, tuple[float, dict[str, dict[str, Any]]]] = weakref.WeakKeyDictionary()


class _InvalidQuery(Exception):
    pass


def _error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    message = f"Please provide below info when asking for support: timestamp = {stamp}, correlationId = {uuid.uuid4()}."
    return Response(status, {"error": {"code": code, "message": message,
                                       "details": [{"code": code, "message": detail}]}}, headers or {})


def _invalid_query(detail: str) -> Response:
    invalid = ("Query is invalid. Please refer to the documentation for the Azure Resource Graph service and fix "
               "the error before retrying.")
    failed = _error(400, "BadRequest", invalid)
    failed.body["error"]["details"] = [{"code": "InvalidQuery", "message": invalid},
                                       {"code": "ParserFailure", "message": detail}]
    return failed


# --- The query: a pipeline of the few operators a discovery needs --------------------------------------

_LITERAL = r"'([^']*)'|\"([^\"]*)\""
_WHERE = re.compile(rf"^where\s+(tostring\(\s*([\w.]+)\s*\)|\w+)\s*(=~|==|!~|!=)\s*(?:{_LITERAL})$", re.I | re.S)
_ORDER = re.compile(r"^(?:order|sort)\s+by\s+(\w+)(?:\s+(asc|desc))?$", re.I)
_PROJECT = re.compile(r"^project\s+(\w+(?:\s*,\s*\w+)*)$", re.I)


def _stages(query: str) -> list[str]:
    return [s.strip() for s in re.findall(r"(?:'[^']*'|\"[^\"]*\"|[^|'\"])+", query) if s.strip()]


def _path(row: dict[str, Any], dotted: str) -> Any:
    value: Any = row
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _compile(query: str) -> tuple[list[Any], list[str] | None, tuple[str, bool] | None]:
    """(where predicates, projected columns or None, (order column, descending) or None)."""
    stages = _stages(query)
    if not stages or stages[0].lower() != "resources":
        raise _InvalidQuery(f"the stand-in serves the Resources table only, not {stages[0] if stages else ''!r}")
    wheres: list[Any] = []
    project: list[str] | None = None
    order: tuple[str, bool] | None = None
    for stage in stages[1:]:
        if m := _WHERE.match(stage):
            column, path, op, value = m.group(1), m.group(2), m.group(3), m.group(4) if m.group(4) is not None \
                else m.group(5)
            if path is None and column not in COLUMNS:
                raise _InvalidQuery(f"unknown column {column!r}")
            wheres.append((path or column, op, value, path is not None))
        elif m := _PROJECT.match(stage):
            project = [c.strip() for c in m.group(1).split(",")]
            unknown = [c for c in project if c not in COLUMNS]
            if unknown:
                raise _InvalidQuery(f"unknown column {unknown[0]!r}")
        elif m := _ORDER.match(stage):
            order = (m.group(1), (m.group(2) or "asc").lower() == "desc")
        else:
            raise _InvalidQuery(f"operator not served by the stand-in: {stage[:60]!r}")
    return wheres, project, order


def _matches(row: dict[str, Any], wheres: list[Any]) -> bool:
    for name, op, value, is_path in wheres:
        raw = _path(row, name) if is_path else row.get(name)
        text = "" if raw is None else (raw if isinstance(raw, str) else json.dumps(raw))
        equal = text.lower() == value.lower() if op in ("=~", "!~") else text == value
        if equal != (op in ("=~", "==")):
            return False
    return True


# --- The data ------------------------------------------------------------------------------------------

def _registries(world: World) -> dict[str, dict[str, Any]]:
    """Registry bodies by lower-case id: live, or a snapshot at most ``graph_lag_s`` old. Call under world.lock."""
    lag = world.settings.graph_lag_s
    if lag <= 0:
        return {k: body for k in list(world.registries) if (body := settle(world, k)) is not None}
    taken = _SNAPSHOTS.get(world)
    if taken is None or world.now() - taken[0] >= lag:
        live = {k: copy.deepcopy(body) for k in list(world.registries) if (body := settle(world, k)) is not None}
        taken = _SNAPSHOTS[world] = (world.now(), live)
    return taken[1]


def _row(world: World, body: dict[str, Any]) -> dict[str, Any]:
    parts = body["id"].split("/")
    return {"id": body["id"], "name": body["name"], "type": str(body.get("type", "")).lower(),
            "tenantId": world.tenant_of_subscription(parts[2]), "kind": "",
            "location": str(body.get("location") or "").lower(),
            "resourceGroup": parts[4].lower(), "subscriptionId": parts[2].lower(), "managedBy": "",
            "sku": body.get("sku"), "plan": None, "properties": body.get("properties"), "tags": body.get("tags") or {},
            "identity": body.get("identity"), "zones": None, "extendedLocation": None}


def _readable(world: World, principal: str | None, requested: list[str]) -> tuple[set[str], bool]:
    """Subscriptions the caller reads whole, and whether it can read anything in the scope at all."""
    whole = {s for s in requested
             if s in world.subscriptions and world.can(principal, "arm/read", f"/subscriptions/{s}")}
    partial = whole or any(world.can(principal, "arm/read", k) for k in world.registries
                           if k.split("/")[2] in requested)
    return whole, bool(partial)


# --- Quota -----------------------------------------------------------------------------------------------

def _quota(world: World, principal: str | None) -> tuple[bool, dict[str, str]]:
    key = ("resourcegraph", principal or "", "queries")
    now = world.now()
    with world.lock:
        window = world.rate_buckets.setdefault(key, [0.0, now])
        if now - window[1] >= QUOTA_WINDOW_S:
            window[:] = [0.0, now]
        allowed = window[0] < QUOTA or not world.settings.throttling
        if allowed:
            window[0] += 1
        remaining = max(0, QUOTA - int(window[0]))
        resets = max(0.0, QUOTA_WINDOW_S - (now - window[1]))
    whole = int(-(-resets // 1))
    return allowed, {"x-ms-user-quota-remaining": str(remaining),
                     "x-ms-user-quota-resets-after": f"00:00:{min(whole, 59):02d}"}


# --- The handler -----------------------------------------------------------------------------------------

def _token(query: str, subscriptions: list[str], skip: int) -> str:
    digest = hashlib.sha256(json.dumps([query, sorted(subscriptions)]).encode()).hexdigest()[:16]
    return base64.b64encode(json.dumps({"q": digest, "skip": skip}).encode()).decode()


def _untoken(token: str, query: str, subscriptions: list[str]) -> int | None:
    try:
        data = json.loads(base64.b64decode(token))
        skip = int(data["skip"])
    except (ValueError, KeyError, TypeError):
        return None
    return skip if _token(query, subscriptions, skip) == token else None


def _table(rows: list[dict[str, Any]], columns: list[str]) -> dict[str, Any]:
    return {"columns": [{"name": c, "type": _COLUMN_TYPES.get(c, "string")} for c in columns],
            "rows": [[r.get(c) for c in columns] for r in rows]}


def query(world: World, req: Request) -> Response:
    version = req.query.get("api-version", "")
    if version not in API_VERSIONS:
        return _error(400, "InvalidApiVersionParameter", f"The api-version '{version}' is invalid. The supported "
                                                         f"versions are '{','.join(API_VERSIONS)}'.")
    allowed, quota_headers = _quota(world, req.principal_id)
    if not allowed:
        return _error(429, "RateLimiting", "Client application has been throttled and should not attempt to repeat "
                      "the request until an amount of time has elapsed. Please see "
                      "https://aka.ms/resourcegraph-throttling for help.", quota_headers)
    body = json_body(req)
    if isinstance(body, Response):
        return body
    text = body.get("query")
    if not isinstance(text, str) or not text.strip():
        return _error(400, "BadRequest", "The query is required.", quota_headers)
    if body.get("managementGroups"):
        return _error(400, "BadRequest", "Management group scopes are not served by the stand-in.", quota_headers)
    options = body.get("options") or {}
    try:
        top = int(options.get("$top", MAX_TOP))
        skip = int(options.get("$skip", 0) or 0)
    except (TypeError, ValueError):
        return _error(400, "BadRequest", "$top and $skip must be integers.", quota_headers)
    if not 1 <= top <= MAX_TOP or skip < 0:
        return _error(400, "BadRequest", f"$top must be between 1 and {MAX_TOP}; $skip must not be negative.",
                      quota_headers)
    fmt = options.get("resultFormat") or ("table" if version == "2019-04-01" else "objectArray")
    if fmt not in ("table", "objectArray"):
        return _error(400, "BadRequest", f"Unknown resultFormat '{fmt}'.", quota_headers)
    try:
        wheres, project, order = _compile(text)
    except _InvalidQuery as exc:
        failed = _invalid_query(str(exc))
        failed.headers.update(quota_headers)
        return failed
    requested = [str(s).lower() for s in (body.get("subscriptions") or list(world.subscriptions))]
    if options.get("$skipToken"):
        resumed = _untoken(str(options["$skipToken"]), text, requested)
        if resumed is None:
            return _error(400, "BadRequest", "The $skipToken is invalid for this query.", quota_headers)
        skip = resumed
    tenant = (req.token_claims or {}).get("tid")
    if tenant:
        # Assumption (no source): Resource Graph sees only the token's tenant, so a token from another tenant
        # reads nothing here (403 AccessDenied below) rather than ARM's 401 InvalidAuthenticationTokenTenant.
        requested = [s for s in requested if world.tenant_of_subscription(s) == tenant]
    with world.lock:
        whole, any_readable = _readable(world, req.principal_id, requested)
        if not any_readable:
            return _error(403, "AccessDenied", "Access is denied to the requested resource. The user might not have "
                                               "enough permission.", quota_headers)
        rows = [_row(world, b) for k, b in _registries(world).items()
                if k.split("/")[2] in requested
                and (k.split("/")[2] in whole or world.can(req.principal_id, "arm/read", k))]
        rows = [r for r in rows if _matches(r, wheres)]
        columns = project or list(COLUMNS)
        pageable = "id" in columns  # the service pages in a stable order by id only when id is returned
        column, descending = order or ("id", False)
        rows.sort(key=lambda r: str(r.get(column) or "").lower(), reverse=descending)
        page = [{c: copy.deepcopy(r[c]) for c in columns} for r in rows[skip:skip + top]]
    more = skip + top < len(rows)
    out: dict[str, Any] = {"totalRecords": len(rows), "count": len(page),
                           "data": page if fmt == "objectArray" else _table(page, columns),
                           "facets": [], "resultTruncated": "true" if more and not pageable else "false"}
    if more and pageable:
        out["$skipToken"] = _token(text, requested, skip + top)
    return Response(200, out, quota_headers)
