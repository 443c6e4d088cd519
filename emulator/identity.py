"""Tokens: the App Service managed-identity endpoint and an in-process admin credential.

Tokens are unsigned JWT-shaped strings (alg "none"); the stand-in trusts only what it minted, by
looking them up in ``world.tokens``. Nothing here logs a token.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any
from urllib.parse import urlparse

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

from emulator.world import Request, Response, World

TOKEN_LIFETIME_S = 24 * 3600
IDENTITY_PATH = "/msi/token"  # path part of IDENTITY_ENDPOINT


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def audience_of(scope_or_resource: str) -> str:
    """``https://vault.azure.net/.default`` -> ``https://vault.azure.net`` (what AAD puts in aud)."""
    u = urlparse(scope_or_resource)
    if u.scheme and u.netloc:
        return f"{u.scheme}://{u.netloc}"
    return scope_or_resource.removesuffix("/.default")


def mint_token(world: World, principal_id: str, resource: str) -> tuple[str, int]:
    """A new token for ``principal_id`` and the audience of ``resource``; returns (token, expires_on)."""
    aud = audience_of(resource)
    now = int(time.time())
    expires_on = now + TOKEN_LIFETIME_S
    principal = world.principals[principal_id]
    claims = {
        "aud": aud, "iss": f"https://sts.windows.net/{world.tenant_id}/", "iat": now, "nbf": now,
        "exp": expires_on, "oid": principal_id, "tid": world.tenant_id, "appid": principal.client_id,
        "sub": principal_id, "idtyp": "app", "uti": uuid.uuid4().hex,  # uti keeps every token unique
    }
    token = f"{_b64({'typ': 'JWT', 'alg': 'none'})}.{_b64(claims)}."
    with world.lock:
        world.tokens[token] = (principal_id, aud)
    return token, expires_on


def _error(status: int, message: str) -> Response:
    # App Service's endpoint answers errors as {"statusCode": ..., "message": ...}.
    return Response(status, {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())})


def handle_msi(world: World, req: Request) -> Response:
    """``GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=...[&client_id=...]``."""
    if req.method != "GET" or req.path.rstrip("/") != IDENTITY_PATH:
        return Response(404, {"statusCode": 404, "message": "Not found"})
    if req.headers.get("X-IDENTITY-HEADER") != world.identity_header:
        return _error(401, "Unauthorized: missing or invalid X-IDENTITY-HEADER")
    if req.query.get("api-version") != "2019-08-01":
        return _error(400, "Invalid or missing api-version; only 2019-08-01 is served")
    resource = req.query.get("resource")
    if not resource:
        return _error(400, "Missing resource parameter")
    principal = world.principals.get(world.app_principal_id)
    if principal is None:
        return _error(400, "No managed identity is assigned to this app")
    # The app has only its own identity: any other selector is an identity it does not have.
    for param, expected in (("client_id", principal.client_id), ("object_id", principal.principal_id)):
        if param in req.query and req.query[param].lower() != expected.lower():
            return _error(400, f"No managed identity found for {param} {req.query[param]}")
    if "mi_res_id" in req.query:
        return _error(400, "No managed identity found for the given mi_res_id")
    token, expires_on = mint_token(world, principal.principal_id, resource)
    return Response(200, {
        "access_token": token, "expires_on": str(expires_on), "resource": resource,
        "token_type": "Bearer", "client_id": principal.client_id,
    })


class AdminCredential:
    """An azure-core TokenCredential (both protocols) for the stand-in's admin principal."""

    def __init__(self, world: World, principal_id: str) -> None:
        self._world = world
        self._principal_id = principal_id

    def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None,
                  enable_cae: bool = False, **kwargs: Any) -> AccessToken:
        info = self.get_token_info(*scopes)
        return AccessToken(info.token, info.expires_on)

    def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        if not scopes:
            raise ValueError('"get_token" requires at least one scope')
        token, expires_on = mint_token(self._world, self._principal_id, scopes[0])
        return AccessTokenInfo(token, expires_on, token_type="Bearer")

    def close(self) -> None:
        return None

    def __enter__(self) -> AdminCredential:
        return self

    def __exit__(self, *args: Any) -> None:
        return None

    def __repr__(self) -> str:  # never show a token
        return f"AdminCredential(principal_id={self._principal_id!r})"
