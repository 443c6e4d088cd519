"""Builders and fakes for retirement tests: a key, its versions and tags, registries with their last rotation, and
who can unwrap; the ports retirement uses, in memory (they keep state and count writes)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType

from shared.composition import assemble
from shared.engine import RotationEngine
from shared.errors import RotationError
from shared.keyids import KeyRef
from shared.locks import KeyedLocks
from shared.model import KeyVersion, Registry, VaultAccess
from shared.retirement import RETIRE_TAG, Unwrappers
from shared.settings import Settings
from tests.builders import CLIENT_ID, KEY, NOW, SUB, days, registry
from tests.fakes import FakeKeyVault, FakeRegistries

PRINCIPAL = "22222222-2222-2222-2222-222222222222"  # the registries' encryption identity (object id)
VAULT_ID = f"/subscriptions/{SUB}/resourceGroups/rg-kv/providers/Microsoft.KeyVault/vaults/kv-prod"


def on(name: str, version: str | None, rotated_days_ago: float | None, *, versioned: str | None = None,
       subscription: str = SUB, state: str = "Succeeded", key: KeyRef = KEY) -> Registry:
    """A registry on ``version`` (None: versionless, on ``versioned``), last rotated that many days ago."""
    r = registry(name, version=version, versioned=versioned, subscription=subscription, state=state, key=key)
    return replace(r, identity_principals=MappingProxyType({CLIENT_ID: PRINCIPAL}),
                   last_key_rotation=None if rotated_days_ago is None else NOW - days(rotated_days_ago))


@dataclass
class RetireKeyVault(FakeKeyVault):
    """Key Vault with tags (those of the current version) and version switches."""

    tags: dict[KeyRef, dict[str, str]] = field(default_factory=dict)
    switches: list[tuple[str, str, bool]] = field(default_factory=list)  # (key, version, enabled), in order
    switch_errors: dict[str, RotationError] = field(default_factory=dict)  # per version

    def get_tags(self, key: KeyRef) -> dict[str, str]:
        self._versions(key)
        return dict(self.tags.get(key, {}))

    def set_enabled(self, key: KeyRef, version: str, enabled: bool) -> bool:
        self.switches.append((str(key), version, enabled))
        if version in self.switch_errors:
            raise self.switch_errors[version]
        for v in self._versions(key):
            if v.attrs.version == version:
                v.attrs = replace(v.attrs, enabled=enabled)
                return enabled
        raise AssertionError(f"no version {version}")

    def enabled(self, key: KeyRef = KEY) -> dict[str, bool]:
        return {v.attrs.version: v.attrs.enabled for v in self.keys[key]}


@dataclass
class FakeUnwrap:
    """Who can unwrap per key name; the vault listing retirement finds vault ids with."""

    per_key: dict[str, Unwrappers] = field(default_factory=dict)
    vaults: dict[str, list[VaultAccess]] = field(
        default_factory=lambda: {SUB: [VaultAccess(VAULT_ID, "kv-prod", True)]})

    def unwrappers(self, vault_id: str, key_name: str) -> Unwrappers:
        return self.per_key.get(key_name, Unwrappers(frozenset({PRINCIPAL})))

    def list_vaults(self, subscription_id: str) -> list[VaultAccess]:
        return self.vaults.get(subscription_id, [])

    def list_deleted_vault_names(self, subscription_id: str) -> list[str]:
        return []

    def role_ids(self, principal_id: str, vault_id: str, key_name: str) -> frozenset[str]:
        return frozenset()


@dataclass
class World:
    """A key with versions v1 (old) and v2 (newest, current), tagged 14 days; three registries settled on v2."""

    keyvault: RetireKeyVault
    registries: FakeRegistries
    unwrap: FakeUnwrap

    def engine(self, retire: str = "plan", dry_run: bool = False, clock: datetime = NOW) -> RotationEngine:
        settings = Settings(retire=retire, dry_run=dry_run, poll_interval_s=0.01)
        return assemble(settings, self.keyvault, self.registries, access=self.unwrap, clock=lambda: clock,
                        locks=KeyedLocks(), switch=self.keyvault, unwrap=self.unwrap)


def settled_world(tag: str = "14") -> World:
    keyvault = RetireKeyVault(lambda: NOW)
    keyvault.add(KEY, KeyVersion("v1", True, NOW - days(60)))
    keyvault.add(KEY, KeyVersion("v2", True, NOW - days(30)))
    keyvault.tags[KEY] = {RETIRE_TAG: tag}
    registries = FakeRegistries()
    registries.add(on("acrpinned", "v2", 29), on("acrversionless", None, 28, versioned="v2"),
                   on("acrother", "v2", 20))
    return World(keyvault, registries, FakeUnwrap())
