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
IMDS_PATH = "/metadata/identity/oauth2/token"  # what azure-identity asks of AZURE_POD_IDENTITY_AUTHORITY_HOST
# App Service's answer when the requested identity is not on the app (misconfig README row C2, bodies/
# appservice-msi-400-unable-to-load.json): the same for "no identity" and "client_id not attached".
UNABLE_TO_LOAD = "Unable to load the proper Managed Identity."


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
    tenant = principal.tenant_id or world.tenant_id
    claims = {
        "aud": aud, "iss": f"https://sts.windows.net/{tenant}/", "iat": now, "nbf": now,
        "exp": expires_on, "oid": principal_id, "tid": tenant, "appid": principal.client_id,
        "sub": principal_id, "idtyp": "app", "uti": uuid.uuid4().hex,  # uti keeps every token unique
    }
    token = f"{_b64({'typ': 'JWT', 'alg': 'none'})}.{_b64(claims)}."
    with world.lock:
        world.tokens[token] = (principal_id, aud)
        world.token_claims[token] = claims
    return token, expires_on


def expire_tokens(world: World, principal_id: str | None = None) -> int:
    """Make the tokens already issued (to ``principal_id``, or to anyone) expired in the services' eyes, while
    their holders still think them valid: clock skew, or a token cached past its life. Returns how many."""
    with world.lock:
        stale = int(world.now()) - 60
        hit = [c for t, c in world.token_claims.items() if principal_id is None or c["oid"] == principal_id]
        for claims in hit:
            claims["exp"] = min(claims["exp"], stale)
        return len(hit)


def _error(status: int, message: str) -> Response:
    # App Service's endpoint answers errors as {"statusCode": ..., "message": ...}.
    return Response(status, {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())})


def _unable_to_load() -> Response:
    # Headers as captured from App Service's endpoint (Kestrel); the body is camelCase, which msal reads.
    return Response(400, {"statusCode": 400, "message": UNABLE_TO_LOAD, "correlationId": str(uuid.uuid4())},
                    {"Server": "Kestrel", "X-CORRELATION-ID": str(uuid.uuid4()),
                     "Content-Type": "application/json; charset=utf-8"})


def handle_imds(world: World, req: Request) -> Response | None:
    """IMDS as azure-identity reaches it through ``AZURE_POD_IDENTITY_AUTHORITY_HOST``; None: drop the
    connection without an answer (``imds_mode`` "absent": nothing listens there).

    Assumption (UNCONFIRMED by the misconfig reference): a VM without a managed identity answers
    400 ``{"error":"invalid_request","error_description":"Identity not found"}``, the body IMDS is widely
    reported to send; azure-identity only relies on the 400 status (imds.py: "No identity has been assigned")."""
    if world.imds_mode == "absent":
        return None
    if req.method != "GET" or req.headers.get("Metadata", "").lower() != "true":
        return Response(400, {"error": "invalid_request",
                              "error_description": "Required metadata header not specified"})
    resource = req.query.get("resource")
    principal = world.principals.get(world.app_principal_id)
    if world.imds_mode != "assigned" or principal is None or not resource:
        return Response(400, {"error": "invalid_request", "error_description": "Identity not found"})
    token, expires_on = mint_token(world, principal.principal_id, resource)
    now = int(time.time())
    return Response(200, {"access_token": token, "client_id": principal.client_id, "expires_in": str(expires_on - now),
                          "expires_on": str(expires_on), "ext_expires_in": str(expires_on - now),
                          "not_before": str(now), "resource": resource, "token_type": "Bearer"})


def handle_msi(world: World, req: Request) -> Response | None:
    """``GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=...[&client_id=...]``; IMDS's path too."""
    if req.path.rstrip("/") == IMDS_PATH:
        return handle_imds(world, req)
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
    if principal is None or world.msi_mode == "none":
        return _unable_to_load()
    selectors = [p for p in ("client_id", "object_id", "mi_res_id", "principal_id") if p in req.query]
    if world.msi_mode == "user_assigned_only" and not selectors:
        return _unable_to_load()  # Azure/azure-functions-host#8037: no system identity, none requested
    # The app has only its own identity: any other selector is an identity it does not have.
    for param, expected in (("client_id", principal.client_id), ("object_id", principal.principal_id),
                            ("principal_id", principal.principal_id)):
        if param in req.query and req.query[param].lower() != expected.lower():
            return _unable_to_load()
    if "mi_res_id" in req.query:
        return _unable_to_load()
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
