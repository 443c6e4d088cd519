"""Rotation metrics through the OpenTelemetry metrics API (Application Insights: customMetrics).

Instruments come from the global MeterProvider unless a meter is given; before one is configured the
API hands out proxies that bind later, so nothing here configures the SDK. Attributes stay low in
cardinality (no registry ids): per-registry detail lives in the RegistryKeyRotation events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Meter, Observation

from shared.keyids import KeyRef
from shared.outcomes import Outcome, RunReport
from shared.reasons import Trigger

METER_NAME = "acr_cmk_rotation"
ROTATIONS = "cmk_rotations"
ROTATION_DURATION = "cmk_rotation_duration"
RUN_DURATION = "cmk_run_duration"
DAYS_UNTIL_EXPIRY = "cmk_key_days_until_expiry"
REGISTRIES_IN_SCOPE = "cmk_registries_in_scope"


@dataclass(frozen=True)
class VersionInUse:
    key: KeyRef
    version: str
    expires_on: datetime


class RotationMetrics:
    """Counts and durations are recorded as outcomes happen; expiry and scope are observed gauges that
    report the state the last run saw, so days until expiry keeps counting down between runs."""

    def __init__(self, meter: Meter | None = None, clock: Callable[[], datetime] | None = None) -> None:
        meter = meter or metrics.get_meter(METER_NAME)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._in_use: dict[KeyRef, list[VersionInUse]] = {}  # per key
        self._in_scope: int | None = None
        self.rotations = meter.create_counter(
            ROTATIONS, unit="{outcome}", description="Registry outcomes by result and reason")
        self.rotation_duration = meter.create_histogram(
            ROTATION_DURATION, unit="ms", description="Time to update and verify one registry")
        self.run_duration = meter.create_histogram(RUN_DURATION, unit="ms", description="Time of one run")
        meter.create_observable_gauge(
            DAYS_UNTIL_EXPIRY, [self._observe_expiry], unit="d",
            description="Days until the key version in use expires (negative: expired)")
        meter.create_observable_gauge(
            REGISTRIES_IN_SCOPE, [self._observe_scope], unit="{registry}",
            description="CMK registries in scope at the last sweep")

    def outcome(self, outcome: Outcome) -> None:
        attributes = {"result": outcome.result.value, "reason": outcome.reason.value,
                      "trigger": outcome.trigger.value, "dryRun": str(outcome.dry_run).lower()}
        self.rotations.add(1, attributes)
        if outcome.duration_ms > 0:  # only registries an update was attempted for carry a duration
            self.rotation_duration.record(outcome.duration_ms, {"result": outcome.result.value})

    def run(self, report: RunReport, versions_in_use: Iterable[VersionInUse], keys_seen: Iterable[KeyRef]) -> None:
        self.run_duration.record(report.duration_ms, {"trigger": report.trigger.value})
        by_key: dict[KeyRef, list[VersionInUse]] = {k: [] for k in keys_seen}
        for v in versions_in_use:
            by_key.setdefault(v.key, []).append(v)
        with self._lock:
            if report.trigger == Trigger.SWEEP:  # a sweep sees everything in scope: forget the rest
                self._in_use = by_key
                self._in_scope = len(report.outcomes)
            elif report.request.scope.registry is None:  # an event or a key's run sees every registry on its keys
                self._in_use.update(by_key)
            else:  # one registry's run: the others on its key still use what they used; the next sweep prunes
                for key, versions in by_key.items():
                    known = {v.version: v for v in self._in_use.get(key, [])}
                    self._in_use[key] = list({**known, **{v.version: v for v in versions}}.values())

    def _observe_expiry(self, options: CallbackOptions) -> Iterable[Observation]:
        now = self._clock()
        with self._lock:
            current = [v for versions in self._in_use.values() for v in versions]
        return [Observation(round((v.expires_on - now).total_seconds() / 86400, 2),
                            {"vault": v.key.host, "key": v.key.name, "version": v.version}) for v in current]

    def _observe_scope(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            count = self._in_scope
        return [] if count is None else [Observation(count)]

