"""Expiry, judged purely: which versions in use need an alert, and which need a successor (auto-rotation)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from shared.keyids import KeyRef
from shared.model import KeyObservation, KeyVersion, Registry
from shared.versions import days_left, near_expiry, newest_version


@dataclass(frozen=True)
class ExpiryAlert:
    key: KeyRef
    version: str
    expires_on: datetime
    days_left: float
    severity: str  # "warning" (near expiry) or "critical" (expired)
    affected_registries: tuple[str, ...]


def _users(registries: Iterable[Registry], extra_versions: Iterable[tuple[KeyRef, str]]) -> dict[
        tuple[KeyRef, str], list[str]]:
    users: dict[tuple[KeyRef, str], list[str]] = {}
    for r in registries:
        if r.key_id is not None and r.version_in_use:
            users.setdefault((r.key_id.key, r.version_in_use), []).append(r.id)
    for key, version in extra_versions:
        users.setdefault((key, version.lower()), [])
    return users


def expiry_alerts(registries: Iterable[Registry], keys: Mapping[KeyRef, KeyObservation], now: datetime,
                  near_expiry_days: int, extra_versions: Iterable[tuple[KeyRef, str]] = ()) -> list[ExpiryAlert]:
    """One alert per key version in use (and per extra version named by an event) that expires soon."""
    alerts = []
    users = _users(registries, extra_versions)
    for (key, version), registry_ids in sorted(users.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        observation = keys.get(key)
        attrs = observation.version(version) if observation else None
        left = days_left(attrs, now) if attrs is not None else None
        if attrs is None or attrs.expires_on is None or left is None or not near_expiry(attrs, now, near_expiry_days):
            continue
        alerts.append(ExpiryAlert(key, version, attrs.expires_on, round(left, 2),
                                  "critical" if left <= 0 else "warning", tuple(sorted(registry_ids))))
    return alerts


def version_needing_successor(observation: KeyObservation, versions_in_use: Iterable[str], now: datetime,
                              near_expiry_days: int) -> KeyVersion | None:
    """The expiring version in use that justifies creating a new key version, if any.

    At most one new version per expiring version: once any version was created after it, usable or not,
    nothing more is created for it (keyed by version, like a Secrets Manager rotation step).
    """
    if observation.error is not None:
        return None
    newest = newest_version(observation)
    for version in sorted({v.lower() for v in versions_in_use}):
        attrs = observation.version(version)
        if attrs is not None and newest is not None and attrs.version == newest.version \
                and near_expiry(attrs, now, near_expiry_days):
            return attrs
    return None
