"""The status report: every CMK registry in scope, its key, and what is wrong. Pure: built from observations.

A registry's problems are the planner's own judgement of its key's state (``planner.judge``), plus the few
facts only status reports: the identity, the version in use, and versionless lag. So status never reports a
problem that the planner does not see, nor misses one it acts on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.keyids import KeyRef
from shared.model import KeyObservation, Registry
from shared.outcomes import RunProblem
from shared.planner import Action, judge
from shared.reasons import Finding, Problem, Reason, Result
from shared.versions import attributes_usable, days_left, near_expiry, newest_usable_version

VERSIONLESS_LAG_TOLERANCE = timedelta(hours=1)  # ACR picks up new versions "within about an hour"


def decision_problem(registry: Registry, key: KeyObservation | None, now: datetime) -> Finding | None:
    """What the planner's decision says is wrong, judged as if the registry were opted in."""
    decision = judge(registry, key, now, leave_alone=False)
    if decision.result == Result.FAILED:
        return decision.reason  # KEY_HOST_NOT_ALLOWED, KEY_FORBIDDEN, ..., NO_USABLE_VERSION, REGISTRY_BUSY
    if decision.action == Action.ROTATE and registry.pinned:
        return Problem.BEHIND_NEWEST_VERSION
    return None


def version_in_use_problems(registry: Registry, key: KeyObservation, now: datetime,
                            near_expiry_days: int) -> list[Finding]:
    in_use = key.version(registry.version_in_use)
    if in_use is None:
        return [Problem.KEY_VERSION_NOT_FOUND]
    found: list[Finding] = []
    if not in_use.enabled:
        found.append(Problem.KEY_VERSION_DISABLED)
    left = days_left(in_use, now)
    if left is not None and left <= 0:
        found.append(Problem.KEY_VERSION_EXPIRED)
    elif near_expiry(in_use, now, near_expiry_days):
        found.append(Problem.KEY_VERSION_NEAR_EXPIRY)
    newest = newest_usable_version(key, now)
    if not registry.pinned and newest is not None and newest.version != in_use.version \
            and now - newest.created_on > VERSIONLESS_LAG_TOLERANCE:
        found.append(Problem.VERSIONLESS_LAGGING)
    return found


def registry_problems(registry: Registry, key: KeyObservation | None, now: datetime,
                      near_expiry_days: int) -> list[Finding]:
    if registry.key_id is None:
        return [Reason.KEY_HOST_NOT_ALLOWED]
    found: list[Finding] = []
    if not registry.identity_present:
        found.append(Problem.IDENTITY_MISSING)
    if registry.busy:
        found.append(Reason.REGISTRY_BUSY)
    decided = decision_problem(registry, key, now)
    if decided is not None and decided not in found:
        found.append(decided)
    if key is not None and key.error is None:
        found.extend(version_in_use_problems(registry, key, now, near_expiry_days))
    return found


@dataclass(frozen=True)
class RegistryStatus:
    registry: Registry
    newest_usable_version: str | None
    expires_on: datetime | None
    days_until_expiry: float | None
    problems: tuple[Finding, ...]

    def to_dict(self) -> dict[str, Any]:
        r = self.registry
        return {
            "registry": r.id, "name": r.name, "subscription": r.subscription_id, "resourceGroup": r.resource_group,
            "key": r.key_id.key.uri() if r.key_id else r.key_id_raw,
            "mode": "pinned" if r.pinned else "versionless", "optedOut": r.opted_out,
            "versionInUse": r.version_in_use, "newestUsableVersion": self.newest_usable_version,
            "expiresOn": self.expires_on.isoformat() if self.expires_on else None,
            "daysUntilExpiry": self.days_until_expiry, "problems": [p.value for p in self.problems],
        }


@dataclass(frozen=True)
class KeyStatus:
    key: KeyRef
    error: Reason | None
    newest_usable_version: str | None
    versions_in_use: tuple[str, ...]
    candidates_to_disable: tuple[str, ...]  # usable, yet neither newest nor used by a registry in scope

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key.uri(), "error": self.error.value if self.error else None,
                "newestUsableVersion": self.newest_usable_version, "versionsInUse": list(self.versions_in_use),
                "candidatesToDisable": list(self.candidates_to_disable)}


@dataclass(frozen=True)
class StatusReport:
    generated_at: datetime
    registries: tuple[RegistryStatus, ...]
    keys: tuple[KeyStatus, ...]
    problems: tuple[RunProblem, ...]  # outside any one registry (a subscription not listed, ...)

    def to_dict(self) -> dict[str, Any]:
        return {"generatedAt": self.generated_at.isoformat(), "registries": [r.to_dict() for r in self.registries],
                "keys": [k.to_dict() for k in self.keys],
                "problems": [{"scope": p.scope, "reason": p.reason.value, "detail": p.detail} for p in self.problems]}


def registry_status(r: Registry, key: KeyObservation | None, now: datetime,
                    problems: Sequence[Finding]) -> RegistryStatus:
    newest = newest_usable_version(key, now) if key and key.error is None else None
    in_use = key.version(r.version_in_use) if key else None
    left = days_left(in_use, now) if in_use is not None else None
    return RegistryStatus(r, newest.version if newest else None, in_use.expires_on if in_use else None,
                          round(left, 1) if left is not None else None, tuple(problems))


def key_status(ref: KeyRef, observation: KeyObservation, in_use: set[str], now: datetime) -> KeyStatus:
    newest = newest_usable_version(observation, now) if observation.error is None else None
    unused = [v.version for v in observation.versions
              if v.version not in in_use and (newest is None or v.version != newest.version)
              and attributes_usable(v, now)]
    return KeyStatus(ref, observation.error, newest.version if newest else None, tuple(sorted(in_use)),
                     tuple(sorted(unused)))


def build_status(registries: Iterable[Registry], keys: Mapping[KeyRef, KeyObservation], now: datetime,
                 problems: Mapping[str, Sequence[Finding]], run_problems: Sequence[RunProblem] = ()) -> StatusReport:
    """``problems``: per registry id, as ``diagnosis.diagnose`` found them."""
    rows: list[RegistryStatus] = []
    used: dict[KeyRef, set[str]] = {}
    for r in registries:
        key = keys.get(r.key_id.key) if r.key_id else None
        if r.key_id is not None and r.version_in_use:
            used.setdefault(r.key_id.key, set()).add(r.version_in_use)
        rows.append(registry_status(r, key, now, problems.get(r.id, ())))
    key_rows = [key_status(ref, observation, used.get(ref, set()), now)
                for ref, observation in sorted(keys.items(), key=lambda kv: str(kv[0]))]
    return StatusReport(now, tuple(rows), tuple(key_rows), tuple(run_problems))
