"""Key Vault keys data plane (vaults and Managed HSM), as azure-keyvault-keys 4.11 talks to it.

Wire shapes live in kv_model.py. Behaviour worth knowing (see shared/azure-wire/NOTES.md):
challenge auth answers 401 before anything else; versions list sorted by version id, not by
creation time; a GET of a disabled version answers 200 (attributes.enabled false) and only crypto
operations on it are 403 KeyDisabled; tokens, network rules and RBAC or access policies are checked
in kv_access.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import weakref
from typing import Any

from emulator import eventgrid, kv_access
from emulator import kv_model as m
from emulator.world import Key, KeyVersion, Request, Response, Vault, World

API_VERSIONS = {"2025-07-01", "2016-10-01"} | {f"7.{i}" for i in range(7)} | {"7.5-preview", "7.6-preview.2"}
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-cache"}
PAGE_MAX = 25
NEW_VERSION = "Microsoft.KeyVault.KeyNewVersionCreated"
# Crypto operations: URL segment -> (key_ops name, RBAC data action, stand-in permission).
CRYPTO_OPS = {
    "wrapkey": ("wrapKey", "keys/wrap/action", "keys/wrap"),
    "unwrapkey": ("unwrapKey", "keys/unwrap/action", "keys/wrap"),
    "encrypt": ("encrypt", "keys/encrypt/action", "keys/crypto"),
    "decrypt": ("decrypt", "keys/decrypt/action", "keys/crypto"),
    "sign": ("sign", "keys/sign/action", "keys/crypto"),
    "verify": ("verify", "keys/verify/action", "keys/crypto"),
}
# What a disabled key still does (Azure/azure-sdk-for-python#45342, live: encrypt, verify and wrapKey are
# allowed on a disabled key; decrypt, sign and unwrapKey answer 403 KeyDisabled).
ALLOWED_WHEN_DISABLED = {"encrypt", "verify", "wrapKey"}
_SEALED = b"standin-sealed:"

# Soft-delete timestamps per world: (host, lower name) -> deletedDate. Kept here rather than on
# the shared Key dataclass, which only knows "deleted".
_deleted_at: weakref.WeakKeyDictionary[World, dict[tuple[str, str], int]] = weakref.WeakKeyDictionary()


class _Reply(Exception):
    """Raised inside a handler to answer at once with an error response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, body, {**JSON_HEADERS, **(headers or {})})


