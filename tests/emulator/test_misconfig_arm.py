"""ARM misconfigurations on the stand-in, through the unmodified management SDKs and DefaultAzureCredential.

Each test turns on one row (``az.misconfig``) and checks the raw answer against the real body pinned in
tests/fixtures/misconfig, and the raised exception against how the reference's generated/ run surfaced it.
"""

from __future__ import annotations

import re

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceExistsError
from azure.identity import DefaultAzureCredential
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerregistry import models as acr
from azure.mgmt.resource.subscriptions import SubscriptionClient
from misconfig_support import BODIES, assert_like, assert_surfaces_as, error_of, norm

from emulator import AzureStandIn
from emulator.scenario import RESOURCE_GROUP, Estate, seed_estate

pytestmark = pytest.mark.standin
FAST = {"polling_interval": 0.02}


@pytest.fixture
def demo(az: AzureStandIn) -> Estate:
    return seed_estate(az)


def registries(sub: str, **kwargs: object) -> ContainerRegistryManagementClient:
    return ContainerRegistryManagementClient(DefaultAzureCredential(), sub, **kwargs)  # type: ignore[arg-type]


def test_token_from_another_tenant(az: AzureStandIn, demo: Estate) -> None:
    az.misconfig.token_tenant()
    client = registries(demo.subscription_id)
    with pytest.raises(ClientAuthenticationError) as err:
        client.registries.get(RESOURCE_GROUP, "acrpinned")
    assert_surfaces_as(err.value, "arm: 401 InvalidAuthenticationTokenTenant (+WWW-Authenticate invalid_token, "
                                  "no claims)")
    assert_like(err.value, "arm-401-InvalidAuthenticationTokenTenant")
    assert err.value.response is not None
    header = err.value.response.headers["WWW-Authenticate"]
    real = BODIES["arm-401-InvalidAuthenticationTokenTenant"]["headers"]["www-authenticate"]
    assert norm(header) == norm(real) and az.world.tenant_id in header
    # Listing subscriptions with that token shows none of this tenant's.
    assert list(SubscriptionClient(DefaultAzureCredential()).subscriptions.list()) == []


def test_expired_token(az: AzureStandIn, demo: Estate) -> None:
    client = registries(demo.subscription_id)
    client.registries.get(RESOURCE_GROUP, "acrpinned")  # the token is cached now
    assert az.misconfig.expire_tokens(az.principal_id) >= 1
    with pytest.raises(ClientAuthenticationError) as err:
        client.registries.get(RESOURCE_GROUP, "acrpinned")
    assert_surfaces_as(err.value, "arm: 401 ExpiredAuthenticationToken (+assumed WWW-Authenticate invalid_token)")
    assert_like(err.value, "arm-401-ExpiredAuthenticationToken")
    when = r"'\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d\d:\d\d [AP]M'"
    assert re.fullmatch(rf"The access token expiry UTC time {when} is earlier than current UTC time {when}\.",
                        error_of(err.value)["message"])


def test_claims_challenge_once_is_answered_by_azure_core(az: AzureStandIn, demo: Estate) -> None:
    az.misconfig.claims_challenge("arm", "insufficient_claims", times=1)
    assert registries(demo.subscription_id).registries.get(RESOURCE_GROUP, "acrpinned").name == "acrpinned"
    gets = [r for r in az.requests if r["path"].endswith("/registries/acrpinned") and r["method"] == "GET"
            and r["principal"] == az.principal_id]
    assert [r["status"] for r in gets] == [401, 200]


def test_claims_challenge_twice_and_legacy_form_surface(az: AzureStandIn, demo: Estate) -> None:
    client = registries(demo.subscription_id)
    az.misconfig.claims_challenge("arm", "insufficient_claims", times=2)
    with pytest.raises(ClientAuthenticationError) as err:
        client.registries.get(RESOURCE_GROUP, "acrpinned")
    assert_surfaces_as(err.value, "arm: 401 CAE insufficient_claims twice")
    az.misconfig.claims_challenge("arm", "legacy", times=1)
    with pytest.raises(ClientAuthenticationError) as err:
        client.registries.get(RESOURCE_GROUP, "acrpinned")
    assert_surfaces_as(err.value, "arm: 401 CAE legacy ARM form (invalid_token + claims) then 200")
    assert err.value.response is not None
    real = BODIES["arm-401-CAE-claims-challenge"]["body"]
    assert error_of(err.value)["code"] == real["error"]["code"]
    headers = BODIES["arm-401-CAE-claims-challenge"]["headers"]
    legacy = next(v for k, v in headers.items() if "legacy" in k.lower())
    assert err.value.response.headers["WWW-Authenticate"] == legacy


