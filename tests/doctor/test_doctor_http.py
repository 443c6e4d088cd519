"""GET /api/doctor: the same report, from function_app's thin route, authenticated like GET /api/status."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import azure.functions as func
import pytest

import function_app
from emulator import AzureStandIn, entra
from emulator.functions_host import user_functions
from tests.doctor.conftest import APP, Deployment

ROOT = Path(__file__).resolve().parents[2]


def route_options(name: str) -> dict[str, str]:
    """The keyword arguments of ``@app.route`` on the function ``name``, as written in function_app.py."""
    tree = ast.parse((ROOT / "function_app.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", "") == "route":
                    return {k.arg or "": ast.unparse(k.value) for k in decorator.keywords}
    raise AssertionError(f"no route {name}")


def test_doctor_is_authenticated_like_status() -> None:
    doctor, status = route_options("doctor"), route_options("status")
    assert doctor["auth_level"] == status["auth_level"] == "OPERATOR_AUTH"  # shared.auth decides who (issue 15)
    assert (doctor["route"], doctor["methods"]) == ("'doctor'", "['GET']")


@pytest.mark.standin
def test_get_doctor_answers_the_report_as_the_apps_own_identity(az: AzureStandIn, deployment: Deployment,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBSITE_SITE_NAME", APP)  # what the Functions host sets in Azure
    monkeypatch.setenv("FUNCTIONS_WORKER_RUNTIME", "python")
    tenant = entra.tenant(az.world)  # entra mode: a Rotation.Read token from the stand-in's tenant
    for name, value in tenant.settings().items():
        monkeypatch.setenv(name, value)
    token = tenant.mint(["Rotation.Read"], name="auditor@contoso.example")
    response = user_functions(function_app.app)["doctor"](func.HttpRequest(
        "GET", "/api/doctor", body=b"", headers={"Authorization": f"Bearer {token}"}))
    assert (response.status_code, response.mimetype) == (200, "application/json")
    body = json.loads(response.get_body())
    assert body["ranFrom"].startswith(f"the deployed app {APP}")
    assert body["counts"] == {"PASS": len(body["checks"]), "WARN": 0, "FAIL": 0}
    assert az.principal_id in body["checks"][1]["detail"]
    refused = user_functions(function_app.app)["doctor"](func.HttpRequest("GET", "/api/doctor", body=b""))
    assert refused.status_code == 401  # no token: no report
