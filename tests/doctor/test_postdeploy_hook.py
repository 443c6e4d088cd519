"""The postdeploy hook prints doctor's report from the deployed app, and when it cannot call it, says so and prints
the equivalent local command, without failing `azd up`. Fake `az`/`curl`/`azd` on PATH stand in for the tools."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from shared.__main__ import print_doctor
from shared.doctor import Check, DoctorReport, Status
from shared.reasons import Problem

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "infra" / "hooks" / "postdeploy.sh"
REPORT = DoctorReport("the deployed app func-cmk (its own network: its VNet when integrated)", (
    Check("settings", Status.PASS, "every ROTATION_* setting is valid"),
    Check("vault kv: Event Grid delivers key events to on_key_event", Status.FAIL, "no system topic",
          Problem.EVENT_SUBSCRIPTION_MISSING, "run the postdeploy hook again (`azd hooks run postdeploy`)"),
))
ENV = {"AZURE_FUNCTION_APP_NAME": "func-cmk", "AZURE_RESOURCE_GROUP": "rg-cmk", "EVENTGRID_SYSTEM_TOPIC_IDS": "",
       "LANG": "C.UTF-8"}

pytestmark = pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX shell")


def tool(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def run_hook(bin_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    python_dir = Path(sys.executable).parent
    tool(bin_dir, "python3", f'exec "{sys.executable}" "$@"\n')
    for name in ("mktemp", "rm", "cat", "dirname", "chmod"):
        found = shutil.which(name)
        assert found, name
        tool(bin_dir, name, f'exec "{found}" "$@"\n')
    return subprocess.run(["/bin/sh", str(HOOK)], env={**ENV, **(env or {}), "PATH": str(bin_dir)},
                          capture_output=True, text=True, timeout=60, cwd=python_dir)


@pytest.mark.parametrize(("env", "credential"), [
    ({"ROTATION_HTTP_AUTH": "functionkey"}, "x-functions-key: the-key"),
    ({"ROTATION_AUTH_CLIENT_ID": "0f4f4a8e-1c55-4b6a-9a0e-4d5c6b7a8e9f"}, "Authorization: Bearer the-token"),
])
def test_the_hook_prints_the_apps_report_as_the_cli_would(tmp_path: Path, env: dict, credential: str) -> None:
    answer = tmp_path / "answer.json"
    answer.write_text(json.dumps(REPORT.to_dict()))
    tool(tmp_path, "az", 'case "$*" in *"functionapp show"*) echo func-cmk.azurewebsites.net;; '
                         '*"keys list"*) echo the-key;; '
                         '*"get-access-token --resource api://0f4f4a8e-1c55-4b6a-9a0e-4d5c6b7a8e9f"*) echo the-token;; '
                         'esac\n')
    # The credential arrives in a header file (curl's --header @file), never on curl's command line.
    tool(tmp_path, "curl", 'while [ $# -gt 0 ]; do case "$1" in --output) out="$2"; shift;; '
                           '--header) hdr="$2"; shift;; esac; shift; done\n'
                           'case "$hdr" in @*) hdr=$(cat "${hdr#@}");; *) printf 400; exit 0;; esac\n'
                           f'[ "$hdr" = "{credential}" ] || {{ printf 401; exit 0; }}\n'
                           f'cp "{answer}" "$out"; printf 200\n')
    tool(tmp_path, "cp", f'exec "{shutil.which("cp")}" "$@"\n')
    run = run_hook(tmp_path, env)
    assert run.returncode == 0, run.stderr
    printed = io.StringIO()
    with redirect_stdout(printed):
        print_doctor(REPORT)
    assert "postdeploy: doctor, run by the deployed app (GET /api/doctor):" in run.stdout
    assert printed.getvalue().strip() in run.stdout, "the hook prints what `python -m shared doctor` prints"


def test_without_the_azure_cli_it_says_so_and_prints_the_local_command(tmp_path: Path) -> None:
    run = run_hook(tmp_path)
    assert run.returncode == 0, run.stderr
    assert "cannot call GET /api/doctor yet" in run.stdout
    assert "python -m shared doctor --app func-cmk" in run.stdout


def test_when_the_app_does_not_answer_yet_it_does_not_fail_azd_up(tmp_path: Path) -> None:
    tool(tmp_path, "az", 'case "$*" in *"functionapp show"*) echo h;; *"keys list"*) echo k;; esac\n')
    tool(tmp_path, "curl", "printf 503\n")
    run = run_hook(tmp_path, {"ROTATION_HTTP_AUTH": "functionkey"})
    assert run.returncode == 0, run.stderr
    assert "cannot call GET /api/doctor yet (HTTP 503" in run.stdout
    assert "python -m shared doctor --app func-cmk" in run.stdout
