"""README's "Run locally": `make serve` (python -m emulator serve --seed), export what it prints, use the CLI."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_works_against_a_seeded_stand_in_started_from_the_command_line() -> None:
    server = subprocess.Popen([sys.executable, "-m", "emulator", "serve", "--seed"], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        env = dict(os.environ)
        registries: dict[str, str] = {}
        assert server.stdout is not None
        for line in server.stdout:  # a stand-in that never finishes seeding is ended by pytest-timeout
            if line.startswith("export "):
                name, _, value = line[len("export "):].strip().partition("=")
                env[name] = shlex.split(value)[0]
            elif line.startswith("# registry "):
                short, _, registry_id = line[len("# registry "):].strip().partition(": ")
                registries[short] = registry_id
            elif line.startswith("# seeded"):
                break
        assert set(registries) == {"acrpinned", "acrversionless", "acroptedout"}

        status = subprocess.run([sys.executable, "-m", "shared", "status"], cwd=ROOT, env=env, text=True,
                                capture_output=True, timeout=60)
        assert status.returncode == 0, status.stderr
        assert all(short in status.stdout for short in registries)

        rotate = subprocess.run([sys.executable, "-m", "shared", "rotate", "--registry", registries["acrpinned"],
                                 "--dry-run"], cwd=ROOT, env=env, text=True, capture_output=True, timeout=60)
        assert rotate.returncode == 0, rotate.stderr
        assert "acrpinned" in rotate.stdout and "ALREADY_CURRENT" in rotate.stdout
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
