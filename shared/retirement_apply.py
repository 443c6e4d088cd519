"""Retirement, applied: plan (``retirement.py``), then disable each eligible version under its key's lock, with the
registries on the key re-read by ARM GETs right before and right after. A registry showing the version after it
was disabled gets it back at once, and a critical ``RotationProblem``. ``undo`` re-enables a version, always.

Runs only from the sweep (``RunRequest.retire``; ``ROTATION_RETIRE=auto`` to apply, ``plan`` to report) and the
CLI (``python -m shared retire``); never in event or queue runs, and never applies in a dry run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from shared.armids import RegistryRef
from shared.errors import RotationError
from shared.keyids import KeyRef
from shared.locks import KeyedLocks
from shared.model import Registry
from shared.observe import observe_key
from shared.outcomes import RunProblem, RunReport, once_per_run
from shared.reasons import Reason, Result, RetireResult
from shared.requests import RunRequest
from shared.retirement import (
    VERSION_CHECKS,
    Candidate,
    Estate,
    RetirementPlan,
    difference,
    on_key,
    plan_retirement,
    shows,
    version_evidence,
)
from shared.retirement_observe import RetirementReads

log = logging.getLogger("shared.outcomes")  # the logger whose records become custom events
RETIRED_EVENT = "KeyVersionRetired"
CUSTOM_EVENT = "microsoft.custom_event.name"
PROBLEM_EVENT = "RotationProblem"


@dataclass(frozen=True)
class RetirementOutcome:
    key: KeyRef
    version: str
    result: RetireResult
    detail: str
    request: RunRequest
    plan_hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        who = self.request.requested_by
        return {"key": self.key.uri(), "version": self.version, "keyVersion": self.key.uri(self.version),
                "result": self.result.value, "detail": self.detail, "planHash": self.plan_hash,
                "trigger": self.request.trigger.value, "correlationId": self.request.correlation_id,
                "dryRun": self.request.dry_run, "requestedBy": who.kind, "requestedByName": who.name,
                "requestedByObjectId": who.object_id}


@dataclass(frozen=True)
class RetirementReport:
    request: RunRequest
    mode: str  # "plan", "apply", "auto" (the sweep applying), "undo"
    plan: RetirementPlan | None = None
    outcomes: tuple[RetirementOutcome, ...] = ()
    problems: tuple[RunProblem, ...] = ()
    difference: tuple[str, ...] = ()  # apply refused: how the plan changed since the hash given

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "plan": self.plan.to_dict() if self.plan else None,
                "outcomes": [o.to_dict() for o in self.outcomes], "problems": [p.to_dict() for p in self.problems],
                "difference": list(self.difference)}


def record(report: RetirementReport, problems_too: bool) -> None:
    """Each outcome a ``KeyVersionRetired`` event (blocked candidates are evidence in the plan, not events);
    problems as ``RotationProblem`` events unless the sweep's report carries them."""
    for outcome in report.outcomes:
        props = {k: str(v).lower() if isinstance(v, bool) else v for k, v in outcome.to_dict().items()}
        level = logging.ERROR if outcome.result == RetireResult.REVERTED else logging.INFO
        log.log(level, "key version %s: %s (%s)", props["keyVersion"], outcome.result.value, outcome.detail,
                extra={CUSTOM_EVENT: RETIRED_EVENT, **props})
    for problem in report.problems if problems_too else ():
        log.warning("%s at %s: %s", problem.reason.value, problem.scope, problem.detail,
                    extra={CUSTOM_EVENT: PROBLEM_EVENT, "scope": problem.scope, "reason": problem.reason.value,
                           "transient": str(problem.transient).lower(), "detail": problem.detail,
                           "trigger": report.request.trigger.value, "correlationId": report.request.correlation_id})


