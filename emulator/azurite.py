"""Azurite, Microsoft's Storage emulator, for the rotation queue and the instances' shared ARM budget: its queue
and blob services on free loopback ports, in a scratch folder, telemetry off. Installed by ``make`` (npm, pinned) into
``.tools``; ``AZURITE`` may name the azurite-queue binary (its azurite-blob sibling is used too)."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[1]
# Azurite's published development account (not a secret: it is the same for everyone).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
START_TIMEOUT_S = 20


def queue_binary() -> Path:
    return ROOT / os.environ.get("AZURITE", ".tools/node_modules/.bin/azurite-queue")


def installed() -> bool:
    return queue_binary().exists() and queue_binary().with_name("azurite-blob").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Azurite did not start on port {port}") from None
            time.sleep(0.1)


class Azurite:
    """``with Azurite() as connection_string: ...``: queue and blob endpoints of the development account."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.connection_string = ""

    def start(self) -> str:
        self._dir = tempfile.TemporaryDirectory(prefix="azurite-")
        ports = {}
        for service in ("queue", "blob"):
            port = ports[service] = _free_port()
            binary = queue_binary().with_name(f"azurite-{service}")
            self._procs.append(subprocess.Popen(
                [str(binary), f"--{service}Host", "127.0.0.1", f"--{service}Port", str(port),
                 "--location", self._dir.name, "--silent", "--skipApiVersionCheck", "--disableTelemetry"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            _wait_listening(self._procs[-1], port)
        self.connection_string = (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"QueueEndpoint=http://127.0.0.1:{ports['queue']}/{ACCOUNT};"
            f"BlobEndpoint=http://127.0.0.1:{ports['blob']}/{ACCOUNT};")
        return self.connection_string

    def cpu_seconds(self) -> float:
        """CPU time Azurite's processes have used so far (Linux: /proc/<pid>/stat, utime + stime)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for proc in self._procs:
            try:
                fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks
        return total

    def stop(self) -> None:
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._procs.clear()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> str:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
