"""The rotation engine: one run is discover, observe, plan, apply, report. Level-triggered: every run re-reads
the world, whatever asked for it (an event, the sweep, an operator, the rotation queue).

Every choice (how registries are found, how a plan is applied, whether access is read) was made by the
composition root, which hands the engine its collaborators; a ``RunRequest`` says what this run is for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from shared.diagnosis import diagnose
from shared.discovery import Discovery
from shared.expiry import expiry_alerts
from shared.key_rotation import KeyRotator
from shared.keyids import KeyRef
from shared.model import AccessObservation, KeyObservation, Registry
from shared.observe import confirm_unreachable_vaults, observe_access, observe_keys
from shared.outcomes import Outcome, RunProblem, RunReport, once_per_run
from shared.planner import plan
from shared.ports import AccessPort, KeyVaultPort, RegistryPort
from shared.queue_messages import RotationMessage
from shared.reasons import Reason, Result
from shared.requests import RunRequest, Scope
from shared.rollout import Applier, RunContext
from shared.settings import Settings
from shared.status import StatusReport, build_status

if TYPE_CHECKING:
    from shared.retirement_apply import Retirer

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class OutcomeSink:
    """Where outcomes and reports go; the default only logs (telemetry.py exports them). A failing sink is
    logged, never allowed to break a run."""

    def outcome(self, outcome: Outcome) -> None:
        log.info("registry %s: %s (%s)", outcome.registry_name, outcome.result.value, outcome.reason.value)

    def run(self, report: RunReport) -> None:
        log.info("run %s (%s): %s", report.correlation_id, report.trigger.value, report.counts())


@dataclass(frozen=True)
class RotationEngine:
    settings: Settings
    keyvault: KeyVaultPort
    registries: RegistryPort
    discovery: Discovery
    applier: Applier
    rotator: KeyRotator
    access: AccessPort | None = None  # set: sweeps and status read vault access, for diagnosis
    clock: Clock = utc_now
    sink: OutcomeSink = field(default_factory=OutcomeSink)
    retirement: Retirer | None = None  # the sweep's last step (RunRequest.retire): shared/retirement_apply.py

    def run(self, request: RunRequest) -> RunReport:
        with tracer.start_as_current_span(f"rotation.{request.trigger.value}", attributes={
                "rotation.trigger": request.trigger.value, "rotation.correlation_id": request.correlation_id,
                "rotation.dry_run": request.dry_run or self.settings.dry_run}) as span:
            report = self._run(replace(request, dry_run=request.dry_run or self.settings.dry_run))
            if request.retire and self.retirement is not None:
                report = self.retirement.after_sweep(report)
            span.set_attributes({f"rotation.count.{k}": v for k, v in report.counts().items()})
            # Inside the span: each event carries the run's operation id.
            recorded = [self._notify(self.sink.outcome, o) for o in report.outcomes] + [
                self._notify(self.sink.run, report)]
        return replace(report, recorded=all(recorded))

    def _run(self, request: RunRequest) -> RunReport:
        started, began = self.clock(), time.monotonic()
        registries, problems = self.discovery.discover(request.scope)
        keys = self._confirmed(observe_keys(self.keyvault, registries, started, request))
        successors = self.rotator.create_successors(registries, keys, request.dry_run) \
            if self.settings.auto_rotate_keys else None
        keys = successors.keys if successors else keys
        now = self.clock()
        found = diagnose(registries, keys, self._access(registries), now, self.settings.near_expiry_days) \
            if request.diagnose else {}
        start_by = now + timedelta(seconds=request.budget_s) if request.budget_s is not None else None
        applied = self.applier.apply(plan(registries, keys, now, request.targets),
                                     RunContext(request, keys, start_by, began))
        return RunReport(
            request, started, tuple(applied.outcomes),
            alerts=tuple(expiry_alerts(registries, keys, now, self.settings.near_expiry_days, request.alert_versions)),
            key_versions_created=tuple(successors.created if successors else ()),
            problems=once_per_run(problems + (successors.problems if successors else []) + applied.problems),
            diagnosis=MappingProxyType({k: tuple(v) for k, v in found.items()}),
            version_expiry=MappingProxyType(_expiry_of(keys)), duration_ms=int((time.monotonic() - began) * 1000))

    def status(self, key: KeyRef | None = None) -> StatusReport:
        """Every CMK registry in scope (or on one key), its key and its problems, read once; nothing written."""
        registries, problems = self.discovery.discover(Scope(key=key))
        now = self.clock()
        keys = self._confirmed(observe_keys(self.keyvault, registries, now))
        found = diagnose(registries, keys, self._access(registries), now, self.settings.near_expiry_days)
        return build_status(registries, keys, now, found, once_per_run(problems))

    def give_up(self, message: RotationMessage, attempts: int, detail: str) -> RunReport:
        """A queue message that failed on every delivery: a failed outcome (an alert), never a silent drop."""
        request = message.request()
        outcome = Outcome.of(request, message.registry, Result.FAILED, Reason.RETRIES_EXHAUSTED,
                             to_version=message.to_version, detail=f"gave up after {attempts} deliveries: {detail}")
        log.error("rotation of %s gave up after %d deliveries: %s", message.registry_id, attempts, detail)
        report = RunReport(request, self.clock(), (outcome,), problems=(
            RunProblem(message.registry_id, Reason.RETRIES_EXHAUSTED, False, outcome.detail),))
        self._notify(self.sink.outcome, outcome)
        self._notify(self.sink.run, report)
        return report

    def _confirmed(self, keys: dict[KeyRef, KeyObservation]) -> dict[KeyRef, KeyObservation]:
        """Vaults whose names do not resolve, checked with ARM (only then, and only with the access reads)."""
        if self.access is None:
            return keys
        return confirm_unreachable_vaults(keys, self.access, self.registries.list_subscription_ids)

    def _access(self, registries: Sequence[Registry]) -> AccessObservation:
        if self.access is None:
            return AccessObservation()
        return observe_access(self.access, registries, self.settings.subscription_ids,
                              self.registries.list_subscription_ids)

    @staticmethod
    def _notify(deliver: Callable[[Any], None], item: object) -> bool:
        try:
            deliver(item)
        except Exception:  # telemetry trouble must not undo or hide the work itself
            log.exception("recording %s failed", type(item).__name__)
            return False
        return True


def _expiry_of(keys: dict[KeyRef, KeyObservation]) -> dict[tuple[KeyRef, str], datetime]:
    return {(ref, v.version): v.expires_on for ref, observation in keys.items()
            for v in observation.versions if v.expires_on is not None}