@pytest.mark.parametrize("operation", ["list", "read", "write"])
def test_authorization_failed_names_the_missing_action(az: AzureStandIn, demo: Estate, operation: str) -> None:
    sub = f"/subscriptions/{demo.subscription_id}"
    client = registries(demo.subscription_id)
    if operation == "write":
        az.misconfig.revoke(az.principal_id, "Container Registry Contributor and Data Access Configuration "
                                             "Administrator", sub)
        call = lambda: client.registries.begin_update(  # noqa: E731
            RESOURCE_GROUP, "acrpinned", acr.RegistryUpdateParameters(tags={"a": "b"}), **FAST).result()
        action = "Microsoft.ContainerRegistry/registries/write"
    else:
        az.misconfig.revoke(az.principal_id)  # no role anywhere
        call = ((lambda: list(client.registries.list())) if operation == "list"
                else (lambda: client.registries.get(RESOURCE_GROUP, "acrpinned")))
        action = "Microsoft.ContainerRegistry/registries/read"
    with pytest.raises(HttpResponseError) as err:
        call()
    assert_surfaces_as(err.value, "arm: 403 AuthorizationFailed")
    assert_like(err.value, "arm-403-AuthorizationFailed")
    assert f"perform action '{action}' over scope" in error_of(err.value)["message"]
    assert err.value.response is not None and err.value.response.headers["x-ms-failure-cause"] == "gateway"


def test_subscription_not_found(az: AzureStandIn, demo: Estate) -> None:
    az.misconfig.forget_subscription(demo.subscription_id)
    with pytest.raises(HttpResponseError) as err:
        registries(demo.subscription_id).registries.get(RESOURCE_GROUP, "acrpinned")
    assert_surfaces_as(err.value, "arm: 404 SubscriptionNotFound")
    assert_like(err.value, "arm-404-SubscriptionNotFound")


def test_missing_registration_and_the_recorded_register_call(az: AzureStandIn, demo: Estate) -> None:
    """azure-mgmt-core's default pipeline POSTs /register (refused: the app's roles lack register/action) and
    the 409 surfaces; every such POST is in ``provider_registrations`` for a test to prove the app never sends it."""
    az.misconfig.unregister_provider(demo.subscription_id, "Microsoft.ContainerRegistry")
    with pytest.raises(ResourceExistsError) as err:
        registries(demo.subscription_id).registries.get(RESOURCE_GROUP, "acrpinned")
    assert_surfaces_as(err.value, "arm: 409 MissingSubscriptionRegistration")
    real = BODIES["arm-409-MissingSubscriptionRegistration"]["body"]["error"]
    mine = error_of(err.value)
    assert norm(mine["message"]) == norm(real["message"]) and norm(str(mine["details"])) == norm(str(real["details"]))
    assert mine["details"][0]["target"] == "Microsoft.ContainerRegistry"
    [call] = az.provider_registrations
    assert (call["namespace"], call["principal"]) == ("Microsoft.ContainerRegistry", az.principal_id)
    # An Owner's register goes through (sent by hand: the SDK policy would wait 10 s before polling); then the
    # namespace works again.
    token = az.admin_credential.get_token("https://management.azure.com/.default").token
    url = (f"https://management.azure.com/subscriptions/{demo.subscription_id}/providers/"
           "Microsoft.ContainerRegistry/register?api-version=2016-02-01")
    answer = requests.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200 and answer.json()["registrationState"] == "Registered"
    assert len(az.provider_registrations) == 2
    assert registries(demo.subscription_id).registries.get(RESOURCE_GROUP, "acrpinned").name == "acrpinned"


def test_effective_permissions_include_group_grants(az: AzureStandIn, demo: Estate) -> None:
    client = AuthorizationManagementClient(DefaultAzureCredential(), demo.subscription_id)
    vault_scope = ("Microsoft.KeyVault", "", "vaults", "kv-acr-demo")
    before = list(client.permissions.list_for_resource(RESOURCE_GROUP, *vault_scope))
    assert not any("Microsoft.KeyVault/vaults/keys/*" in p.data_actions for p in before)
    assert any(p.actions == ["*/read"] for p in before)  # Reader, at the subscription
    group = az.misconfig.add_group([az.principal_id], "cmk-operators")
    rg_scope = f"/subscriptions/{demo.subscription_id}/resourceGroups/{RESOURCE_GROUP}"
    az.grant(group, "Key Vault Crypto Officer", rg_scope)
    after = list(client.permissions.list_for_resource_group(RESOURCE_GROUP))
    officer = [p for p in after if "Microsoft.KeyVault/vaults/keys/*" in (p.data_actions or [])]
    assert officer and officer[0].not_data_actions == []
    contributor = next(p for p in after if "Microsoft.ContainerRegistry/registries/write" in (p.actions or []))
    assert contributor.not_actions == []


def test_resource_graph_sees_nothing_with_a_token_from_another_tenant(az: AzureStandIn, demo: Estate) -> None:
    from azure.mgmt.resourcegraph import ResourceGraphClient
    from azure.mgmt.resourcegraph.models import QueryRequest

    query = QueryRequest(subscriptions=[demo.subscription_id],
                         query="Resources | where type =~ 'microsoft.containerregistry/registries' | project id")
    assert ResourceGraphClient(DefaultAzureCredential()).resources(query).total_records == 3
    az.misconfig.token_tenant()
    with pytest.raises(HttpResponseError) as err:
        ResourceGraphClient(DefaultAzureCredential()).resources(query)
    assert err.value.status_code == 403
