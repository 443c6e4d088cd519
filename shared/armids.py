"""ARM resource ids of registries. ARM ids compare case-insensitively (ACR returns `resourcegroups`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_REGISTRY_ID = re.compile(
    r"^/subscriptions/(?P<sub>[0-9a-fA-F-]{36})/resourceGroups/(?P<rg>[-\w._()]{1,90})"
    r"/providers/Microsoft\.ContainerRegistry/registries/(?P<name>[A-Za-z0-9]{5,50})$",
    re.IGNORECASE,
)


class InvalidResourceId(ValueError):
    pass


@dataclass(frozen=True)
class RegistryRef:
    subscription_id: str
    resource_group: str
    name: str

    @property
    def id(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.ContainerRegistry/registries/{self.name}")


def parse_registry_id(raw: object) -> RegistryRef:
    if not isinstance(raw, str) or len(raw) > 400:
        raise InvalidResourceId("a registry id must be a string of at most 400 characters")
    match = _REGISTRY_ID.match(raw.strip())
    if match is None:
        raise InvalidResourceId(
            "expected /subscriptions/<guid>/resourceGroups/<group>/providers/"
            "Microsoft.ContainerRegistry/registries/<name>"
        )
    return RegistryRef(match["sub"].lower(), match["rg"], match["name"])
