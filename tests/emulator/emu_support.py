"""Helpers for handler-level stand-in tests: a vault in a World, callers with resolved tokens."""

from __future__ import annotations

import json
from typing import Any

from requests.structures import CaseInsensitiveDict

from emulator.world import Request, Response, Vault, World

SUB = "00000000-1111-2222-3333-444444444444"
RG = "rg-keys"


def add_vault(world: World, name: str, host: str | None = None, location: str = "westeurope") -> Vault:
    host = host or f"{name}.vault.azure.net"
    kind = "managedHSMs" if ".managedhsm." in host else "vaults"
    vault = Vault(f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.KeyVault/{kind}/{name}",
                  name, host.lower(), location, SUB,
                  arm={"properties": {"softDeleteRetentionInDays": 7}})
    world.vaults[vault.host] = vault
    return vault


class Caller:
    """Sends ``Request`` objects to a handler as the front end would, for one principal."""

    def __init__(self, world: World, handler: Any, principal_id: str | None, audience: str | None) -> None:
        self.world, self.handler = world, handler
        self.principal_id, self.audience = principal_id, audience

    def __call__(self, method: str, host: str, path: str, body: Any = None, query: dict[str, str] | None = None,
                 token: bool = True, headers: dict[str, str] | None = None) -> Response:
        hdrs: CaseInsensitiveDict[str] = CaseInsensitiveDict(headers or {})
        if token:
            hdrs["Authorization"] = "Bearer opaque-test-token"
        raw = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
        q = {"api-version": "2025-07-01", **(query or {})}
        req = Request(method, host, path, q, hdrs, raw,
                      principal_id=self.principal_id if token else None,
                      token_audience=self.audience if token else None)
        return self.handler(self.world, req)
