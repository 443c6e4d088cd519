"""The domain rule, defined once: what makes a key version usable, newer, and the newest usable one.

The planner, the status report, diagnosis and auto-rotation all ask these questions, and only here are
they answered. Pure: observations and a clock in, answers out.
"""

from __future__ import annotations

from datetime import datetime

from shared.model import REQUIRED_KEY_OPS, RSA_KEY_TYPES, KeyDetails, KeyObservation, KeyVersion


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


def _rank(observation: KeyObservation, version: KeyVersion) -> tuple[datetime, bool]:
    """Order of creation. Key Vault keeps whole seconds, so a tie is settled only by the current flag."""
    return version.created_on, version.version == observation.current_version


def is_newer(observation: KeyObservation, candidate: KeyVersion, than: KeyVersion) -> bool:
    """Created after ``than``. Two versions created in the same second are ordered only when one of them is
    Key Vault's current version; otherwise neither is newer than the other (never by id or list order)."""
    return _rank(observation, candidate) > _rank(observation, than)


def newest_first(observation: KeyObservation) -> list[KeyVersion]:
    """By creation time, ties to the current version, then by id only to make the order stable."""
    return sorted(observation.versions, key=lambda v: (*_rank(observation, v), v.version), reverse=True)


def newest_version(observation: KeyObservation) -> KeyVersion | None:
    ordered = newest_first(observation)
    return ordered[0] if ordered else None


def candidate_versions(observation: KeyObservation, now: datetime) -> list[KeyVersion]:
    """Versions whose attributes allow use, newest first: the order in which to fetch details."""
    return [v for v in newest_first(observation) if attributes_usable(v, now)]


def newest_usable_version(observation: KeyObservation, now: datetime) -> KeyVersion | None:
    """The version a pinned registry should be on: the newest that is usable by attributes and details."""
    for candidate in candidate_versions(observation, now):
        details = observation.details.get(candidate.version)
        if details is not None and details_usable(details):
            return candidate
    return None


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


def days_left(version: KeyVersion, now: datetime) -> float | None:
    """Days until the version expires (negative once expired); None when it never does."""
    if version.expires_on is None:
        return None
    return (version.expires_on - now).total_seconds() / 86400


def near_expiry(version: KeyVersion, now: datetime, near_expiry_days: int) -> bool:
    """Expires within the warning window (or has expired)."""
    left = days_left(version, now)
    return left is not None and left <= near_expiry_days
