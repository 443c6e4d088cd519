"""Key Vault keys through azure-keyvault-keys: list versions, read details, rotate."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from azure.keyvault.keys import KeyClient, KeyProperties, KeyVaultKey

from shared.adapters.errors import MAX_CAUSE, Call, describe, is_disabled_key, translate
from shared.errors import PermanentError, RotationError
from shared.keyids import KeyRef
from shared.model import KeyDetails, KeyVersion
from shared.reasons import Reason
from shared.troubleshooting import fix

EPOCH = datetime.fromtimestamp(0, tz=UTC)


def _error(exc: Exception, what: str, key: KeyRef, needs: str = "read") -> RotationError:
    return translate(exc, Call(what, forbidden=Reason.KEY_FORBIDDEN, not_found=Reason.KEY_NOT_FOUND,
                               rejected=Reason.KEY_UNREADABLE, vault=key.vault_name, key=key.name, needs=needs))


def _not_found(exc: ResourceNotFoundError, key: KeyRef) -> RotationError:
    cause = f"listing versions of {key}: {describe(exc)}"[:MAX_CAUSE]
    return PermanentError(Reason.KEY_NOT_FOUND, f"{cause}. Fix: {fix(Reason.KEY_NOT_FOUND)}")


def _details(key: KeyVaultKey) -> KeyDetails:
    ops = tuple(str(getattr(op, "value", op)) for op in key.key_operations or ())
    return KeyDetails(str(getattr(key.key_type, "value", key.key_type)), ops or None)


class KeyVaultAdapter:
    def __init__(self, client_for: Callable[[str], KeyClient]) -> None:
        self._client_for = client_for

    def list_versions(self, key: KeyRef) -> list[KeyVersion]:
        try:
            return [_version(p) for p in self._client_for(key.vault_url).list_properties_of_key_versions(key.name)]
        except ResourceNotFoundError as exc:
            raise self._deleted(key) or _not_found(exc, key) from None
        except AzureError as exc:
            raise _error(exc, f"listing versions of {key}", key) from None

    def _deleted(self, key: KeyRef) -> RotationError | None:
        """A key that is gone may be in the vault's recycle bin: say so, with the command that recovers it."""
        try:
            deleted = self._client_for(key.vault_url).get_deleted_key(key.name)
        except AzureError:
            return None  # not there, or the recycle bin cannot be read: the key is reported as not found
        purge = deleted.scheduled_purge_date.isoformat() if deleted.scheduled_purge_date else "its purge date"
        return PermanentError(Reason.KEY_SOFT_DELETED, f"{key} is deleted and recoverable until {purge}. Fix: "
                              + fix(Reason.KEY_SOFT_DELETED, vault=key.vault_name, key=key.name))

    def get_current(self, key: KeyRef) -> tuple[str, KeyDetails] | None:
        found = self._get(key, None)
        if found is None or not found.properties.version:
            return None
        return found.properties.version.lower(), _details(found)

    def get_details(self, key: KeyRef, version: str) -> KeyDetails | None:
        found = self._get(key, version)
        return _details(found) if found is not None else None

    def create_version(self, key: KeyRef) -> str:
        try:
            rotated = self._client_for(key.vault_url).rotate_key(key.name)
        except AzureError as exc:
            raise _error(exc, f"rotating {key}", key, needs="create") from None
        return (rotated.properties.version or "").lower()

    def get_tags(self, key: KeyRef) -> dict[str, str]:
        try:
            found = self._client_for(key.vault_url).get_key(key.name)
        except AzureError as exc:
            raise _error(exc, f"reading the tags of {key}", key) from None
        return {str(k): str(v) for k, v in (found.properties.tags or {}).items()}

    def set_enabled(self, key: KeyRef, version: str, enabled: bool) -> bool:
        """Only ``attributes.enabled`` is sent: tags, operations and dates stay as they are."""
        try:
            updated = self._client_for(key.vault_url).update_key_properties(key.name, version, enabled=enabled)
        except AzureError as exc:
            raise _error(exc, f"{'enabling' if enabled else 'disabling'} {key.uri(version)}", key,
                         needs="update") from None
        return bool(updated.properties.enabled)

    def _get(self, key: KeyRef, version: str | None) -> KeyVaultKey | None:
        """None for a disabled version: Key Vault answers its GET with 200 and ``enabled: false`` (keys), or
        with 403 ``KeyDisabled`` (as it does for secrets, and as older stand-ins did); both are accepted."""
        try:
            found = self._client_for(key.vault_url).get_key(key.name, version)
        except HttpResponseError as exc:
            if is_disabled_key(exc):
                return None
            raise _error(exc, f"reading {key.uri(version)}", key) from None
        except AzureError as exc:
            raise _error(exc, f"reading {key.uri(version)}", key) from None
        return found if found.properties.enabled is not False else None


def _version(p: KeyProperties) -> KeyVersion:
    return KeyVersion(
        version=(p.version or "").lower(),
        enabled=bool(p.enabled),
        created_on=p.created_on or EPOCH,
        not_before=p.not_before,
        expires_on=p.expires_on,
    )
