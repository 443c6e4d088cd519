"""No credential, an identity not on the app, and what tokens carry: the stand-in through azure-identity unchanged.

Expected exceptions and messages come from tests/fixtures/misconfig/pinned-wire-facts.json (the reference's
generated/ runs of the same SDK versions), never from the stand-in's own code.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError, DefaultAzureCredential, ManagedIdentityCredential
from misconfig_support import FACTS

from emulator import AzureStandIn

pytestmark = pytest.mark.standin
ARM = "https://management.azure.com/.default"
MI = FACTS["managed_identity"]


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _mi_line(message: str) -> str:
    return next(line.strip() for line in message.splitlines() if line.strip().startswith("ManagedIdentityCredential"))


def test_tokens_carry_tenant_and_object_id_and_the_tenant_can_be_another(az: AzureStandIn) -> None:
    claims = claims_of(DefaultAzureCredential().get_token(ARM).token)
    assert (claims["tid"], claims["oid"], claims["appid"]) == (az.world.tenant_id, az.principal_id, az.client_id)
    assert claims["iss"] == f"https://sts.windows.net/{az.world.tenant_id}/"
    other = az.misconfig.token_tenant()
    claims = claims_of(ManagedIdentityCredential().get_token("https://vault.azure.net/.default").token)
    assert (claims["tid"], claims["iss"]) == (other, f"https://sts.windows.net/{other}/")
    assert other != az.world.tenant_id


def test_client_id_not_attached_fails_as_app_service_does(az: AzureStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CredentialUnavailableError) as err:
        ManagedIdentityCredential(client_id="a81093e4-baeb-424d-b3ee-62dd7fcf5028").get_token(ARM)
    assert type(err.value).__module__ + "." + type(err.value).__qualname__ == MI["mic_unable_to_load"]["class"]
    assert str(err.value.message) == MI["mic_unable_to_load"]["message"]
    monkeypatch.setenv("AZURE_CLIENT_ID", "a81093e4-baeb-424d-b3ee-62dd7fcf5028")
    with pytest.raises(ClientAuthenticationError) as dac:
        DefaultAzureCredential().get_token(ARM)
    expected = MI["dac_unable_to_load_with_client_id"]
    assert not isinstance(dac.value, CredentialUnavailableError) and "ClientAuthenticationError" in expected["class"]
    assert _mi_line(str(dac.value.message)) == _mi_line(expected["message"])
    asked = [r for r in az.requests if r["path"] == "/msi/token"]
    assert asked[-1]["query"]["client_id"] == "a81093e4-baeb-424d-b3ee-62dd7fcf5028"
    assert not [r for r in az.requests if r["host"] != "127.0.0.1"]  # no token, so no ARM call either


def test_no_identity_on_the_app_and_user_assigned_only(az: AzureStandIn) -> None:
    az.misconfig.user_assigned_only()
    with pytest.raises(CredentialUnavailableError) as err:
        ManagedIdentityCredential().get_token(ARM)  # names no identity
    assert str(err.value.message) == MI["mic_unable_to_load"]["message"]
    assert ManagedIdentityCredential(client_id=az.client_id).get_token(ARM).token  # naming it works
    az.misconfig.no_managed_identity()
    with pytest.raises(CredentialUnavailableError) as err:
        ManagedIdentityCredential(client_id=az.client_id).get_token("https://vault.azure.net/.default")
    assert str(err.value.message) == MI["mic_unable_to_load"]["message"]
    body = next(r for r in reversed(az.requests) if r["path"] == "/msi/token")
    assert body["status"] == 400


_NO_CREDENTIAL = r'''
import json, sys
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import DefaultAzureCredential
from azure.mgmt.resource.subscriptions import SubscriptionClient
out = {}
for name, call in (("arm", lambda: list(SubscriptionClient(DefaultAzureCredential()).subscriptions.list())),):
    try:
        call()
        out[name] = None
    except ClientAuthenticationError as e:
        out[name] = {"class": type(e).__module__ + "." + type(e).__qualname__, "status": e.status_code,
                     "message": e.message}
print(json.dumps(out))
'''


@pytest.mark.parametrize("imds", ["no_identity", "absent"])
def test_no_credential_at_all_sends_nothing_to_arm_or_key_vault(az: AzureStandIn, tmp_path: Path,
                                                                imds: str) -> None:
    """The Done-when of issue 12: a scrubbed machine, IMDS on the stand-in; DefaultAzureCredential fails before
    any ARM request (the stand-in's request log holds only the IMDS probes). A KeyClient would still send its
    first, unauthenticated request to the vault (the challenge comes before any token is asked for)."""
    az.misconfig.imds(imds)
    env = az.env_without_credential(home=tmp_path)
    assert "IDENTITY_ENDPOINT" not in env and env["AZURE_POD_IDENTITY_AUTHORITY_HOST"].startswith("http://127.0.0.1:")
    assert env["HOME"] == str(tmp_path) and "AZURE_CLIENT_ID" not in env
    run = subprocess.run([sys.executable, "-c", _NO_CREDENTIAL], env=env, capture_output=True, text=True,
                         timeout=90, check=True)
    out = json.loads(run.stdout.strip().splitlines()[-1])
    pinned = FACTS["no_credential"]
    for plane in ("arm",):
        assert out[plane]["class"] == pinned["exception_class"] and out[plane]["status"] is pinned["status_code"]
        first, *_ = out[plane]["message"].splitlines()
        assert first == pinned["message"].splitlines()[0]
        mi_line = _mi_line(out[plane]["message"])
        # azure-identity's own words for each (imds.py / msal): a 400 names IMDS's error, a drop says no response.
        assert mi_line.startswith("ManagedIdentityCredential: ManagedIdentityCredential authentication unavailable")
        assert ("Identity not found" in mi_line) is (imds == "no_identity")
    assert az.requests, "the IMDS probe reached the stand-in"
    assert {(r["host"], r["path"]) for r in az.requests} == {("127.0.0.1", "/metadata/identity/oauth2/token")}


def test_imds_with_an_identity_gives_tokens(az: AzureStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    az.misconfig.imds("assigned")
    for name, value in az.env_without_credential().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("IDENTITY_ENDPOINT")
    monkeypatch.delenv("IDENTITY_HEADER")
    token = ManagedIdentityCredential().get_token(ARM)
    assert claims_of(token.token)["oid"] == az.principal_id
