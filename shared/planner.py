"""The pure planner: observed state and a clock in; one decision with a reason per registry out.

Decisions come from an ordered chain of small named checks (after cert-manager's policy chain); the first
check that has something to say decides. The chain has two stages, and the types enforce their order: the
checks of the first stage may find no key or no usable target; those of the second are only reached with
both in hand, worked out once when the input is built. What "usable" and "newer" mean is ``shared.versions``.
Nothing here does I/O or imports ``azure``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from shared.keyids import KeyRef
from shared.model import KeyObservation, KeyVersion, Registry
from shared.reasons import KEY_READ_FAILURES, Reason, Result
from shared.requests import ManualTarget
from shared.versions import is_newer, newest_usable_version, version_problems


class Action(StrEnum):
    ROTATE = "rotate"
    LEAVE = "leave"


@dataclass(frozen=True)
class Decision:
    registry: Registry
    action: Action
    reason: Reason
    result: Result | None = None  # for LEAVE: the outcome it already is; ROTATE is settled by applying
    from_version: str | None = None
    to_version: str | None = None
    transient: bool = False
    detail: str = ""
    check: str = ""  # the name of the check that decided


# --- The planner's input, built once per registry ----------------------------------------------

@dataclass(frozen=True)
class Observed:
    """Stage one: the registry and what was read of its key (which may be nothing)."""

    registry: Registry
    key: KeyObservation | None
    now: datetime
    manual: ManualTarget | None
    target: KeyVersion | None  # worked out once, here; None: no key, or no usable target

    @classmethod
    def of(cls, registry: Registry, key: KeyObservation | None, now: datetime,
           manual: ManualTarget | None = None) -> Observed:
        target = target_of(key, now, manual) if key is not None and key.error is None else None
        return cls(registry, key, now, manual, target)

    def targeted(self) -> Targeted | None:
        if self.key is None or self.target is None:
            return None
        return Targeted(self.registry, self.key, self.target, self.key.version(self.registry.version_in_use),
                        self.manual)


@dataclass(frozen=True)
class Targeted:
    """Stage two: the key was read and a usable target exists."""

    registry: Registry
    key: KeyObservation
    target: KeyVersion
    in_use: KeyVersion | None  # None: the version in use is not among the key's versions
    manual: ManualTarget | None


def target_of(key: KeyObservation, now: datetime, manual: ManualTarget | None) -> KeyVersion | None:
    """The version to move to: the operator's, if usable; otherwise the newest usable version."""
    if manual is None:
        return newest_usable_version(key, now)
    attrs = key.version(manual.version)
    return attrs if attrs is not None and not version_problems(key, attrs.version, now) else None


REASONS: dict[str, tuple[Reason, ...]] = {}  # check name -> the reasons it may decide with, in its order
Check = TypeVar("Check", bound=Callable[..., "Decision | None"])


def decides(*reasons: Reason) -> Callable[[Check], Check]:
    """Declares which reasons a check decides with (docs/reasons.md lists them in the chain's order)."""
    def declare(check: Check) -> Check:
        REASONS[check.__name__] = reasons
        return check
    return declare


def _leave(registry: Registry, result: Result, reason: Reason, detail: str = "", *, to: str | None = None,
           transient: bool = False) -> Decision:
    return Decision(registry, Action.LEAVE, reason, result, registry.version_in_use, to, transient, detail)


# --- Stage one: checks that need no target --------------------------------------------------------

@decides(Reason.OPTED_OUT)
def opted_out(i: Observed) -> Decision | None:
    if i.registry.opted_out:
        return _leave(i.registry, Result.SKIPPED, Reason.OPTED_OUT, "tagged cmk-rotation: off")
    return None


@decides(Reason.VERSIONLESS)
def versionless(i: Observed) -> Decision | None:
    if i.registry.key_id is not None and not i.registry.pinned:
        return _leave(i.registry, Result.SKIPPED, Reason.VERSIONLESS, "ACR follows new key versions by itself")
    return None


@decides(Reason.KEY_HOST_NOT_ALLOWED)
def key_host_not_allowed(i: Observed) -> Decision | None:
    if i.registry.key_id is None:
        return _leave(i.registry, Result.FAILED, Reason.KEY_HOST_NOT_ALLOWED,
                      f"key id {i.registry.key_id_raw!r} is not a Key Vault key of the configured cloud")
    return None


@decides(*KEY_READ_FAILURES)
def key_unreadable(i: Observed) -> Decision | None:
    if i.key is None:
        return _leave(i.registry, Result.FAILED, Reason.KEY_UNREADABLE, "the key was not read", transient=True)
    if i.key.error is not None:
        return _leave(i.registry, Result.FAILED, i.key.error, i.key.error_detail, transient=i.key.error_transient)
    return None


