"""The stand-in's Entra ID tenant: OpenID configuration and signing keys on ``login.microsoftonline.com``
(and the other clouds' authority hosts), and a minter of access tokens for the rotation app's registration.

Tokens are real RS256 JWTs, signed with the tenant's published key, so the app checks them exactly as it
checks Entra's. ``mint`` makes any token a test or the demo needs: chosen roles, tenant, audience, expiry,
a user or an application, and forgeries (signed by another key, unknown key id, ``none``).
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from azure.core.credentials import AccessToken
from cryptography.hazmat.primitives.asymmetric import rsa

from emulator.clouds import LOGIN_HOSTS
from emulator.world import Request, Response, World

_V1_ISSUER_HOST = {"login.microsoftonline.com": "sts.windows.net", "login.microsoftonline.us": "sts.windows.net",
                   "login.chinacloudapi.cn": "sts.chinacloudapi.cn"}
_PATH = re.compile(r"^/(?P<tenant>[^/]+)(?P<rest>/.*)$")
TOKEN_LIFETIME_S = 3600


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey = field(default_factory=_rsa_key)

    def jwk(self) -> dict[str, Any]:
        numbers = self.private.public_key().public_numbers()
        return {"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid,
                "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                "e": _b64url(numbers.e.to_bytes(3, "big"))}


class EntraTenant:
    """One tenant with one app registration (the rotation app) that exposes the three app roles."""

    def __init__(self, tenant_id: str, client_id: str | None = None, host: str = LOGIN_HOSTS[0]) -> None:
        self.tenant_id = tenant_id.lower()
        self.client_id = client_id or str(uuid.uuid4())
        self.app_id_uri = f"api://{self.client_id}"
        self.host = host
        self.keys: list[SigningKey] = [SigningKey(uuid.uuid4().hex)]
        self.foreign_key = SigningKey(self.keys[0].kid)  # same kid, another key: a forgery
        self.key_fetches = 0  # JWKS requests served (caching is observable)

    # --- what a client sees -------------------------------------------------------------------------------
    def settings(self) -> dict[str, str]:
        """The app settings that make the app accept this tenant's tokens."""
        return {"ROTATION_HTTP_AUTH": "entra", "ROTATION_AUTH_TENANT_ID": self.tenant_id,
                "ROTATION_AUTH_CLIENT_ID": self.client_id, "ROTATION_AUTH_APP_ID_URI": self.app_id_uri}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self.keys]}

    def rotate_signing_key(self) -> str:
        """Publish a new signing key and sign new tokens with it (Entra rolls keys without notice)."""
        self.keys.insert(0, SigningKey(uuid.uuid4().hex))
        return self.keys[0].kid

    def openid_configuration(self, host: str, v2: bool) -> dict[str, Any]:
        base = f"https://{host}/{self.tenant_id}"
        issuer = f"{base}/v2.0" if v2 else f"https://{_V1_ISSUER_HOST[host]}/{self.tenant_id}/"
        suffix = "/v2.0" if v2 else ""
        return {
            "issuer": issuer, "jwks_uri": f"{base}/discovery{suffix}/keys",
            "authorization_endpoint": f"{base}/oauth2{suffix}/authorize",
            "token_endpoint": f"{base}/oauth2{suffix}/token",
            "id_token_signing_alg_values_supported": ["RS256"], "response_types_supported": ["code", "id_token"],
            "subject_types_supported": ["pairwise"], "tenant_region_scope": "EU",
        }

    # --- tokens --------------------------------------------------------------------------------------------
    def claims(self, roles: Iterable[str] = (), *, kind: str = "user", name: str = "operator@contoso.example",
               object_id: str | None = None, tenant_id: str | None = None, audience: str | None = None,
               version: str = "2.0", expires_in: float = TOKEN_LIFETIME_S, not_before_in: float = 0,
               now: float | None = None) -> dict[str, Any]:
        """An access token's claims as Entra issues them for this app (v1 or v2, user or application)."""
        now = time.time() if now is None else now
        tid = (tenant_id or self.tenant_id).lower()
        v1 = version == "1.0"
        claims: dict[str, Any] = {
            "aud": audience or (self.app_id_uri if v1 else self.client_id),
            "iss": f"https://{_V1_ISSUER_HOST[self.host]}/{tid}/" if v1 else f"https://{self.host}/{tid}/v2.0",
            "iat": int(now), "nbf": int(now + not_before_in), "exp": int(now + expires_in),
            "tid": tid, "oid": object_id or str(uuid.uuid4()), "ver": version, "uti": uuid.uuid4().hex[:22],
            "roles": list(roles),
        }
        claims["sub"] = claims["oid"]
        client_claim = "appid" if v1 else "azp"
        if kind == "app":
            claims.update({client_claim: name, "idtyp": "app"})
        else:  # a user through the Azure CLI: delegated, so scp is set and azp is the CLI's client id
            claims.update({"scp": "user_impersonation", client_claim: "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
                           "upn" if v1 else "preferred_username": name, "idtyp": "user", "name": name})
        return claims

    def sign(self, claims: Mapping[str, Any], *, forged: bool = False, kid: str | None = None,
             algorithm: str = "RS256") -> str:
        """Sign with the tenant's current key; ``forged`` signs with another key under the same kid."""
        key = self.foreign_key if forged else self.keys[0]
        headers = {"kid": kid or key.kid, "x5t": kid or key.kid, "typ": "JWT"}
        if algorithm == "none":
            return jwt.encode(dict(claims), "", algorithm="none", headers=headers)
        return jwt.encode(dict(claims), key.private, algorithm=algorithm, headers=headers)

    def mint(self, roles: Iterable[str] = (), *, forged: bool = False, kid: str | None = None,
             algorithm: str = "RS256", omit: Iterable[str] = (), extra: Mapping[str, Any] | None = None,
             **claim_args: Any) -> str:
        """A signed access token: ``mint(["Rotation.Operate"], name="ana@contoso.example")``."""
        claims = self.claims(roles, **claim_args)
        for name in omit:
            claims.pop(name, None)
        claims.update(extra or {})
        return self.sign(claims, forged=forged, kid=kid, algorithm=algorithm)


    def credential(self, roles: Iterable[str] = (), consented: bool = True, **claim_args: Any) -> OperatorCredential:
        """An azure-core credential for one operator, as ``az login`` would give them."""
        return OperatorCredential(self, tuple(roles), consented, claim_args)


