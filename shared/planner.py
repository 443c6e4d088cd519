"""The pure planner: observed state, a clock and settings in; one decision with a reason per registry out.

Decisions come from an ordered chain of small named checks (after cert-manager's policy chain).
The first check that has something to say decides. Nothing here does I/O or imports ``azure``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.keyids import KeyRef
from shared.model import REQUIRED_KEY_OPS, RSA_KEY_TYPES, KeyDetails, KeyObservation, KeyVersion, Registry
from shared.reasons import Reason, Result


class Action(StrEnum):
    ROTATE = "rotate"
    LEAVE = "leave"


@dataclass(frozen=True)
class ManualTarget:
    """An operator's break-glass target for one registry."""

    version: str
    allow_downgrade: bool = False


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


# --- Which versions are usable ------------------------------------------------------------------

def attributes_usable(version: KeyVersion, now: datetime) -> bool:
    """Enabled and inside its validity window (nbf <= now < exp)."""
    return (
        version.enabled
        and (version.not_before is None or version.not_before <= now)
        and (version.expires_on is None or version.expires_on > now)
    )


def details_usable(details: KeyDetails) -> bool:
    """RSA or RSA-HSM, and wrapKey and unwrapKey allowed where operations are restricted at all."""
    ops_ok = not details.key_ops or REQUIRED_KEY_OPS.issubset(details.key_ops)
    return details.key_type in RSA_KEY_TYPES and ops_ok


def version_problems(observation: KeyObservation, version: str, now: datetime) -> list[str]:
    """Why a version is not usable, in words; empty when it is."""
    attrs = observation.version(version)
    if attrs is None:
        return [f"version {version} does not exist"]
    problems = []
    if not attrs.enabled:
        problems.append("disabled")
    if attrs.not_before is not None and attrs.not_before > now:
        problems.append(f"not valid before {attrs.not_before.isoformat()}")
    if attrs.expires_on is not None and attrs.expires_on <= now:
        problems.append(f"expired on {attrs.expires_on.isoformat()}")
    details = observation.details.get(attrs.version)
    if details is None:
        if not problems:
            problems.append("key type and operations unknown")
    elif not details_usable(details):
        problems.append(f"key type {details.key_type} with operations {list(details.key_ops or ())}"
                        " cannot wrap and unwrap with RSA")
    return problems


def newest_first(observation: KeyObservation) -> list[KeyVersion]:
    """By creation time, ties to the version Key Vault reports as current; never by list order."""
    return sorted(
        observation.versions,
        key=lambda v: (v.created_on, v.version == observation.current_version, v.version),
        reverse=True,
    )


def _rank(observation: KeyObservation, version: KeyVersion) -> tuple[datetime, bool]:
    """Order of creation. Key Vault keeps whole seconds, so a tie is settled only by the current flag;
    two tied versions that are both not current cannot be ordered, and neither counts as newer."""
    return version.created_on, version.version == observation.current_version


def candidate_versions(observation: KeyObservation, now: datetime) -> list[KeyVersion]:
    """Versions whose attributes allow use, newest first: the order in which to fetch details."""
    return [v for v in newest_first(observation) if attributes_usable(v, now)]


def newest_usable_version(observation: KeyObservation, now: datetime) -> KeyVersion | None:
    for candidate in candidate_versions(observation, now):
        details = observation.details.get(candidate.version)
        if details is not None and details_usable(details):
            return candidate
    return None


# --- The decision chain -------------------------------------------------------------------------

@dataclass(frozen=True)
class _Input:
    registry: Registry
    key: KeyObservation | None
    now: datetime
    target: ManualTarget | None


Check = Callable[[_Input], Decision | None]


def _leave(i: _Input, result: Result, reason: Reason, detail: str = "", *, to: str | None = None,
           transient: bool = False) -> Decision:
    return Decision(i.registry, Action.LEAVE, reason, result, i.registry.version_in_use, to, transient, detail)


def opted_out(i: _Input) -> Decision | None:
    if i.registry.opted_out:
        return _leave(i, Result.SKIPPED, Reason.OPTED_OUT, "tagged cmk-rotation: off")
    return None


def versionless(i: _Input) -> Decision | None:
    if i.registry.key_id is not None and not i.registry.pinned:
        return _leave(i, Result.SKIPPED, Reason.VERSIONLESS, "ACR follows new key versions by itself")
    return None


def key_host_not_allowed(i: _Input) -> Decision | None:
    if i.registry.key_id is None:
        return _leave(i, Result.FAILED, Reason.KEY_HOST_NOT_ALLOWED,
                      f"key id {i.registry.key_id_raw!r} is not a Key Vault key of the configured cloud")
    return None


def key_unreadable(i: _Input) -> Decision | None:
    if i.key is None:
        return _leave(i, Result.FAILED, Reason.KEY_UNREADABLE, "the key was not read", transient=True)
    if i.key.error is not None:
        return _leave(i, Result.FAILED, i.key.error, i.key.error_detail,
                      transient=i.key.error == Reason.KEY_UNREADABLE)
    return None


def _target(i: _Input) -> KeyVersion | None:
    assert i.key is not None
    if i.target is not None:
        attrs = i.key.version(i.target.version)
        if attrs is None or version_problems(i.key, attrs.version, i.now):
            return None
        return attrs
    return newest_usable_version(i.key, i.now)


