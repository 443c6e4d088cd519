"""With no credential at all (a scrubbed machine: no az/azd login in HOME or on PATH, no App Service identity,
azure-identity's IMDS probe answered by the stand-in), ``doctor``, ``status`` and ``sweep`` each say so in their own
words and exit 3, and the app sends nothing to ARM or Key Vault."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from emulator import AzureStandIn
from emulator.scenario import Estate

pytestmark = pytest.mark.standin
ROOT = Path(__file__).resolve().parents[2]
NOT_AUTHENTICATED = 3


def azure_requests(az: AzureStandIn, since: int) -> list[str]:
    """Requests that reached ARM or Key Vault after ``since`` (the IMDS probe and telemetry are neither)."""
    return [f"{r['method']} {r['host']}{r['path']}" for r in az.requests[since:]
            if r["host"].startswith("management.") or ".vault." in r["host"]]


def run_cli(az: AzureStandIn, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = az.env_without_credential(home=home)
    assert "IDENTITY_ENDPOINT" not in env and env["HOME"] == str(home)
    return subprocess.run([sys.executable, "-m", "shared", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_doctor_says_no_credential_and_exits_3_sending_nothing(az: AzureStandIn, estate: Estate,
                                                               tmp_path: Path) -> None:
    seeded = len(az.requests)
    run = run_cli(az, tmp_path, "doctor")
    assert run.returncode == NOT_AUTHENTICATED, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[1].startswith("PASS  settings")
    assert lines[2].startswith("FAIL  credential: ") and "[NO_CREDENTIAL]" in lines[2]
    assert "az login" in run.stdout and "Traceback" not in run.stderr
    assert "subscriptions listable" not in run.stdout, "doctor stops at the credential: nothing else can be judged"
    assert azure_requests(az, seeded) == []


@pytest.mark.parametrize("command", ["status", "sweep"])
def test_status_and_sweep_say_so_and_exit_3_sending_nothing(az: AzureStandIn, estate: Estate, tmp_path: Path,
                                                            command: str) -> None:
    seeded = len(az.requests)
    run = run_cli(az, tmp_path, command)
    assert run.returncode == NOT_AUTHENTICATED, run.stdout + run.stderr
    said = " ".join(run.stderr.split())
    assert "Could not authenticate to Azure. " in said and "`az login`" in said and "Traceback" not in said
    assert azure_requests(az, seeded) == []
    assert any(r["path"] == "/metadata/identity/oauth2/token" for r in az.requests[seeded:]), "IMDS was probed"
