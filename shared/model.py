"""Observed state of the world as plain, frozen data. Adapters produce it; the planner reads it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from shared.keyids import KeyId, KeyRef
from shared.reasons import Reason

OPT_OUT_TAG = "cmk-rotation"
OPT_OUT_VALUES = frozenset({"off", "false", "disabled"})
CANARY_VALUE = "canary"  # cmk-rotation: canary moves first; if it fails, the others on its key wait
BUSY_STATES = frozenset({"updating", "creating", "deleting"})
RSA_KEY_TYPES = frozenset({"RSA", "RSA-HSM"})
REQUIRED_KEY_OPS = frozenset({"wrapKey", "unwrapKey"})


@dataclass(frozen=True)
class KeyVersion:
    """One key version's attributes, as listing versions returns them (no key type there)."""

    version: str
    enabled: bool
    created_on: datetime
    not_before: datetime | None = None
    expires_on: datetime | None = None


@dataclass(frozen=True)
class KeyDetails:
    """What only a GET of the version tells: key type and allowed operations."""

    key_type: str
    key_ops: tuple[str, ...] | None  # None or empty: not restricted


@dataclass(frozen=True)
class KeyObservation:
    """Everything read about one key in one run. ``error`` set means it could not be read."""

    key: KeyRef
    versions: tuple[KeyVersion, ...] = ()
    current_version: str | None = None  # what Key Vault reports as latest (None if unknown)
    details: Mapping[str, KeyDetails] = field(default_factory=lambda: MappingProxyType({}))
    error: Reason | None = None
    error_detail: str = ""
    error_transient: bool = False  # a later run may read it (throttling, an outage, a name not resolving yet)

    def version(self, version: str | None) -> KeyVersion | None:
        if version is None:
            return None
        for v in self.versions:
            if v.version == version.lower():
                return v
        return None


@dataclass(frozen=True)
class Registry:
    """A CMK registry as ARM reports it."""

    id: str
    name: str
    subscription_id: str
    resource_group: str
    location: str
    sku: str
    tags: Mapping[str, str]
    provisioning_state: str
    key_id: KeyId | None  # keyIdentifier, parsed; None when it is not a Key Vault key id of this cloud
    key_id_raw: str
    versioned_key_id: KeyId | None  # versionedKeyIdentifier: the version actually in use
    encryption_identity: str  # clientId or "system"
    identity_client_ids: tuple[str, ...] = ()  # client ids of the registry's user-assigned identities
    has_system_identity: bool = False
    identity_principals: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # client -> object id
    system_principal_id: str | None = None
    last_key_rotation: datetime | None = None

    @property
    def pinned(self) -> bool:
        return self.key_id is not None and self.key_id.pinned

    @property
    def version_in_use(self) -> str | None:
        if self.key_id is not None and self.key_id.version:
            return self.key_id.version
        return self.versioned_key_id.version if self.versioned_key_id else None

    @property
    def opted_out(self) -> bool:
        for tag, value in self.tags.items():
            if tag.strip().lower() == OPT_OUT_TAG and str(value).strip().lower() in OPT_OUT_VALUES:
                return True
        return False

    @property
    def canary(self) -> bool:
        return any(tag.strip().lower() == OPT_OUT_TAG and str(value).strip().lower() == CANARY_VALUE
                   for tag, value in self.tags.items())

    @property
    def busy(self) -> bool:
        return self.provisioning_state.lower() in BUSY_STATES

    @property
    def encryption_principal_id(self) -> str | None:
        """Object id of the identity that unwraps the key, when ARM says which it is."""
        if self.encryption_identity.lower() == "system":
            return self.system_principal_id
        return self.identity_principals.get(self.encryption_identity.lower())

    @property
    def identity_present(self) -> bool:
        if self.encryption_identity.lower() == "system":
            return self.has_system_identity
        return self.encryption_identity.lower() in {c.lower() for c in self.identity_client_ids}


@dataclass(frozen=True)
class VaultAccess:
    """How a vault authorizes data-plane access: Azure RBAC, or access policies (object id -> key permissions)."""

    id: str
    name: str
    rbac: bool
    policies: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    purge_protection: bool = True  # enablePurgeProtection (absent on the wire means off)
    public_network: str = "open"  # "open", "firewalled" (networkAcls default Deny) or "closed" (public access off)
    trusted_services: bool = True  # networkAcls.bypass AzureServices: lets a registry's system identity through


@dataclass(frozen=True)
class AccessObservation:
    """What the access reads found, for diagnosis: vaults by name, and role definition ids held per
    (principal object id, vault id lower-cased, key name); None where the assignments could not be read.
    ``checked`` is False when no access reads were made at all."""

    vaults: Mapping[str, VaultAccess] = field(default_factory=lambda: MappingProxyType({}))
    roles: Mapping[tuple[str, str, str], frozenset[str] | None] = field(default_factory=lambda: MappingProxyType({}))
    checked: bool = False

    def vault_of(self, registry: Registry) -> VaultAccess | None:
        return self.vaults.get(registry.key_id.key.vault_name) if registry.key_id else None

    def roles_of(self, registry: Registry) -> frozenset[str] | None:
        vault, principal = self.vault_of(registry), registry.encryption_principal_id
        if vault is None or registry.key_id is None:
            return None
        return self.roles.get((principal or "", vault.id.lower(), registry.key_id.key.name))
