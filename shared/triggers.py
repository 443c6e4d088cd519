"""What each trigger does, apart from the Functions host: parse the input, run the engine, shape the answer.

``function_app.py`` and the CLI call these; they never raise for bad input, and only
``on_key_event`` raises on purpose (``RetryLater``) so that Event Grid redelivers.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.errors import BadRequest, ConfigurationError
from shared.events import EventEnvelope, IgnoredEvent, InvalidEvent, parse_key_event
from shared.queue_messages import DEFAULT_MAX_DEQUEUE, InvalidMessage, parse_message

if TYPE_CHECKING:  # the engine and its model load with the engine, on first use, not at function indexing
    from shared.engine import RotationEngine
    from shared.outcomes import RunReport

log = logging.getLogger(__name__)
EngineFactory = Callable[[], "RotationEngine"]


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


def apply_rotation(body: bytes | str, dequeue_count: int, max_dequeue: int = DEFAULT_MAX_DEQUEUE,
                   engine_factory: EngineFactory = _default_engine) -> RunReport | None:
    """One registry from the rotation queue. Raises ``RetryLater`` for transient failures while the host
    will deliver again; on the last delivery it records a failed outcome instead, since the host would
    otherwise move the message to the poison queue without a word."""
    try:
        message = parse_message(body)
    except InvalidMessage as exc:
        log.error("dropping a malformed rotation message (no retry can fix it): %s", exc)
        return None
    engine = engine_factory()
    if dequeue_count > max_dequeue:  # the host was configured for more deliveries than we were told
        return engine.give_up(message, dequeue_count, "delivered more often than maxDequeueCount")
    report = engine.apply_queued(message)
    if not report.needs_retry:
        return report
    if dequeue_count >= max_dequeue:
        failed = [o for o in report.outcomes if o.transient] or report.outcomes
        detail = f"{failed[0].reason.value}: {failed[0].detail}" if failed else str(report.counts())
        return engine.give_up(message, dequeue_count, detail)
    raise RetryLater(f"transient failure applying {message.registry_id} (delivery {dequeue_count}): "
                     f"{report.counts()}")


def _error(status: int, message: str, field: str | None = None, **extra: Any) -> tuple[int, dict[str, Any]]:
    error: dict[str, Any] = {"message": message, **extra}
    if field is not None:
        error["field"] = field
    return status, {"error": error}


def _answered(what: str, produce: Callable[[str], dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """200 with what ``produce`` returns; 400 naming the bad field; 500 with a message, never a stack trace."""
    correlation_id = str(uuid.uuid4())
    try:
        return 200, produce(correlation_id)
    except BadRequest as exc:
        return _error(400, exc.message, exc.field)
    except ConfigurationError as exc:
        log.error("configuration error: %s", exc)
        return _error(500, f"configuration error: {exc}", correlationId=correlation_id)
    except Exception:
        log.exception("%s %s failed", what, correlation_id)
        return _error(500, "internal error; see the logs for this correlation id", correlationId=correlation_id)


def rotate(body: bytes, engine_factory: EngineFactory = _default_engine) -> tuple[int, dict[str, Any]]:
    """A manual run (HTTP or CLI): 200 with the outcomes, 400 naming the bad field, never a stack trace."""

    def run(correlation_id: str) -> dict[str, Any]:
        from shared.manual import parse_rotate_body

        engine = engine_factory()
        return engine.run_manual(parse_rotate_body(body, engine.settings), correlation_id).to_dict()

    return _answered("manual run", run)


def cli_sweep(dry_run: bool, engine_factory: EngineFactory = _default_engine) -> tuple[int, dict[str, Any]]:
    """The sweep, run by an operator: same errors-as-answers contract as ``rotate``."""
    return _answered("sweep", lambda correlation_id: engine_factory().sweep(
        dry_run=dry_run, correlation_id=correlation_id).to_dict())


def status(engine_factory: EngineFactory = _default_engine) -> tuple[int, dict[str, Any]]:
    """Inventory, newest usable versions, expiry and problems of every CMK registry in scope."""

    def report(_: str) -> dict[str, Any]:
        from shared.status import build_status

        engine = engine_factory()
        registries, keys, problems = engine.observe()
        found = build_status(registries, keys, engine.clock(), engine.settings.near_expiry_days,
                             engine.diagnose(registries, keys))
        found["problems"] = [{"scope": p.scope, "reason": p.reason.value, "detail": p.detail} for p in problems]
        return found

    return _answered("status", report)
