"""Injected faults (status, Retry-After, reset, delay, failed LRO), latency and ARM throttling,
observed through the SDKs' own retry behaviour."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.identity import DefaultAzureCredential
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from standin_seed import FAST, Seed, encryption_update, kid

from emulator import AzureStandIn

pytestmark = pytest.mark.standin


def _client(az: AzureStandIn, **kwargs: Any) -> ContainerRegistryManagementClient:
    return ContainerRegistryManagementClient(DefaultAzureCredential(), az.subscription_ids[0], **kwargs)


def _registry_gets(az: AzureStandIn, name: str) -> list[dict[str, Any]]:
    return [r for r in az.requests if r["method"] == "GET" and r["path"].endswith(f"/registries/{name}")]


def test_status_fault_with_retry_after_is_retried(az: AzureStandIn) -> None:
    seed = Seed(az)
    reg = seed.registry(sku="Basic")
    az.inject_fault(method="GET", host="management.azure.com", path_contains=reg.name, status=503,
                    retry_after=0.05, times=2)  # a short Retry-After keeps the test fast
    assert _client(az).registries.get(seed.rg, reg.name).name == reg.name
    assert [r["status"] for r in _registry_gets(az, reg.name)][-3:] == [503, 503, 200]


def test_fault_answers_in_the_service_shape_and_is_used_up(az: AzureStandIn) -> None:
    seed = Seed(az)
    reg = seed.registry(sku="Basic")
    az.inject_fault(path_contains=reg.name, status=409, times=1)  # 409 is not retried
    client = _client(az)
    with pytest.raises(HttpResponseError) as err:
        client.registries.get(seed.rg, reg.name)
    assert err.value.status_code == 409 and err.value.error is not None and err.value.error.code == "Conflict"
    assert client.registries.get(seed.rg, reg.name).name == reg.name
    assert az.world.faults[-1].times == 0


def test_delay_without_error(az: AzureStandIn) -> None:
    seed = Seed(az)
    reg = seed.registry(sku="Basic")
    client = _client(az)
    client.registries.get(seed.rg, reg.name)  # token and connection warm
    fault = az.inject_fault(method="GET", path_contains=reg.name, status=None, delay_s=0.3)
    client.registries.get(seed.rg, reg.name)
    warm, delayed = _registry_gets(az, reg.name)[-2:]
    assert fault.times == 0 and delayed["status"] == 200
    assert delayed["time"] - warm["time"] >= 0.3  # the stand-in's own log: answered no sooner than the delay


def test_latency_setting_applies_to_every_call(az: AzureStandIn) -> None:
    seed = Seed(az)
    reg = seed.registry(sku="Basic")
    client = _client(az)
    client.registries.get(seed.rg, reg.name)
    az.world.settings.latency_ms = 100
    client.registries.get(seed.rg, reg.name)
    client.registries.get(seed.rg, reg.name)
    first, second = _registry_gets(az, reg.name)[-2:]
    assert second["time"] - first["time"] >= 0.1  # each answer waits the latency (the stand-in's own log)


def test_reset_is_retried_by_azure_core(az: AzureStandIn) -> None:
    seed = Seed(az)
    reg = seed.registry(sku="Basic")
    client = _client(az)
    client.registries.get(seed.rg, reg.name)
    az.inject_fault(method="GET", path_contains=reg.name, reset=True)
    assert client.registries.get(seed.rg, reg.name).name == reg.name
    assert [r["status"] for r in _registry_gets(az, reg.name)][-2:] == [None, 200]


def test_reset_without_retries_surfaces_as_connection_error(az: AzureStandIn) -> None:
    seed = Seed(az)
    reg = seed.registry(sku="Basic")
    client = _client(az, retry_total=0)
    client.registries.get(seed.rg, reg.name)
    az.inject_fault(method="GET", path_contains=reg.name, reset=True)
    with pytest.raises((ServiceResponseError, ServiceRequestError)):
        client.registries.get(seed.rg, reg.name)


def test_lro_failed_keeps_the_old_state(az: AzureStandIn) -> None:
    seed = Seed(az)
    _, ident, key = seed.cmk_setup(versions=2)
    reg = seed.registry(identity=ident, key_id=kid(key, 0))
    az.inject_fault(method="PATCH", path_contains=reg.name, lro_failed=True)
    client = _client(az)
    poller = client.registries.begin_update(seed.rg, reg.name, encryption_update(kid(key, 1), ident.client_id),
                                            **FAST)
    with pytest.raises(HttpResponseError):
        poller.result()
    patch = next(r for r in az.requests if r["method"] == "PATCH")
    assert patch["status"] == 201  # accepted, then failed
    after = client.registries.get(seed.rg, reg.name)
    assert after.properties.encryption.key_vault_properties.versioned_key_identifier == kid(key, 0)
    assert after.properties.provisioning_state == "Succeeded"
    # The fault is used up: the next attempt succeeds.
    client.registries.begin_update(seed.rg, reg.name, encryption_update(kid(key, 1), ident.client_id),
                                   **FAST).result()


def test_faults_on_other_hosts_use_their_shapes(az: AzureStandIn) -> None:
    from azure.keyvault.keys import KeyClient

    seed = Seed(az)
    vault = seed.vault()
    az.inject_fault(host=".vault.azure.net", status=500, times=1)
    client = KeyClient(vault.properties.vault_uri, az.admin_credential, retry_total=0)
    with pytest.raises(HttpResponseError) as err:
        client.get_key("anything")
    assert err.value.status_code == 500
    entry = next(r for r in az.requests if r["host"] == vault.properties.vault_uri.split("/")[2])
    assert entry["status"] == 500


def test_throttling_answers_429_and_azure_core_waits(az: AzureStandIn) -> None:
    seed = Seed(az)
    reg = seed.registry(sku="Basic")
    settings = az.world.settings
    settings.throttling, settings.arm_read_burst, settings.arm_read_rate = True, 3, 2.0
    client = _client(az)
    seen: list[dict[str, str]] = []

    def hook(response: Any) -> None:
        seen.append(dict(response.http_response.headers))

    for _ in range(5):
        client.registries.get(seed.rg, reg.name, raw_response_hook=hook)
    gets = _registry_gets(az, reg.name)
    statuses = [r["status"] for r in gets]
    assert 429 in statuses and statuses[-1] == 200
    throttled = [r for r in az.requests if r["status"] == 429]
    assert throttled[0]["principal"] == az.principal_id
    retried = gets[statuses.index(429) + 1]  # the stand-in's own log: when the retry came
    assert retried["time"] - gets[statuses.index(429)]["time"] >= 0.9  # Retry-After is whole seconds; honoured
    assert all("x-ms-ratelimit-remaining-subscription-reads" in h for h in seen)


def test_throttling_buckets_are_per_principal_and_kind(az: AzureStandIn) -> None:
    seed = Seed(az)
    reg = seed.registry(sku="Basic")
    settings = az.world.settings
    settings.throttling, settings.arm_read_burst, settings.arm_read_rate = True, 2, 0.01
    app = _client(az, retry_total=0)
    app.registries.get(seed.rg, reg.name)
    app.registries.get(seed.rg, reg.name)
    with pytest.raises(HttpResponseError) as err:
        app.registries.get(seed.rg, reg.name)
    assert err.value.status_code == 429
    assert err.value.response is not None
    assert err.value.response.headers["Retry-After"].isdigit()
    assert err.value.error is not None and err.value.error.code == "SubscriptionRequestsThrottled"
    seed.acr.registries.get(seed.rg, reg.name)  # the admin has its own bucket