class OperatorCredential:
    """What DefaultAzureCredential is for an operator signed in with the Azure CLI: tokens for the scope asked
    (v2: the client id is the audience of the app's own scope). Without consent, Entra's AADSTS65001."""

    def __init__(self, tenant: EntraTenant, roles: tuple[str, ...], consented: bool,
                 claim_args: Mapping[str, Any]) -> None:
        self._tenant, self._roles, self._consented, self._claim_args = tenant, roles, consented, dict(claim_args)
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        from azure.core.exceptions import ClientAuthenticationError

        self.scopes.extend(scopes)
        resource = scopes[0].removesuffix("/.default")
        if not self._consented:
            raise ClientAuthenticationError(
                "AzureCliCredential: ERROR: AADSTS65001: The user or administrator has not consented to use the "
                f"application with ID '04b07795-8ddb-461a-bbee-02f9e1bf7b46' named 'Microsoft Azure CLI'. Send an "
                f"interactive authorization request for this user and resource. Resource: {resource}")
        own = resource in (self._tenant.app_id_uri, self._tenant.client_id)
        args = {"audience": self._tenant.client_id if own else resource, **self._claim_args}
        token = self._tenant.mint(self._roles, **args)
        return AccessToken(token, int(time.time()) + TOKEN_LIFETIME_S)

    def __repr__(self) -> str:  # never show a token
        return f"OperatorCredential(roles={self._roles!r})"


_tenants: weakref.WeakKeyDictionary[World, EntraTenant] = weakref.WeakKeyDictionary()


def tenant(world: World) -> EntraTenant:
    """The world's Entra tenant (its ``tenant_id``), created on first use."""
    with world.lock:
        if world not in _tenants:
            _tenants[world] = EntraTenant(world.tenant_id)
        return _tenants[world]


def _aad_error(status: int, code: str, aadsts: int, message: str) -> Response:
    return Response(status, {"error": code, "error_description": f"AADSTS{aadsts}: {message}", "error_codes": [aadsts],
                             "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
                             "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4())})


def handle(world: World, req: Request) -> Response:
    """Discovery documents and signing keys of the world's tenant, on any served authority host."""
    entra = tenant(world)
    match = _PATH.match(req.path)
    if req.method != "GET" or match is None:
        return Response(404, {"error": "not_found"})
    requested, rest = match["tenant"].lower(), match["rest"]
    if requested not in (entra.tenant_id, "common", "organizations"):
        return _aad_error(400, "invalid_tenant", 90002, f"Tenant '{requested}' not found.")
    if rest in ("/v2.0/.well-known/openid-configuration", "/.well-known/openid-configuration"):
        return Response(200, entra.openid_configuration(req.host, v2=rest.startswith("/v2.0")))
    if rest in ("/discovery/v2.0/keys", "/discovery/keys"):
        with world.lock:
            entra.key_fetches += 1
        return Response(200, entra.jwks(), {"Cache-Control": "max-age=86400, private"})
    return Response(404, {"error": "not_found"})


def to_json(token: str) -> dict[str, Any]:
    """A token's claims, unverified (for tests and the demo to show what was minted)."""
    return dict(json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==")))
