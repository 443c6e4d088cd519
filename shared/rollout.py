"""Apply one run's plan: canaries first, one pool per subscription, each update re-read, written and verified.

A ``Rollout`` lives for one run and holds what every update in it shares (the observed keys, the report, the
Event Grid time budget, manual targets); the engine builds it after planning.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime

from opentelemetry import trace

from shared.armids import RegistryRef
from shared.errors import PermanentError, RotationError
from shared.keyids import KeyRef
from shared.locks import KeyedLocks
from shared.model import KeyObservation
from shared.outcomes import Outcome, RunProblem, RunReport
from shared.planner import Action, Decision, ManualTarget, plan_registry
from shared.ports import DispatchPort, RegistryPort
from shared.queue_messages import RotationMessage
from shared.reasons import Reason, Result
from shared.settings import Settings

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

MAX_WORKERS = 200  # threads mostly wait on long-running operations; ARM pacing bounds the calls
HARD_BUDGET_MARGIN_S = 5.0  # past event_budget_s, how long in-flight updates may still be waited for


@dataclass
class Rollout:
    registries: RegistryPort
    settings: Settings
    clock: Callable[[], datetime]
    locks: KeyedLocks
    keys: dict[KeyRef, KeyObservation]
    report: RunReport
    start_by: datetime | None = None  # no update starts after this (the Event Grid budget)
    targets: dict[str, ManualTarget] = field(default_factory=dict)  # registry id (lower) -> manual target
    dispatch: DispatchPort | None = None  # set: updates are enqueued, not applied here
    # False: the run read its one registry with a GET moments ago (a queue message, a manual run on one
    # registry), so that read is the re-read: a second one would spend another token of ARM's read bucket.
    reread: bool = True

    def outcomes(self, decisions: list[Decision]) -> list[Outcome]:
        """One outcome per decision, in the same order."""
        report = self.report
        outcomes: dict[int, Outcome] = {}
        jobs: dict[int, Decision] = {}
        for index, decision in enumerate(decisions):
            if decision.action == Action.LEAVE:
                outcomes[index] = outcome_of(decision, decision.result or Result.UNCHANGED, report)
            elif report.dry_run:
                outcomes[index] = outcome_of(decision, Result.PLANNED, report)
            else:
                jobs[index] = decision
        canaries = {i: d for i, d in jobs.items() if d.registry.canary}
        if canaries:  # staged rollout: canaries move and verify first, per key
            outcomes.update(self._apply_concurrently(canaries))
            held = self._hold_after_failed_canaries(jobs, canaries, outcomes)
            outcomes.update(held)
            jobs = {i: d for i, d in jobs.items() if i not in canaries and i not in held}
        if jobs and self.dispatch is not None:  # canaries above stayed in-process: a failed one still holds
            outcomes.update(self._enqueue(jobs, self.dispatch))
        elif jobs:
            outcomes.update(self._apply_concurrently(jobs))
        return [outcomes[i] for i in range(len(decisions))]

    def _enqueue(self, jobs: dict[int, Decision], dispatch: DispatchPort) -> dict[int, Outcome]:
        report = self.report
        messages = [RotationMessage(d.registry.id, d.to_version, report.trigger, report.correlation_id,
                                    report.dry_run) for d in jobs.values()]
        try:
            dispatch.enqueue(messages)
        except RotationError as exc:  # transient: Event Grid redelivers, the next sweep tries again
            return {i: outcome_of(d, Result.FAILED, report, reason=Reason.QUEUE_UNAVAILABLE, transient=True,
                                     detail=exc.message) for i, d in jobs.items()}
        return {i: outcome_of(d, Result.PLANNED, report, reason=Reason.QUEUED) for i, d in jobs.items()}

    def _hold_after_failed_canaries(self, jobs: dict[int, Decision], canaries: dict[int, Decision],
                                    outcomes: dict[int, Outcome]) -> dict[int, Outcome]:
        report = self.report
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
            index: outcome_of(decision, Result.SKIPPED, report, reason=Reason.CANARY_FAILED,
                                 transient=failed[decision.registry.key_id.key].transient,
                                 detail=f"canary {failed[decision.registry.key_id.key].registry} failed")
            for index, decision in jobs.items()
            if index not in canaries and decision.registry.key_id and decision.registry.key_id.key in failed
        }

    def _apply_concurrently(self, jobs: dict[int, Decision]) -> dict[int, Outcome]:
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
                # Each job runs in a copy of this context, so its span is a child of the run's span.
                futures[index] = pool.submit(contextvars.copy_context().run, self._rotate_one, decision, gate)
        timeout = None
        if self.start_by is not None:
            timeout = max(0.0, (self.start_by - self.clock()).total_seconds()) + HARD_BUDGET_MARGIN_S
        wait(futures.values(), timeout=timeout)
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        results = {}
        for index, future in futures.items():
            if future.done() and not future.cancelled():
                results[index] = future.result()
            else:  # still in flight at the hard deadline: a redelivery re-reads and finishes it
                results[index] = outcome_of(jobs[index], Result.SKIPPED, self.report, reason=Reason.DEFERRED,
                                               transient=True, detail="time budget spent; left to a retry")
        return results

    def _rotate_one(self, decision: Decision, gate: threading.Semaphore) -> Outcome:
        began = time.monotonic()
        registry = decision.registry
        with tracer.start_as_current_span("rotation.registry", attributes={
                "rotation.registry": registry.id, "rotation.to_version": decision.to_version or ""}) as span:
            outcome = self._rotate_one_traced(decision, gate)
            span.set_attributes({"rotation.result": outcome.result.value, "rotation.reason": outcome.reason.value})
        return replace(outcome, duration_ms=int((time.monotonic() - began) * 1000))

    def _rotate_one_traced(self, decision: Decision, gate: threading.Semaphore) -> Outcome:
        registry, report = decision.registry, self.report
        with gate, self.locks.hold(registry.id):
            if self.start_by is not None and self.clock() >= self.start_by:
                return outcome_of(decision, Result.SKIPPED, report, reason=Reason.DEFERRED, transient=True,
                                     detail="time budget spent before this update could start")
            try:
                outcome = self._rotate_locked(decision)
            except RotationError as exc:
                outcome = outcome_of(decision, Result.FAILED, report, reason=exc.reason,
                                        transient=exc.transient, detail=exc.message)
            except Exception as exc:  # one registry's surprise never stops the others
                log.exception("unexpected error rotating %s", registry.id)
                outcome = outcome_of(decision, Result.FAILED, report, reason=Reason.SERVICE_ERROR,
                                        transient=True, detail=f"unexpected {exc.__class__.__name__}")
        return outcome

    def _rotate_locked(self, decision: Decision) -> Outcome:
        registry, report = decision.registry, self.report
        ref = RegistryRef(registry.subscription_id, registry.resource_group, registry.name)
        # Re-read right before writing: another delivery may have done this already.
        fresh = self.registries.get_registry(ref) if self.reread else registry
        if fresh is None:
            raise PermanentError(Reason.KEY_NOT_FOUND, "the registry no longer has a customer-managed key")
        key = self.keys.get(fresh.key_id.key) if fresh.key_id else None
        again = plan_registry(fresh, key, self.clock(), self.targets.get(registry.id.lower()))
        if again.action == Action.LEAVE or again.to_version != decision.to_version:
            return outcome_of(again, again.result or Result.UNCHANGED, report)
        assert fresh.key_id is not None and again.to_version is not None
        target_uri = fresh.key_id.key.uri(again.to_version)
        # The adapter's last read of the operation (a GET of the registry) is the verification read.
        after = self.registries.update_key(fresh, target_uri, self.settings.poll_interval_s)
        if after is None:
            after = self.registries.get_registry(ref)
        in_use = after.versioned_key_id.version if after and after.versioned_key_id else None
        if in_use != again.to_version:
            return outcome_of(again, Result.FAILED, report, reason=Reason.VERIFICATION_FAILED, transient=True,
                                 detail=f"after the update the registry uses version {in_use}")
        return outcome_of(again, Result.ROTATED, report)


def outcome_of(decision: Decision, result: Result, report: RunReport, *, reason: Reason | None = None,
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
