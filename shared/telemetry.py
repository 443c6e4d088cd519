"""Outcomes as structured log records. With Azure Monitor configured (by the Functions worker, or by
``configure_azure_monitor`` in the CLI), records carrying ``microsoft.custom_event.name`` become
Application Insights custom events; without it they are ordinary log lines."""

from __future__ import annotations

import logging
import os

from shared.engine import OutcomeSink
from shared.outcomes import Outcome, RunReport, alert_to_dict

log = logging.getLogger("shared.outcomes")
CUSTOM_EVENT = "microsoft.custom_event.name"


class TelemetrySink(OutcomeSink):
    def outcome(self, outcome: Outcome) -> None:
        log.info(
            "registry %s: %s (%s) %s -> %s", outcome.registry, outcome.result.value, outcome.reason.value,
            outcome.from_version, outcome.to_version,
            extra={CUSTOM_EVENT: "RegistryKeyRotation", **rotation_properties(outcome)},
        )

    def run(self, report: RunReport) -> None:
        for alert in report.alerts:
            d = alert_to_dict(alert)
            log.warning("key %s version %s %s: %s days left", d["key"], d["version"], alert.severity,
                        d["daysLeft"],
                        extra={CUSTOM_EVENT: "KeyExpiryAlert", **{k: _attr(v) for k, v in d.items()}})
        counts = report.counts()
        log.info("run %s (%s): %s", report.correlation_id, report.trigger.value, counts,
                 extra={CUSTOM_EVENT: "RotationRun", "trigger": report.trigger.value,
                        "correlationId": report.correlation_id, "dryRun": str(report.dry_run).lower(),
                        "durationMs": report.duration_ms, **{f"count_{k}": v for k, v in counts.items()}})


def rotation_properties(outcome: Outcome) -> dict[str, str | int | float | bool]:
    """The RegistryKeyRotation event's properties (names chosen not to collide with LogRecord's own)."""
    d = outcome.to_dict()
    d["registryName"] = d.pop("name")
    return {k: _attr(v) for k, v in d.items()}


def _attr(value: object) -> str | int | float | bool:
    if value is None:
        return ""
    if isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def configure_for_cli() -> bool:
    """Export to Application Insights from the CLI or demo when a connection string is set.

    Inside the Functions worker, the worker configures Azure Monitor itself; never twice.
    """
    if not os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING") or os.environ.get("FUNCTIONS_WORKER_RUNTIME"):
        return False
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(logger_name="shared", disable_offline_storage=True)
    return True
