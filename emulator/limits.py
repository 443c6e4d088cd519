"""Injected faults and ARM throttling, applied by the proxy before a request reaches a service."""

from __future__ import annotations

import math
import uuid
from typing import Any

from emulator.world import Fault, Response, World

_REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 408: "RequestTimeout",
    409: "Conflict", 429: "TooManyRequests", 500: "InternalServerError", 502: "BadGateway",
    503: "ServiceUnavailable", 504: "GatewayTimeout",
}


def take_fault(world: World, method: str, host: str, path: str) -> Fault | None:
    """The first matching fault with uses left; uses one up."""
    with world.lock:
        for fault in world.faults:
            if fault.times > 0 and fault.matches(method, host, path):
                fault.times -= 1
                return fault
    return None


def error_body(service: str, status: int, message: str, code: str | None = None) -> Any:
    """An error body in the shape of the service behind ``service``."""
    code = code or _REASONS.get(status, "Error")
    if service == "appinsights":
        # The exporter reads TrackResponse; a whole-batch failure has no per-item errors.
        return {"itemsReceived": 0, "itemsAccepted": 0,
                "errors": [{"index": 0, "statusCode": status, "message": message}]}
    if service == "msi":
        return {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())}
    # ARM and Key Vault share the {"error": {"code", "message"}} shape.
    return {"error": {"code": code, "message": message}}


def fault_response(service: str, fault: Fault) -> Response:
    assert fault.status is not None
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        ra = fault.retry_after
        headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
    return Response(fault.status, error_body(service, fault.status, "Injected fault."), headers)


def _kind(method: str) -> str:
    return "reads" if method.upper() in ("GET", "HEAD", "OPTIONS") else "writes"


def _subscription_of(path: str) -> str:
    parts = path.split("/")
    if len(parts) > 2 and parts[1].lower() == "subscriptions":
        return parts[2].lower()
    return ""  # tenant-level calls such as GET /subscriptions


def arm_bucket(world: World, method: str, path: str, principal_id: str | None) -> tuple[bool, int, int]:
    """Take one token from the caller's bucket: (allowed, remaining, retry_after_s).

    Buckets are always kept so the x-ms-ratelimit-remaining-* headers are honest; they only refuse
    when ``settings.throttling`` is on.
    """
    s = world.settings
    kind = _kind(method)
    burst, rate = ((s.arm_read_burst, s.arm_read_rate) if kind == "reads"
                   else (s.arm_write_burst, s.arm_write_rate))
    key = (_subscription_of(path), principal_id or "", kind)
    now = world.now()
    with world.lock:
        bucket = world.rate_buckets.setdefault(key, [float(burst), now])
        bucket[0] = min(float(burst), bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return True, int(bucket[0]), 0
        if not s.throttling:
            return True, 0, 0
        wait = max(1, math.ceil((1.0 - bucket[0]) / rate))
        return False, 0, wait


def throttled_response(world: World, method: str, path: str, principal_id: str | None,
                       retry_after: int) -> Response:
    kind = "read" if _kind(method) == "reads" else "write"
    sub = _subscription_of(path) or world.tenant_id
    msg = (f"Number of '{kind}' requests for subscription '{sub}' actor '{principal_id}' exceeded. "
           f"Please try again after '{retry_after}' seconds after additional tokens are available. "
           "Refer to https://aka.ms/arm-throttling")
    return Response(429, error_body("arm", 429, msg, "SubscriptionRequestsThrottled"),
                    {"Retry-After": str(retry_after)})


def ratelimit_header(method: str) -> str:
    return f"x-ms-ratelimit-remaining-subscription-{_kind(method)}"
