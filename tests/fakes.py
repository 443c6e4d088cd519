"""In-memory fakes of the engine's ports (preferred over mocks): they keep state and count writes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from shared.armids import RegistryRef
from shared.errors import PermanentError, RotationError
from shared.keyids import KeyId, KeyRef
from shared.model import KeyDetails, KeyVersion, Registry, VaultAccess
from shared.reasons import Reason


@dataclass
class FakeVersion:
    attrs: KeyVersion
    details: KeyDetails


@dataclass
class FakeKeyVault:
    clock: Callable[[], datetime]
    keys: dict[KeyRef, list[FakeVersion]] = field(default_factory=dict)
    errors: dict[KeyRef, RotationError] = field(default_factory=dict)
    reads: int = 0
    hosts_read: list[str] = field(default_factory=list)  # the vault host of every read, in order
    created: list[str] = field(default_factory=list)

    def add(self, key: KeyRef, attrs: KeyVersion, details: KeyDetails | None = None) -> None:
        self.keys.setdefault(key, []).append(FakeVersion(attrs, details or KeyDetails("RSA", None)))

    def _versions(self, key: KeyRef) -> list[FakeVersion]:
        self.reads += 1
        self.hosts_read.append(key.host)
        if key in self.errors:
            raise self.errors[key]
        if key not in self.keys:
            raise PermanentError(Reason.KEY_NOT_FOUND, f"{key} not found")
        return self.keys[key]

    def list_versions(self, key: KeyRef) -> list[KeyVersion]:
        return sorted((v.attrs for v in self._versions(key)), key=lambda v: v.version)  # by id, like Key Vault

    def get_current(self, key: KeyRef) -> tuple[str, KeyDetails] | None:
        current = self._versions(key)[-1]
        return (current.attrs.version, current.details) if current.attrs.enabled else None

    def get_details(self, key: KeyRef, version: str) -> KeyDetails | None:
        for v in self._versions(key):
            if v.attrs.version == version:
                return v.details if v.attrs.enabled else None
        raise PermanentError(Reason.KEY_NOT_FOUND, version)

    def create_version(self, key: KeyRef) -> str:
        name = f"auto{len(self.created) + 1}"
        self.add(key, KeyVersion(name, True, self.clock()))
        self.created.append(name)
        return name


@dataclass
class FakeRegistries:
    registries: dict[str, Registry] = field(default_factory=dict)
    patches: list[tuple[str, str]] = field(default_factory=list)
    update_errors: dict[str, RotationError] = field(default_factory=dict)
    on_update: Callable[[Registry, str], None] | None = None  # before an update applies: registry, key URI
    on_list: Callable[[str], None] | None = None  # after a subscription was listed (a change mid-run)
    on_get: Callable[[str], None] | None = None  # after a registry was read with a GET: its name
    reads: list[str] = field(default_factory=list)  # the name of each registry read with a GET, in order
    listing_errors: dict[str, RotationError] = field(default_factory=dict)  # per subscription id, or "*" for all
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, *registries: Registry) -> None:
        for r in registries:
            self.registries[r.id.lower()] = r

    def list_subscription_ids(self) -> list[str]:
        if "*" in self.listing_errors:
            raise self.listing_errors["*"]
        return sorted({r.subscription_id for r in self.registries.values()})

    def list_cmk_registries(self, subscription_id: str) -> list[Registry]:
        if subscription_id in self.listing_errors or "*" in self.listing_errors:
            raise self.listing_errors.get(subscription_id) or self.listing_errors["*"]
        listed = [r for r in self.registries.values() if r.subscription_id == subscription_id]
        if self.on_list:
            self.on_list(subscription_id)
        return listed

    def get_registry(self, ref: RegistryRef) -> Registry | None:
        with self.lock:
            self.reads.append(ref.name)
        found = self.registries.get(ref.id.lower())
        if self.on_get:
            self.on_get(ref.name)
        if found is None:
            raise PermanentError(Reason.REGISTRY_NOT_FOUND, ref.id)
        return found

    def update_key(self, registry: Registry, key_uri: str, poll_interval_s: float) -> Registry | None:
        """As the adapter does: the registry as the operation's last poll read it (the verification read)."""
        with self.lock:
            self.patches.append((registry.id, key_uri))
        if self.on_update:
            self.on_update(registry, key_uri)
        if registry.id.lower() in self.update_errors:
            raise self.update_errors[registry.id.lower()]
        assert registry.key_id is not None
        version = key_uri.rsplit("/", 1)[-1]
        new_id = KeyId(registry.key_id.key, version)
        self.registries[registry.id.lower()] = replace(registry, key_id=new_id, key_id_raw=key_uri,
                                                       versioned_key_id=new_id)
        return self.registries.get(registry.id.lower())


@dataclass
class FakeAccess:
    """Vaults per subscription, soft-deleted vault names, and role assignments, as ARM's access reads see them."""

    vaults: dict[str, list[VaultAccess]] = field(default_factory=dict)
    deleted: dict[str, list[str]] = field(default_factory=dict)
    roles: dict[tuple[str, str, str], frozenset[str]] = field(default_factory=dict)
    unreadable: set[str] = field(default_factory=set)  # subscriptions whose listings fail

    def list_vaults(self, subscription_id: str) -> list[VaultAccess]:
        if subscription_id in self.unreadable:
            raise PermanentError(Reason.FORBIDDEN, f"listing vaults in {subscription_id}")
        return self.vaults.get(subscription_id, [])

    def list_deleted_vault_names(self, subscription_id: str) -> list[str]:
        if subscription_id in self.unreadable:
            raise PermanentError(Reason.FORBIDDEN, f"listing deleted vaults in {subscription_id}")
        return self.deleted.get(subscription_id, [])

    def role_ids(self, principal_id: str, vault_id: str, key_name: str) -> frozenset[str]:
        return self.roles.get((principal_id, vault_id.lower(), key_name), frozenset())
