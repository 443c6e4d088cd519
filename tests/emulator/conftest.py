"""Fixtures for handler-level stand-in tests: a World with one vault and an admin caller."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emu_support import SUB, Caller, add_vault

from emulator import eventgrid, keyvault
from emulator.world import Settings, Vault, World


@pytest.fixture
def world() -> Iterator[World]:
    w = World(Settings())
    w.subscriptions[SUB] = "test"
    yield w
    eventgrid.close(w)


@pytest.fixture
def vault(world: World) -> Vault:
    return add_vault(world, "kv-test")


@pytest.fixture
def admin(world: World) -> str:
    p = world.add_principal("admin")
    world.grant(p.principal_id, "Key Vault Administrator", f"/subscriptions/{SUB}")
    return p.principal_id


@pytest.fixture
def kv(world: World, admin: str) -> Caller:
    return Caller(world, keyvault.handle, admin, "https://vault.azure.net")
