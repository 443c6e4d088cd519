"""Observation: read each key once per run into a ``KeyObservation``.

Listing versions gives attributes but no key type, so details are fetched only for the newest
candidates, in the planner's order, until one is usable: usually just the current version.
"""

from __future__ import annotations

from datetime import datetime
from types import MappingProxyType

from shared.errors import PermanentError, RotationError, TemporaryError
from shared.keyids import KeyRef
from shared.model import KeyDetails, KeyObservation
from shared.planner import candidate_versions, details_usable
from shared.ports import KeyVaultPort
from shared.reasons import Reason

MAX_DETAIL_READS = 5  # a key whose five newest candidates are all unusable has a problem to report


def observe_key(keyvault: KeyVaultPort, key: KeyRef, now: datetime,
                also: frozenset[str] = frozenset()) -> KeyObservation:
    """Read one key. ``also``: versions whose details are wanted whatever their rank (an operator's target)."""
    try:
        versions = tuple(keyvault.list_versions(key))
    except PermanentError as exc:
        return KeyObservation(key, error=exc.reason, error_detail=exc.message)
    except TemporaryError as exc:
        return KeyObservation(key, error=Reason.KEY_UNREADABLE, error_detail=exc.message)
    details: dict[str, KeyDetails] = {}
    current = None
    try:
        found = keyvault.get_current(key)
        if found is not None:
            current, details[found[0]] = found
    except RotationError:
        pass  # the current version only breaks ties; its details are fetched below if needed
    observation = KeyObservation(key, versions, current)
    for candidate in candidate_versions(observation, now)[:MAX_DETAIL_READS]:
        if candidate.version not in details:
            try:
                fetched = keyvault.get_details(key, candidate.version)
            except RotationError:
                continue
            if fetched is None:
                continue  # disabled since it was listed
            details[candidate.version] = fetched
        if details_usable(details[candidate.version]):
            break
    for version in also - details.keys():
        if observation.version(version) is None:
            continue
        try:
            fetched = keyvault.get_details(key, version)
        except RotationError:
            continue
        if fetched is not None:
            details[version] = fetched
    return KeyObservation(key, versions, current, MappingProxyType(details))
