"""Outcomes as Application Insights custom events, plus metrics; and when to configure Azure Monitor.

An event is a log record carrying ``microsoft.custom_event.name``: with Azure Monitor configured (by
the Functions worker, or ``configure_for_cli``) it becomes a ``customEvents`` row whose other
attributes arrive as string properties; without it, it is an ordinary log line. Nothing here holds
or logs a credential: events carry ids, versions, results and reasons only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from opentelemetry import metrics, trace

from shared.engine import OutcomeSink
from shared.expiry import ExpiryAlert
from shared.keyids import KeyRef
from shared.metrics import RotationMetrics, VersionInUse
from shared.outcomes import Outcome, RunReport, alert_to_dict, requester_to_dict

log = logging.getLogger("shared.outcomes")
CUSTOM_EVENT = "microsoft.custom_event.name"
ROTATION_EVENT = "RegistryKeyRotation"
ALERT_EVENT = "KeyExpiryAlert"
RUN_EVENT = "RotationRun"
PROBLEM_EVENT = "RotationProblem"
CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
Property = str | int | float

_default_metrics: RotationMetrics | None = None
_metrics_lock = threading.Lock()


def default_metrics() -> RotationMetrics:
    """One set of instruments per process, on the global MeterProvider."""
    global _default_metrics
    with _metrics_lock:
        if _default_metrics is None:
            _default_metrics = RotationMetrics()
        return _default_metrics


class TelemetrySink(OutcomeSink):
    def __init__(self, metrics: RotationMetrics | None = None) -> None:
        self._metrics = metrics

    @property
    def metrics(self) -> RotationMetrics:
        return self._metrics or default_metrics()

    def outcome(self, outcome: Outcome) -> None:
        log.info("registry %s: %s (%s) %s -> %s", outcome.registry_name, outcome.result.value, outcome.reason.value,
                 outcome.from_version, outcome.to_version,
                 extra={CUSTOM_EVENT: ROTATION_EVENT, **rotation_properties(outcome)})
        self.metrics.outcome(outcome)

    def run(self, report: RunReport) -> None:
        for alert in report.alerts:
            props = alert_properties(alert, report)
            log.warning("key %s version %s %s: %s days left", props["key"], props["version"], alert.severity,
                        props["daysLeft"], extra={CUSTOM_EVENT: ALERT_EVENT, **props})
        for problem in report.problems:  # a failed canary, a subscription not listed, a key version not created
            log.warning("%s at %s: %s", problem.reason.value, problem.scope, problem.detail,
                        extra={CUSTOM_EVENT: PROBLEM_EVENT, **_properties({
                            "scope": problem.scope, "reason": problem.reason.value, "transient": problem.transient,
                            "detail": problem.detail, "trigger": report.trigger.value,
                            "correlationId": report.correlation_id, **who_asked(report)})})
        counts = report.counts()
        log.info("run %s (%s): %s", report.correlation_id, report.trigger.value, counts,
                 extra={CUSTOM_EVENT: RUN_EVENT, **run_properties(report)})
        keys_seen = {o.key for o in report.outcomes if o.key}
        self.metrics.run(report, versions_in_use(report), keys_seen)


def versions_in_use(report: RunReport) -> list[VersionInUse]:
    """Each key version a registry uses after the run, with its expiry as read in the run."""
    found: dict[tuple[KeyRef, str], VersionInUse] = {}
    for o in report.outcomes:
        version = o.version_in_use
        expires = report.version_expiry.get((o.key, version.lower())) if o.key and version else None
        if o.key and version and expires is not None:
            found[(o.key, version)] = VersionInUse(o.key, version, expires)
    return list(found.values())


# --- Event properties: the names the issue fixes, as strings or numbers -------------------------

def rotation_properties(outcome: Outcome) -> dict[str, Property]:
    """RegistryKeyRotation. ``registry`` is the resource id; the short name goes in ``registryName``
    because ``name`` would collide with LogRecord.name."""
    d = outcome.to_dict()
    d["registryName"] = d.pop("name")
    d.update(requester_properties(d.pop("requestedBy")))
    return _properties(d)


def alert_properties(alert: ExpiryAlert, report: RunReport) -> dict[str, Property]:
    d = alert_to_dict(alert)
    d.update(affectedRegistryCount=len(alert.affected_registries), trigger=report.trigger.value,
             correlationId=report.correlation_id, **who_asked(report))
    return _properties(d)


def run_properties(report: RunReport) -> dict[str, Property]:
    return _properties({
        "trigger": report.trigger.value, "correlationId": report.correlation_id, "dryRun": report.dry_run,
        "durationMs": report.duration_ms, **report.counts(), "alerts": len(report.alerts),
        "problems": len(report.problems), "keyVersionsCreated": len(report.key_versions_created),
        **who_asked(report),
    })


def who_asked(report: RunReport) -> dict[str, str]:
    """The requester and reason of the run, on every event it emits (a manual run's alerts and problems too)."""
    return {**requester_properties(requester_to_dict(report.request.requested_by)),
            "requestReason": report.request.reason}


def requester_properties(requested_by: Mapping[str, str]) -> dict[str, str]:
    """Who asked, flat (custom-event properties are strings; infra/kql/manual-changes-by-person.kql reads these):
    ``requestedBy`` is what to show (name, else object id, else the kind: "system" for events and timers)."""
    return {
        "requestedBy": requested_by["name"] or requested_by["objectId"] or requested_by["kind"],
        "requestedByKind": requested_by["kind"], "requestedByObjectId": requested_by["objectId"],
        "requestedByName": requested_by["name"], "requestedByTenantId": requested_by["tenantId"],
        "requestedByRole": requested_by["role"],
    }


def _properties(d: Mapping[str, object]) -> dict[str, Property]:
    return {k: _attr(v) for k, v in d.items()}


def _attr(value: object) -> Property:
    # Application Insights stores every property as a string; spell booleans as KQL's tobool() reads them.
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int | float):
        return value
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


# --- Start-up ---------------------------------------------------------------------------------

def running_in_functions(env: Mapping[str, str]) -> bool:
    """The Functions worker configures Azure Monitor itself (PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY)."""
    return bool(env.get("FUNCTIONS_WORKER_RUNTIME")) or \
        env.get("PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY", "").lower() == "true"


def already_configured() -> bool:
    """Someone configured OpenTelemetry already (a configured SDK provider is kept)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def flush(timeout_ms: int = 10_000) -> None:
    """Send what is batched now (the CLI and demo exit right after; the worker flushes on its own)."""
    for provider in _providers():
        force_flush = getattr(provider, "force_flush", None)
        if callable(force_flush):
            force_flush(timeout_ms)


def shutdown() -> None:
    """Flush and stop exporting now rather than at interpreter exit (the demo's endpoint goes away first)."""
    for provider in _providers():
        stop = getattr(provider, "shutdown", None)
        if callable(stop):
            stop()


def _providers() -> tuple[object, ...]:
    from opentelemetry import _logs

    return trace.get_tracer_provider(), metrics.get_meter_provider(), _logs.get_logger_provider()
