"""What retirement reads in one run: every CMK registry of every subscription the identity can list (ARM's
per-subscription listing, never Resource Graph, which answers nothing for what it cannot read), the tags of the
keys in scope, and for the opted-in ones their versions and who can unwrap with them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from shared.errors import RotationError
from shared.keyids import KeyRef
from shared.model import KeyObservation, Registry
from shared.observe import observe_key
from shared.outcomes import RunProblem
from shared.parallel import each
from shared.ports import AccessPort, KeyVaultPort, KeyVersionSwitchPort, RegistryPort, UnwrapAccessPort
from shared.retirement import Estate, KeyFacts, Unwrappers, retire_after_days
from shared.settings import Settings


@dataclass(frozen=True)
class Listed:
    registries: tuple[Registry, ...]
    subscriptions: tuple[str, ...]
    blockers: tuple[str, ...]
    problems: tuple[RunProblem, ...]


def list_everywhere(registries: RegistryPort) -> Listed:
    """Every subscription the identity can list, each listed by ARM; what could not be listed blocks, in words."""
    try:
        subscriptions = registries.list_subscription_ids()
    except RotationError as exc:
        problem = RunProblem("subscriptions", exc.reason, exc.transient, exc.message)
        return Listed((), (), (f"subscriptions not listable: {exc.message}",), (problem,))
    found: list[Registry] = []
    blockers: list[str] = []
    problems: list[RunProblem] = []
    for subscription_id, listed in zip(subscriptions, each(
            subscriptions, lambda s: list(registries.list_cmk_registries(s))), strict=True):
        if isinstance(listed, RotationError):
            blockers.append(f"subscription {subscription_id} not listed: {listed.reason.value}")
            problems.append(RunProblem(f"/subscriptions/{subscription_id}", listed.reason, listed.transient,
                                       listed.message))
        else:
            found.extend(listed)
    return Listed(tuple(sorted(found, key=lambda r: r.id.lower())), tuple(subscriptions), tuple(blockers),
                  tuple(problems))


def keys_in_scope(registries: Sequence[Registry], settings: Settings) -> list[KeyRef]:
    wanted = {s.lower() for s in settings.subscription_ids}
    return sorted({r.key_id.key for r in registries if r.key_id is not None
                   and (not wanted or r.subscription_id.lower() in wanted)
                   and settings.in_scope(r.subscription_id, r.resource_group)}, key=str)


@dataclass(frozen=True)
class RetirementReads:
    """The ports retirement reads through (the same adapters as rotation's, plus the retirement calls)."""

    settings: Settings
    keyvault: KeyVaultPort
    switch: KeyVersionSwitchPort
    registries: RegistryPort
    vaults: AccessPort | None
    unwrap: UnwrapAccessPort | None

    def estate(self, now: datetime, blockers: Sequence[str] = (),
               keys: Sequence[KeyRef] | None = None) -> tuple[Estate, tuple[RunProblem, ...]]:
        """``keys``: the keys in scope when the caller knows them (the sweep): their tags are read first, and every
        subscription is listed only when one of them is opted in. Otherwise (the CLI) the listing finds them."""
        listed: Listed | None = None
        if keys is None:
            listed = list_everywhere(self.registries)
            refs = keys_in_scope(listed.registries, self.settings)
        else:
            refs = sorted(set(keys), key=str)
        opted, problems = self._opted_in(refs)
        if not opted:
            return Estate(listed.registries if listed else (), MappingProxyType({}), tuple(blockers), now), \
                tuple(problems) + (listed.problems if listed else ())
        listed = listed or list_everywhere(self.registries)
        vault_ids = self._vault_ids(listed.subscriptions)
        facts = {ref: self._facts(ref, read, now, vault_ids) for ref, read in opted.items()}
        return Estate(listed.registries, MappingProxyType(facts), tuple(blockers) + listed.blockers, now), \
            tuple(problems) + listed.problems

    def _opted_in(self, refs: list[KeyRef]) -> tuple[dict[KeyRef, dict[str, str]], list[RunProblem]]:
        """The keys whose tags carry the retirement tag (with a valid value or not), and the tags not readable."""
        opted: dict[KeyRef, dict[str, str]] = {}
        problems: list[RunProblem] = []
        for ref, read in zip(refs, each(refs, self.switch.get_tags), strict=True):
            if isinstance(read, RotationError):
                problems.append(RunProblem(str(ref), read.reason, read.transient, f"reading tags: {read.message}"))
            elif retire_after_days(read) != (None, ""):
                opted[ref] = read
        return opted, problems

    def _facts(self, ref: KeyRef, tags: dict[str, str], now: datetime, vault_ids: dict[str, str | None]) -> KeyFacts:
        if retire_after_days(tags)[0] is None:  # a bad value: reported by the plan; nothing more to read
            return KeyFacts(KeyObservation(ref), MappingProxyType(tags))
        return KeyFacts(observe_key(self.keyvault, ref, now), MappingProxyType(tags), self._unwrappers(ref, vault_ids))

    def _vault_ids(self, subscriptions: Sequence[str]) -> dict[str, str | None]:
        """Vault name -> ARM id, across every listed subscription; None for a name seen twice (ambiguous)."""
        if self.vaults is None:
            return {}
        found: dict[str, str | None] = {}
        vaults = self.vaults
        for listed in each(list(subscriptions), lambda s: vaults.list_vaults(s)):
            if not isinstance(listed, RotationError):
                for vault in listed:
                    found[vault.name] = None if vault.name in found else vault.id
        return found

    def _unwrappers(self, ref: KeyRef, vault_ids: dict[str, str | None]) -> Unwrappers:
        if ".managedhsm." in ref.host:
            return Unwrappers(unsettled=("Managed HSM: its local RBAC is not read",))
        vault_id = vault_ids.get(ref.vault_name)
        if self.unwrap is None or vault_id is None:
            return Unwrappers(unsettled=(f"vault {ref.vault_name} not found (or found twice) in the subscriptions "
                                         "the app can read",))
        return self.unwrap.unwrappers(vault_id, ref.name)


def find_version(reads: RetirementReads, version: str) -> list[KeyRef]:
    """The keys in use (in scope) that have this version: for ``retire --undo VERSION`` without ``--key``."""
    refs = keys_in_scope(list_everywhere(reads.registries).registries, reads.settings)
    listed = each(refs, reads.keyvault.list_versions)
    return [ref for ref, versions in zip(refs, listed, strict=True) if not isinstance(versions, RotationError)
            and any(v.version == version.lower() for v in versions)]
