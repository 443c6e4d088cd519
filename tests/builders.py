"""Small builders for observed state, so that test tables read as sentences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from shared.keyids import KeyId, KeyRef, parse_key_id
from shared.model import KeyDetails, KeyObservation, KeyVersion, Registry

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SUFFIXES = ("vault.azure.net", "managedhsm.azure.net")
KEY = KeyRef("kv-prod.vault.azure.net", "acr-cmk")
SUB = "00000000-0000-0000-0000-000000000001"
CLIENT_ID = "11111111-1111-1111-1111-111111111111"


def days(n: float) -> timedelta:
    return timedelta(days=n)


def version(name: str, created_days_ago: float, *, enabled: bool = True, nbf: datetime | None = None,
            exp: datetime | None = None) -> KeyVersion:
    return KeyVersion(name, enabled, NOW - days(created_days_ago), nbf, exp)


def rsa(ops: tuple[str, ...] | None = ("wrapKey", "unwrapKey", "encrypt", "decrypt")) -> KeyDetails:
    return KeyDetails("RSA", ops)


def observation(*versions: KeyVersion, current: str | None = None,
                details: dict[str, KeyDetails] | None = None, key: KeyRef = KEY) -> KeyObservation:
    if details is None:
        details = {v.version: rsa() for v in versions}
    if current is None and versions:
        current = max(versions, key=lambda v: v.created_on).version
    return KeyObservation(key, tuple(versions), current, MappingProxyType(details))


def registry(name: str = "acrprod1", *, version: str | None = "v1", key: KeyRef = KEY, tags: dict | None = None,
             state: str = "Succeeded", key_uri: str | None = None, versioned: str | None = None,
             subscription: str = SUB, resource_group: str = "rg-acr") -> Registry:
    raw = key_uri or key.uri(version)
    key_id: KeyId | None
    try:
        key_id = parse_key_id(raw, SUFFIXES)
    except ValueError:
        key_id = None
    in_use = versioned or version
    return Registry(
        id=f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
           f"Microsoft.ContainerRegistry/registries/{name}",
        name=name, subscription_id=subscription, resource_group=resource_group, location="westeurope",
        sku="Premium", tags=tags or {}, provisioning_state=state, key_id=key_id, key_id_raw=raw,
        versioned_key_id=KeyId(key, in_use) if in_use and key_id else None,
        encryption_identity=CLIENT_ID, identity_client_ids=(CLIENT_ID,),
    )