@dataclass(frozen=True)
class Retirer:
    reads: RetirementReads
    locks: KeyedLocks
    clock: Callable[[], datetime]
    recorder: Callable[[RetirementReport, bool], None] = field(default=record)

    def plan(self, blockers: Sequence[str] = (),
             keys: Sequence[KeyRef] | None = None) -> tuple[RetirementPlan, Estate, tuple[RunProblem, ...]]:
        estate, problems = self.reads.estate(self.clock(), blockers, keys)
        plan = plan_retirement(estate)
        return plan, estate, problems + plan.problems

    def after_sweep(self, report: RunReport) -> RunReport:
        """The sweep's step: ``plan`` reports what it would retire, ``auto`` retires (never in a dry run). Any
        problem or failed outcome of the sweep blocks every key."""
        if self.reads.settings.retire == "off":
            return report
        try:
            return self._after_sweep(report, self.reads.settings.retire)
        except Exception as exc:  # the sweep's own work stands; retirement waits for the next sweep
            log.exception("retirement step of sweep %s failed", report.correlation_id)
            problem = RunProblem("retirement", Reason.SERVICE_ERROR, True, f"unexpected {exc.__class__.__name__}")
            return replace(report, problems=(*report.problems, problem))

    def _after_sweep(self, report: RunReport, mode: str) -> RunReport:
        blockers = [f"{p.reason.value} at {p.scope}" for p in report.problems] + \
            [f"{o.registry_name}: {o.reason.value}" for o in report.outcomes if o.result == Result.FAILED]
        plan, estate, problems = self.plan(blockers, [o.key for o in report.outcomes if o.key is not None])
        applying = mode == "auto" and not report.request.dry_run
        found = self._apply(plan, estate, report.request) if applying else \
            RetirementReport(report.request, "plan", plan, self._would(plan, report.request))
        found = replace(found, mode="auto" if applying else "plan", plan=plan, problems=problems + found.problems)
        self.recorder(found, False)
        return replace(report, retirement=found, problems=once_per_run([*report.problems, *found.problems]))

    def apply(self, request: RunRequest, expected_hash: str) -> RetirementReport:
        """The CLI's ``--apply --plan-hash H``: recompute; apply only if the plan is the one reviewed."""
        plan, estate, problems = self.plan()
        if plan.digest != expected_hash.strip().lower() or request.dry_run:
            reviewed = load_plan(expected_hash)
            said = difference(reviewed, plan) if reviewed is not None else \
                [f"plan {expected_hash} is not the current plan {plan.digest}; now it would retire: "
                 + (", ".join(c.uri for c in plan.eligible) or "nothing")]
            if request.dry_run:
                said = ["ROTATION_DRY_RUN is true: nothing is disabled", *said]
            found = RetirementReport(request, "apply", plan, (), problems, tuple(said))
        else:
            applied = self._apply(plan, estate, request)
            found = replace(applied, plan=plan, problems=problems + applied.problems)
        self.recorder(found, True)
        return found

    def show_plan(self, request: RunRequest) -> RetirementReport:
        plan, _, problems = self.plan()
        save_plan(plan)
        found = RetirementReport(request, "plan", plan, (), problems)
        self.recorder(found, True)
        return found

    def undo(self, request: RunRequest, key: KeyRef, version: str) -> RetirementReport:
        """Re-enable a version: always allowed (even in a dry run: it only undoes), and recorded."""
        try:
            enabled = self.reads.switch.set_enabled(key, version, True)
            outcome = RetirementOutcome(key, version, RetireResult.RESTORED if enabled else RetireResult.FAILED,
                                        "re-enabled" if enabled else "Key Vault answered enabled: false", request)
        except RotationError as exc:
            outcome = RetirementOutcome(key, version, RetireResult.FAILED, exc.message, request)
        problems = () if outcome.result == RetireResult.RESTORED else (
            RunProblem(key.uri(version), Reason.KEY_UNREADABLE, False, f"re-enabling failed: {outcome.detail}"),)
        found = RetirementReport(request, "undo", None, (outcome,), problems)
        self.recorder(found, True)
        return found

    # --- applying ------------------------------------------------------------------------------------

    def _would(self, plan: RetirementPlan, request: RunRequest) -> tuple[RetirementOutcome, ...]:
        return tuple(RetirementOutcome(c.key, c.version, RetireResult.WOULD_RETIRE, "every check passed", request,
                                       plan.digest) for c in plan.eligible)

    def _apply(self, plan: RetirementPlan, estate: Estate, request: RunRequest) -> RetirementReport:
        outcomes: list[RetirementOutcome] = []
        problems: list[RunProblem] = []
        for candidate in plan.eligible:
            outcome = self._retire(candidate, estate, request, plan.digest)
            outcomes.append(outcome)
            if outcome.result == RetireResult.REVERTED:
                problems.append(RunProblem(candidate.uri, Reason.RETIREMENT_REVERTED, False,
                                           f"critical: {outcome.detail}"))
        return RetirementReport(request, "apply", plan, tuple(outcomes), tuple(problems))

    def _retire(self, candidate: Candidate, estate: Estate, request: RunRequest, digest: str) -> RetirementOutcome:
        def outcome(result: RetireResult, detail: str) -> RetirementOutcome:
            return RetirementOutcome(candidate.key, candidate.version, result, detail, request, digest)

        with self.locks.hold(f"key:{candidate.key}"):  # the lock key rotation holds while creating a version
            changed = self._changed(candidate, estate)
            if changed:
                return outcome(RetireResult.CHANGED, f"left enabled: {changed}")
            try:
                self.reads.switch.set_enabled(candidate.key, candidate.version, False)
            except RotationError as exc:
                return outcome(RetireResult.FAILED, f"{exc.reason.value}: {exc.message}")
            showing = self._showing(candidate, estate)
            if not showing:
                return outcome(RetireResult.RETIRED, "disabled; the registries on the key read again without it")
            return outcome(RetireResult.REVERTED, f"{showing} after it was disabled; {self._re_enable(candidate)}")

    def _re_enable(self, candidate: Candidate) -> str:
        try:
            self.reads.switch.set_enabled(candidate.key, candidate.version, True)
            return "re-enabled at once"
        except RotationError as exc:
            return f"RE-ENABLING FAILED ({exc.message}): run python -m shared retire --undo {candidate.uri}"

    def _changed(self, candidate: Candidate, estate: Estate) -> str:
        """Right before disabling: the key read again (the version checks again), and every registry on it."""
        fresh = observe_key(self.reads.keyvault, candidate.key, self.clock())
        version = fresh.version(candidate.version)
        if fresh.error is not None or version is None or not version.enabled:
            return f"the key read again: {fresh.error.value if fresh.error else 'version gone or disabled'}"
        days = int(candidate.days)
        failed = [e for e in version_evidence(fresh, version, replace(estate, now=self.clock()), days)
                  if not e.passed and e.check in VERSION_CHECKS]
        if failed:
            return "; ".join(f"{e.check.value}: {e.detail}" for e in failed)
        return self._showing(candidate, estate)

    def _showing(self, candidate: Candidate, estate: Estate) -> str:
        """Every registry on the key (or showing the version) read by an ARM GET; empty when none shows it, is
        busy, or could not be read."""
        said = []
        for registry in _to_read(estate, candidate):
            try:
                fresh = self.reads.registries.get_registry(RegistryRef(registry.subscription_id,
                                                                       registry.resource_group, registry.name))
            except RotationError as exc:
                if exc.reason != Reason.REGISTRY_NOT_FOUND:
                    said.append(f"{registry.name} not readable ({exc.reason.value})")
                continue
            if fresh is not None and (shows(fresh, candidate.version) or fresh.busy):
                said.append(f"{registry.name} shows it" if shows(fresh, candidate.version)
                            else f"{registry.name} is {fresh.provisioning_state}")
        return "; ".join(said)


def _to_read(estate: Estate, candidate: Candidate) -> list[Registry]:
    return [r for r in estate.registries if r in on_key(estate, candidate.key) or shows(r, candidate.version)]


# --- The plans an operator reviewed: kept so that a refused --apply can say what changed -----------------

def _plans_dir() -> Any:
    import os
    from pathlib import Path

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "acr-cmk-rotation" / "retire-plans"


def save_plan(plan: RetirementPlan) -> None:
    try:
        folder = _plans_dir()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{plan.digest}.txt").write_text("".join(f"{c.uri}\n" for c in plan.eligible))
    except OSError as exc:  # a read-only home: the plan still prints; a refused apply just says less
        log.debug("could not keep plan %s: %s", plan.digest, exc)


def load_plan(digest: str) -> list[str] | None:
    if not digest.strip().isalnum():
        return None
    try:
        return (_plans_dir() / f"{digest.strip().lower()}.txt").read_text().split()
    except OSError:
        return None
