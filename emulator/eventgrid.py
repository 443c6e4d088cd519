"""Event Grid: Key Vault system events, outbox and webhook delivery (stub: being built)."""
from __future__ import annotations

from emulator.world import World


def subscribe(world: World, url: str) -> None:
    raise NotImplementedError


def tick(world: World) -> list[dict]:
    raise NotImplementedError


def wait_idle(world: World, timeout: float = 10.0) -> bool:
    raise NotImplementedError


def close(world: World) -> None:
    return None
