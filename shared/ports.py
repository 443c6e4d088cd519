"""What the engine needs from Azure, as protocols. Adapters implement them with the SDKs; tests use fakes.

Every method raises ``shared.errors.TemporaryError`` or ``PermanentError``, never an SDK exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from shared.armids import RegistryRef
from shared.keyids import KeyRef
from shared.model import KeyDetails, KeyVersion, Registry, VaultAccess
from shared.queue_messages import RotationMessage
from shared.retirement import Unwrappers


class KeyVaultPort(Protocol):
    def list_versions(self, key: KeyRef) -> list[KeyVersion]:
        """Every version's attributes (listing shows disabled versions too)."""
        ...

    def get_current(self, key: KeyRef) -> tuple[str, KeyDetails] | None:
        """The version Key Vault reports as current, with its details; None if that version is disabled."""
        ...

    def get_details(self, key: KeyRef, version: str) -> KeyDetails | None:
        """Key type and operations of one version; None if the version is disabled."""
        ...

    def create_version(self, key: KeyRef) -> str:
        """Rotate the key (a new version by its rotation policy); returns the new version id."""
        ...


class RegistryPort(Protocol):
    def list_subscription_ids(self) -> list[str]:
        ...

    def list_cmk_registries(self, subscription_id: str) -> Iterable[Registry]:
        """Registries with customer-managed-key encryption enabled, one listing per subscription."""
        ...

    def get_registry(self, ref: RegistryRef) -> Registry | None:
        """A fresh read; None if the registry exists but has no CMK. Missing: PermanentError."""
        ...

    def update_key(self, registry: Registry, key_uri: str, poll_interval_s: float) -> Registry | None:
        """PATCH only ``properties.encryption`` (same identity) and wait for the long-running operation.

        Returns the registry as read by the operation's last poll (the verification read); None if it no longer
        has customer-managed-key encryption."""
        ...


class InventoryPort(Protocol):
    """Opt-in discovery (ROTATION_DISCOVERY=resourcegraph): every subscription in one paged query."""

    def list_cmk_registries_in(self, subscription_ids: Sequence[str]) -> list[Registry]:
        """CMK registries of all the given subscriptions the identity can read (the data may lag ARM)."""
        ...


class AccessPort(Protocol):
    """Best-effort reads for diagnosis only; never on the path of a rotation."""

    def list_vaults(self, subscription_id: str) -> list[VaultAccess]:
        ...

    def role_ids(self, principal_id: str, vault_id: str, key_name: str) -> frozenset[str]:
        ...

    def list_deleted_vault_names(self, subscription_id: str) -> list[str]:
        """Names of the soft-deleted vaults of a subscription (ARM's deletedVaults)."""
        ...


class DispatchPort(Protocol):
    """The opt-in rotation queue: one message per registry, applied by ``apply_rotation``."""

    def enqueue(self, messages: list[RotationMessage]) -> None:
        """Send every message or raise (TemporaryError) naming how many were sent."""
        ...


class KeyVersionSwitchPort(Protocol):
    """Retirement's Key Vault calls (``ROTATION_RETIRE``, ``python -m shared retire``)."""

    def get_tags(self, key: KeyRef) -> dict[str, str]:
        """The key's tags: those of its current version, as Key Vault shows them for the key."""
        ...

    def set_enabled(self, key: KeyRef, version: str, enabled: bool) -> bool:
        """PATCH the version's ``attributes.enabled`` (nothing else); returns ``enabled`` as Key Vault answered."""
        ...


class UnwrapAccessPort(Protocol):
    """Retirement's access read: who can unwrap with a key."""

    def unwrappers(self, vault_id: str, key_name: str) -> Unwrappers:
        """Principals that can unwrap with the key: RBAC assignments at the key or above it (vault, resource group,
        subscription, management group) whose role grants unwrap, and the vault's access policies that do."""
        ...
