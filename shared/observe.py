"""Observation: read each key once per run into a ``KeyObservation``, and (for diagnosis) how each vault
authorizes the registries' identities into an ``AccessObservation``.

Listing versions gives attributes but no key type, so details are fetched only for the newest
candidates, in the planner's order, until one is usable: usually just the current version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from types import MappingProxyType

from shared.errors import RotationError
from shared.keyids import KeyRef
from shared.model import AccessObservation, KeyDetails, KeyObservation, Registry, VaultAccess
from shared.parallel import each
from shared.ports import AccessPort, KeyVaultPort
from shared.reasons import KEY_READ_FAILURES, Reason
from shared.requests import RunRequest
from shared.troubleshooting import fix
from shared.versions import candidate_versions, details_usable

log = logging.getLogger(__name__)

MAX_DETAIL_READS = 5  # a key whose five newest candidates are all unusable has a problem to report


def observe_key(keyvault: KeyVaultPort, key: KeyRef, now: datetime,
                also: frozenset[str] = frozenset()) -> KeyObservation:
    """Read one key. ``also``: versions whose details are wanted whatever their rank (an operator's target)."""
    try:
        versions = tuple(keyvault.list_versions(key))
    except RotationError as exc:  # throttling, 5xx and dropped connections are KEY_UNREADABLE, with their detail
        reason = exc.reason if exc.reason in KEY_READ_FAILURES else Reason.KEY_UNREADABLE
        return KeyObservation(key, error=reason, error_detail=exc.message, error_transient=exc.transient)
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


def observe_keys(keyvault: KeyVaultPort, registries: Sequence[Registry], now: datetime,
                 request: RunRequest | None = None) -> dict[KeyRef, KeyObservation]:
    """Every key the registries use, read once, a few keys at a time (with an operator's target versions)."""
    wanted: dict[KeyRef, set[str]] = {}
    for r in registries:
        if r.key_id is not None:
            target = request.target_for(r.id) if request is not None else None
            wanted.setdefault(r.key_id.key, set()).update({target.version} if target else set())
    refs = sorted(wanted, key=str)
    observed = each(refs, lambda ref: observe_key(keyvault, ref, now, frozenset(wanted[ref])))
    return {ref: o for ref, o in zip(refs, observed, strict=True) if isinstance(o, KeyObservation)}


# --- Access, for diagnosis (best-effort: never on the path of a rotation) --------------------------

def observe_access(access: AccessPort, registries: Sequence[Registry], subscriptions: Sequence[str],
                   all_subscriptions: Callable[[], list[str]]) -> AccessObservation:
    """How each vault holding a key in use authorizes, and the roles each registry identity holds on it.

    ``subscriptions``: where to look for vaults first; keys often live in a central security subscription
    that holds no registry, so ``all_subscriptions`` is listed too, once, when a vault is still missing."""
    looked = sorted({s.lower() for s in subscriptions} | {r.subscription_id.lower() for r in registries})
    vaults = _vaults_in(access, looked)
    wanted = {r.key_id.key.vault_name for r in registries
              if r.key_id is not None and ".managedhsm." not in r.key_id.key.host}
    if wanted - vaults.keys():
        try:
            others = sorted({s.lower() for s in all_subscriptions()} - set(looked))
        except RotationError as exc:
            log.info("diagnosis: subscriptions not listable: %s", exc.message)
            others = []
        vaults.update(_vaults_in(access, others))
    return AccessObservation(MappingProxyType(vaults), MappingProxyType(_roles(access, registries, vaults)), True)


def _vaults_in(access: AccessPort, subscriptions: list[str]) -> dict[str, VaultAccess]:
    vaults: dict[str, VaultAccess] = {}
    for subscription_id, listed in zip(subscriptions, each(subscriptions, access.list_vaults), strict=True):
        if isinstance(listed, RotationError):
            log.info("diagnosis: vaults of %s not readable: %s", subscription_id, listed.message)
        else:
            vaults.update({v.name: v for v in listed})
    return vaults


def _roles(access: AccessPort, registries: Sequence[Registry],
           vaults: Mapping[str, VaultAccess]) -> dict[tuple[str, str, str], frozenset[str] | None]:
    roles: dict[tuple[str, str, str], frozenset[str] | None] = {}
    for r in registries:
        vault = vaults.get(r.key_id.key.vault_name) if r.key_id else None
        principal = r.encryption_principal_id
        if vault is None or not vault.rbac or principal is None or r.key_id is None:
            continue
        cache_key = (principal, vault.id.lower(), r.key_id.key.name)
        if cache_key not in roles:
            try:
                roles[cache_key] = access.role_ids(principal, vault.id, r.key_id.key.name)
            except RotationError as exc:
                log.info("diagnosis: role assignments on %s not readable: %s", vault.id, exc.message)
                roles[cache_key] = None
    return roles


def confirm_unreachable_vaults(keys: Mapping[KeyRef, KeyObservation], access: AccessPort,
                               subscriptions: Callable[[], list[str]]) -> dict[KeyRef, KeyObservation]:
    """A vault whose name does not resolve is gone only when ARM says so: no readable subscription lists it, and
    every one could be read; or it is among the soft-deleted vaults. Until then it stays VAULT_UNREACHABLE."""
    unreachable = {ref.vault_name for ref, o in keys.items() if o.error == Reason.VAULT_UNREACHABLE}
    if not unreachable:
        return dict(keys)
    try:
        listed = subscriptions()
    except RotationError:
        return dict(keys)
    present, deleted, complete = set(), set(), True
    for found in each(listed, lambda s: ([v.name for v in access.list_vaults(s)], access.list_deleted_vault_names(s))):
        if isinstance(found, RotationError):
            complete = False
        else:
            present.update(found[0])
            deleted.update(found[1])
    return {ref: _confirmed(o, ref, present, deleted, complete) if ref.vault_name in unreachable else o
            for ref, o in keys.items()}


def _confirmed(observation: KeyObservation, ref: KeyRef, present: set[str], deleted: set[str],
               complete: bool) -> KeyObservation:
    if ref.vault_name in deleted:
        cause = f"vault {ref.vault_name} is soft-deleted"
    elif complete and ref.vault_name not in present:
        cause = f"vault {ref.vault_name} does not exist in any subscription the app can read"
    else:
        return observation
    return replace(observation, error=Reason.VAULT_DELETED, error_transient=False,
                   error_detail=f"{cause}. Fix: {fix(Reason.VAULT_DELETED, vault=ref.vault_name)}")
