"""Azurite's queue service on a free port, for the rotation-queue tests (installed by ``make test``)."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# `make test` names the binary it installed: then a missing one is a failure, not a skip.
AZURITE = ROOT / os.environ.get("AZURITE", ".tools/node_modules/.bin/azurite-queue")
# Azurite's published development account (not a secret: it is the same for everyone).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """A connection string for a running Azurite queue service; stopped after the session."""
    if not AZURITE.exists():
        assert "AZURITE" not in os.environ, f"AZURITE={AZURITE} does not exist: run `make test`"
        pytest.skip("Azurite is not installed: `make test` installs it (npm install --prefix .tools azurite)")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="azurite-") as location:
        proc = subprocess.Popen([str(AZURITE), "--queueHost", "127.0.0.1", "--queuePort", str(port),
                                 "--location", location, "--silent", "--skipApiVersionCheck"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("Azurite did not start") from None
                    time.sleep(0.1)
            yield (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
                   f"QueueEndpoint=http://127.0.0.1:{port}/{ACCOUNT};")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
