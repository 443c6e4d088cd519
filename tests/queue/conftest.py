"""Azurite's queue and blob services on free ports, for the rotation-queue tests (installed by ``make test``)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from emulator.azurite import Azurite, installed, queue_binary


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """A connection string (queue and blob endpoints) for a running Azurite; stopped after the session."""
    if not installed():
        # `make test` names the binary it installed: then a missing one is a failure, not a skip.
        assert "AZURITE" not in os.environ, f"AZURITE={queue_binary()} (or its azurite-blob) does not exist"
        pytest.skip("Azurite is not installed: `make test` installs it (npm install --prefix .tools azurite)")
    with Azurite() as connection_string:
        yield connection_string
