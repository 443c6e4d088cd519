"""Key Vault key identifiers and the clouds whose Key Vault hosts we accept.

A key id from an event or a request is untrusted: its host must sit under one of the configured
cloud's Key Vault suffixes before anything is sent to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit


class Cloud(StrEnum):
    PUBLIC = "AzureCloud"
    CHINA = "AzureChinaCloud"
    US_GOVERNMENT = "AzureUSGovernment"


@dataclass(frozen=True)
class CloudEndpoints:
    resource_manager: str
    key_vault_suffixes: tuple[str, ...]


ENDPOINTS: dict[Cloud, CloudEndpoints] = {
    Cloud.PUBLIC: CloudEndpoints("https://management.azure.com", ("vault.azure.net", "managedhsm.azure.net")),
    Cloud.CHINA: CloudEndpoints("https://management.chinacloudapi.cn", ("vault.azure.cn", "managedhsm.azure.cn")),
    Cloud.US_GOVERNMENT: CloudEndpoints(
        "https://management.usgovcloudapi.net", ("vault.usgovcloudapi.net", "managedhsm.usgovcloudapi.net")
    ),
}

_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_VERSION = re.compile(r"^[0-9A-Za-z]{1,64}$")
_VAULT_LABEL = re.compile(r"^[0-9a-z](?:[0-9a-z-]{0,22}[0-9a-z])?$")


class InvalidKeyId(ValueError):
    pass


@dataclass(frozen=True)
class KeyRef:
    """A key regardless of version: vault host and key name, both compared case-insensitively."""

    host: str
    name: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "host", self.host.lower())
        object.__setattr__(self, "name", self.name.lower())

    @property
    def vault_url(self) -> str:
        return f"https://{self.host}"

    @property
    def vault_name(self) -> str:
        return self.host.split(".", 1)[0]

    def uri(self, version: str | None = None) -> str:
        base = f"https://{self.host}/keys/{self.name}"
        return f"{base}/{version}" if version else base

    def __str__(self) -> str:
        return self.uri()


@dataclass(frozen=True)
class KeyId:
    key: KeyRef
    version: str | None  # None: versionless

    @property
    def pinned(self) -> bool:
        return self.version is not None

    def __str__(self) -> str:
        return self.key.uri(self.version)


def parse_key_id(raw: object, allowed_suffixes: tuple[str, ...]) -> KeyId:
    """Parse ``https://<vault>.<suffix>/keys/<name>[/<version>]``; reject anything else, hosts first."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidKeyId("a key id must be a non-empty string")
    if len(raw) > 512:
        raise InvalidKeyId("key id is too long")
    try:
        parts = urlsplit(raw.strip())
        port = parts.port  # urllib raises for a port that is not a number ("https://:$"), urlsplit for "https://["
    except ValueError:
        raise InvalidKeyId("key id must be a plain https://<vault host>/keys/<name> URL") from None
    if parts.scheme.lower() != "https":
        raise InvalidKeyId("key id must be an https URL")
    host = (parts.hostname or "").lower()
    if port not in (None, 443) or parts.username or parts.password or parts.query or parts.fragment:
        raise InvalidKeyId("key id must be a plain https://<vault host>/keys/<name> URL")
    if not any(host.endswith("." + suffix) for suffix in allowed_suffixes):
        raise InvalidKeyId(f"host {host!r} is not a Key Vault host of this cloud ({', '.join(allowed_suffixes)})")
    label = host.split(".", 1)[0]
    if not _VAULT_LABEL.match(label) or host.count(".") != allowed_suffix_dots(host, allowed_suffixes):
        raise InvalidKeyId(f"host {host!r} is not a valid vault host")
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) not in (2, 3) or segments[0].lower() != "keys":
        raise InvalidKeyId("key id path must be /keys/<name>[/<version>]")
    name = segments[1]
    version = segments[2] if len(segments) == 3 else None
    if not _NAME.match(name):
        raise InvalidKeyId(f"invalid key name {name!r}")
    if version is not None and not _VERSION.match(version):
        raise InvalidKeyId(f"invalid key version {version!r}")
    return KeyId(KeyRef(host, name), version.lower() if version else None)


def allowed_suffix_dots(host: str, allowed_suffixes: tuple[str, ...]) -> int:
    """Dots a valid host has: one label before its suffix (no nested sub-domains)."""
    for suffix in allowed_suffixes:
        if host.endswith("." + suffix):
            return suffix.count(".") + 1
    return -1
