"""The rotation engine: observe, plan, apply, verify. Level-triggered: every trigger re-reads the world.

Triggers (an event, the sweep, a manual request) differ only in which registries they consider and
in their trigger name; all converge each pinned registry to its key's newest usable version.
This module observes and plans; applying and verifying the plan is ``shared.rollout``.
"""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import trace

from shared.armids import RegistryRef
from shared.diagnosis import problems_of
from shared.errors import RotationError
from shared.events import KeyEvent
from shared.keyids import KeyRef
from shared.locks import PROCESS_LOCKS, KeyedLocks
from shared.manual import ManualRequest
from shared.model import KeyObservation, Registry, VaultAccess
from shared.observe import observe_key
from shared.outcomes import KeyVersionCreated, Outcome, RunProblem, RunReport
from shared.planner import ManualTarget, expiry_alerts, plan, version_needing_successor
from shared.ports import AccessPort, DispatchPort, InventoryPort, KeyVaultPort, RegistryPort
from shared.queue_messages import RotationMessage
from shared.reasons import Reason, Result, Trigger
from shared.rollout import Rollout
from shared.settings import Settings

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Clock = Callable[[], datetime]
LIST_WORKERS = 8  # concurrent per-subscription listings (reads: ARM allows 250 at once)


def utc_now() -> datetime:
    return datetime.now(UTC)


class OutcomeSink:
    """Where outcomes go as they happen; the default only logs (telemetry.py exports them).

    The engine calls it through ``_notify``: a failing sink is logged, never allowed to break a run.
    """

    def outcome(self, outcome: Outcome) -> None:
        log.info("registry %s: %s (%s)", outcome.registry, outcome.result.value, outcome.reason.value)

    def run(self, report: RunReport) -> None:
        log.info("run %s (%s): %s", report.correlation_id, report.trigger.value, report.counts())


@dataclass(frozen=True)
class _Scope:
    registry: RegistryRef | None = None
    key: KeyRef | None = None


