"""Fakes for the auth tests: the stand-in's Entra tenant behind the app's ``SigningKeys`` port."""

from __future__ import annotations

from typing import Any

from emulator.entra import EntraTenant
from shared.auth import EntraConfig, SigningKeysUnavailable, UnknownSigningKey

TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT_ID = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"


class TenantKeys:
    """The tenant's published public keys, as the JWKS adapter would return them."""

    def __init__(self, tenant: EntraTenant, reachable: bool = True) -> None:
        self.tenant = tenant
        self.reachable = reachable
        self.asked: list[str] = []

    def key_for(self, kid: str) -> Any:
        self.asked.append(kid)
        if not self.reachable:
            raise SigningKeysUnavailable("login.microsoftonline.com unreachable")
        for key in self.tenant.keys:
            if key.kid == kid:
                return key.private.public_key()
        raise UnknownSigningKey(kid)


def config_for(tenant: EntraTenant) -> EntraConfig:
    return EntraConfig(tenant.tenant_id, tenant.client_id, tenant.app_id_uri)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
