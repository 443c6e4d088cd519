"""What each trigger does, apart from the Functions host: parse the input, run the engine, shape the answer.

``function_app.py`` and the CLI call these; they never raise for bad input, and only
``on_key_event`` raises on purpose (``RetryLater``) so that Event Grid redelivers.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from shared.engine import RotationEngine
from shared.errors import BadRequest, ConfigurationError
from shared.events import EventEnvelope, IgnoredEvent, InvalidEvent, parse_key_event
from shared.manual import parse_rotate_body
from shared.outcomes import RunReport
from shared.status import build_status

log = logging.getLogger(__name__)
EngineFactory = Callable[[], RotationEngine]


class RetryLater(Exception):
    """Raised from the Event Grid function when a transient failure can be fixed by redelivery."""


def _default_engine() -> RotationEngine:
    from shared.composition import engine

    return engine()


def key_event(envelope: EventEnvelope, engine_factory: EngineFactory = _default_engine) -> RunReport | None:
    engine = engine_factory()
    try:
        event = parse_key_event(envelope, engine.settings.endpoints.key_vault_suffixes)
    except InvalidEvent as exc:
        # Acknowledge: Event Grid would redeliver a malformed event for a day to no avail.
        log.warning("ignoring malformed key event %s: %s", envelope.event_id[:64], exc)
        return None
    if isinstance(event, IgnoredEvent):
        log.info("ignoring event %s of type %s: %s", event.event_id[:64], event.event_type[:128], event.reason)
        return None
    report = engine.on_key_event(event)
    if report.needs_retry:
        raise RetryLater(f"transient failures in run {report.correlation_id}: {report.counts()}")
    return report


def sweep(engine_factory: EngineFactory = _default_engine) -> RunReport:
    """The timer's sweep. Failures are recorded as outcomes; the next sweep tries again."""
    return engine_factory().sweep()


def _error(status: int, message: str, field: str | None = None, **extra: Any) -> tuple[int, dict[str, Any]]:
    error: dict[str, Any] = {"message": message, **extra}
    if field is not None:
        error["field"] = field
    return status, {"error": error}


def rotate(body: bytes, engine_factory: EngineFactory = _default_engine) -> tuple[int, dict[str, Any]]:
    """A manual run (HTTP or CLI): 200 with the outcomes, 400 naming the bad field, never a stack trace."""
    correlation_id = str(uuid.uuid4())
    try:
        engine = engine_factory()
        request = parse_rotate_body(body, engine.settings)
        return 200, engine.run_manual(request, correlation_id).to_dict()
    except BadRequest as exc:
        return _error(400, exc.message, exc.field)
    except ConfigurationError as exc:
        log.error("configuration error: %s", exc)
        return _error(500, f"configuration error: {exc}", correlationId=correlation_id)
    except Exception:
        log.exception("manual run %s failed", correlation_id)
        return _error(500, "internal error; see the logs for this correlation id", correlationId=correlation_id)


def cli_sweep(dry_run: bool, engine_factory: EngineFactory = _default_engine) -> tuple[int, dict[str, Any]]:
    """The sweep, run by an operator: same errors-as-answers contract as ``rotate``."""
    correlation_id = str(uuid.uuid4())
    try:
        return 200, engine_factory().sweep(dry_run=dry_run, correlation_id=correlation_id).to_dict()
    except ConfigurationError as exc:
        return _error(500, f"configuration error: {exc}", correlationId=correlation_id)
    except Exception:
        log.exception("sweep %s failed", correlation_id)
        return _error(500, "internal error; see the logs for this correlation id", correlationId=correlation_id)


def status(engine_factory: EngineFactory = _default_engine) -> tuple[int, dict[str, Any]]:
    correlation_id = str(uuid.uuid4())
    try:
        engine = engine_factory()
        registries, keys, problems = engine.observe()
        report = build_status(registries, keys, engine.clock(), engine.settings.near_expiry_days,
                              engine.diagnose(registries, keys))
        report["problems"] = [{"scope": p.scope, "reason": p.reason.value, "detail": p.detail} for p in problems]
        return 200, report
    except ConfigurationError as exc:
        log.error("configuration error: %s", exc)
        return _error(500, f"configuration error: {exc}", correlationId=correlation_id)
    except Exception:
        log.exception("status %s failed", correlation_id)
        return _error(500, "internal error; see the logs for this correlation id", correlationId=correlation_id)
