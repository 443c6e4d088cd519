"""What each trigger does, apart from the Functions host: parse the input, build a ``RunRequest``, run the
engine, shape the answer.

``function_app.py`` and the CLI call these; they never raise for bad input, and only ``key_event`` and
``apply_rotation`` raise on purpose (``RetryLater``), so that Event Grid or the queue delivers again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from shared.errors import BadRequest, ConfigurationError
from shared.events import EventEnvelope, IgnoredEvent, InvalidEvent, parse_key_event
from shared.queue_messages import DEFAULT_MAX_DEQUEUE, InvalidMessage, parse_message

if TYPE_CHECKING:  # the engine and its model load with the engine, on first use, not at function indexing
    from shared.doctor import DoctorReport
    from shared.engine import RotationEngine
    from shared.outcomes import RunReport
    from shared.requests import Requester
    from shared.status import StatusReport

log = logging.getLogger(__name__)
EngineFactory = Callable[[], "RotationEngine"]


class RetryLater(Exception):
    """Raised from the Event Grid and queue functions when a transient failure can be fixed by redelivery."""


@dataclass(frozen=True)
class Answer:
    """An operator request's answer: an HTTP status, its JSON body, and the typed report behind it (if any)."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)
    report: RunReport | StatusReport | DoctorReport | None = None


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
    report = engine.run(event.request(engine.settings.event_budget_s))
    if report.needs_retry:
        raise RetryLater(f"transient failures in run {report.correlation_id}: {report.counts()}")
    if report.unrecorded_permanent_problem:  # redelivered, then dead-lettered: where the dead-letter alert fires
        raise RetryLater(f"run {report.correlation_id} met a permanent problem that could not be recorded")
    return report


def sweep(engine_factory: EngineFactory = _default_engine) -> RunReport:
    """The timer's sweep. Failures are recorded as outcomes; the next sweep tries again."""
    from shared.requests import RunRequest

    return engine_factory().run(RunRequest.sweep())


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
    report = engine.run(message.request())
    if not report.needs_retry:
        return report
    if dequeue_count >= max_dequeue:
        failed = [o for o in report.outcomes if o.transient] or list(report.outcomes)
        detail = f"{failed[0].reason.value}: {failed[0].detail}" if failed else str(report.counts())
        return engine.give_up(message, dequeue_count, detail)
    raise RetryLater(f"transient failure applying {message.registry_id} (delivery {dequeue_count}): "
                     f"{report.counts()}")


def _error(status: int, message: str, field: str | None = None, **extra: Any) -> Answer:
    error: dict[str, Any] = {"message": message, **extra}
    if field is not None:
        error["field"] = field
    return Answer(status, {"error": error})


def _answered(what: str, produce: Callable[[str], RunReport | StatusReport | DoctorReport]) -> Answer:
    """200 with the report; 400 naming the bad field; 500 with a message, never a stack trace."""
    correlation_id = str(uuid.uuid4())
    try:
        report = produce(correlation_id)
    except BadRequest as exc:
        return _error(400, exc.message, exc.field)
    except ConfigurationError as exc:
        log.error("configuration error: %s", exc)
        return _error(500, f"configuration error: {exc}", correlationId=correlation_id)
    except Exception:
        log.exception("%s %s failed", what, correlation_id)
        return _error(500, "internal error; see the logs for this correlation id", correlationId=correlation_id)
    return Answer(200, report.to_dict(), report)


def rotate(body: bytes, engine_factory: EngineFactory = _default_engine, requested_by: Requester | None = None,
           reason: str = "") -> Answer:
    """A manual run over HTTP: the body is JSON, validated as ``rotate_fields`` validates the CLI's. Who asked
    (and their free-text reason) come from ``shared.operator_http``, which checked them."""

    def run(correlation_id: str) -> RunReport:
        from shared.manual import parse_rotate_body
        from shared.requests import SYSTEM

        engine = engine_factory()
        request = parse_rotate_body(body, engine.settings).request(correlation_id, requested_by or SYSTEM)
        return engine.run(replace(request, reason=reason))

    return _answered("manual run", run)


def rotate_fields(fields: Mapping[str, Any], engine_factory: EngineFactory = _default_engine,
                  requested_by: Requester | None = None, reason: str = "") -> Answer:
    """A manual run from the CLI: the same fields and the same validation as the HTTP body; attributed to the
    identity the CLI's credential signs in as, with the operator's reason, if given."""

    def run(correlation_id: str) -> RunReport:
        from shared.manual import parse_rotate_request
        from shared.requests import SYSTEM

        engine = engine_factory()
        request = parse_rotate_request(dict(fields), engine.settings).request(correlation_id, requested_by or SYSTEM)
        return engine.run(replace(request, reason=reason))

    return _answered("manual run", run)


def cli_sweep(dry_run: bool, engine_factory: EngineFactory = _default_engine,
              requested_by: Requester | None = None) -> Answer:
    """The sweep, run by an operator: same errors-as-answers contract as ``rotate``."""
    from shared.requests import SYSTEM, RunRequest

    return _answered("sweep", lambda correlation_id: engine_factory().run(
        RunRequest.sweep(correlation_id, dry_run=dry_run, requested_by=requested_by or SYSTEM)))


def status(engine_factory: EngineFactory = _default_engine) -> Answer:
    """Inventory, newest usable versions, expiry and problems of every CMK registry in scope."""
    return _answered("status", lambda _: engine_factory().status())


def _default_doctor(app_name: str) -> DoctorReport:
    from shared.composition import doctor

    return doctor(app_name=app_name)


def doctor(app_name: str = "", run: Callable[[str], DoctorReport] = _default_doctor) -> Answer:
    """Checks the deployment end to end as this process's identity, writing nothing: 200 with the report, whatever
    it found (its checks say PASS, WARN or FAIL)."""
    return _answered("doctor", lambda _: run(app_name))
