"""Key Vault keys data plane (stub: being built)."""
from __future__ import annotations

from emulator.world import Request, Response, World


def handle(world: World, req: Request) -> Response:
    raise NotImplementedError
