"""The fault matrix: what Azure does wrong, one test each, against the stand-in through the real SDKs.

Expected every time: converged where possible; every other registry a failed outcome with the right
reason and the right kind (transient: retry later; permanent: stop and report); nothing crashes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from azure.mgmt.containerregistry import ContainerRegistryManagementClient

from emulator import seed
from shared.composition import assemble, build_engine
from shared.reasons import Reason, Result
from shared.requests import RunRequest

pytestmark = pytest.mark.standin


def by_name(report) -> dict:
    return {o.registry_name: o for o in report.outcomes}


def in_use(az, estate, name: str) -> str:
    client = ContainerRegistryManagementClient(az.admin_credential, estate.subscription_id, **seed.client_options(az))
    kv = client.registries.get("rg-registries", name).as_dict()["properties"]["encryption"]["keyVaultProperties"]
    return str(kv["versionedKeyIdentifier"]).rsplit("/", 1)[-1]


def statuses(az, method: str, fragment: str) -> list[int | None]:
    return [r["status"] for r in az.requests if r["method"] == method and fragment in r["path"]]


class After:
    """Wraps a port so that ``then`` runs once right after ``method`` answered (a change mid-run)."""

    def __init__(self, inner: Any, method: str, then: Callable[[], None]) -> None:
        self._inner, self._method, self._then, self._done = inner, method, then, False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name != self._method:
            return attr

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if not self._done:
                self._done = True
                self._then()
            return result

        return wrapped


def with_ports(engine, **ports: Any):
    """The same engine, composed again around wrapped ports (``After``)."""
    return assemble(engine.settings, ports.get("keyvault", engine.keyvault), ports.get("registries", engine.registries),
                    access=engine.access, clock=engine.clock, sink=engine.sink)


def test_arm_429_with_retry_after_is_honoured_by_azure_core(az, estate, engine) -> None:
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    az.inject_fault(method="PATCH", path_contains="/registries/acrpinned", status=429, retry_after=1, times=2)
    report = engine.run(RunRequest.sweep())
    assert by_name(report)["acrpinned"].result == Result.ROTATED
    patches = [r for r in az.requests if r["method"] == "PATCH"]
    assert [p["status"] for p in patches] == [429, 429, 201]
    assert patches[1]["time"] - patches[0]["time"] >= 0.95  # waited as told, not by our own loop
    assert in_use(az, estate, "acrpinned") == new.properties.version


def test_a_burst_of_5xx_on_listing_is_retried_and_converges(az, estate, engine) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)
    fault = az.inject_fault(method="GET", path_contains="/providers/Microsoft.ContainerRegistry/registries",
                            status=503, times=2)
    report = engine.run(RunRequest.sweep())
    listings = statuses(az, "GET", "/providers/Microsoft.ContainerRegistry/registries")
    assert fault.times == 0 and listings.count(503) == 2
    assert by_name(report)["acrpinned"].result == Result.ROTATED and not report.problems


def test_connection_resets_on_key_vault_are_retried(az, estate, engine) -> None:
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    fault = az.inject_fault(method="GET", host="vault.azure.net", path_contains="/versions", reset=True, status=None,
                            times=2)
    report = engine.run(RunRequest.sweep())
    assert fault.times == 0 and statuses(az, "GET", "/versions").count(None) == 2  # two resets, then answers
    assert by_name(report)["acrpinned"].to_version == new.properties.version
    assert by_name(report)["acrpinned"].result == Result.ROTATED


def test_an_answer_slower_than_the_client_timeout_is_retried(az, estate, app_env) -> None:
    engine = build_engine({**app_env, "ROTATION_HTTP_TIMEOUT_SECONDS": "1"})
    seed.create_key(az, estate.vault_url, estate.key_name)
    fault = az.inject_fault(method="GET", path_contains="/registries/acrpinned", status=None, delay_s=2.5, times=1)
    report = engine.run(RunRequest.sweep())
    assert fault.times == 0  # the slow answer was given (and the client had given up on it)
    assert len(statuses(az, "GET", "/registries/acrpinned")) >= 3  # the slow read, its retry, the verification
    assert by_name(report)["acrpinned"].result == Result.ROTATED


def test_a_connection_reset_on_the_patch_is_transient_and_the_retry_converges(az, estate, engine) -> None:
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    fault = az.inject_fault(method="PATCH", path_contains="/registries/acrpinned", reset=True, status=None, times=1)
    first = by_name(engine.run(RunRequest.sweep()))["acrpinned"]
    assert fault.times == 0 and statuses(az, "PATCH", "/registries/acrpinned") == [None]
    assert (first.result, first.reason, first.transient) == (Result.FAILED, Reason.SERVICE_ERROR, True)
    second = by_name(engine.run(RunRequest.sweep()))["acrpinned"]
    assert (second.result, second.to_version) == (Result.ROTATED, new.properties.version)


# ACR's provisioningState after a failed update is not documented: a rollback ("Succeeded", old key) or
# ARM's usual "Failed". Either way the outcome is UPDATE_FAILED with ACR's own words from the operation status.
@pytest.mark.parametrize("state_after", ["Succeeded", "Failed"],
                         ids=["when ACR rolls back", "when the registry is left in provisioning state Failed"])
def test_a_long_running_update_ending_failed_leaves_the_registry_as_it_was(az, estate, engine, state_after) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)
    fault = az.inject_fault(method="PATCH", path_contains="/registries/acrpinned", status=None, lro_failed=True,
                            lro_failed_state=state_after, times=1)
    report = engine.run(RunRequest.sweep())
    assert fault.times == 0
    pinned = by_name(report)["acrpinned"]
    assert (pinned.result, pinned.reason, pinned.transient) == (Result.FAILED, Reason.UPDATE_FAILED, True)
    assert "RegistryUpdateFailed" in (pinned.detail or "")
    assert in_use(az, estate, "acrpinned") == estate.first_version
    assert report.needs_retry


def test_key_vault_403_is_permanent_and_nothing_is_patched(az, estate, engine) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)
    fault = az.inject_fault(host="vault.azure.net", path_contains="/keys/acr-cmk", status=403, times=100)
    pinned = by_name(engine.run(RunRequest.sweep()))["acrpinned"]
    assert fault.times < 100 and 403 in statuses(az, "GET", "/keys/acr-cmk")
    assert (pinned.result, pinned.reason, pinned.transient) == (Result.FAILED, Reason.KEY_FORBIDDEN, False)
    assert statuses(az, "PATCH", "/registries/") == []


def test_key_vault_5xx_past_retries_is_transient(az, estate, engine) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)
    fault = az.inject_fault(host="vault.azure.net", path_contains="/versions", status=500, times=100)
    report = engine.run(RunRequest.sweep())
    assert fault.times < 100 and set(statuses(az, "GET", "/versions")) == {500}
    pinned = by_name(report)["acrpinned"]
    assert (pinned.result, pinned.reason, pinned.transient) == (Result.FAILED, Reason.KEY_UNREADABLE, True)
    assert report.needs_retry


def test_the_key_deleted_between_planning_and_applying_is_refused_by_acr(az, estate, engine) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)

    def delete_key() -> None:
        with seed.key_client(az, estate.vault_url) as client:
            client.begin_delete_key(estate.key_name).result()

    engine = with_ports(engine, keyvault=After(engine.keyvault, "get_current", delete_key))
    pinned = by_name(engine.run(RunRequest.sweep()))["acrpinned"]
    assert (pinned.result, pinned.transient) == (Result.FAILED, False)
    assert pinned.reason == Reason.UPDATE_REJECTED
    assert in_use(az, estate, "acrpinned") == estate.first_version


def test_a_registry_deleted_mid_run_fails_alone(az, estate, engine) -> None:
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    seed.create_registry(az, estate.subscription_id, "rg-registries", "acrsecond", identity_id=estate.identity_id,
                         key_id=f"{estate.key_url}/{estate.first_version}")
    client = ContainerRegistryManagementClient(az.admin_credential, estate.subscription_id, **seed.client_options(az))
    engine = with_ports(engine, registries=After(engine.registries, "list_cmk_registries",
                                                 lambda: client.registries.begin_delete("rg-registries",
                                                                                        "acrpinned").result()))
    report = engine.run(RunRequest.sweep())
    gone, other = by_name(report)["acrpinned"], by_name(report)["acrsecond"]
    assert (gone.result, gone.reason, gone.transient) == (Result.FAILED, Reason.REGISTRY_NOT_FOUND, False)
    assert (other.result, other.to_version) == (Result.ROTATED, new.properties.version)


def test_arm_403_on_the_update_is_permanent(az, estate, engine) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)
    fault = az.inject_fault(method="PATCH", path_contains="/registries/acrpinned", status=403, times=1)
    pinned = by_name(engine.run(RunRequest.sweep()))["acrpinned"]
    assert fault.times == 0 and statuses(az, "PATCH", "/registries/acrpinned") == [403]
    assert (pinned.result, pinned.reason, pinned.transient) == (Result.FAILED, Reason.FORBIDDEN, False)


def test_listing_a_subscription_that_fails_is_a_transient_run_problem_and_the_rest_goes_on(az, estate,
                                                                                            engine) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)
    other = az.subscription_ids[1]
    fault = az.inject_fault(method="GET", path_contains=f"/subscriptions/{other}/providers/Microsoft.ContainerRegistry",
                            status=500, times=100)
    report = engine.run(RunRequest.sweep())
    assert fault.times < 100
    assert by_name(report)["acrpinned"].result == Result.ROTATED
    assert [(p.reason, p.transient) for p in report.problems] == [(Reason.SERVICE_ERROR, True)]
    assert report.needs_retry