class RotationEngine:
    def __init__(self, keyvault: KeyVaultPort, registries: RegistryPort, settings: Settings,
                 clock: Clock = utc_now, sink: OutcomeSink | None = None, locks: KeyedLocks = PROCESS_LOCKS,
                 access: AccessPort | None = None, dispatch: DispatchPort | None = None,
                 inventory: InventoryPort | None = None) -> None:
        self.keyvault = keyvault
        self.inventory = inventory  # set: one Resource Graph query lists every subscription in scope
        self.dispatch = dispatch  # set: events and sweeps enqueue their updates instead of applying them
        self.access = access
        self.registries = registries
        self.settings = settings
        self.clock = clock
        self.sink = sink or OutcomeSink()
        self.locks = locks

    # --- Entry points --------------------------------------------------------------------------

    def on_key_event(self, event: KeyEvent) -> RunReport:
        extra = [(event.key_id.key, event.key_id.version)] if event.key_id.version else []
        return self._run(Trigger.EVENT, event.event_id, self.settings.dry_run, _Scope(key=event.key_id.key),
                         budget_s=self.settings.event_budget_s, extra_alert_versions=extra)

    def sweep(self, dry_run: bool = False, correlation_id: str | None = None) -> RunReport:
        return self._run(Trigger.SWEEP, correlation_id or _run_id(), self.settings.dry_run or dry_run, _Scope(),
                         diagnose=True)

    def run_manual(self, request: ManualRequest, correlation_id: str | None = None) -> RunReport:
        targets = {}
        if request.registry is not None and request.to_version is not None:
            targets[request.registry.id.lower()] = ManualTarget(request.to_version, request.allow_downgrade)
        return self._run(Trigger.MANUAL, correlation_id or _run_id(), self.settings.dry_run or request.dry_run,
                         _Scope(registry=request.registry, key=request.key), targets=targets)

    def apply_queued(self, message: RotationMessage) -> RunReport:
        """One registry from the rotation queue, in-process: re-read, plan, apply, verify (never re-enqueued)."""
        return self._run(message.trigger, message.correlation_id, self.settings.dry_run or message.dry_run,
                         _Scope(registry=message.registry), budget_s=None)

    def give_up(self, message: RotationMessage, attempts: int, detail: str) -> RunReport:
        """A queue message that failed on every delivery: a failed outcome (an alert), never a silent drop."""
        ref = message.registry
        report = RunReport(message.trigger, message.correlation_id, message.dry_run, self.clock())
        outcome = Outcome(registry_id=ref.id, registry=ref.name, subscription_id=ref.subscription_id,
                          resource_group=ref.resource_group, vault=None, key=None, from_version=None,
                          to_version=message.to_version, result=Result.FAILED, reason=Reason.RETRIES_EXHAUSTED,
                          trigger=message.trigger, dry_run=message.dry_run, correlation_id=message.correlation_id,
                          transient=False, detail=f"gave up after {attempts} deliveries: {detail}"[:400])
        report.outcomes.append(outcome)
        report.problems.append(RunProblem(ref.id, Reason.RETRIES_EXHAUSTED, False, outcome.detail))
        log.error("rotation of %s gave up after %d deliveries: %s", ref.id, attempts, detail)
        self._notify(self.sink.outcome, outcome)
        self._notify(self.sink.run, report)
        return report

    def discover(self) -> tuple[list[Registry], list[RunProblem]]:
        """Every CMK registry in scope, listed as a sweep lists them (what bench/discovery.py times)."""
        problems: list[RunProblem] = []
        return self._discover(_Scope(), problems), problems

    def observe(self, key: KeyRef | None = None) -> tuple[list[Registry], dict[KeyRef, KeyObservation],
                                                          list[RunProblem]]:
        """Registries in scope and their keys, read once: what status reports are built from."""
        problems: list[RunProblem] = []
        registries = self._discover(_Scope(key=key), problems)
        return registries, self._observe_keys(registries, self.clock()), problems

    def diagnose(self, registries: list[Registry], keys: dict[KeyRef, KeyObservation]) -> dict[str, list[str]]:
        """Problems per registry. Access reads are cached per vault and identity, and best-effort."""
        now = self.clock()
        vaults, roles = self._access_reads(registries) if self.access is not None else ({}, {})
        found = {}
        for r in registries:
            key = keys.get(r.key_id.key) if r.key_id else None
            vault = vaults.get(r.key_id.key.vault_name) if r.key_id else None
            principal = r.encryption_principal_id
            held = roles.get((principal or "", vault.id.lower(), r.key_id.key.name)) if vault and r.key_id else None
            found[r.id] = problems_of(r, key, now, self.settings.near_expiry_days, vault, held,
                                      access_checked=self.access is not None)
        return found

    def _access_reads(self, registries: list[Registry]) -> tuple[dict[str, VaultAccess],
                                                                 dict[tuple[str, str, str], frozenset[str] | None]]:
        assert self.access is not None
        subscriptions = {s.lower() for s in self.settings.subscription_ids} | {r.subscription_id for r in registries}
        vaults = self._vaults_in(sorted(subscriptions))
        wanted = {r.key_id.key.vault_name for r in registries
                  if r.key_id is not None and ".managedhsm." not in r.key_id.key.host}
        if wanted - vaults.keys():
            # Keys often live in a central security subscription that holds no registry: look in every
            # other subscription this identity can read, once per run and only when a vault is missing.
            try:
                others = sorted({s.lower() for s in self.registries.list_subscription_ids()} - subscriptions)
            except RotationError as exc:
                log.info("diagnosis: subscriptions not listable: %s", exc.message)
                others = []
            vaults.update(self._vaults_in(others))
        roles: dict[tuple[str, str, str], frozenset[str] | None] = {}
        for r in registries:
            vault = vaults.get(r.key_id.key.vault_name) if r.key_id else None
            principal = r.encryption_principal_id
            if vault is None or not vault.rbac or principal is None or r.key_id is None:
                continue
            cache_key = (principal, vault.id.lower(), r.key_id.key.name)
            if cache_key not in roles:
                try:
                    roles[cache_key] = self.access.role_ids(principal, vault.id, r.key_id.key.name)
                except RotationError as exc:
                    log.info("diagnosis: role assignments on %s not readable: %s", vault.id, exc.message)
                    roles[cache_key] = None
        return vaults, roles

    def _vaults_in(self, subscriptions: list[str]) -> dict[str, VaultAccess]:
        assert self.access is not None
        vaults: dict[str, VaultAccess] = {}
        for subscription_id, listed in zip(subscriptions, self._each_subscription(subscriptions,
                                                                                  self.access.list_vaults),
                                           strict=True):
            if isinstance(listed, RotationError):
                log.info("diagnosis: vaults of %s not readable: %s", subscription_id, listed.message)
                continue
            vaults.update({v.name: v for v in listed})
        return vaults

    # --- One run -------------------------------------------------------------------------------

    def _run(self, trigger: Trigger, correlation_id: str, dry_run: bool, scope: _Scope,
             budget_s: float | None = None, targets: dict[str, ManualTarget] | None = None,
             extra_alert_versions: Iterable[tuple[KeyRef, str]] = (), diagnose: bool = False) -> RunReport:
        with tracer.start_as_current_span(f"rotation.{trigger.value}", attributes={
                "rotation.trigger": trigger.value, "rotation.correlation_id": correlation_id,
                "rotation.dry_run": dry_run}) as span:
            report = self._run_traced(trigger, correlation_id, dry_run, scope, budget_s, targets,
                                      extra_alert_versions, diagnose)
            span.set_attributes({f"rotation.count.{k}": v for k, v in report.counts().items()})
            return report

    def _run_traced(self, trigger: Trigger, correlation_id: str, dry_run: bool, scope: _Scope,
                    budget_s: float | None, targets: dict[str, ManualTarget] | None,
                    extra_alert_versions: Iterable[tuple[KeyRef, str]], diagnose: bool) -> RunReport:
        started = time.monotonic()
        report = RunReport(trigger, correlation_id, dry_run, self.clock())
        registries = self._discover(scope, report.problems)
        keys = self._observe_keys(registries, report.started, targets)
        if self.settings.auto_rotate_keys:
            keys = self._create_successor_versions(registries, keys, dry_run, report)
        report.version_expiry = {(str(ref), v.version): v.expires_on for ref, observation in keys.items()
                                 for v in observation.versions if v.expires_on is not None}
        now = self.clock()
        if diagnose:  # as found, before acting
            report.diagnosis = self.diagnose(registries, keys)
        decisions = plan(registries, keys, now, targets)
        start_by = now + timedelta(seconds=budget_s) if budget_s is not None else None
        queued = self.dispatch is not None and trigger in (Trigger.EVENT, Trigger.SWEEP) and scope.registry is None
        rollout = Rollout(self.registries, self.settings, self.clock, self.locks, keys, report, start_by,
                          targets or {}, self.dispatch if queued else None, reread=scope.registry is None)
        for outcome in rollout.outcomes(decisions):
            report.outcomes.append(outcome)
            self._notify(self.sink.outcome, outcome)
        report.alerts = expiry_alerts(registries, keys, now, self.settings.near_expiry_days, extra_alert_versions)
        report.duration_ms = int((time.monotonic() - started) * 1000)
        self._notify(self.sink.run, report)
        return report

    @staticmethod
    def _notify(deliver: Callable[[Any], None], item: object) -> None:
        try:
            deliver(item)
        except Exception:  # telemetry trouble must not undo or hide the work itself
            log.exception("recording %s failed", type(item).__name__)

    def _discover(self, scope: _Scope, problems: list[RunProblem]) -> list[Registry]:
        if scope.registry is not None:
            return self._discover_one(scope.registry, problems)
        try:
            subscriptions = list(self.settings.subscription_ids) or self.registries.list_subscription_ids()
        except RotationError as exc:
            problems.append(RunProblem("subscriptions", exc.reason, exc.transient, exc.message))
            return []
        found: list[Registry] = []
        if self.inventory is not None:
            # One query for the whole scope. Its data may lag ARM: harmless, as every registry is read
            # again with a GET right before it is written, so a stale listing never causes a wrong write.
            try:
                found = self.inventory.list_cmk_registries_in(subscriptions)
            except RotationError as exc:
                problems.append(RunProblem("resourcegraph", exc.reason, exc.transient, exc.message))
            if self.settings.subscription_ids:
                problems.extend(self._invisible(subscriptions))
        else:
            for subscription_id, listed in zip(subscriptions, self._each_subscription(
                    subscriptions, lambda s: list(self.registries.list_cmk_registries(s))), strict=True):
                if isinstance(listed, RotationError):
                    problems.append(RunProblem(f"/subscriptions/{subscription_id}", listed.reason, listed.transient,
                                               listed.message))
                    continue
                found.extend(listed)
        wanted = {s.lower() for s in subscriptions}
        return sorted((r for r in found
                       if r.subscription_id.lower() in wanted
                       and self.settings.in_scope(r.subscription_id, r.resource_group)
                       and (scope.key is None or (r.key_id is not None and r.key_id.key == scope.key))),
                      key=lambda r: r.id.lower())

    def _invisible(self, configured: list[str]) -> list[RunProblem]:
        """Resource Graph answers nothing, not an error, for a subscription the identity cannot read: a
        configured one missing from the subscription list would otherwise be silently empty."""
        try:
            visible = {s.lower() for s in self.registries.list_subscription_ids()}
        except RotationError as exc:
            return [RunProblem("subscriptions", exc.reason, exc.transient, exc.message)]
        return [RunProblem(f"/subscriptions/{s}", Reason.FORBIDDEN, False,
                           "configured in ROTATION_SUBSCRIPTION_IDS but not readable by the app's identity; "
                           "Resource Graph returns nothing for it")
                for s in configured if s.lower() not in visible]

    @staticmethod
    def _each_subscription(subscriptions: list[str], read: Callable[[str], list[Any]]) -> list[Any]:
        """One listing per subscription, a few at a time (each is a round trip or more); errors as values."""
        def attempt(subscription_id: str) -> list[Any] | RotationError:
            try:
                return read(subscription_id)
            except RotationError as exc:
                return exc

        if len(subscriptions) <= 1:
            return [attempt(s) for s in subscriptions]
        with ThreadPoolExecutor(max_workers=min(LIST_WORKERS, len(subscriptions))) as pool:
            # A context copy per call (one context cannot be entered twice at once): spans stay in the run.
            contexts = [contextvars.copy_context() for _ in subscriptions]
            return list(pool.map(lambda c, s: c.run(attempt, s), contexts, subscriptions))

    def _discover_one(self, ref: RegistryRef, problems: list[RunProblem]) -> list[Registry]:
        try:
            registry = self.registries.get_registry(ref)
        except RotationError as exc:
            problems.append(RunProblem(ref.id, exc.reason, exc.transient, exc.message))
            return []
        if registry is None:
            problems.append(RunProblem(ref.id, Reason.KEY_NOT_FOUND, False,
                                       "the registry has no customer-managed key"))
            return []
        return [registry]

    def _observe_keys(self, registries: list[Registry], now: datetime,
                      targets: dict[str, ManualTarget] | None = None) -> dict[KeyRef, KeyObservation]:
        wanted: dict[KeyRef, set[str]] = {}
        for r in registries:
            if r.key_id is not None:
                target = (targets or {}).get(r.id.lower())
                wanted.setdefault(r.key_id.key, set()).update({target.version} if target else set())
        if not wanted:
            return {}
        refs = sorted(wanted, key=str)
        contexts = [contextvars.copy_context() for _ in refs]  # Key Vault reads belong to the run's trace
        with ThreadPoolExecutor(max_workers=min(8, len(refs))) as pool:
            observed = pool.map(lambda ref, ctx: ctx.run(observe_key, self.keyvault, ref, now, frozenset(wanted[ref])),
                                refs, contexts)
            return dict(zip(refs, observed, strict=True))

    # --- Auto-rotation of keys (off by default) --------------------------------------------------

    def _create_successor_versions(self, registries: list[Registry], keys: dict[KeyRef, KeyObservation],
                                   dry_run: bool, report: RunReport) -> dict[KeyRef, KeyObservation]:
        keys = dict(keys)
        for ref, observation in keys.items():
            in_use = {r.version_in_use for r in registries
                      if r.key_id is not None and r.key_id.key == ref and r.version_in_use}
            expiring = version_needing_successor(observation, in_use, self.clock(), self.settings.near_expiry_days)
            if expiring is None:
                continue
            if dry_run:
                report.key_versions_created.append(KeyVersionCreated(str(ref), expiring.version, None, True))
                continue
            with self.locks.hold(f"key:{ref}"):
                # Re-read under the lock: a concurrent run may have created the successor already.
                fresh = observe_key(self.keyvault, ref, self.clock())
                if version_needing_successor(fresh, in_use, self.clock(), self.settings.near_expiry_days) is None:
                    keys[ref] = fresh
                    continue
                try:
                    new_version = self.keyvault.create_version(ref)
                except RotationError as exc:
                    report.key_versions_created.append(
                        KeyVersionCreated(str(ref), expiring.version, None, False, exc.message))
                    report.problems.append(RunProblem(str(ref), Reason.KEY_ROTATION_FAILED, exc.transient,
                                                      exc.message))
                    continue
                report.key_versions_created.append(KeyVersionCreated(str(ref), expiring.version, new_version, False))
                keys[ref] = observe_key(self.keyvault, ref, self.clock())
        return keys

def _run_id() -> str:
    return str(uuid.uuid4())
