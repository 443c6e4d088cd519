"""Apply one run's plan in this process: canaries first, one pool per subscription, each update re-read,
written and verified. ``shared.fanout`` is the other way to apply a plan (the rotation queue); both stage
canaries the same way, with ``staged``.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from opentelemetry import trace

from shared.armids import RegistryRef
from shared.errors import PermanentError, RotationError
from shared.keyids import KeyRef
from shared.locks import KeyedLocks
from shared.model import KeyObservation
from shared.outcomes import Outcome, RunProblem
from shared.planner import Action, Decision, plan_registry
from shared.ports import RegistryPort
from shared.reasons import Reason, Result
from shared.requests import RunRequest
from shared.settings import Settings

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

MAX_WORKERS = 200  # threads mostly wait on long-running operations; ARM pacing bounds the calls
HARD_BUDGET_MARGIN_S = 5.0  # past event_budget_s, how long in-flight updates may still be waited for
Jobs = dict[int, Decision]  # index in the plan -> decision to apply


@dataclass(frozen=True)
class RunContext:
    """What every update of one run shares."""

    request: RunRequest
    keys: Mapping[KeyRef, KeyObservation]
    start_by: datetime | None = None  # no update starts after this (the Event Grid budget)
    began: float = float("inf")  # time.monotonic() when the run began, before it read anything


@dataclass
class Applied:
    outcomes: list[Outcome]  # one per decision, in the plan's order
    problems: list[RunProblem] = field(default_factory=list)


class Applier(Protocol):
    """How a plan is applied: in this process (``Rollout``) or through the rotation queue (``QueueDispatch``)."""

    def apply(self, decisions: Sequence[Decision], run: RunContext) -> Applied:
        ...


def outcome_of(decision: Decision, result: Result, request: RunRequest, *, reason: Reason | None = None,
               transient: bool | None = None, detail: str | None = None) -> Outcome:
    r = decision.registry
    return Outcome.of(request, r, result, reason or decision.reason, key=r.key_id.key if r.key_id else None,
                      from_version=decision.from_version, to_version=decision.to_version,
                      transient=decision.transient if transient is None else transient,
                      detail=decision.detail if detail is None else detail)


def staged(decisions: Sequence[Decision], run: RunContext, canaries: Callable[[Jobs, RunContext], dict[int, Outcome]],
           rest: Callable[[Jobs, RunContext], dict[int, Outcome]]) -> Applied:
    """Decisions to leave become outcomes as they are; in a dry run the rest are PLANNED. Otherwise canaries
    (``cmk-rotation: canary``) go first, per key; the others on a key whose canary failed are held back."""
    request = run.request
    outcomes: dict[int, Outcome] = {}
    jobs: Jobs = {}
    for index, decision in enumerate(decisions):
        if decision.action == Action.LEAVE:
            outcomes[index] = outcome_of(decision, decision.result or Result.UNCHANGED, request)
        elif request.dry_run:
            outcomes[index] = outcome_of(decision, Result.PLANNED, request)
        else:
            jobs[index] = decision
    problems: list[RunProblem] = []
    first = {i: d for i, d in jobs.items() if d.registry.canary}
    if first:
        outcomes.update(canaries(first, run))
        held, problems = _held_back(jobs, first, outcomes, request)
        outcomes.update(held)
        jobs = {i: d for i, d in jobs.items() if i not in first and i not in held}
    if jobs:
        outcomes.update(rest(jobs, run))
    return Applied([outcomes[i] for i in range(len(decisions))], problems)


def _held_back(jobs: Jobs, canaries: Jobs, outcomes: dict[int, Outcome],
               request: RunRequest) -> tuple[dict[int, Outcome], list[RunProblem]]:
    failed: dict[KeyRef, Outcome] = {}
    for index, decision in canaries.items():
        outcome = outcomes[index]
        if decision.registry.key_id and (outcome.result == Result.FAILED or outcome.reason == Reason.DEFERRED):
            failed.setdefault(decision.registry.key_id.key, outcome)
    problems = [RunProblem(str(key), Reason.CANARY_FAILED, canary.transient,
                           f"canary {canary.registry_name} failed ({canary.reason.value}): "
                           "the other registries on this key were held back") for key, canary in failed.items()]
    held = {}
    for index, decision in jobs.items():
        canary = failed.get(decision.registry.key_id.key) if decision.registry.key_id else None
        if index not in canaries and canary is not None:
            held[index] = outcome_of(decision, Result.SKIPPED, request, reason=Reason.CANARY_FAILED,
                                     transient=canary.transient, detail=f"canary {canary.registry_name} failed")
    return held, problems


@dataclass(frozen=True)
class Rollout:
    """Updates applied here: one thread pool per subscription, each update under the registry's lock."""

    registries: RegistryPort
    settings: Settings
    clock: Callable[[], datetime]
    locks: KeyedLocks

    def apply(self, decisions: Sequence[Decision], run: RunContext) -> Applied:
        return staged(decisions, run, self.concurrently, self.concurrently)

    def concurrently(self, jobs: Jobs, run: RunContext) -> dict[int, Outcome]:
        # A pool per subscription: in one shared pool, jobs of the first subscription would hold every
        # thread while waiting for their own subscription's turn, and the others would wait behind them.
        by_subscription: dict[str, list[int]] = {}
        for index, decision in jobs.items():
            by_subscription.setdefault(decision.registry.subscription_id.lower(), []).append(index)
        share = max(1, MAX_WORKERS // len(by_subscription))
        pools, futures = [], {}
        for indexes in by_subscription.values():
            pool = ThreadPoolExecutor(max_workers=min(self.settings.max_parallel_per_subscription, len(indexes),
                                                      share), thread_name_prefix="rotate")
            pools.append(pool)
            for index in indexes:  # each in a copy of this context: its span is a child of the run's span
                futures[index] = pool.submit(contextvars.copy_context().run, self._rotate_one, jobs[index], run)
        timeout = None
        if run.start_by is not None:
            timeout = max(0.0, (run.start_by - self.clock()).total_seconds()) + HARD_BUDGET_MARGIN_S
        wait(futures.values(), timeout=timeout)
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        return {index: self._finished(future, jobs[index], run.request) for index, future in futures.items()}

    @staticmethod
    def _finished(future: Future[Outcome], decision: Decision, request: RunRequest) -> Outcome:
        if future.done() and not future.cancelled():
            return future.result()
        # still in flight at the hard deadline: a redelivery re-reads and finishes it
        return outcome_of(decision, Result.SKIPPED, request, reason=Reason.DEFERRED, transient=True,
                          detail="time budget spent; left to a retry")

    def _rotate_one(self, decision: Decision, run: RunContext) -> Outcome:
        began = time.monotonic()
        with tracer.start_as_current_span("rotation.registry", attributes={
                "rotation.registry": decision.registry.id, "rotation.to_version": decision.to_version or ""}) as span:
            outcome = self._rotate_guarded(decision, run)
            span.set_attributes({"rotation.result": outcome.result.value, "rotation.reason": outcome.reason.value})
        return replace(outcome, duration_ms=int((time.monotonic() - began) * 1000))

    def _rotate_guarded(self, decision: Decision, run: RunContext) -> Outcome:
        request = run.request
        with self.locks.hold(decision.registry.id):
            if run.start_by is not None and self.clock() >= run.start_by:
                return outcome_of(decision, Result.SKIPPED, request, reason=Reason.DEFERRED, transient=True,
                                  detail="time budget spent before this update could start")
            try:
                return self._rotate_locked(decision, run)
            except RotationError as exc:
                return outcome_of(decision, Result.FAILED, request, reason=exc.reason, transient=exc.transient,
                                  detail=exc.message)
            except Exception as exc:  # one registry's surprise never stops the others
                log.exception("unexpected error rotating %s", decision.registry.id)
                return outcome_of(decision, Result.FAILED, request, reason=Reason.SERVICE_ERROR, transient=True,
                                  detail=f"unexpected {exc.__class__.__name__}")

    def _read_is_fresh(self, registry_id: str, run: RunContext) -> bool:
        """Re-read right before writing (another delivery may have done this already), unless this run is for this
        one registry (a queue message): it read the registry with a GET moments ago, and nothing in this process has
        updated it since (its lock was not let go after the run began). Saves a token of ARM's per-subscription read
        bucket per queued update; across processes, an update still running answers the PATCH with 409, and one
        that finished took longer (an ACR update: seconds) than the Key Vault reads between our GET and PATCH."""
        return run.request.scope.registry is not None and not self.locks.released_since(registry_id, run.began)

    def _rotate_locked(self, decision: Decision, run: RunContext) -> Outcome:
        registry, request = decision.registry, run.request
        fresh = registry if self._read_is_fresh(registry.id, run) else self.registries.get_registry(
            RegistryRef(registry.subscription_id, registry.resource_group, registry.name))
        if fresh is None:
            raise PermanentError(Reason.KEY_NOT_FOUND, "the registry no longer has a customer-managed key")
        key = run.keys.get(fresh.key_id.key) if fresh.key_id else None
        again = plan_registry(fresh, key, self.clock(), request.target_for(registry.id))
        if again.action == Action.LEAVE or again.to_version != decision.to_version or fresh.key_id is None:
            return outcome_of(again, again.result or Result.UNCHANGED, request)
        # The adapter's last read of the operation (a GET of the registry) is the verification read.
        after = self.registries.update_key(fresh, fresh.key_id.key.uri(again.to_version),
                                           self.settings.poll_interval_s)
        in_use = after.versioned_key_id.version if after and after.versioned_key_id else None
        if in_use != again.to_version:
            return outcome_of(again, Result.FAILED, request, reason=Reason.VERIFICATION_FAILED, transient=True,
                              detail=f"after the update the registry uses version {in_use}")
        return outcome_of(again, Result.ROTATED, request)
