"""The engine against the stand-in through the official SDKs: every rule that crosses a wire."""

from __future__ import annotations

import pytest
from azure.mgmt.authorization import AuthorizationManagementClient

from emulator import seed
from emulator.scenario import Estate
from emulator.standin import AzureStandIn
from shared.engine import RotationEngine
from shared.events import envelope_from_json, parse_key_event
from shared.manual import ManualRequest
from shared.reasons import Reason, Result
from shared.requests import RunRequest

pytestmark = pytest.mark.standin


def registry_key(az: AzureStandIn, estate: Estate, short: str) -> dict:
    """What ARM says of a registry's encryption, read through the SDK as an admin."""
    from azure.mgmt.containerregistry import ContainerRegistryManagementClient

    client = ContainerRegistryManagementClient(az.admin_credential, estate.subscription_id,
                                               **seed.client_options(az))
    registry = client.registries.get("rg-registries", short).as_dict()
    return registry["properties"]["encryption"]["keyVaultProperties"]


def patches(az: AzureStandIn) -> list[str]:
    return [r["path"].rsplit("/", 1)[-1] for r in az.requests
            if r["method"] == "PATCH" and "/registries/" in r["path"]]


def outcomes_by_name(report) -> dict:
    return {o.registry_name: o for o in report.outcomes}


def test_new_version_event_moves_the_pinned_registry_only(az, estate, engine: RotationEngine) -> None:
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    event = parse_key_event(envelope_from_json(az.events[-1]), engine.settings.endpoints.key_vault_suffixes)
    report = engine.run(event.request(engine.settings.event_budget_s))
    by_name = outcomes_by_name(report)
    assert (by_name["acrpinned"].result, by_name["acrpinned"].to_version) == (Result.ROTATED, new.properties.version)
    assert by_name["acrversionless"].reason == Reason.VERSIONLESS
    assert by_name["acroptedout"].reason == Reason.OPTED_OUT
    assert patches(az) == ["acrpinned"]
    after = registry_key(az, estate, "acrpinned")
    assert after["versionedKeyIdentifier"] == new.id and after["keyRotationEnabled"] is False
    assert registry_key(az, estate, "acroptedout")["keyIdentifier"].endswith(estate.first_version)


def test_the_patch_is_minimal_and_keeps_the_registry_identity(az, estate, engine) -> None:
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    engine.run(RunRequest.sweep())
    [patch] = [r for r in az.requests if r["method"] == "PATCH"]
    assert patch["body"] == {"properties": {"encryption": {"status": "enabled", "keyVaultProperties": {
        "keyIdentifier": new.id, "identity": estate.identity_client_id}}}}


def test_an_update_costs_two_arm_reads_the_re_read_and_one_poll_of_the_registry_that_verifies(
        az, estate, engine) -> None:
    # Each read spends a token of ARM's per-subscription read bucket: no Azure-AsyncOperation status
    # poll and no separate verification GET on the way to a rotated registry.
    az.world.settings.lro_seconds = 0  # done by the first poll
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    start = len(az.requests)
    report = engine.run(RunRequest.sweep())
    assert outcomes_by_name(report)["acrpinned"].result == Result.ROTATED
    seen = [(r["method"], r["status"]) for r in az.requests[start:]
            if r["path"].lower().endswith("/registries/acrpinned") or "/acrpinned/operationStatuses/" in r["path"]]
    assert seen == [("GET", 200), ("PATCH", 201), ("GET", 200)]
    assert registry_key(az, estate, "acrpinned")["versionedKeyIdentifier"] == new.id


def test_duplicate_and_late_deliveries_make_no_extra_patch(az, estate, engine) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)
    newest_event = az.events[-1]
    stale_event = az.events[0]  # the first version's event, delivered late
    suffixes = engine.settings.endpoints.key_vault_suffixes
    for payload in (newest_event, newest_event, stale_event):
        engine.run(parse_key_event(envelope_from_json(payload), suffixes).request(engine.settings.event_budget_s))
    assert patches(az) == ["acrpinned"]
    assert registry_key(az, estate, "acrpinned")["versionedKeyIdentifier"] == newest_event["data"]["Id"]


def test_never_moves_to_an_older_version(az, estate, engine) -> None:
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    engine.run(RunRequest.sweep())
    seed.update_key(az, estate.vault_url, estate.key_name, new.properties.version, enabled=False)
    report = engine.run(RunRequest.sweep())
    pinned = outcomes_by_name(report)["acrpinned"]
    assert (pinned.result, pinned.reason) == (Result.SKIPPED, Reason.WOULD_DOWNGRADE)
    assert patches(az) == ["acrpinned"]


def test_a_disabled_newest_version_is_not_used(az, estate, engine) -> None:
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    seed.update_key(az, estate.vault_url, estate.key_name, new.properties.version, enabled=False)
    report = engine.run(RunRequest.sweep())
    assert outcomes_by_name(report)["acrpinned"].reason == Reason.ALREADY_CURRENT
    assert patches(az) == []


def test_dry_run_request_writes_nothing(az, estate, engine) -> None:
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    report = engine.run(ManualRequest(dry_run=True).request("manual-run"))
    pinned = outcomes_by_name(report)["acrpinned"]
    assert (pinned.result, pinned.to_version) == (Result.PLANNED, new.properties.version)
    assert not [r for r in az.requests if r["method"] in ("PATCH", "PUT", "POST", "DELETE")
                and "management" in r["host"] and "/registries/" in r["path"] and r["principal"] == az.principal_id]


def test_a_registry_whose_identity_lost_access_fails_permanently_and_alone(az, estate, engine) -> None:
    # A second pinned registry with its own identity, still allowed to use the key.
    sub = estate.subscription_id
    identity_id, _, principal_id = seed.create_identity(az, sub, "rg-registries", "id-second")
    vault_id = f"/subscriptions/{sub}/resourceGroups/rg-registries/providers/Microsoft.KeyVault/vaults/kv-acr-demo"
    seed.grant(az, principal_id, "Key Vault Crypto Service Encryption User", vault_id)
    key_id = f"{estate.key_url}/{estate.first_version}"
    seed.create_registry(az, sub, "rg-registries", "acrsecond", identity_id=identity_id, key_id=key_id)
    # The first identity loses its access: ACR must refuse to move that registry to a new version.
    authorization = AuthorizationManagementClient(az.admin_credential, sub, **seed.client_options(az))
    authorization.role_assignments.delete_by_id(estate.key_access_assignment_id)
    new = seed.create_key(az, estate.vault_url, estate.key_name)

    report = engine.run(RunRequest.sweep())
    by_name = outcomes_by_name(report)
    assert (by_name["acrpinned"].result, by_name["acrpinned"].reason) == (Result.FAILED, Reason.UPDATE_REJECTED)
    assert by_name["acrpinned"].transient is False
    assert (by_name["acrsecond"].result, by_name["acrsecond"].to_version) == (Result.ROTATED, new.properties.version)
    assert registry_key(az, estate, "acrpinned")["versionedKeyIdentifier"] == key_id


def test_status_reports_every_cmk_registry_and_unused_versions(az, estate, engine) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)
    report = engine.status()
    rows = {r["name"]: r for r in report.to_dict()["registries"]}
    assert set(rows) == {"acrpinned", "acrversionless", "acroptedout"}
    assert rows["acrpinned"]["mode"] == "pinned" and "BEHIND_NEWEST_VERSION" in rows["acrpinned"]["problems"]
    assert rows["acrversionless"]["mode"] == "versionless"
    assert rows["acroptedout"]["optedOut"] is True
    assert report.problems == ()
