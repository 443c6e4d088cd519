"""What ``doctor`` checks, read through the ports: reads only, never a write (no key version is created, no role
granted, no subscription made). The engine's own discovery, observation and diagnosis find the registries, their
keys and what is wrong with them; ``DoctorPort`` adds who the app is, its effective permissions on a vault, and
the vault's Event Grid system topic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

from shared.diagnosis import diagnose
from shared.doctor import Facts, Failure, Identity, Permissions, RegistryFacts, Topic, VaultFacts
from shared.errors import RotationError
from shared.keyids import KeyRef
from shared.model import AccessObservation, KeyObservation, Registry
from shared.observe import confirm_unreachable_vaults, observe_access, observe_keys
from shared.reasons import Finding
from shared.requests import Scope

if TYPE_CHECKING:
    from shared.engine import RotationEngine


class DoctorPort(Protocol):
    def whoami(self) -> Identity:
        """A token for ARM: which credential gave it, and its tenant and object id (the token itself is dropped)."""
        ...

    def vault_permissions(self, vault_id: str) -> tuple[Permissions, ...]:
        """The caller's effective permissions on the vault (ARM's Microsoft.Authorization/permissions)."""
        ...

    def system_topic(self, vault_id: str) -> Topic | None:
        """The vault's Event Grid system topic and its subscriptions; None when it has none."""
        ...


def _failure(exc: RotationError) -> Failure:
    return Failure(exc.reason, exc.message)


def gather(base: Facts, engine_factory: Callable[[], RotationEngine], port: DoctorPort,
           now: Callable[[], datetime]) -> Facts:
    """In the checks' order; stops where a later read could only fail the same way (no credential, no ARM)."""
    if base.settings_error:
        return base
    try:
        facts = replace(base, identity=port.whoami())
    except RotationError as exc:
        return replace(base, identity=_failure(exc))  # nothing was sent to ARM or Key Vault
    engine = engine_factory()
    try:
        facts = replace(facts, subscriptions=tuple(engine.registries.list_subscription_ids()),
                        wanted_subscriptions=engine.settings.subscription_ids)
    except RotationError as exc:
        return replace(facts, subscriptions=_failure(exc))
    registries, problems = engine.discovery.discover(Scope())
    facts = replace(facts, listing=tuple(Failure(p.reason, p.detail) for p in problems if not p.transient))
    return _estate(facts, engine, port, registries, now())


def _estate(facts: Facts, engine: RotationEngine, port: DoctorPort, registries: Sequence[Registry],
            now: datetime) -> Facts:
    keys = observe_keys(engine.keyvault, registries, now)
    access = AccessObservation()
    if engine.access is not None:
        keys = confirm_unreachable_vaults(keys, engine.access, engine.registries.list_subscription_ids)
        access = observe_access(engine.access, registries, engine.settings.subscription_ids,
                                engine.registries.list_subscription_ids)
    found = diagnose(registries, keys, access, now, engine.settings.near_expiry_days)
    vaults = tuple(_vault(name, refs, keys, access, port, facts.auto_rotate or facts.retire)
                   for name, refs in sorted(_vaults_in_use(keys).items()))
    return replace(facts, vaults=vaults, registries=_registries(registries, found))


def _vaults_in_use(keys: Mapping[KeyRef, KeyObservation]) -> dict[str, list[KeyRef]]:
    by_vault: dict[str, list[KeyRef]] = {}
    for ref in sorted(keys, key=str):
        by_vault.setdefault(ref.vault_name, []).append(ref)
    return by_vault


def _vault(name: str, refs: list[KeyRef], keys: Mapping[KeyRef, KeyObservation], access: AccessObservation,
           port: DoctorPort, needs_permissions: bool) -> VaultFacts:
    failures = tuple(Failure(o.error, o.error_detail) for o in (keys[r] for r in refs) if o.error is not None)
    vault = access.vaults.get(name)
    facts = VaultFacts(name, vault, failures, tuple(r.name for r in refs))
    if vault is None:
        return facts
    if needs_permissions and vault.rbac:
        facts = replace(facts, permissions=_read(lambda: port.vault_permissions(vault.id)))
    return replace(facts, topic=_read(lambda: port.system_topic(vault.id)))


T = TypeVar("T")


def _read(read: Callable[[], T]) -> T | Failure:
    try:
        return read()
    except RotationError as exc:
        return _failure(exc)


def _registries(registries: Sequence[Registry], found: Mapping[str, list[Finding]]) -> tuple[RegistryFacts, ...]:
    """Every pinned registry the app looks after (versionless ones follow the key by themselves)."""
    return tuple(RegistryFacts(r.name, r.key_id.key.vault_name if r.key_id else "", tuple(found.get(r.id, ())),
                               r.encryption_identity)
                 for r in registries if r.pinned and not r.opted_out)
