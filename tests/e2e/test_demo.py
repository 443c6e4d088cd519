"""``make demo`` tells its story on a fresh machine: no Azure, no network."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.standin
ROOT = Path(__file__).parents[2]


def test_demo_moves_the_pinned_registry_and_alerts() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "HTTPS_PROXY", "https_proxy"))}
    run = subprocess.run([sys.executable, "-m", "emulator.demo"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "delivered it to on_key_event: succeeded" in out
    assert "acrpinned       rotated   NEWER_VERSION_AVAILABLE" in out
    assert "acroptedout     skipped   OPTED_OUT" in out
    assert "registry updates sent by the redelivery: 0" in out
    assert "ALERT warning" in out and "used by acrpinned, acrversionless" in out
    assert "custom events: KeyExpiryAlert" in out and "RegistryKeyRotation" in out and "RotationRun" in out
    assert "Azure SDK HTTP calls" in out and "cmk_rotations" in out
    assert "as auditor@contoso.example: HTTP 403 break-glass needs the app role Rotation.BreakGlass" in out
    assert "with a token signed by another key: HTTP 401 signature does not verify" in out
    assert "as oncall@contoso.example (Rotation.BreakGlass): HTTP 200 acrpinned rotated DOWNGRADE_FORCED" in out
    assert ("RegistryKeyRotation event: DOWNGRADE_FORCED requestedBy=oncall@contoso.example role=Rotation.BreakGlass "
            'requestReason="INC-4711: pulls fail since the new key version"') in out
    assert "retire --plan" in out and "[ ] NOT_IN_USE: shown by acroptedout" in out and "0 to retire" in out
    assert "Unexpected egress: none." in out
    assert "Traceback" not in run.stderr
