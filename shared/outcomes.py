"""Outcomes: one per registry per run, and the run's report. The unit of logging, telemetry and HTTP answers.

Everything here stays typed (``KeyRef``, enums, datetimes) until ``to_dict``, the one place where the wire
names are spelled; the KQL, the alert rules and the workbook read those names, so they never change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from shared.expiry import ExpiryAlert
from shared.keyids import KeyRef
from shared.reasons import AUTHENTICATION_REASONS, Finding, Reason, Result, Trigger
from shared.requests import SYSTEM, Requester, RunRequest

if TYPE_CHECKING:
    from shared.retirement_apply import RetirementReport

MAX_DETAIL = 800  # a cause (at most 300 characters) and its fix


class RegistryLike(Protocol):
    """A registry as read (``model.Registry``) or only named (``armids.RegistryRef``, a queue message)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def subscription_id(self) -> str: ...
    @property
    def resource_group(self) -> str: ...


@dataclass(frozen=True)
class Outcome:
    registry: str  # resource id
    registry_name: str
    subscription_id: str
    resource_group: str
    key: KeyRef | None
    from_version: str | None
    to_version: str | None
    result: Result
    reason: Reason
    trigger: Trigger
    dry_run: bool
    correlation_id: str
    transient: bool = False
    detail: str = ""
    duration_ms: int = 0
    requested_by: Requester = SYSTEM  # who asked for the run (manual runs), else system
    request_reason: str = ""

    @classmethod
    def of(cls, request: RunRequest, registry: RegistryLike, result: Result, reason: Reason, *,
           key: KeyRef | None = None, from_version: str | None = None, to_version: str | None = None,
           transient: bool = False, detail: str = "") -> Outcome:
        """The one constructor of outcomes, for the rollout and for a queue message given up alike."""
        return cls(registry.id, registry.name, registry.subscription_id, registry.resource_group, key,
                   from_version, to_version, result, reason, request.trigger, request.dry_run,
                   request.correlation_id, transient, detail[:MAX_DETAIL], requested_by=request.requested_by,
                   request_reason=request.reason)

    @property
    def vault(self) -> str | None:
        return self.key.host if self.key else None

    @property
    def version_in_use(self) -> str | None:
        """The version the registry uses after this outcome."""
        return self.to_version if self.result == Result.ROTATED else self.from_version

    def to_dict(self) -> dict[str, Any]:
        return {
            "registry": self.registry, "name": self.registry_name, "subscription": self.subscription_id,
            "resourceGroup": self.resource_group, "vault": self.vault, "key": self.key.uri() if self.key else None,
            "fromVersion": self.from_version, "toVersion": self.to_version, "result": self.result.value,
            "reason": self.reason.value, "transient": self.transient, "detail": self.detail,
            "trigger": self.trigger.value, "dryRun": self.dry_run, "correlationId": self.correlation_id,
            "durationMs": self.duration_ms, "requestedBy": requester_to_dict(self.requested_by),
            "requestReason": self.request_reason,
        }


def requester_to_dict(requester: Requester) -> dict[str, str]:
    """``requestedBy``: kind ("user", "app", "functionkey", "cli", "system"), objectId, name (a user's UPN or an
    application's client id), tenantId, and the app role that allowed the request."""
    return {"kind": requester.kind, "objectId": requester.object_id, "name": requester.name,
            "tenantId": requester.tenant_id, "role": requester.role}


@dataclass(frozen=True)
class KeyVersionCreated:
    """A new key version made by auto-rotation (or that would be, in a dry run)."""

    key: KeyRef
    replaces_version: str
    new_version: str | None
    dry_run: bool
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key.uri(), "replacesVersion": self.replaces_version, "newVersion": self.new_version,
                "dryRun": self.dry_run, "error": self.error}


@dataclass(frozen=True)
class RunProblem:
    """Something that went wrong outside any one registry (e.g. a subscription could not be listed)."""

    scope: str
    reason: Reason
    transient: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "reason": self.reason.value, "transient": self.transient, "detail": self.detail}


def once_per_run(problems: list[RunProblem]) -> tuple[RunProblem, ...]:
    """Each problem once; a failure of the app's own credential is one problem of the run (scope ``credential``),
    not one per subscription or vault it was tried on."""
    seen: set[tuple[str, Reason]] = set()
    kept = []
    for problem in problems:
        if problem.reason in AUTHENTICATION_REASONS:
            problem = replace(problem, scope="credential")
        if (problem.scope, problem.reason) not in seen:
            seen.add((problem.scope, problem.reason))
            kept.append(problem)
    return tuple(kept)


def alert_to_dict(alert: ExpiryAlert) -> dict[str, Any]:
    return {
        "vault": alert.key.host, "key": alert.key.uri(), "version": alert.version,
        "expiresOn": alert.expires_on.isoformat(), "daysLeft": alert.days_left, "severity": alert.severity,
        "affectedRegistries": list(alert.affected_registries),
    }


def _frozen_map() -> Mapping[Any, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class RunReport:
    """What one run did, built once at its end by the engine (the one writer)."""

    request: RunRequest
    started: datetime
    outcomes: tuple[Outcome, ...] = ()
    alerts: tuple[ExpiryAlert, ...] = ()
    key_versions_created: tuple[KeyVersionCreated, ...] = ()
    problems: tuple[RunProblem, ...] = ()
    diagnosis: Mapping[str, tuple[Finding, ...]] = field(default_factory=_frozen_map)  # per registry id (sweeps)
    # (key, version) -> expiry, for every version read this run: the days-to-expiry gauge
    version_expiry: Mapping[tuple[KeyRef, str], datetime] = field(default_factory=_frozen_map)
    duration_ms: int = 0
    recorded: bool = True  # every outcome and the run reached the sink (telemetry)
    retirement: RetirementReport | None = None  # the sweep's retirement step (docs/retirement.md)

    @property
    def unrecorded_permanent_problem(self) -> bool:
        """A permanent problem that telemetry did not take: only a redelivery (or the dead-letter) keeps it."""
        return not self.recorded and any(not p.transient for p in self.problems)

    @property
    def trigger(self) -> Trigger:
        return self.request.trigger

    @property
    def correlation_id(self) -> str:
        return self.request.correlation_id

    @property
    def dry_run(self) -> bool:
        return self.request.dry_run

    @property
    def needs_retry(self) -> bool:
        """A transient failure that a redelivery can fix (a permanent one is recorded and acknowledged)."""
        return any(o.result == Result.FAILED and o.transient for o in self.outcomes) or any(
            p.transient for p in self.problems
        ) or any(o.reason == Reason.DEFERRED for o in self.outcomes)

    def counts(self) -> dict[str, int]:
        counts = Counter(o.result.value for o in self.outcomes)
        return {r.value: counts.get(r.value, 0) for r in Result}

    def to_dict(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger.value, "correlationId": self.correlation_id, "dryRun": self.dry_run,
            "counts": self.counts(), "outcomes": [o.to_dict() for o in self.outcomes],
            "alerts": [alert_to_dict(a) for a in self.alerts],
            "keyVersionsCreated": [k.to_dict() for k in self.key_versions_created],
            "problems": [p.to_dict() for p in self.problems],
            "problemsFound": {registry: [f.value for f in found] for registry, found in self.diagnosis.items()
                              if found},
            "durationMs": self.duration_ms, "requestedBy": requester_to_dict(self.request.requested_by),
            "requestReason": self.request.reason,
            **({"retirement": self.retirement.to_dict()} if self.retirement is not None else {}),
        }