def _fail(status: int, code: str, message: str, inner: str | None = None,
          headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(_json(status, m.error(code, message, inner), headers))


def handle(world: World, req: Request) -> Response:
    try:
        cloud = m.cloud_for_host(req.host)
        if cloud is None:
            raise _fail(400, "BadParameter", f"Host {req.host} is not a Key Vault host.")
        challenge = _authenticate(world, req, *cloud)
        with world.lock:
            vault = world.vault_for_host(req.host)
        if vault is None:  # the front end refuses unknown hosts first; this is a safety net
            raise _fail(404, "VaultNotFound", f"Vault {req.host} does not exist.")
        kv_access.check_token(world, req, vault, challenge)
        with world.lock:
            api = req.query.get("api-version", "")
            if api not in API_VERSIONS:
                raise _fail(400, "BadParameter", f"The specified version ({api}) is not recognized. "
                            f"Consider using the latest supported version (2025-07-01).")
            response = _route(world, req, vault)
    except _Reply as r:
        response = r.response
    except kv_access.Refusal as r:
        response = r.response
    info = kv_access.network_info(world, world.vault_for_host(req.host))
    response.headers.update({k: v for k, v in info.items() if k not in response.headers})
    return response


def _norm_audience(aud: str) -> str:
    aud = aud.strip().lower()
    aud = aud.removesuffix("/.default")
    return aud.rstrip("/")


def _authenticate(world: World, req: Request, resource: str, authority: str) -> dict[str, str]:
    """The 401s that come before anything else; returns the challenge header for the later ones."""
    vault = world.vault_for_host(req.host)
    tenant = kv_access.vault_tenant(world, vault) if vault is not None else world.tenant_id
    challenge = {"WWW-Authenticate": f'Bearer authorization="{authority}/{tenant}", resource="{resource}"'}
    auth = req.headers.get("Authorization") or ""
    if not auth.lower().startswith("bearer ") or not auth[7:].strip():
        raise _fail(401, "Unauthorized", "AKV10000: Request is missing a Bearer, PoP, or MTLS_POP token.",
                    headers=challenge)
    if req.principal_id is None:
        raise _fail(401, "Unauthorized", "AKV10032: Invalid issuer or token.", headers=challenge)
    # A token without a known audience is taken at face value; a known wrong one is refused.
    if req.token_audience is not None and _norm_audience(req.token_audience) != resource:
        raise _fail(401, "Unauthorized", f"AKV10022: Invalid audience. Expected {resource}, found: "
                    f"{req.token_audience}.", headers=challenge)
    return challenge


def _authorize(world: World, req: Request, vault: Vault, permission: str, action: str,
               key_name: str | None = None, listing: bool = False) -> None:
    kv_access.authorize(world, req, vault, permission, action, key_name, listing)


def _route(world: World, req: Request, vault: Vault) -> Response:
    parts = req.path.strip("/").split("/") if req.path.strip("/") else []
    method = req.method.upper()
    if req.path.endswith("/") and len(parts) == 2:
        parts.append("")  # "/keys/{name}/" is "latest" (the SDK sends an empty version)
    if parts[:1] == ["keys"]:
        if len(parts) == 1 and method == "GET":
            return _list_keys(world, req, vault)
        if len(parts) >= 2:
            name, rest = parts[1], parts[2:]
            op = rest[0].lower() if rest else None
            if len(rest) == 1 and op == "create" and method == "POST":
                return _create(world, req, vault, name)
            if len(rest) == 1 and op == "rotate" and method == "POST":
                return _rotate(world, req, vault, name)
            if len(rest) == 1 and op == "rotationpolicy" and method in ("GET", "PUT"):
                return _policy(world, req, vault, name)
            if len(rest) == 1 and op == "versions" and method == "GET":
                return _list_versions(world, req, vault, name)
            if len(rest) == 2 and method == "POST" and rest[1].lower() in CRYPTO_OPS:
                return _crypto(world, req, vault, name, rest[0], CRYPTO_OPS[rest[1].lower()])
            if len(rest) <= 1 and method == "GET":
                return _get(world, req, vault, name, rest[0] if rest else "")
            if len(rest) <= 1 and method == "PATCH":
                return _update(world, req, vault, name, rest[0] if rest else "")
            if not rest and method == "DELETE":
                return _delete(world, req, vault, name)
    if parts[:1] == ["deletedkeys"] and len(parts) >= 2:
        return _deleted(world, req, vault, parts[1], parts[2:])
    raise _fail(400, "BadParameter", f"Unsupported operation {method} {req.path}.")


# ---- lookups ---------------------------------------------------------------------------------

def _not_found(name: str, version: str = "") -> _Reply:
    what = f"{name}/{version}" if version else name
    return _fail(404, "KeyNotFound", f"A key with (name/id) {what} was not found in this key vault. If you "
                 "recently deleted this key you may be able to recover it using the correct recovery "
                 "command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182")


def _key(world: World, vault: Vault, name: str) -> Key:
    key = world.keys.get((vault.host, name.lower()))
    if key is None or key.deleted or not key.versions:
        raise _not_found(name)
    return key


def _version(key: Key, version: str) -> KeyVersion:
    if not version:
        return key.current
    for v in key.versions:
        if v.version == version.lower():
            return v
    raise _not_found(key.name, version)


def newest_enabled_version(world: World, host: str, name: str) -> KeyVersion | None:
    """The enabled version created last (ties go to the later one in creation order), or None.
    Used by ARM for versionless registry keys, which follow the newest enabled version."""
    with world.lock:
        key = world.keys.get((host.lower(), name.lower()))
        if key is None or key.deleted:
            return None
        best: KeyVersion | None = None
        for v in key.versions:
            if v.enabled and (best is None or v.created >= best.created):
                best = v
        return best


# ---- operations ------------------------------------------------------------------------------

def _body(req: Request) -> dict[str, Any]:
    try:
        body = req.json()
    except ValueError:
        raise _fail(400, "BadParameter", "The request body is not valid JSON.") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _fail(400, "BadParameter", "The request body must be a JSON object.")
    return body


def _epoch(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(400, "BadParameter", f"Invalid value for attribute '{field}'.")
    return int(value)


def _apply_attrs(v: KeyVersion, attrs: dict[str, Any]) -> None:
    if "enabled" in attrs and attrs["enabled"] is not None:
        v.enabled = bool(attrs["enabled"])
    if attrs.get("nbf") is not None:
        v.nbf = _epoch(attrs["nbf"], "nbf")
    if attrs.get("exp") is not None:
        v.exp = _epoch(attrs["exp"], "exp")


def _publish_new_version(world: World, vault: Vault, key: Key, v: KeyVersion) -> None:
    if not m.is_managed_hsm(vault.host):  # Managed HSM is not an Event Grid source
        eventgrid.publish(world, NEW_VERSION, vault, key, v)


def _create(world: World, req: Request, vault: Vault, name: str) -> Response:
    _authorize(world, req, vault, "keys/write", "keys/create/action", name)
    if not m.NAME_RE.match(name):
        raise _fail(400, "BadParameter", "The request URI contains an invalid name: " + name)
    body = _body(req)
    kty = str(body.get("kty") or "")
    if kty not in m.KEY_TYPES:
        raise _fail(400, "BadParameter", f"Invalid key type: {kty or '(missing)'}.")
    if m.is_managed_hsm(vault.host) and not kty.endswith("-HSM"):
        raise _fail(400, "BadParameter", f"Key type {kty} is not supported by Managed HSM; use {kty}-HSM.")
    size, curve = body.get("key_size"), body.get("crv")
    if kty.startswith("RSA") and size not in (None, 2048, 3072, 4096):
        raise _fail(400, "BadParameter", f"Invalid key size: {size}.")
    if kty.startswith("EC") and curve not in (None, *m.CURVE_BYTES):
        raise _fail(400, "BadParameter", f"Invalid curve name: {curve}.")
    existing = world.keys.get((vault.host, name.lower()))
    if existing is not None and existing.deleted:
        raise _fail(409, "Conflict", f"Key {name} is currently in a deleted but recoverable state, and its "
                    "name cannot be reused; in this state, the key can only be recovered or purged.",
                    "ObjectIsDeletedButRecoverable")
    now = int(world.now())
    v = m.make_version(kty, size, curve, body.get("key_ops"), now)
    _apply_attrs(v, body.get("attributes") or {})
    v.tags = {str(k): str(val) for k, val in (body.get("tags") or {}).items()}
    if existing is None or not existing.versions:
        existing = Key(vault.host, name, rotation_policy=m.default_policy(now))
        world.keys[(vault.host, name.lower())] = existing
    existing.versions.append(v)
    _publish_new_version(world, vault, existing, v)
    return _json(200, m.bundle(vault, existing, v))


def _get(world: World, req: Request, vault: Vault, name: str, version: str) -> Response:
    _authorize(world, req, vault, "keys/read", "keys/read", name)
    key = _key(world, vault, name)
    v = _version(key, version)
    # A disabled key version still reads (200, attributes.enabled false: README K6); only crypto operations
    # on it are refused (403 KeyDisabled, _crypto). Secrets differ: a disabled secret's GET is a 403.
    return _json(200, m.bundle(vault, key, v))


def _update(world: World, req: Request, vault: Vault, name: str, version: str) -> Response:
    _authorize(world, req, vault, "keys/update", "keys/update/action", name)
    key = _key(world, vault, name)
    v = _version(key, version)
    body = _body(req)
    _apply_attrs(v, body.get("attributes") or {})
    if body.get("key_ops") is not None:
        v.key_ops = [str(op) for op in body["key_ops"]]
    if body.get("tags") is not None:
        v.tags = {str(k): str(val) for k, val in body["tags"].items()}
    v.updated = int(world.now())
    return _json(200, m.bundle(vault, key, v))


def _crypto(world: World, req: Request, vault: Vault, name: str, version: str,
            op: tuple[str, str, str]) -> Response:
    """wrapkey/unwrapkey/encrypt/decrypt/sign/verify. Nothing is really encrypted: a sealed value is the
    plaintext behind a marker and the version id, so only this key version opens it again."""
    key_op, action, permission = op
    _authorize(world, req, vault, permission, action, name)
    key = _key(world, vault, name)
    v = _version(key, version)
    if not v.enabled and key_op not in ALLOWED_WHEN_DISABLED:
        # Assumption (README K7: the operation word's casing is UNCONFIRMED): the key_ops spelling.
        raise _fail(403, "Forbidden", f"Operation {key_op} is not allowed on a disabled key.", "KeyDisabled")
    if key_op not in v.key_ops:
        raise _fail(403, "Forbidden", f"Operation {key_op} is not permitted on this key.", "KeyOperationForbidden")
    body = _body(req)
    try:
        value = base64.urlsafe_b64decode(str(body.get("value", "")) + "=" * (-len(str(body.get("value", ""))) % 4))
    except ValueError:
        raise _fail(400, "BadParameter", "Property value is not a valid base64url string.") from None
    if not body.get("alg"):
        raise _fail(400, "BadParameter", "Property alg is required.")
    kid = m.key_url(vault.host, key.name, v.version)
    seal = _SEALED + v.version.encode() + b":"
    if key_op in ("wrapKey", "encrypt"):
        return _json(200, {"kid": kid, "value": m.b64url(seal + value)})
    if key_op in ("unwrapKey", "decrypt"):
        if not value.startswith(seal):
            raise _fail(400, "BadParameter", "The parameter is incorrect: the value was not sealed by this key.")
        return _json(200, {"kid": kid, "value": m.b64url(value[len(seal):])})
    signature = hashlib.sha256(seal + value).digest()
    if key_op == "sign":
        return _json(200, {"kid": kid, "value": m.b64url(signature)})
    digest = str(body.get("digest", ""))
    return _json(200, {"value": m.b64url(hashlib.sha256(seal + base64.urlsafe_b64decode(
        digest + "=" * (-len(digest) % 4))).digest()) == str(body.get("value", "")).rstrip("=")})


def _rotate(world: World, req: Request, vault: Vault, name: str) -> Response:
    _authorize(world, req, vault, "keys/write", "keys/rotate/action", name)
    key = _key(world, vault, name)
    cur, now = key.current, int(world.now())
    v = m.make_version(cur.kty, cur.key_size, cur.curve, cur.key_ops, now)
    v.tags = dict(cur.tags)
    expiry = (key.rotation_policy or {}).get("attributes", {}).get("expiryTime")
    secs = m.duration_seconds(expiry) if expiry else None
    if secs is not None:
        v.exp = now + secs  # the policy's expiryTime applies to new versions only
    key.versions.append(v)
    _publish_new_version(world, vault, key, v)
    return _json(200, m.bundle(vault, key, v))


def _policy(world: World, req: Request, vault: Vault, name: str) -> Response:
    write = req.method.upper() == "PUT"
    _authorize(world, req, vault, "keys/write" if write else "keys/read",
               "keyrotationpolicies/write" if write else "keyrotationpolicies/read", name)
    key = _key(world, vault, name)
    if write:
        body = _body(req)
        problem = m.policy_errors(body)
        if problem:
            raise _fail(400, "BadParameter", problem)
        key.rotation_policy = m.merge_policy(key.rotation_policy, body, int(world.now()))
    return _json(200, m.policy_wire(vault.host, key))


def _delete(world: World, req: Request, vault: Vault, name: str) -> Response:
    _authorize(world, req, vault, "keys/write", "keys/delete", name)
    key = _key(world, vault, name)
    mark_deleted(world, vault, key)
    return _json(200, _deleted_bundle(world, vault, key))


def mark_deleted(world: World, vault: Vault, key: Key) -> None:
    """Soft-delete ``key`` now (what DELETE /keys/{name} does)."""
    with world.lock:
        key.deleted = True
        _deleted_at.setdefault(world, {})[(vault.host, key.name.lower())] = int(world.now())


def _deleted_bundle(world: World, vault: Vault, key: Key) -> dict[str, Any]:
    when = _deleted_at.get(world, {}).get((vault.host, key.name.lower()), int(world.now()))
    days, _ = m.recovery(vault)
    return {"recoveryId": f"https://{vault.host}/deletedkeys/{key.name}", "deletedDate": when,
            "scheduledPurgeDate": when + days * 86400, **m.bundle(vault, key, key.current)}


def _deleted(world: World, req: Request, vault: Vault, name: str, rest: list[str]) -> Response:
    key = world.keys.get((vault.host, name.lower()))
    method = req.method.upper()
    write = method != "GET"
    _authorize(world, req, vault, "keys/write" if write else "keys/read",
               "deletedkeys/" + ("recover/action" if rest else "delete" if write else "read"), name)
    if key is None or not key.deleted:
        raise _fail(404, "KeyNotFound", f"Deleted Key not found: {name}")
    if not rest and method == "GET":
        return _json(200, _deleted_bundle(world, vault, key))
    if not rest and method == "DELETE":  # purge
        del world.keys[(vault.host, name.lower())]
        return Response(204, None, dict(JSON_HEADERS))
    if rest == ["recover"] and method == "POST":
        key.deleted = False
        return _json(200, m.bundle(vault, key, key.current))
    raise _fail(400, "BadParameter", f"Unsupported operation {method} {req.path}.")


# ---- listings --------------------------------------------------------------------------------

def _page_size(req: Request) -> int:
    raw = req.query.get("maxresults")
    try:
        size = int(raw) if raw else PAGE_MAX
    except ValueError:
        raise _fail(400, "BadParameter", f"Invalid maxresults: {raw}.") from None
    if not 1 <= size <= PAGE_MAX:
        raise _fail(400, "BadParameter", f"maxresults must be between 1 and {PAGE_MAX}.")
    return size


def _page(req: Request, host: str, path: str, items: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """One page of (sort key, item) pairs. The $skiptoken carries the last sort key returned, so a
    page boundary survives items created between requests, as a service-side marker does."""
    size = _page_size(req)
    token = req.query.get("$skiptoken")
    items = sorted(items, key=lambda p: p[0])
    if token:
        try:
            marker = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["NextMarker"]
        except (ValueError, KeyError, TypeError):
            raise _fail(400, "BadParameter", "Invalid $skiptoken.") from None
        items = [p for p in items if p[0] > marker]
    page, more = items[:size], len(items) > size
    next_link = None
    if more:
        raw = json.dumps({"NextMarker": page[-1][0], "TargetLocation": 0}, separators=(",", ":"))
        skip = base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()
        api = req.query.get("api-version", "")
        next_link = f"https://{host}:443{path}?api-version={api}&$skiptoken={skip}&maxresults={size}"
    return {"value": [p[1] for p in page], "nextLink": next_link}


def _list_keys(world: World, req: Request, vault: Vault) -> Response:
    _authorize(world, req, vault, "keys/read", "keys/read", listing=True)
    items = [(k.name.lower(), m.item(vault, k, k.current, versioned=False))
             for (host, _), k in world.keys.items() if host == vault.host and not k.deleted and k.versions]
    return _json(200, _page(req, vault.host, "/keys", items))


def _list_versions(world: World, req: Request, vault: Vault, name: str) -> Response:
    _authorize(world, req, vault, "keys/read", "keys/read", name, listing=True)
    key = _key(world, vault, name)
    items = [(v.version, m.item(vault, key, v, versioned=True)) for v in key.versions]
    return _json(200, _page(req, vault.host, f"/keys/{key.name}/versions", items))
