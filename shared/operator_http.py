"""The operator endpoints' front door: who is calling, may they, then the trigger.

``function_app.py`` calls these with the request's headers and body; each returns (status, JSON body,
headers) and never raises. The token is read here and in ``shared.auth`` only: it is never logged,
stored, or put in an answer or in telemetry.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from shared import triggers
from shared.auth import (
    Action,
    Admitted,
    Forbidden,
    Gate,
    SigningKeysUnavailable,
    Unauthenticated,
    refusal,
    request_reason,
    rotate_action,
)
from shared.errors import BadRequest, ConfigurationError

log = logging.getLogger(__name__)
HttpAnswer = tuple[int, dict[str, Any], dict[str, str]]  # status, JSON body, headers
GateFactory = Callable[[], Gate]
_REFUSALS = (Unauthenticated, Forbidden, SigningKeysUnavailable)


def _default_gate() -> Gate:
    from shared.composition import gate

    return gate()


def admit(headers: Mapping[str, str], action: Action,
          gate_factory: GateFactory = _default_gate) -> Admitted | HttpAnswer:
    """The admitted caller, or the answer refusing them (401, 403, 503, or 500 for bad auth settings)."""
    gate: Gate | None = None
    try:
        gate = gate_factory()
        return gate.admit(headers, action)
    except _REFUSALS as exc:
        # The class and the constant reason only: never the header or the token.
        log.warning("operator request refused (%s): %s", action.value, getattr(exc, "reason", type(exc).__name__))
        return refusal(exc, gate.config if gate is not None else None)
    except ConfigurationError as exc:
        log.error("operator endpoints refused: configuration error: %s", exc)
        return 500, {"error": {"message": f"configuration error: {exc}"}}, {}
    except Exception:
        log.exception("operator request refused: the auth check failed unexpectedly")
        return 500, {"error": {"message": "internal error while checking the caller"}}, {}


def _without_reason(body: bytes) -> bytes:
    """The body as the run parser expects it: ``reason`` is this layer's (checked by ``request_reason``)."""
    try:
        parsed = json.loads(body) if body.strip() else {}
    except (ValueError, RecursionError):
        return body
    if not isinstance(parsed, dict) or "reason" not in parsed:
        return body
    parsed.pop("reason")
    return json.dumps(parsed).encode()


def rotate(headers: Mapping[str, str], body: bytes, gate_factory: GateFactory = _default_gate) -> HttpAnswer:
    """``POST /api/rotate``: Rotation.Read for a dry run, Rotation.Operate to rotate, Rotation.BreakGlass (and
    a reason) to force a downgrade."""
    action = rotate_action(body)
    admitted = admit(headers, action, gate_factory)
    if not isinstance(admitted, Admitted):
        return admitted
    try:
        reason = request_reason(body, required=action is Action.BREAK_GLASS)
    except BadRequest as exc:
        return 400, {"error": {"message": exc.message, "field": exc.field}}, {}
    answer = triggers.rotate(_without_reason(body), requested_by=admitted.requester, reason=reason)
    return answer.status, answer.body, {}


def status(headers: Mapping[str, str], gate_factory: GateFactory = _default_gate) -> HttpAnswer:
    """``GET /api/status``: Rotation.Read."""
    admitted = admit(headers, Action.STATUS, gate_factory)
    if not isinstance(admitted, Admitted):
        return admitted
    answer = triggers.status()
    return answer.status, answer.body, {}


def doctor(headers: Mapping[str, str], gate_factory: GateFactory = _default_gate) -> HttpAnswer:
    """``GET /api/doctor``: Rotation.Read."""
    admitted = admit(headers, Action.DOCTOR, gate_factory)
    if not isinstance(admitted, Admitted):
        return admitted
    answer = triggers.doctor()
    return answer.status, answer.body, {}