def no_usable_target(i: _Input) -> Decision | None:
    assert i.key is not None
    if _target(i) is not None:
        return None
    if i.target is not None:
        problems = "; ".join(version_problems(i.key, i.target.version, i.now))
        return _leave(i, Result.FAILED, Reason.TARGET_NOT_USABLE, f"toVersion {i.target.version}: {problems}")
    return _leave(i, Result.FAILED, Reason.NO_USABLE_VERSION,
                  "no version is enabled, within its validity dates, RSA and allowed to wrap and unwrap")


def registry_busy(i: _Input) -> Decision | None:
    if not i.registry.busy:
        return None
    target = _target(i)
    assert target is not None
    if i.registry.version_in_use == target.version:
        return _leave(i, Result.UNCHANGED, Reason.UPDATE_IN_PROGRESS,
                      "an update to the target version is already running", to=target.version)
    return _leave(i, Result.FAILED, Reason.REGISTRY_BUSY,
                  f"registry is {i.registry.provisioning_state}; retry later", to=target.version, transient=True)


def already_current(i: _Input) -> Decision | None:
    target = _target(i)
    assert target is not None
    if i.registry.version_in_use == target.version:
        rotated_at = i.registry.last_key_rotation  # the earlier rotation that did it, as ACR recorded it
        return _leave(i, Result.UNCHANGED, Reason.ALREADY_CURRENT,
                      f"rotated to this version at {rotated_at.isoformat()}" if rotated_at else "", to=target.version)
    return None


def would_downgrade(i: _Input) -> Decision | None:
    assert i.key is not None
    target = _target(i)
    assert target is not None
    in_use = i.key.version(i.registry.version_in_use)
    if in_use is not None and _rank(i.key, target) > _rank(i.key, in_use):
        return None
    if i.target is not None and i.target.allow_downgrade:
        return Decision(i.registry, Action.ROTATE, Reason.DOWNGRADE_FORCED, None, i.registry.version_in_use,
                        target.version, detail="operator allowed a downgrade")
    detail = ("the version in use is not among the key's versions" if in_use is None
              else f"version {target.version} is not newer than the version in use")
    return _leave(i, Result.SKIPPED, Reason.WOULD_DOWNGRADE, detail, to=target.version)


def rotation_due(i: _Input) -> Decision | None:
    target = _target(i)
    assert target is not None
    reason = Reason.MANUAL_TARGET if i.target is not None else Reason.NEWER_VERSION_AVAILABLE
    return Decision(i.registry, Action.ROTATE, reason, None, i.registry.version_in_use, target.version)


CHECKS: tuple[Check, ...] = (
    opted_out,
    versionless,
    key_host_not_allowed,
    key_unreadable,
    no_usable_target,
    registry_busy,
    already_current,
    would_downgrade,
    rotation_due,
)


def plan_registry(registry: Registry, key: KeyObservation | None, now: datetime,
                  target: ManualTarget | None = None) -> Decision:
    i = _Input(registry, key, now, target)
    for check in CHECKS:
        decision = check(i)
        if decision is not None:
            return decision
    raise AssertionError("rotation_due always decides")  # pragma: no cover


def plan(registries: Sequence[Registry], keys: dict[KeyRef, KeyObservation], now: datetime,
         targets: dict[str, ManualTarget] | None = None) -> list[Decision]:
    """One decision per registry, in the order given."""
    targets = targets or {}
    return [
        plan_registry(r, keys.get(r.key_id.key) if r.key_id else None, now, targets.get(r.id.lower()))
        for r in registries
    ]


# --- Expiry -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExpiryAlert:
    key: KeyRef
    version: str
    expires_on: datetime
    days_left: float
    severity: str  # "warning" (near expiry) or "critical" (expired)
    affected_registries: tuple[str, ...]


def expiry_alerts(registries: Iterable[Registry], keys: dict[KeyRef, KeyObservation], now: datetime,
                  near_expiry_days: int, extra_versions: Iterable[tuple[KeyRef, str]] = ()) -> list[ExpiryAlert]:
    """One alert per key version in use (and per extra version named by an event) that expires soon."""
    users: dict[tuple[KeyRef, str], list[str]] = {}
    for r in registries:
        if r.key_id is not None and r.version_in_use:
            users.setdefault((r.key_id.key, r.version_in_use), []).append(r.id)
    for key, version in extra_versions:
        users.setdefault((key, version.lower()), [])
    alerts = []
    for (key, version), registry_ids in sorted(users.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        observation = keys.get(key)
        attrs = observation.version(version) if observation else None
        if attrs is None or attrs.expires_on is None:
            continue
        days_left = (attrs.expires_on - now).total_seconds() / 86400
        if days_left > near_expiry_days:
            continue
        severity = "critical" if days_left <= 0 else "warning"
        alerts.append(ExpiryAlert(key, version, attrs.expires_on, round(days_left, 2), severity,
                                  tuple(sorted(registry_ids))))
    return alerts


def version_needing_successor(observation: KeyObservation, versions_in_use: Iterable[str], now: datetime,
                              near_expiry_days: int) -> KeyVersion | None:
    """The expiring version in use that justifies creating a new key version, if any.

    At most one new version per expiring version: once any version was created after it, usable
    or not, nothing more is created for it (keyed by version, like a Secrets Manager rotation step).
    """
    if observation.error is not None:
        return None
    for version in sorted({v.lower() for v in versions_in_use}):
        attrs = observation.version(version)
        if attrs is None or attrs.expires_on is None:
            continue
        if (attrs.expires_on - now).total_seconds() / 86400 > near_expiry_days:
            continue
        # Creation times have whole-second resolution: rank as newest_first does, ties to the current version.
        if newest_first(observation)[0].version != attrs.version:
            continue
        return attrs
    return None
