"""Run a ``bench.child`` task in a fresh interpreter, against a stand-in, with given app settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from emulator.standin import AzureStandIn

ROOT = Path(__file__).resolve().parent.parent
POLL_S = 1.0  # the polling interval of ours and of the naive loop: the stand-in's LROs take 1 s
LATENCY_MS = 20
LRO_S = 1.0
# Settings every benchmark runs the engine with (the rest are production defaults).
BENCH_SETTINGS = {"ROTATION_POLL_INTERVAL_SECONDS": str(POLL_S)}
# Variables of the parent that could steer azure-identity away from the stand-in's identity endpoint.
CLEARED = ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_USERNAME", "AZURE_PASSWORD",
           "AZURE_FEDERATED_TOKEN_FILE", "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT")


def standin(**kwargs: Any) -> AzureStandIn:
    options: dict[str, Any] = {"lro_seconds": LRO_S, "latency_ms": LATENCY_MS, "throttling": True}
    options.update(kwargs)
    return AzureStandIn(**options).start()


def child_env(az: AzureStandIn | None, settings: Mapping[str, str] | None = None,
              environment: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED and not k.startswith("ROTATION_")}
    if az is not None:
        env.update(az.env)
        env.pop("APPLICATIONINSIGHTS_CONNECTION_STRING", None)  # outcomes go to logs only: no exporter in timing
    env.update(BENCH_SETTINGS)
    env.update(settings or {})
    env["PYTHONPATH"] = str(ROOT)
    for name, value in (environment or {}).items():
        if value:
            env[name] = value
        else:
            env.pop(name, None)
    return env


def run_child(task: str, args: Mapping[str, Any], az: AzureStandIn | None = None,
              settings: Mapping[str, str] | None = None, timeout: float = 240,
              environment: Mapping[str, str] | None = None) -> Any:
    done = subprocess.run([sys.executable, "-m", "bench.child", task], input=json.dumps(args), text=True,
                          capture_output=True, cwd=ROOT, env=child_env(az, settings, environment), timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"bench.child {task} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