@decides(Reason.TARGET_NOT_USABLE, Reason.NO_USABLE_VERSION)
def no_usable_target(i: Observed) -> Decision | None:
    if i.key is None or i.target is not None:
        return None
    if i.manual is not None:
        problems = "; ".join(version_problems(i.key, i.manual.version, i.now))
        return _leave(i.registry, Result.FAILED, Reason.TARGET_NOT_USABLE, f"toVersion {i.manual.version}: {problems}")
    return _leave(i.registry, Result.FAILED, Reason.NO_USABLE_VERSION,
                  "no version is enabled, within its validity dates, RSA and allowed to wrap and unwrap")


# --- Stage two: checks with a target in hand ------------------------------------------------------

@decides(Reason.UPDATE_IN_PROGRESS, Reason.REGISTRY_BUSY)
def registry_busy(i: Targeted) -> Decision | None:
    if not i.registry.busy:
        return None
    if i.registry.version_in_use == i.target.version:
        return _leave(i.registry, Result.UNCHANGED, Reason.UPDATE_IN_PROGRESS,
                      "an update to the target version is already running", to=i.target.version)
    return _leave(i.registry, Result.FAILED, Reason.REGISTRY_BUSY,
                  f"registry is {i.registry.provisioning_state}; retry later", to=i.target.version, transient=True)


@decides(Reason.ALREADY_CURRENT)
def already_current(i: Targeted) -> Decision | None:
    if i.registry.version_in_use == i.target.version:
        return _leave(i.registry, Result.UNCHANGED, Reason.ALREADY_CURRENT, to=i.target.version)
    return None


@decides(Reason.DOWNGRADE_FORCED, Reason.WOULD_DOWNGRADE)
def would_downgrade(i: Targeted) -> Decision | None:
    if i.in_use is not None and is_newer(i.key, i.target, than=i.in_use):
        return None
    if i.manual is not None and i.manual.allow_downgrade:
        return Decision(i.registry, Action.ROTATE, Reason.DOWNGRADE_FORCED, None, i.registry.version_in_use,
                        i.target.version, detail="operator allowed a downgrade")
    detail = ("the version in use is not among the key's versions" if i.in_use is None
              else f"version {i.target.version} is not newer than the version in use")
    return _leave(i.registry, Result.SKIPPED, Reason.WOULD_DOWNGRADE, detail, to=i.target.version)


@decides(Reason.MANUAL_TARGET, Reason.NEWER_VERSION_AVAILABLE)
def rotation_due(i: Targeted) -> Decision:
    reason = Reason.MANUAL_TARGET if i.manual is not None else Reason.NEWER_VERSION_AVAILABLE
    return Decision(i.registry, Action.ROTATE, reason, None, i.registry.version_in_use, i.target.version)


SCOPE_CHECKS: tuple[Callable[[Observed], Decision | None], ...] = (opted_out, versionless)
KEY_CHECKS: tuple[Callable[[Observed], Decision | None], ...] = (key_host_not_allowed, key_unreadable, no_usable_target)
TARGET_CHECKS: tuple[Callable[[Targeted], Decision | None], ...] = (registry_busy, already_current, would_downgrade)
CHECKS = (*SCOPE_CHECKS, *KEY_CHECKS, *TARGET_CHECKS, rotation_due)  # the order decisions are made in


def reasons_in_check_order() -> list[Reason]:
    """Every reason the planner decides with, in the order its checks run."""
    return [reason for check in CHECKS for reason in REASONS[check.__name__]]


def judge(registry: Registry, key: KeyObservation | None, now: datetime, manual: ManualTarget | None = None,
          *, leave_alone: bool = True) -> Decision:
    """The planner's decision for one registry. ``leave_alone=False`` skips the opt-out and versionless
    checks: what the planner would say of the key's state were the registry pinned and opted in (status)."""
    observed = Observed.of(registry, key, now, manual)
    for check in (SCOPE_CHECKS if leave_alone else ()) + KEY_CHECKS:
        decision = check(observed)
        if decision is not None:
            return replace(decision, check=check.__name__)
    targeted = observed.targeted()
    if targeted is None:  # pragma: no cover - KEY_CHECKS decide whenever there is no key or no target
        raise AssertionError(f"stage one left {registry.id} without a target")
    for stage_two in TARGET_CHECKS:
        decision = stage_two(targeted)
        if decision is not None:
            return replace(decision, check=stage_two.__name__)
    return replace(rotation_due(targeted), check=rotation_due.__name__)


def plan_registry(registry: Registry, key: KeyObservation | None, now: datetime,
                  manual: ManualTarget | None = None) -> Decision:
    return judge(registry, key, now, manual)


def plan(registries: Sequence[Registry], keys: Mapping[KeyRef, KeyObservation], now: datetime,
         targets: Mapping[str, ManualTarget] | None = None) -> list[Decision]:
    """One decision per registry, in the order given."""
    targets = targets or {}
    return [plan_registry(r, keys.get(r.key_id.key) if r.key_id else None, now, targets.get(r.id.lower()))
            for r in registries]
