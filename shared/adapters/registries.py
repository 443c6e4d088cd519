"""Container registries and subscriptions through ARM (azure-mgmt-containerregistry 15, api 2025-11-01)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.rest import HttpRequest
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerregistry.models import (
    EncryptionProperty,
    KeyVaultProperties,
    RegistryPropertiesUpdateParameters,
    RegistryUpdateParameters,
)
from azure.mgmt.core.polling.arm_polling import ARMPolling, BodyContentPolling
from azure.mgmt.resource.subscriptions import SubscriptionClient

from shared.adapters.errors import Call, describe, translate
from shared.armids import RegistryRef, parse_registry_id
from shared.errors import RotationError, TemporaryError
from shared.keyids import InvalidKeyId, KeyId, parse_key_id
from shared.model import Registry
from shared.reasons import Reason


def _error(exc: Exception, what: str, rejected: Reason = Reason.UPDATE_REJECTED) -> RotationError:
    return translate(exc, Call(what, rejected=rejected))


class RegistryStatePolling(ARMPolling):
    """azure-core's ARM polling of the registry resource itself (its provisioningState: Updating, then
    Succeeded), instead of the Azure-AsyncOperation status URL followed by a final GET of the registry.
    ARM's resource provider contract keeps provisioningState non-terminal while an update runs; the
    recorded rotate-key PATCH answered 201 with "Updating".

    Why: each read spends a token of ARM's per-subscription read bucket (25/s), and an update already
    costs the re-read before writing. Polling the registry makes the last poll the verification read:
    two reads per update instead of three. The status URL is kept, read only when an update did not
    land, for ACR's own error message.

    Also waits one interval before the first read: azure-core reads at once, and an ACR update never
    finishes that fast (about 10 s)."""

    def __init__(self, interval_s: float) -> None:
        super().__init__(interval_s, lro_algorithms=[BodyContentPolling()])
        self.wait_first_s = interval_s
        self.operation_status_url: str | None = None

    def initialize(self, client: Any, initial_response: Any, deserialization_callback: Any) -> None:
        self.operation_status_url = initial_response.http_response.headers.get("Azure-AsyncOperation")
        super().initialize(client, initial_response, deserialization_callback)

    def run(self) -> None:
        if not self.finished():
            time.sleep(self.wait_first_s)
        super().run()


class RegistryAdapter:
    def __init__(self, subscriptions: Callable[[], SubscriptionClient],
                 acr_for: Callable[[str], ContainerRegistryManagementClient],
                 key_vault_suffixes: tuple[str, ...]) -> None:
        self._subscriptions = subscriptions
        self._acr_for = acr_for
        self._suffixes = key_vault_suffixes

    def list_subscription_ids(self) -> list[str]:
        try:
            return [s.subscription_id for s in self._subscriptions().subscriptions.list() if s.subscription_id]
        except AzureError as exc:
            raise _error(exc, "listing subscriptions") from None

    def list_cmk_registries(self, subscription_id: str) -> list[Registry]:
        try:
            listed = list(self._acr_for(subscription_id).registries.list())
        except AzureError as exc:
            raise _error(exc, f"listing registries in subscription {subscription_id}") from None
        return [r for r in (to_registry(model.as_dict(), self._suffixes) for model in listed) if r is not None]

    def get_registry(self, ref: RegistryRef) -> Registry | None:
        try:
            model = self._acr_for(ref.subscription_id).registries.get(ref.resource_group, ref.name)
        except AzureError as exc:
            raise _error(exc, f"reading registry {ref.name}") from None
        return to_registry(model.as_dict(), self._suffixes)

    def update_key(self, registry: Registry, key_uri: str, poll_interval_s: float) -> Registry | None:
        # Minimal PATCH: only the encryption block, with the registry's own identity unchanged.
        parameters = RegistryUpdateParameters(
            properties=RegistryPropertiesUpdateParameters(
                encryption=EncryptionProperty(
                    status="enabled",
                    key_vault_properties=KeyVaultProperties(key_identifier=key_uri,
                                                            identity=registry.encryption_identity),
                )
            )
        )
        client = self._acr_for(registry.subscription_id)
        polling = RegistryStatePolling(poll_interval_s)
        try:
            poller = client.registries.begin_update(registry.resource_group, registry.name, parameters,
                                                    polling=polling)
        except AzureError as exc:
            raise _error(exc, f"updating registry {registry.name}") from None
        try:
            after = poller.result()  # the last poll is a GET of the registry: the verification read
        except HttpResponseError as exc:
            if exc.status_code is not None and exc.status_code < 400:
                # The registry answered provisioningState Failed: ACR gave up on this attempt and kept
                # the old key; a later attempt may succeed.
                detail = self._operation_error(client, polling) or describe(exc)
                raise TemporaryError(Reason.UPDATE_FAILED,
                                     f"the update of {registry.name} ended Failed: {detail}") from None
            raise _error(exc, f"waiting for the update of {registry.name}", rejected=Reason.UPDATE_FAILED) from None
        except AzureError as exc:
            raise _error(exc, f"waiting for the update of {registry.name}", rejected=Reason.UPDATE_FAILED) from None
        landed = to_registry(after.as_dict(), self._suffixes) if after is not None else None
        in_use = str(landed.versioned_key_id) if landed is not None and landed.versioned_key_id else ""
        if in_use.lower() != key_uri.lower():
            # Not the key we asked for. If the operation itself failed (ACR rolled back), say so with ACR's
            # words; otherwise hand the registry back for the engine's verification to judge.
            failure = self._operation_error(client, polling)
            if failure:
                raise TemporaryError(Reason.UPDATE_FAILED, f"the update of {registry.name} ended Failed: {failure}")
        return landed

    @staticmethod
    def _operation_error(client: ContainerRegistryManagementClient, polling: RegistryStatePolling) -> str | None:
        """ACR's error for a failed operation, from its Azure-AsyncOperation status; None if it did not fail
        or cannot be read (the caller still reports the failure, only with fewer words)."""
        if not polling.operation_status_url:
            return None
        try:
            response = client.send_request(HttpRequest("GET", polling.operation_status_url))
            response.raise_for_status()
            body = response.json()
        except (AzureError, ValueError):
            return None
        if not isinstance(body, dict) or str(body.get("status", "")).lower() not in ("failed", "canceled"):
            return None
        error = body.get("error")
        if not isinstance(error, dict):
            error = {}
        text = f"{error.get('code') or body.get('status')}: {error.get('message') or ''}"
        return " ".join(text.split()).rstrip(": ")[:400]


def _get(data: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(data, dict):
            return None
        data = data.get(name)
    return data


def _key_id(raw: Any, suffixes: tuple[str, ...]) -> KeyId | None:
    try:
        return parse_key_id(raw, suffixes)
    except InvalidKeyId:
        return None


def to_registry(data: dict[str, Any], suffixes: tuple[str, ...]) -> Registry | None:
    """A registry from ARM's JSON; None when customer-managed-key encryption is not enabled."""
    encryption = _get(data, "properties", "encryption") or {}
    vault_properties = encryption.get("keyVaultProperties") or {}
    raw_key = vault_properties.get("keyIdentifier") or ""
    if str(encryption.get("status", "")).lower() != "enabled" or not raw_key:
        return None
    ref = parse_registry_id(data["id"])
    identity = data.get("identity") or {}
    assigned = [v for v in (identity.get("userAssignedIdentities") or {}).values() if isinstance(v, dict)]
    client_ids = tuple(str(v.get("clientId", "")) for v in assigned)
    principals = {str(v.get("clientId", "")).lower(): str(v.get("principalId", "")) for v in assigned
                  if v.get("clientId") and v.get("principalId")}
    return Registry(
        id=ref.id,
        name=data.get("name") or ref.name,
        subscription_id=ref.subscription_id,
        resource_group=ref.resource_group,
        location=data.get("location", ""),
        sku=str(_get(data, "sku", "name") or ""),
        tags=dict(data.get("tags") or {}),
        provisioning_state=str(_get(data, "properties", "provisioningState") or ""),
        key_id=_key_id(raw_key, suffixes),
        key_id_raw=str(raw_key),
        versioned_key_id=_key_id(vault_properties.get("versionedKeyIdentifier"), suffixes),
        encryption_identity=str(vault_properties.get("identity") or ""),
        identity_client_ids=client_ids,
        has_system_identity="systemassigned" in str(identity.get("type", "")).lower(),
        identity_principals=principals,
        system_principal_id=identity.get("principalId"),
        last_key_rotation=_timestamp(vault_properties.get("lastKeyRotationTimestamp")),
    )


def _timestamp(raw: Any) -> datetime | None:
    """ARM's date-time (ISO 8601, 'Z' or an offset; the SDK's as_dict() keeps it as a string or a datetime)."""
    if isinstance(raw, datetime):
        return raw if raw.tzinfo else raw.replace(tzinfo=UTC)
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        parsed = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
