"""The proxy front door and the managed-identity endpoint, exercised through the official SDKs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from azure.keyvault.keys import KeyClient
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.resource.subscriptions import SubscriptionClient
from standin_seed import Seed

from emulator import AzureStandIn

pytestmark = pytest.mark.standin
ARM = "https://management.azure.com/.default"


def test_env_points_clients_at_the_standin(az: AzureStandIn) -> None:
    env = az.env
    assert env["HTTPS_PROXY"] == env["https_proxy"] == f"http://127.0.0.1:{az.port}"
    assert env["NO_PROXY"] == "127.0.0.1,localhost"
    assert Path(env["REQUESTS_CA_BUNDLE"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert env["SSL_CERT_FILE"] == env["REQUESTS_CA_BUNDLE"]
    assert env["IDENTITY_ENDPOINT"].startswith(f"http://127.0.0.1:{az.port}/")
    assert env["AZURE_SUBSCRIPTION_ID"] == az.subscription_ids[0]
    assert len(az.subscription_ids) >= 2
    assert "IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/" in (
        env["APPLICATIONINSIGHTS_CONNECTION_STRING"])
    for name in ("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "APPLICATIONINSIGHTS_SDKSTATS_DISABLED",
                 "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED"):
        assert env[name] == "true"


def test_default_azure_credential_works_unchanged(az: AzureStandIn) -> None:
    cred = DefaultAzureCredential()
    token = cred.get_token(ARM)
    assert az.world.tokens[token.token] == (az.principal_id, "https://management.azure.com")
    subs = [s.subscription_id for s in SubscriptionClient(cred).subscriptions.list()]
    assert sorted(subs) == sorted(az.subscription_ids)
    # What azure-identity sent to the App Service endpoint, and that no token reached the log.
    msi = [r for r in az.requests if r["host"] == "127.0.0.1"]
    assert msi and msi[0]["query"]["api-version"] == "2019-08-01"
    assert msi[0]["query"]["resource"] == "https://management.azure.com"
    assert token.token not in repr(az.requests)
    assert all(r["principal"] == az.principal_id for r in az.requests if r["host"] == "management.azure.com")


def test_managed_identity_with_own_client_id_and_wrong_client_id(az: AzureStandIn) -> None:
    assert ManagedIdentityCredential(client_id=az.client_id).get_token(ARM).token
    with pytest.raises(ClientAuthenticationError):
        ManagedIdentityCredential(client_id="00000000-0000-0000-0000-000000000001").get_token(ARM)


def test_identity_endpoint_refuses_a_wrong_secret(az: AzureStandIn) -> None:
    # Hand-made HTTP only to prove a refusal.
    url = az.env["IDENTITY_ENDPOINT"]
    params = {"api-version": "2019-08-01", "resource": "https://management.azure.com"}
    bad = requests.get(url, params=params, headers={"X-IDENTITY-HEADER": "wrong"}, timeout=5)
    assert bad.status_code == 401
    good = requests.get(url, params=params, headers={"X-IDENTITY-HEADER": az.env["IDENTITY_HEADER"]}, timeout=5)
    assert good.status_code == 200 and set(good.json()) >= {"access_token", "expires_on", "resource", "token_type"}


def test_admin_credential_is_a_token_credential(az: AzureStandIn) -> None:
    info = az.admin_credential.get_token_info(ARM)
    assert az.world.tokens[info.token][0] == az.admin_principal_id
    assert az.admin_credential.get_token(ARM).expires_on > time.time()
    assert info.token not in repr(az.admin_credential)


def test_unserved_host_is_refused_and_recorded_as_egress(az: AzureStandIn) -> None:
    with pytest.raises(requests.exceptions.ProxyError):
        requests.get("https://example.org/", timeout=5)  # goes through HTTPS_PROXY
    assert az.unexpected_egress == ["example.org"]
    message = az.egress_failure()  # what the az fixture turns into a test failure at teardown
    assert message is not None and "example.org" in message
    az.unexpected_egress.clear()  # this test provoked it on purpose


def test_egress_check_passes_when_nothing_escaped(az: AzureStandIn) -> None:
    assert az.egress_failure() is None


def test_unknown_vault_fails_like_dns_and_is_not_egress(az: AzureStandIn) -> None:
    client = KeyClient("https://nosuchvault.vault.azure.net", DefaultAzureCredential(), retry_total=0)
    with pytest.raises(ServiceRequestError):
        client.get_key("anything")
    assert az.unexpected_egress == []
    assert any(r["method"] == "CONNECT" and r["status"] == 502 for r in az.requests)


def test_missing_or_foreign_token_gets_arm_401(az: AzureStandIn) -> None:
    url = "https://management.azure.com/subscriptions?api-version=2022-12-01"
    assert requests.get(url, timeout=5).json()["error"]["code"] == "AuthenticationFailed"
    vault_token = az.admin_credential.get_token("https://vault.azure.net/.default").token
    answer = requests.get(url, headers={"Authorization": f"Bearer {vault_token}"}, timeout=5)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"


def test_concurrent_clients_over_keep_alive(az: AzureStandIn) -> None:
    seed = Seed(az)
    names = [seed.registry(sku="Basic").name for _ in range(3)]
    client = ContainerRegistryManagementClient(DefaultAzureCredential(), az.subscription_ids[0])
    before = len(az.requests)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: client.registries.get(seed.rg, names[i % 3]).name, range(200)))
    assert sorted(got) == sorted(names[i % 3] for i in range(200))
    # Every call answered once, none retried (a dropped keep-alive connection would show as a retry here);
    # speed is make bench's business, not a test's.
    gets = [r for r in az.requests[before:] if r["method"] == "GET" and "/registries/" in r["path"]]
    assert len(gets) == 200 and {r["status"] for r in gets} == {200}


def test_sovereign_cloud_hosts(az: AzureStandIn) -> None:
    cred = az.admin_credential
    china = SubscriptionClient(cred, base_url="https://management.chinacloudapi.cn",
                               credential_scopes=["https://management.chinacloudapi.cn/.default"])
    assert len(list(china.subscriptions.list())) == len(az.subscription_ids)
    seed = Seed(az)
    seed.kv = type(seed.kv)(cred, seed.sub, base_url="https://management.usgovcloudapi.net",
                            credential_scopes=["https://management.usgovcloudapi.net/.default"])
    vault = seed.vault("govvault1")
    assert vault.properties.vault_uri == "https://govvault1.vault.usgovcloudapi.net/"
    assert "govvault1.vault.usgovcloudapi.net" in az.world.vaults


def test_python_m_emulator_serve_prints_exports() -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "serve"], cwd=root, env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert all(line.startswith("export ") for line in lines), lines
        assert any(line.startswith("export HTTPS_PROXY=http://127.0.0.1:") for line in lines)
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
