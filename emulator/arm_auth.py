"""ARM's answers to a token it will not take, and to a subscription not set up for a provider.

Shapes from shared/azure-wire/misconfig (README rows C5-C8, A3, A6; pinned in tests/fixtures/misconfig):
- a token from another tenant: 401 ``InvalidAuthenticationTokenTenant`` naming both issuers, with a
  ``WWW-Authenticate`` naming the subscription's authority (no claims: azure-core does not retry it);
- an expired token: 401 ``ExpiredAuthenticationToken`` with .NET en-US times;
- a pending challenge (``World.auth_challenges``): 401 with Entra's ``insufficient_claims`` header (azure-core
  answers it once by itself) or ARM's legacy ``invalid_token`` + claims header (azure-core does not);
- a provider not registered: 409 ``MissingSubscriptionRegistration`` with its ``details``; the
  ``/providers/{ns}/register`` calls are recorded in ``World.provider_registrations``.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

from emulator.arm_common import error, require_action
from emulator.world import Request, Response, World

# Legacy ARM claims challenge as recorded (misconfig bodies/arm-401-CAE-claims-challenge.json).
LEGACY_CLAIMS = "eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTYwMzc0MjgwMCJ9fX0="
_PROVIDER_RE = re.compile(r"^/subscriptions/[^/]+(?:/resourcegroups/[^/]+)?/providers/([^/]+)/", re.IGNORECASE)


def _dotnet_time(epoch: float) -> str:
    """'8/17/2017 10:54:41 PM': the .NET en-US general format ARM prints times in."""
    dt = datetime.fromtimestamp(epoch, UTC)
    return f"{dt.month}/{dt.day}/{dt.year} {(dt.hour % 12) or 12}:{dt.minute:02d}:{dt.second:02d} " + (
        "AM" if dt.hour < 12 else "PM")


def expired(world: World, req: Request) -> Response | None:
    exp = (req.token_claims or {}).get("exp")
    now = world.now()
    if exp is None or exp > now:
        return None
    return error(401, "ExpiredAuthenticationToken",
                 f"The access token expiry UTC time '{_dotnet_time(exp)}' is earlier than current UTC time "
                 f"'{_dotnet_time(now)}'.",
                 # UNCONFIRMED (README C6): the error_description ARM sends with an expired token. The form is
                 # that of ARM's other 401s; azure-core reads only error="invalid_token" (no retry).
                 {"WWW-Authenticate": 'Bearer authorization_uri="https://login.windows.net/", error="invalid_token", '
                                      'error_description="The access token expiry UTC time is earlier than current '
                                      'UTC time."'})


def challenge_header(form: str) -> str:
    if form == "insufficient_claims":
        claims = base64.urlsafe_b64encode(json.dumps(
            {"access_token": {"nbf": {"essential": True, "value": "1603742800"}}}).encode()).decode()
        return ('Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
                f'client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="{claims}"')
    return ('Bearer authorization_uri="https://login.windows.net/", error="invalid_token", '
            f'error_description="User session has been revoked", claims="{LEGACY_CLAIMS}"')


def take_challenge(world: World, service: str, req: Request) -> dict[str, Any] | None:
    """The first pending challenge for this service and caller, used up by one."""
    with world.lock:
        for rule in world.auth_challenges:
            if (rule["service"] == service and rule["times"] > 0
                    and rule.get("principal") in (None, req.principal_id)):
                rule["times"] -= 1
                return rule
    return None


def claims_challenged(world: World, req: Request) -> Response | None:
    rule = take_challenge(world, "arm", req)
    if rule is None:
        return None
    # UNCONFIRMED (README C8): the body of ARM's claims-challenge 401; the header is what clients act on.
    return error(401, "InvalidAuthenticationToken", "The access token is invalid: it does not satisfy the claims "
                 "required by the resource (Continuous Access Evaluation).",
                 {"WWW-Authenticate": challenge_header(rule["form"])})


def wrong_tenant(world: World, req: Request, sub: str) -> Response | None:
    token_tid = (req.token_claims or {}).get("tid")
    sub_tid = world.tenant_of_subscription(sub)
    if token_tid is None or token_tid == sub_tid:
        return None
    return error(401, "InvalidAuthenticationTokenTenant",
                 f"The access token is from the wrong issuer 'https://sts.windows.net/{token_tid}/'. It must match "
                 f"the tenant 'https://sts.windows.net/{sub_tid}/' associated with this subscription. Please use "
                 f"the authority (URL) 'https://login.windows.net/{sub_tid}' to get the token. Note, if the "
                 "subscription is transferred to another tenant there is no impact to the services, but "
                 "information about new tenant could take time to propagate (up to an hour). If you just "
                 "transferred your subscription and see this error message, please try back later.",
                 {"WWW-Authenticate": f'Bearer authorization_uri="https://login.windows.net/{sub_tid}", '
                                      'error="invalid_token", error_description="The access token is from the wrong '
                                      "issuer. It must match the tenant associated with this subscription. Please "
                                      'use correct authority to get the token."',
                  "x-ms-failure-cause": "gateway"})


def namespace_of(path: str) -> str | None:
    m = _PROVIDER_RE.match(path + "/")
    return m.group(1) if m else None


def unregistered(world: World, req: Request, sub: str) -> Response | None:
    """409 for any call into a namespace the subscription is not registered for.

    Assumption (README A6 confirms it for PUT; GET and list are UNCONFIRMED): every method gets the 409."""
    ns = namespace_of(req.path)
    if ns is None or (sub.lower(), ns.lower()) not in world.unregistered_providers:
        return None
    message = (f"The subscription is not registered to use namespace '{ns}'. See https://aka.ms/rps-not-found for "
               "how to register subscriptions.")
    return Response(409, {"error": {"code": "MissingSubscriptionRegistration", "message": message,
                                    "details": [{"code": "MissingSubscriptionRegistration", "target": ns,
                                                 "message": message}]}},
                    {"x-ms-failure-cause": "gateway"})


def _provider_body(world: World, sub: str, ns: str) -> dict[str, Any]:
    state = "NotRegistered" if (sub.lower(), ns.lower()) in world.unregistered_providers else "Registered"
    return {"id": f"/subscriptions/{sub}/providers/{ns}", "namespace": ns, "registrationState": state,
            "registrationPolicy": "RegistrationRequired", "resourceTypes": []}


def register(world: World, req: Request, sub: str, ns: str) -> Response:
    """``POST /subscriptions/{sub}/providers/{ns}/register``: recorded, whoever calls it and however it ends.

    Registration needs ``{ns}/register/action`` (Owner and Contributor have it; Reader does not). A permitted
    call registers the namespace at once (real ARM takes minutes, answering "Registering" meanwhile)."""
    with world.lock:
        world.provider_registrations.append({"subscription": sub, "namespace": ns, "principal": req.principal_id,
                                             "time": world.now()})
    if req.method != "POST":
        return error(405, "MethodNotAllowed", f"The method '{req.method}' is not allowed.")
    denied = require_action(world, req, f"{ns}/register/action", f"/subscriptions/{sub}")
    if denied:
        return denied
    with world.lock:
        world.unregistered_providers.discard((sub.lower(), ns.lower()))
        return Response(200, _provider_body(world, sub, ns))


def provider(world: World, req: Request, sub: str, ns: str) -> Response:
    if req.method != "GET":
        return error(405, "MethodNotAllowed", f"The method '{req.method}' is not allowed.")
    with world.lock:
        return Response(200, _provider_body(world, sub, ns))
