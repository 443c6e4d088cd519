"""Real processes for the crash and scale-out tests: started with the app's environment, killed with SIGKILL."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from emulator.world import Request

ROOT = Path(__file__).resolve().parents[2]


def environment(app_env: Mapping[str, str], **extra: str) -> dict[str, str]:
    env = {**app_env, **extra, "PYTHONPATH": str(ROOT)}
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def start(args: list[str], env: Mapping[str, str], stdin: str | None = None) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=dict(env), text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    if stdin is not None:
        proc.stdin.write(stdin)
    proc.stdin.close()
    proc.stdin = None  # communicate() must not flush it again
    return proc


def kill(proc: subprocess.Popen[str]) -> str:
    """SIGKILL, as the platform kills a recycled or timed-out instance; returns what it printed."""
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return out


def finish(proc: subprocess.Popen[str], timeout: float = 90) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode in (0, 1), f"exit {proc.returncode}:\n{err[-3000:]}"
    return out


def json_lines(text: str) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


def is_registry(registry_id: str) -> Callable[[Request], bool]:
    """The registry's own path (a GET of it, its PATCH), not its listing or its operation status."""
    return lambda req: req.path.lower().rstrip("/") == registry_id.lower()


def envelopes(req: Request) -> list[dict[str, Any]]:
    """The Application Insights envelopes in an ingestion POST (gzip'd JSON lines or a JSON array)."""
    raw = req.body
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    text = raw.decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
        return parsed if isinstance(parsed, list) else [parsed]
    except ValueError:
        return json_lines(text)


def rotation_events(items: list[dict[str, Any]], to_version: str, result: str = "rotated") -> list[dict[str, Any]]:
    """RegistryKeyRotation events of one result to one version."""
    found = []
    for envelope in items:
        data = envelope.get("data", {}).get("baseData", {})
        props = data.get("properties", {})
        if (data.get("name") == "RegistryKeyRotation" and props.get("result") == result
                and props.get("toVersion") == to_version):
            found.append(envelope)
    return found
