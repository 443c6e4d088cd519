"""``python -m shared status|rotate --remote`` against the app over HTTP. The operator's credential is the stand-in
tenant's (what DefaultAzureCredential would be after ``az login``), given where the composition root builds it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

import function_app
from emulator import entra, seed
from emulator.http_host import HttpHost
from shared import composition, remote
from shared.__main__ import main
from shared.adapters.remote import RemoteError, base_url

pytestmark = [pytest.mark.standin, pytest.mark.usefixtures("function_app_engine")]


@pytest.fixture
def tenant(az, app_env, monkeypatch) -> entra.EntraTenant:
    found = entra.tenant(az.world)
    for name, value in found.settings().items():
        monkeypatch.setenv(name, value)
    return found


@pytest.fixture
def app_url(tenant) -> Iterator[str]:
    with HttpHost(function_app.app) as host:
        yield host.url


@pytest.fixture
def cli(capsys, monkeypatch):
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING")  # a remote run exports nothing of its own here

    def run(credential, *argv: str) -> tuple[int, str, str]:
        monkeypatch.setattr(composition, "operator_credential", lambda env=None: credential)
        code = main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_status_with_a_reader_token_prints_the_registries(az, estate, tenant, app_url, cli) -> None:
    credential = tenant.credential(["Rotation.Read"])
    code, out, err = cli(credential, "status", "--remote", app_url)
    assert code == 0 and "acrpinned" in out, out + err
    assert credential.scopes == [f"{tenant.app_id_uri}/.default"]


def test_rotate_with_an_operator_token_rotates(az, estate, tenant, app_url, cli) -> None:
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    code, out, _ = cli(tenant.credential(["Rotation.Operate"], name="ana@contoso.example"), "rotate",
                       "--remote", app_url, "--registry", estate.registries["acrpinned"], "--json")
    assert code == 0
    assert [(o["result"], o["toVersion"]) for o in json.loads(out)["outcomes"]] == [
        ("rotated", new.properties.version)]


def test_a_refusal_prints_the_role_needed_and_exits_2(az, estate, tenant, app_url, cli) -> None:
    code, out, _ = cli(tenant.credential(["Rotation.Read"]), "rotate", "--remote", app_url)
    assert code == 3 and json.loads(out)["error"]["requiredRole"] == "Rotation.Operate"


def test_a_remote_run_prints_who_asked(az, estate, tenant, app_url, cli) -> None:
    code, out, _ = cli(tenant.credential(["Rotation.Read"], name="auditor@contoso.example"), "rotate", "--remote",
                       app_url, "--dry-run")
    assert code == 0 and "requested by auditor@contoso.example (Rotation.Read)" in out


def test_audience_needs_remote(az, estate, tenant, cli) -> None:
    """(A reason is fine locally too: a local run is attributed to the CLI's own identity and records it.)"""
    with pytest.raises(SystemExit, match="--remote"):
        cli(None, "rotate", "--audience", "api://x")


def test_break_glass_sends_the_reason(az, estate, tenant, app_url, cli) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)
    pinned = estate.registries["acrpinned"]
    cli(tenant.credential(["Rotation.Operate"]), "rotate", "--remote", app_url, "--registry", pinned)
    code, out, _ = cli(tenant.credential(["Rotation.BreakGlass"]), "rotate", "--remote", app_url,
                       "--registry", pinned, "--to-version", estate.first_version, "--allow-downgrade",
                       "--reason", "INC-7: rollback", "--json")
    assert code == 0 and json.loads(out)["outcomes"][0]["reason"] == "DOWNGRADE_FORCED"


def test_missing_consent_says_what_to_grant(az, estate, tenant, app_url, cli) -> None:
    code, out, _ = cli(tenant.credential(["Rotation.Read"], consented=False), "status", "--remote", app_url)
    err = json.loads(out)["error"]["message"]
    assert code == 3
    assert "AADSTS65001" in err and "04b07795-8ddb-461a-bbee-02f9e1bf7b46" in err and "user_impersonation" in err
    assert f"az login --scope {tenant.app_id_uri}/.default" in err


def test_a_token_for_the_wrong_audience_is_a_401_with_the_challenge(az, estate, tenant, app_url, cli) -> None:
    code, out, _ = cli(tenant.credential(["Rotation.Read"]), "status", "--remote", app_url,
                       "--audience", "https://management.azure.com")
    answer = json.loads(out)
    assert code == 3 and answer["error"]["message"] == "token is for another audience"
    assert answer["error"]["challenge"].startswith("Bearer ")


def test_the_audience_comes_from_the_settings_when_not_given(monkeypatch) -> None:
    assert remote.audience(None, {"ROTATION_AUTH_CLIENT_ID": "abc"}) == "api://abc"
    assert remote.audience(None, {"ROTATION_AUTH_APP_ID_URI": "api://x", "ROTATION_AUTH_CLIENT_ID": "abc"}) == "api://x"
    with pytest.raises(RemoteError, match="--audience"):
        remote.audience(None, {})


@pytest.mark.parametrize("url", ["http://rotation.azurewebsites.net", "ftp://x", "https://x/?code=1",
                                 "https://user@x", "rotation"])
def test_the_remote_url_must_be_an_https_base_url(url) -> None:
    with pytest.raises(RemoteError):
        base_url(url)


def test_loopback_may_be_plain_http() -> None:
    assert base_url("http://127.0.0.1:7071/") == "http://127.0.0.1:7071"
    assert base_url("https://rotation.azurewebsites.net") == "https://rotation.azurewebsites.net"
