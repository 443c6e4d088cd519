"""Who may call the operator endpoints: an Entra ID bearer token, checked by the app itself, and its app roles.

Pure apart from PyJWT: the tenant's signing keys come through ``SigningKeys`` (the adapter is
``shared.adapters.entra_keys``, built in the composition root). The app never authorises from platform
headers (``X-MS-CLIENT-PRINCIPAL*``), cookies or sessions: only ``Authorization: Bearer``.

Nothing here logs, stores or echoes a token. Refusals carry constant reasons, never token content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import jwt

from shared.errors import BadRequest, ConfigurationError
from shared.keyids import Cloud
from shared.requests import Requester

ROLE_READ = "Rotation.Read"
ROLE_OPERATE = "Rotation.Operate"
ROLE_BREAK_GLASS = "Rotation.BreakGlass"
ROLES = (ROLE_READ, ROLE_OPERATE, ROLE_BREAK_GLASS)

MODE_ENTRA = "entra"
MODE_FUNCTION_KEY = "functionkey"

MAX_AUTHORIZATION_CHARS = 8192  # Entra access tokens with roles are a few KB; anything bigger is not one of ours
LEEWAY_S = 60  # clock skew tolerated on exp/nbf/iat
ALGORITHMS = ("RS256",)  # what Entra signs access tokens with; never "none", never HMAC
MAX_REASON_CHARS = 1024
MAX_CLAIM_CHARS = 256  # attribution fields are bounded before they reach outcomes and telemetry
REQUIRED_CLAIMS = ("exp", "nbf", "iat", "iss", "aud", "tid", "oid", "sub")
_MAX_BODY_CHARS = 64 * 1024
_COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")

# Authority host, v1 issuer host, v2 issuer hosts (China's v2 tokens have been seen with either host).
_CLOUD_ISSUERS: dict[Cloud, tuple[str, str, tuple[str, ...]]] = {
    Cloud.PUBLIC: ("login.microsoftonline.com", "sts.windows.net", ("login.microsoftonline.com",)),
    Cloud.US_GOVERNMENT: ("login.microsoftonline.us", "sts.windows.net", ("login.microsoftonline.us",)),
    Cloud.CHINA: ("login.chinacloudapi.cn", "sts.chinacloudapi.cn",
                  ("login.chinacloudapi.cn", "login.partner.microsoftonline.cn")),
}


class Action(StrEnum):
    """What an operator request amounts to; each needs one role."""

    STATUS = "status"
    DOCTOR = "doctor"
    DRY_RUN = "dry-run"
    ROTATE = "rotate"
    BREAK_GLASS = "break-glass"


REQUIRED_ROLE: dict[Action, str] = {
    Action.STATUS: ROLE_READ,
    Action.DOCTOR: ROLE_READ,
    Action.DRY_RUN: ROLE_READ,
    Action.ROTATE: ROLE_OPERATE,
    Action.BREAK_GLASS: ROLE_BREAK_GLASS,  # not implied by Rotation.Operate
}


@dataclass(frozen=True)
class EntraConfig:
    """The tenant and the app registration a token must be issued by and for."""

    tenant_id: str
    client_id: str
    app_id_uri: str
    cloud: Cloud = Cloud.PUBLIC

    @property
    def authority_host(self) -> str:
        return _CLOUD_ISSUERS[self.cloud][0]

    @property
    def audiences(self) -> tuple[str, ...]:
        """v1 tokens carry the application ID URI, v2 tokens the client id."""
        return (self.app_id_uri, self.client_id)

    @property
    def issuers(self) -> tuple[str, ...]:
        _, v1, v2_hosts = _CLOUD_ISSUERS[self.cloud]
        return (f"https://{v1}/{self.tenant_id}/", *(f"https://{h}/{self.tenant_id}/v2.0" for h in v2_hosts))

    @property
    def scope(self) -> str:
        return f"{self.app_id_uri}/.default"


class SigningKeys(Protocol):
    """The tenant's published signing keys. ``key_for`` raises ``UnknownSigningKey`` when even a refreshed
    key set lacks ``kid``, and ``SigningKeysUnavailable`` when the keys could not be fetched."""

    def key_for(self, kid: str) -> Any: ...


class UnknownSigningKey(Exception):
    pass


class SigningKeysUnavailable(Exception):
    """The keys could not be fetched: the token was not judged, so this is a 503, not a 401."""


class Unauthenticated(Exception):
    """401: no usable bearer token. ``reason`` is a constant phrase, safe to show."""

    def __init__(self, reason: str, error: str = "invalid_token") -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error  # RFC 6750: "" when no token was offered at all


class Forbidden(Exception):
    """403: a valid token without the role this request needs."""

    def __init__(self, required_role: str, action: Action) -> None:
        super().__init__(f"{action.value} needs the app role {required_role}")
        self.required_role = required_role
        self.action = action


@dataclass(frozen=True)
class Caller:
    """Who asked, from a validated token (or ``functionkey`` when the function key was the only check)."""

    kind: str  # "user" | "app" | "functionkey"
    object_id: str = ""
    name: str = ""  # UPN for a user, application (client) id for an app
    tenant_id: str = ""
    roles: frozenset[str] = frozenset()


FUNCTION_KEY_CALLER = Caller("functionkey")


# --- the token -----------------------------------------------------------------------------------------------
def bearer_token(headers: Mapping[str, str]) -> str:
    """The token from ``Authorization: Bearer <token>``; ``headers.get`` must be case-insensitive."""
    authorization = headers.get("Authorization") or headers.get("authorization") or ""
    if not authorization.strip():
        raise Unauthenticated("no bearer token", error="")
    if len(authorization) > MAX_AUTHORIZATION_CHARS:
        raise Unauthenticated("Authorization header too large")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthenticated("only the Bearer scheme is accepted")
    token = token.strip()
    if not _COMPACT_JWS.match(token):
        raise Unauthenticated("not a JWT")
    return token


def _signing_key(token: str, keys: SigningKeys) -> Any:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthenticated("not a JWT") from None
    if header.get("alg") not in ALGORITHMS:
        raise Unauthenticated("signing algorithm not allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 128:
        raise Unauthenticated("token names no signing key")
    try:
        return keys.key_for(kid)
    except UnknownSigningKey:
        raise Unauthenticated("signed by a key the tenant does not publish") from None


_CLAIM_ERRORS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidAudienceError, "token is for another audience"),
    (jwt.InvalidIssuerError, "token is from another issuer"),
    (jwt.InvalidSignatureError, "signature does not verify"),
    (jwt.InvalidAlgorithmError, "signing algorithm not allowed"),
    (jwt.InvalidIssuedAtError, "token issued in the future"),
)


def _verified_claims(token: str, key: Any, config: EntraConfig) -> dict[str, Any]:
    try:
        return jwt.decode(token, key, algorithms=list(ALGORITHMS), audience=list(config.audiences),
                          issuer=list(config.issuers), leeway=LEEWAY_S,
                          options={"require": list(REQUIRED_CLAIMS), "verify_signature": True})
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthenticated(f"token lacks the {exc.claim} claim") from None
    except jwt.PyJWTError as exc:
        for kind, reason in _CLAIM_ERRORS:
            if isinstance(exc, kind):
                raise Unauthenticated(reason) from None
        raise Unauthenticated("invalid token") from None


def _text(claims: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value[:MAX_CLAIM_CHARS]
    return ""


def _caller(claims: Mapping[str, Any], config: EntraConfig) -> Caller:
    tid, oid = claims.get("tid"), claims.get("oid")
    if not isinstance(tid, str) or tid.lower() != config.tenant_id.lower():
        raise Unauthenticated("token is from another tenant")
    if not isinstance(oid, str) or not oid:
        raise Unauthenticated("token lacks the oid claim")
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthenticated("roles claim is malformed")
    idtyp = claims.get("idtyp")
    is_app = idtyp == "app" if isinstance(idtyp, str) else "scp" not in claims  # app-only tokens carry no scp
    name = _text(claims, "azp", "appid") if is_app else _text(claims, "upn", "preferred_username", "unique_name")
    return Caller("app" if is_app else "user", oid[:MAX_CLAIM_CHARS], name, tid.lower(), frozenset(roles))


def authenticate(headers: Mapping[str, str], config: EntraConfig, keys: SigningKeys) -> Caller:
    """The caller behind a valid bearer token; raises ``Unauthenticated`` or ``SigningKeysUnavailable``."""
    token = bearer_token(headers)
    key = _signing_key(token, keys)
    return _caller(_verified_claims(token, key, config), config)


def authorize(caller: Caller, action: Action) -> str:
    """The role that allows ``action`` (the one to record), or ``Forbidden`` naming it."""
    role = REQUIRED_ROLE[action]
    if caller.kind == "functionkey":
        return ""  # the function key was the check; it carries no role
    if role not in caller.roles:
        raise Forbidden(role, action)
    return role


# --- what a rotate request amounts to ------------------------------------------------------------------------
def _body_object(body: bytes | str) -> Any:
    if len(body) > _MAX_BODY_CHARS:
        return None  # the request parser refuses it, naming the size
    try:
        return json.loads(body) if body.strip() else {}
    except (ValueError, RecursionError):
        return None


def rotate_action(body: bytes | str) -> Action:
    """Read from the raw body, leniently: validation comes later and names the bad field. A body that is not
    a JSON object needs only Rotation.Read to be told so."""
    parsed = _body_object(body)
    if not isinstance(parsed, dict):
        return Action.DRY_RUN
    if parsed.get("dryRun") is True:
        return Action.DRY_RUN  # writes nothing, whatever else it asks
    if parsed.get("toVersion") is not None and parsed.get("allowDowngrade") is True:
        return Action.BREAK_GLASS
    return Action.ROTATE


def request_reason(body: bytes | str, required: bool) -> str:
    """The request's free-text ``reason``, verbatim ("" when absent). A downgrade (``required``) must give one;
    when given, it must be a non-empty string of at most MAX_REASON_CHARS. ``BadRequest`` names the field."""
    parsed = _body_object(body)
    reason = parsed.get("reason") if isinstance(parsed, dict) else None
    if reason is None and not required:
        return ""
    if not isinstance(reason, str) or not reason.strip():
        raise BadRequest("reason", "a downgrade (toVersion with allowDowngrade) needs a non-empty reason" if required
                         else "must be a non-empty string")
    if len(reason) > MAX_REASON_CHARS:
        raise BadRequest("reason", f"must be at most {MAX_REASON_CHARS} characters")
    return reason


# --- the gate the HTTP triggers call first -------------------------------------------------------------------
@dataclass(frozen=True)
class Admitted:
    caller: Caller
    role: str  # the role that allowed the request ("" in functionkey mode)

    @property
    def requester(self) -> Requester:
        """Who asked, as the run request carries it."""
        c = self.caller
        return Requester(c.kind, c.object_id, c.name, c.tenant_id, self.role)


class Gate:
    """``entra``: a valid token with the needed role. ``functionkey``: the Functions host checked the key, so
    every caller is ``functionkey``; no identity header is trusted either way."""

    def __init__(self, mode: str, config: EntraConfig | None = None, keys: SigningKeys | None = None) -> None:
        if mode == MODE_ENTRA and (config is None or keys is None):
            raise ConfigurationError("ROTATION_HTTP_AUTH=entra needs the tenant, the app registration and its keys")
        if mode not in (MODE_ENTRA, MODE_FUNCTION_KEY):
            raise ConfigurationError(f"ROTATION_HTTP_AUTH must be {MODE_ENTRA} or {MODE_FUNCTION_KEY}")
        self.mode = mode
        self.config = config
        self._keys = keys

    def admit(self, headers: Mapping[str, str], action: Action) -> Admitted:
        if self.mode == MODE_FUNCTION_KEY:
            return Admitted(FUNCTION_KEY_CALLER, authorize(FUNCTION_KEY_CALLER, action))
        assert self.config is not None and self._keys is not None
        caller = authenticate(headers, self.config, self._keys)
        return Admitted(caller, authorize(caller, action))


def entra_config(tenant_id: str, client_id: str, app_id_uri: str, cloud: Cloud) -> EntraConfig:
    """Fail closed: entra mode without its tenant and app registration is a configuration error."""
    missing = [name for name, value in (("ROTATION_AUTH_TENANT_ID", tenant_id),
                                        ("ROTATION_AUTH_CLIENT_ID", client_id)) if not value]
    if missing:
        raise ConfigurationError(f"ROTATION_HTTP_AUTH=entra needs {' and '.join(missing)} (the tenant and the "
                                 f"app registration whose tokens the operator endpoints accept)")
    return EntraConfig(tenant_id.lower(), client_id.lower(), app_id_uri or f"api://{client_id.lower()}", cloud)


def _challenge(config: EntraConfig | None, error: str = "", description: str = "") -> str:
    params = ['realm="acr-cmk-rotation"']
    if config is not None:
        params += [f'authorization_uri="https://{config.authority_host}/{config.tenant_id}/oauth2/v2.0/authorize"',
                   f'scope="{config.scope}"']
    if error:
        params.append(f'error="{error}"')
    if description:
        params.append(f'error_description="{description}"')
    return "Bearer " + ", ".join(params)


def refusal(exc: Exception, config: EntraConfig | None) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, JSON body and headers for a refused request. Messages are constants: no token content."""
    if isinstance(exc, Unauthenticated):
        body = {"error": {"code": "Unauthenticated", "message": exc.reason}}
        return 401, body, {"WWW-Authenticate": _challenge(config, exc.error, exc.reason if exc.error else "")}
    if isinstance(exc, Forbidden):
        body = {"error": {"code": "Forbidden", "message": str(exc), "requiredRole": exc.required_role}}
        return 403, body, {"WWW-Authenticate": _challenge(config, "insufficient_scope", str(exc))}
    if isinstance(exc, SigningKeysUnavailable):
        body = {"error": {"code": "SigningKeysUnavailable",
                          "message": "the tenant's signing keys could not be fetched to check the token; try again"}}
        return 503, body, {"Retry-After": "30"}
    raise TypeError(f"not a refusal: {type(exc).__name__}")

