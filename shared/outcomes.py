"""Outcomes: one per registry per run. The unit of logging, telemetry and HTTP answers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.planner import ExpiryAlert
from shared.reasons import Reason, Result, Trigger


@dataclass(frozen=True)
class Outcome:
    registry_id: str
    registry: str
    subscription_id: str
    resource_group: str
    vault: str | None
    key: str | None  # versionless key URI
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "registry": self.registry_id,
            "name": self.registry,
            "subscription": self.subscription_id,
            "resourceGroup": self.resource_group,
            "vault": self.vault,
            "key": self.key,
            "fromVersion": self.from_version,
            "toVersion": self.to_version,
            "result": self.result.value,
            "reason": self.reason.value,
            "transient": self.transient,
            "detail": self.detail,
            "trigger": self.trigger.value,
            "dryRun": self.dry_run,
            "correlationId": self.correlation_id,
            "durationMs": self.duration_ms,
        }


@dataclass(frozen=True)
class KeyVersionCreated:
    """A new key version made by auto-rotation (or that would be, in a dry run)."""

    key: str
    replaces_version: str
    new_version: str | None
    dry_run: bool
    error: str = ""


@dataclass(frozen=True)
class RunProblem:
    """Something that went wrong outside any one registry (e.g. a subscription could not be listed)."""

    scope: str
    reason: Reason
    transient: bool
    detail: str


def alert_to_dict(alert: ExpiryAlert) -> dict[str, Any]:
    return {
        "vault": alert.key.host,
        "key": alert.key.uri(),
        "version": alert.version,
        "expiresOn": alert.expires_on.isoformat(),
        "daysLeft": alert.days_left,
        "severity": alert.severity,
        "affectedRegistries": list(alert.affected_registries),
    }


@dataclass
class RunReport:
    trigger: Trigger
    correlation_id: str
    dry_run: bool
    started: datetime
    outcomes: list[Outcome] = field(default_factory=list)
    alerts: list[ExpiryAlert] = field(default_factory=list)
    key_versions_created: list[KeyVersionCreated] = field(default_factory=list)
    problems: list[RunProblem] = field(default_factory=list)
    ignored: str = ""  # why the trigger was ignored, if it was
    diagnosis: dict[str, list[str]] = field(default_factory=dict)  # problems found per registry id (sweeps)
    # (versionless key URI, version) -> expiry, for every version read this run: the days-to-expiry gauge
    version_expiry: dict[tuple[str, str], datetime] = field(default_factory=dict)
    duration_ms: int = 0

    @property
    def needs_retry(self) -> bool:
        """A transient failure that a redelivery can fix."""
        return any(o.result == Result.FAILED and o.transient for o in self.outcomes) or any(
            p.transient for p in self.problems
        ) or any(o.reason == Reason.DEFERRED for o in self.outcomes)

    def counts(self) -> dict[str, int]:
        counts = Counter(o.result.value for o in self.outcomes)
        return {r.value: counts.get(r.value, 0) for r in Result}

    def to_dict(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger.value,
            "correlationId": self.correlation_id,
            "dryRun": self.dry_run,
            "counts": self.counts(),
            "outcomes": [o.to_dict() for o in self.outcomes],
            "alerts": [alert_to_dict(a) for a in self.alerts],
            "keyVersionsCreated": [
                {"key": k.key, "replacesVersion": k.replaces_version, "newVersion": k.new_version,
                 "dryRun": k.dry_run, "error": k.error}
                for k in self.key_versions_created
            ],
            "problems": [
                {"scope": p.scope, "reason": p.reason.value, "transient": p.transient, "detail": p.detail}
                for p in self.problems
            ],
            "ignored": self.ignored,
            "problemsFound": {registry: found for registry, found in self.diagnosis.items() if found},
            "durationMs": self.duration_ms,
        }
