"""The rotation engine: observe, plan, apply, verify. Level-triggered: every trigger re-reads the world.

Triggers (an event, the sweep, a manual request) differ only in which registries they consider and
in their trigger name; all converge each pinned registry to its key's newest usable version.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import trace

from shared.armids import RegistryRef
from shared.diagnosis import problems_of
from shared.errors import PermanentError, RotationError
from shared.events import KeyEvent
from shared.keyids import KeyRef
from shared.locks import PROCESS_LOCKS, KeyedLocks
from shared.manual import ManualRequest
from shared.model import KeyObservation, Registry, VaultAccess
from shared.observe import observe_key
from shared.outcomes import KeyVersionCreated, Outcome, RunProblem, RunReport
from shared.planner import Action, Decision, ManualTarget, expiry_alerts, plan, plan_registry, version_needing_successor
from shared.ports import AccessPort, DispatchPort, InventoryPort, KeyVaultPort, RegistryPort
from shared.queue_messages import RotationMessage
from shared.reasons import Reason, Result, Trigger
from shared.settings import Settings

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Clock = Callable[[], datetime]
MAX_WORKERS = 200  # threads mostly wait on long-running operations; ARM pacing bounds the calls
LIST_WORKERS = 8  # concurrent per-subscription listings (reads: ARM allows 250 at once)
HARD_BUDGET_MARGIN_S = 5.0  # past event_budget_s, how long in-flight updates may still be waited for


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
        vaults: dict[str, VaultAccess] = {}
        ordered = sorted(subscriptions)
        for subscription_id, listed in zip(ordered, self._each_subscription(ordered, self.access.list_vaults),
                                           strict=True):
            if isinstance(listed, RotationError):
                log.info("diagnosis: vaults of %s not readable: %s", subscription_id, listed.message)
                continue
            vaults.update({v.name: v for v in listed})
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
        now = self.clock()
        if diagnose:  # as found, before acting
            report.diagnosis = self.diagnose(registries, keys)
        decisions = plan(registries, keys, now, targets)
        start_by = now + timedelta(seconds=budget_s) if budget_s is not None else None
        queued = self.dispatch is not None and trigger in (Trigger.EVENT, Trigger.SWEEP) and scope.registry is None
        for outcome in self._apply(decisions, keys, report, start_by, targets or {}, queued):
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

    # --- Apply and verify ------------------------------------------------------------------------

    def _apply(self, decisions: list[Decision], keys: dict[KeyRef, KeyObservation], report: RunReport,
               start_by: datetime | None, targets: dict[str, ManualTarget], queued: bool = False) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        jobs: dict[int, Decision] = {}
        for index, decision in enumerate(decisions):
            if decision.action == Action.LEAVE:
                outcomes[index] = self._outcome(decision, decision.result or Result.UNCHANGED, report)
            elif report.dry_run:
                outcomes[index] = self._outcome(decision, Result.PLANNED, report)
            else:
                jobs[index] = decision
        canaries = {i: d for i, d in jobs.items() if d.registry.canary}
        if canaries:  # staged rollout: canaries move and verify first, per key
            outcomes.update(self._apply_concurrently(canaries, keys, report, start_by, targets))
            held = self._hold_after_failed_canaries(jobs, canaries, outcomes, report)
            outcomes.update(held)
            jobs = {i: d for i, d in jobs.items() if i not in canaries and i not in held}
        if jobs and queued:  # canaries above stayed in-process: a failed one still holds its key back
            outcomes.update(self._enqueue(jobs, report))
        elif jobs:
            outcomes.update(self._apply_concurrently(jobs, keys, report, start_by, targets))
        return [outcomes[i] for i in range(len(decisions))]

    def _enqueue(self, jobs: dict[int, Decision], report: RunReport) -> dict[int, Outcome]:
        assert self.dispatch is not None
        messages = [RotationMessage(d.registry.id, d.to_version, report.trigger, report.correlation_id,
                                    report.dry_run) for d in jobs.values()]
        try:
            self.dispatch.enqueue(messages)
        except RotationError as exc:  # transient: Event Grid redelivers, the next sweep tries again
            return {i: self._outcome(d, Result.FAILED, report, reason=Reason.QUEUE_UNAVAILABLE, transient=True,
                                     detail=exc.message) for i, d in jobs.items()}
        return {i: self._outcome(d, Result.PLANNED, report, reason=Reason.QUEUED) for i, d in jobs.items()}

    def _hold_after_failed_canaries(self, jobs: dict[int, Decision], canaries: dict[int, Decision],
                                    outcomes: dict[int, Outcome], report: RunReport) -> dict[int, Outcome]:
        failed: dict[KeyRef, Outcome] = {}
        for index, decision in canaries.items():
            outcome = outcomes[index]
            if decision.registry.key_id and (outcome.result == Result.FAILED or outcome.reason == Reason.DEFERRED):
                failed.setdefault(decision.registry.key_id.key, outcome)
        for key, canary in failed.items():
            report.problems.append(RunProblem(str(key), Reason.CANARY_FAILED, canary.transient,
                                              f"canary {canary.registry} failed ({canary.reason.value}): "
                                              "the other registries on this key were held back"))
        return {
            index: self._outcome(decision, Result.SKIPPED, report, reason=Reason.CANARY_FAILED,
                                 transient=failed[decision.registry.key_id.key].transient,
                                 detail=f"canary {failed[decision.registry.key_id.key].registry} failed")
            for index, decision in jobs.items()
            if index not in canaries and decision.registry.key_id and decision.registry.key_id.key in failed
        }

    def _apply_concurrently(self, jobs: dict[int, Decision], keys: dict[KeyRef, KeyObservation],
                            report: RunReport, start_by: datetime | None,
                            targets: dict[str, ManualTarget]) -> dict[int, Outcome]:
        # A pool per subscription: in one shared pool, jobs of the first subscription would hold every
        # thread while waiting for their own subscription's turn, and the others would wait behind them.
        by_subscription: dict[str, list[int]] = {}
        for index, decision in jobs.items():
            by_subscription.setdefault(decision.registry.subscription_id.lower(), []).append(index)
        share = max(1, MAX_WORKERS // len(by_subscription))
        pools: list[ThreadPoolExecutor] = []
        futures: dict[int, Future[Outcome]] = {}
        for indexes in by_subscription.values():
            workers = min(self.settings.max_parallel_per_subscription, len(indexes), share)
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rotate")
            pools.append(pool)
            gate = threading.Semaphore(workers)
            for index in indexes:
                decision = jobs[index]
                target = targets.get(decision.registry.id.lower())
                # Each job runs in a copy of this context, so its span is a child of the run's span.
                futures[index] = pool.submit(contextvars.copy_context().run, self._rotate_one, decision, keys,
                                             report, start_by, gate, target)
        timeout = None
        if start_by is not None:
            timeout = max(0.0, (start_by - self.clock()).total_seconds()) + HARD_BUDGET_MARGIN_S
        wait(futures.values(), timeout=timeout)
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        results = {}
        for index, future in futures.items():
            if future.done() and not future.cancelled():
                results[index] = future.result()
            else:  # still in flight at the hard deadline: a redelivery re-reads and finishes it
                results[index] = self._outcome(jobs[index], Result.SKIPPED, report, reason=Reason.DEFERRED,
                                               transient=True, detail="time budget spent; left to a retry")
        return results

    def _rotate_one(self, decision: Decision, keys: dict[KeyRef, KeyObservation], report: RunReport,
                    start_by: datetime | None, gate: threading.Semaphore, target: ManualTarget | None) -> Outcome:
        began = time.monotonic()
        registry = decision.registry
        with tracer.start_as_current_span("rotation.registry", attributes={
                "rotation.registry": registry.id, "rotation.to_version": decision.to_version or ""}) as span:
            outcome = self._rotate_one_traced(decision, keys, report, start_by, gate, target)
            span.set_attributes({"rotation.result": outcome.result.value, "rotation.reason": outcome.reason.value})
        return replace(outcome, duration_ms=int((time.monotonic() - began) * 1000))

    def _rotate_one_traced(self, decision: Decision, keys: dict[KeyRef, KeyObservation], report: RunReport,
                           start_by: datetime | None, gate: threading.Semaphore,
                           target: ManualTarget | None) -> Outcome:
        registry = decision.registry
        with gate, self.locks.hold(registry.id):
            if start_by is not None and self.clock() >= start_by:
                return self._outcome(decision, Result.SKIPPED, report, reason=Reason.DEFERRED, transient=True,
                                     detail="time budget spent before this update could start")
            try:
                outcome = self._rotate_locked(decision, keys, report, target)
            except RotationError as exc:
                outcome = self._outcome(decision, Result.FAILED, report, reason=exc.reason,
                                        transient=exc.transient, detail=exc.message)
            except Exception as exc:  # one registry's surprise never stops the others
                log.exception("unexpected error rotating %s", registry.id)
                outcome = self._outcome(decision, Result.FAILED, report, reason=Reason.SERVICE_ERROR,
                                        transient=True, detail=f"unexpected {exc.__class__.__name__}")
        return outcome

    def _rotate_locked(self, decision: Decision, keys: dict[KeyRef, KeyObservation], report: RunReport,
                       target: ManualTarget | None) -> Outcome:
        registry = decision.registry
        ref = RegistryRef(registry.subscription_id, registry.resource_group, registry.name)
        # Re-read right before writing: another delivery may have done this already.
        fresh = self.registries.get_registry(ref)
        if fresh is None:
            raise PermanentError(Reason.KEY_NOT_FOUND, "the registry no longer has a customer-managed key")
        key = keys.get(fresh.key_id.key) if fresh.key_id else None
        again = plan_registry(fresh, key, self.clock(), target)
        if again.action == Action.LEAVE or again.to_version != decision.to_version:
            return self._outcome(again, again.result or Result.UNCHANGED, report)
        assert fresh.key_id is not None and again.to_version is not None
        target_uri = fresh.key_id.key.uri(again.to_version)
        # The adapter's last read of the operation (a GET of the registry) is the verification read.
        after = self.registries.update_key(fresh, target_uri, self.settings.poll_interval_s)
        if after is None:
            after = self.registries.get_registry(ref)
        in_use = after.versioned_key_id.version if after and after.versioned_key_id else None
        if in_use != again.to_version:
            return self._outcome(again, Result.FAILED, report, reason=Reason.VERIFICATION_FAILED, transient=True,
                                 detail=f"after the update the registry uses version {in_use}")
        return self._outcome(again, Result.ROTATED, report)

    def _outcome(self, decision: Decision, result: Result, report: RunReport, *, reason: Reason | None = None,
                 transient: bool | None = None, detail: str | None = None) -> Outcome:
        r = decision.registry
        key = r.key_id.key if r.key_id else None
        return Outcome(
            registry_id=r.id, registry=r.name, subscription_id=r.subscription_id, resource_group=r.resource_group,
            vault=key.host if key else None, key=key.uri() if key else None,
            from_version=decision.from_version, to_version=decision.to_version, result=result,
            reason=reason or decision.reason, trigger=report.trigger, dry_run=report.dry_run,
            correlation_id=report.correlation_id,
            transient=decision.transient if transient is None else transient,
            detail=decision.detail if detail is None else detail,
        )


def _run_id() -> str:
    return str(uuid.uuid4())
