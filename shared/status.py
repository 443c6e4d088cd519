"""The status report: every CMK registry in scope, its key, and what is wrong. Pure: built from observations."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from shared.keyids import KeyRef
from shared.model import KeyObservation, Registry
from shared.planner import attributes_usable, newest_usable_version
from shared.reasons import Problem

VERSIONLESS_LAG_TOLERANCE = timedelta(hours=1)  # ACR picks up new versions "within about an hour"


def registry_problems(registry: Registry, key: KeyObservation | None, now: datetime,
                      near_expiry_days: int) -> list[str]:
    problems: list[str] = []
    if registry.key_id is None:
        return [Problem.KEY_HOST_NOT_ALLOWED]
    if not registry.identity_present:
        problems.append(Problem.IDENTITY_MISSING)
    if registry.busy:
        problems.append(Problem.REGISTRY_BUSY)
    if key is None or key.error is not None:
        problems.append(Problem(key.error.value) if key is not None and key.error else Problem.KEY_UNREADABLE)
        return problems
    newest = newest_usable_version(key, now)
    if newest is None:
        problems.append(Problem.NO_USABLE_VERSION)
    in_use = key.version(registry.version_in_use)
    if in_use is None:
        problems.append(Problem.KEY_VERSION_NOT_FOUND)
    else:
        if not in_use.enabled:
            problems.append(Problem.KEY_VERSION_DISABLED)
        if in_use.expires_on is not None:
            if in_use.expires_on <= now:
                problems.append(Problem.KEY_VERSION_EXPIRED)
            elif in_use.expires_on - now <= timedelta(days=near_expiry_days):
                problems.append(Problem.KEY_VERSION_NEAR_EXPIRY)
    if newest is not None and in_use is not None and newest.version != in_use.version:
        if registry.pinned and newest.created_on >= in_use.created_on:
            problems.append(Problem.BEHIND_NEWEST_VERSION)
        if not registry.pinned and now - newest.created_on > VERSIONLESS_LAG_TOLERANCE:
            problems.append(Problem.VERSIONLESS_LAGGING)
    return problems


def build_status(registries: Iterable[Registry], keys: dict[KeyRef, KeyObservation], now: datetime,
                 near_expiry_days: int, problems: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """``problems``: per registry id, when a fuller diagnosis was made (see diagnosis.py)."""
    rows = []
    used: dict[KeyRef, set[str]] = {}
    for r in registries:
        key = keys.get(r.key_id.key) if r.key_id else None
        newest = newest_usable_version(key, now) if key and key.error is None else None
        in_use = key.version(r.version_in_use) if key else None
        days_left = None
        if in_use is not None and in_use.expires_on is not None:
            days_left = round((in_use.expires_on - now).total_seconds() / 86400, 1)
        if r.key_id is not None and r.version_in_use:
            used.setdefault(r.key_id.key, set()).add(r.version_in_use)
        rows.append({
            "registry": r.id,
            "name": r.name,
            "subscription": r.subscription_id,
            "resourceGroup": r.resource_group,
            "key": r.key_id.key.uri() if r.key_id else r.key_id_raw,
            "mode": "pinned" if r.pinned else "versionless",
            "optedOut": r.opted_out,
            "versionInUse": r.version_in_use,
            "newestUsableVersion": newest.version if newest else None,
            "expiresOn": in_use.expires_on.isoformat() if in_use and in_use.expires_on else None,
            "daysUntilExpiry": days_left,
            "problems": problems[r.id] if problems is not None and r.id in problems
            else registry_problems(r, key, now, near_expiry_days),
        })
    key_rows = []
    for ref, observation in sorted(keys.items(), key=lambda kv: str(kv[0])):
        newest = newest_usable_version(observation, now) if observation.error is None else None
        versions_in_use = used.get(ref, set())
        unused = [v.version for v in observation.versions
                  if v.version not in versions_in_use and (newest is None or v.version != newest.version)
                  and attributes_usable(v, now)]
        key_rows.append({
            "key": ref.uri(),
            "error": observation.error.value if observation.error else None,
            "newestUsableVersion": newest.version if newest else None,
            "versionsInUse": sorted(versions_in_use),
            "candidatesToDisable": sorted(unused),
        })
    return {"generatedAt": now.isoformat(), "registries": rows, "keys": key_rows}
