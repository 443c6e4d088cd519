"""One end-to-end test per engine rule that depends on what Azure says, against the stand-in."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerregistry import models as acr

from emulator import seed
from emulator.world import KEY_VAULT_READER
from shared.composition import build_engine
from shared.events import envelope_from_json, parse_key_event
from shared.reasons import Problem, Reason, Result
from shared.requests import RunRequest

pytestmark = pytest.mark.standin


def by_name(report) -> dict:
    return {o.registry_name: o for o in report.outcomes}


def app_patches(az) -> list[dict]:
    return [r for r in az.requests if r["method"] == "PATCH" and r["principal"] == az.principal_id]


def as_key_event(az, engine, payload):
    return parse_key_event(envelope_from_json(payload), engine.settings.endpoints.key_vault_suffixes)


def test_near_expiry_from_tick_alerts_on_every_registry_using_the_version(az, estate, engine) -> None:
    soon = datetime.now(UTC) + timedelta(days=10)
    seed.update_key(az, estate.vault_url, estate.key_name, estate.first_version, expires_on=soon)
    published = az.tick()
    assert [e["eventType"] for e in published] == ["Microsoft.KeyVault.KeyNearExpiry"]
    report = engine.run(as_key_event(az, engine, published[0]).request(engine.settings.event_budget_s))
    [alert] = report.alerts
    assert (alert.version, alert.severity) == (estate.first_version, "warning")
    assert 9 < alert.days_left <= 10
    assert sorted(a.rsplit("/", 1)[-1] for a in alert.affected_registries) == [
        "acroptedout", "acrpinned", "acrversionless"]
    assert not app_patches(az)  # no newer version: nothing to move to, and auto-rotation is off


def test_expired_version_is_a_critical_alert_and_pinned_registries_move_when_a_newer_one_exists(
        az, estate, engine) -> None:
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    past = datetime.now(UTC) - timedelta(minutes=1)
    seed.update_key(az, estate.vault_url, estate.key_name, estate.first_version, expires_on=past)
    # Key Vault reports expiry of the current version only, which is the new one: no event here, the sweep sees it.
    assert not [e for e in az.tick() if e["eventType"].endswith("KeyExpired")]
    report = engine.run(RunRequest.sweep())
    assert by_name(report)["acrpinned"].to_version == new.properties.version
    severities = {(a.version, a.severity) for a in report.alerts}
    assert (estate.first_version, "critical") in severities  # still used by the opted-out registry


def test_key_expired_event_is_a_critical_alert_naming_every_registry_using_the_version(az, estate, engine) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    seed.update_key(az, estate.vault_url, estate.key_name, estate.first_version, expires_on=past)
    [expired] = [e for e in az.tick() if e["eventType"] == "Microsoft.KeyVault.KeyExpired"]
    report = engine.run(as_key_event(az, engine, expired).request(engine.settings.event_budget_s))
    [alert] = report.alerts
    assert (alert.version, alert.severity) == (estate.first_version, "critical") and alert.days_left <= 0
    assert len(alert.affected_registries) == 3
    # No newer usable version: nothing moves, and the pinned registry fails loudly for an operator to see.
    pinned = by_name(report)["acrpinned"]
    assert (pinned.result, pinned.reason) == (Result.FAILED, Reason.NO_USABLE_VERSION)
    assert not app_patches(az)


def test_auto_rotation_creates_one_version_per_expiring_version_under_concurrency(az, estate, app_env) -> None:
    az.grant(az.principal_id, "Key Vault Crypto Officer", "/subscriptions/" + estate.subscription_id)
    soon = datetime.now(UTC) + timedelta(days=5)
    seed.update_key(az, estate.vault_url, estate.key_name, estate.first_version, expires_on=soon)
    engine = build_engine({**app_env, "ROTATION_AUTO_ROTATE_KEYS": "true"})
    near_expiry = as_key_event(az, engine, az.tick()[0])
    reports = []
    runs = [lambda: reports.append(engine.run(near_expiry.request(engine.settings.event_budget_s))) for _ in range(2)]
    runs.append(lambda: reports.append(engine.run(RunRequest.sweep())))
    threads = [threading.Thread(target=run) for run in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    created = [k for r in reports for k in r.key_versions_created]
    assert len(created) == 1 and created[0].replaces_version == estate.first_version
    rotations = [r for r in az.requests if r["method"] == "POST" and r["path"].endswith("/rotate")]
    assert len(rotations) == 1
    assert len(app_patches(az)) == 1
    pinned = [by_name(r)["acrpinned"] for r in reports]
    assert sorted(o.result for o in pinned) == [Result.ROTATED, Result.UNCHANGED, Result.UNCHANGED]


def test_auto_rotation_needs_crypto_officer_and_reports_its_absence(az, estate, app_env) -> None:
    soon = datetime.now(UTC) + timedelta(days=5)
    seed.update_key(az, estate.vault_url, estate.key_name, estate.first_version, expires_on=soon)
    report = build_engine({**app_env, "ROTATION_AUTO_ROTATE_KEYS": "true"}).run(RunRequest.sweep())
    assert [p.reason for p in report.problems] == [Reason.KEY_ROTATION_FAILED]
    assert not report.problems[0].transient


def test_a_key_host_outside_the_configured_cloud_is_never_contacted(az, estate, app_env) -> None:
    before = len(az.requests)
    report = build_engine({**app_env, "AZURE_CLOUD": "AzureChinaCloud"}).run(RunRequest.sweep())
    results = {o.registry_name: (o.result, o.reason) for o in report.outcomes}
    assert results["acrpinned"] == (Result.FAILED, Reason.KEY_HOST_NOT_ALLOWED)
    assert results["acrversionless"] == (Result.FAILED, Reason.KEY_HOST_NOT_ALLOWED)
    assert results["acroptedout"] == (Result.SKIPPED, Reason.OPTED_OUT)
    hosts = {r["host"] for r in az.requests[before:]} - {"127.0.0.1"}  # the managed-identity endpoint
    assert hosts == {"management.chinacloudapi.cn"}


def test_a_registry_still_updating_is_left_for_later_not_patched(az, estate, engine) -> None:
    az.world.settings.lro_seconds = 30  # the admin's own update below stays in flight
    client = ContainerRegistryManagementClient(az.admin_credential, estate.subscription_id, **seed.client_options(az))
    client.registries.begin_update("rg-registries", "acrpinned", acr.RegistryUpdateParameters(tags={"team": "a"}))
    seed.create_key(az, estate.vault_url, estate.key_name)
    report = engine.run(RunRequest.sweep())
    pinned = by_name(report)["acrpinned"]
    assert (pinned.result, pinned.reason, pinned.transient) == (Result.FAILED, Reason.REGISTRY_BUSY, True)
    assert not app_patches(az) and report.needs_retry


def test_a_key_our_identity_cannot_read_fails_permanently_without_patching(az, estate, engine) -> None:
    authorization = AuthorizationManagementClient(az.admin_credential, estate.subscription_id,
                                                  **seed.client_options(az))
    for assignment in list(az.world.role_assignments.values()):
        if assignment.principal_id == az.principal_id and assignment.role_definition_id == KEY_VAULT_READER:
            authorization.role_assignments.delete_by_id(assignment.assignment_id)
    seed.create_key(az, estate.vault_url, estate.key_name)
    pinned = by_name(engine.run(RunRequest.sweep()))["acrpinned"]
    assert (pinned.result, pinned.reason, pinned.transient) == (Result.FAILED, Reason.KEY_FORBIDDEN_BY_RBAC, False)
    assert "Fix: grant the app's identity Key Vault Reader on vault kv-acr-demo" in pinned.detail
    assert not app_patches(az)


def test_a_soft_deleted_key_is_reported_recoverable_and_a_purged_one_gone(az, estate, engine) -> None:
    with seed.key_client(az, estate.vault_url) as client:
        client.begin_delete_key(estate.key_name).result()
        pinned = by_name(engine.run(RunRequest.sweep()))["acrpinned"]
        assert (pinned.result, pinned.reason, pinned.transient) == (Result.FAILED, Reason.KEY_SOFT_DELETED, False)
        assert f"az keyvault key recover --vault-name kv-acr-demo --name {estate.key_name}" in pinned.detail
        client.purge_deleted_key(estate.key_name)
    pinned = by_name(engine.run(RunRequest.sweep()))["acrpinned"]
    assert (pinned.result, pinned.reason, pinned.transient) == (Result.FAILED, Reason.KEY_NOT_FOUND, False)
    assert "az keyvault key restore" in pinned.detail
    assert not app_patches(az)


@pytest.mark.parametrize("new_version", [
    {"kty": "EC"},
    {"key_ops": ["sign", "verify"]},
    {"not_before": datetime.now(UTC) + timedelta(days=1)},
    {"expires_on": datetime.now(UTC) - timedelta(days=1)},
    {"enabled": False},
], ids=["an EC version", "a version that may not wrap", "a version not yet valid", "an expired version",
        "a disabled version"])
def test_an_unusable_newest_version_is_never_the_target(az, estate, engine, new_version) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name, **new_version)
    pinned = by_name(engine.run(RunRequest.sweep()))["acrpinned"]
    assert (pinned.result, pinned.reason) == (Result.UNCHANGED, Reason.ALREADY_CURRENT)
    assert not app_patches(az)


def test_a_versionless_registry_lagging_more_than_an_hour_is_a_problem(az, estate, app_env) -> None:
    az.world.settings.versionless_lag_s = 86400  # ACR has not picked the new version up yet
    seed.create_key(az, estate.vault_url, estate.key_name)
    later = datetime.now(UTC) + timedelta(hours=2)
    engine = build_engine(app_env)
    rows = {r.registry.name: r for r in replace(engine, clock=lambda: later).status().registries}
    assert Problem.VERSIONLESS_LAGGING in rows["acrversionless"].problems
    now_rows = {r.registry.name: r for r in engine.status().registries}
    assert Problem.VERSIONLESS_LAGGING not in now_rows["acrversionless"].problems  # within ACR's hour: not yet


def test_managed_hsm_keys_rotate_like_vault_keys(az, estate, engine) -> None:
    sub = estate.subscription_id
    hsm_url = seed.create_managed_hsm(az, sub, "rg-registries", "hsm-acr")
    key = seed.create_key(az, hsm_url, "acr-hsm", "RSA-HSM", size=3072)
    identity_id, _, principal_id = seed.create_identity(az, sub, "rg-registries", "id-hsm")
    hsm_id = f"/subscriptions/{sub}/resourceGroups/rg-registries/providers/Microsoft.KeyVault/managedHSMs/hsm-acr"
    seed.grant(az, principal_id, "Managed HSM Crypto Service Encryption User", hsm_id)
    seed.create_registry(az, sub, "rg-registries", "acrhsm", identity_id=identity_id, key_id=str(key.id))
    new = seed.create_key(az, hsm_url, "acr-hsm", "RSA-HSM", size=3072)
    hsm = by_name(engine.run(RunRequest.sweep()))["acrhsm"]
    assert (hsm.result, hsm.to_version, hsm.vault) == (Result.ROTATED, new.properties.version,
                                                         "hsm-acr.managedhsm.azure.net")


def test_cli_status_and_dry_run_against_the_stand_in(az, estate, app_env) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)
    status = subprocess.run([sys.executable, "-m", "shared", "status", "--json"], env=app_env, capture_output=True,
                            text=True, timeout=60, check=True)
    assert {r["name"] for r in json.loads(status.stdout)["registries"]} == {"acrpinned", "acrversionless",
                                                                            "acroptedout"}
    table = subprocess.run([sys.executable, "-m", "shared", "sweep", "--dry-run"], env=app_env, capture_output=True,
                           text=True, timeout=60, check=True)
    assert "acrpinned" in table.stdout and "planned" in table.stdout and "(dry run)" in table.stdout
    assert not app_patches(az)
    bad = subprocess.run([sys.executable, "-m", "shared", "rotate", "--key", "https://evil.example.com/keys/k"],
                         env=app_env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and json.loads(bad.stdout)["error"]["field"] == "key"


def status_problems(engine) -> dict[str, list[str]]:
    return {r["name"]: r["problems"] for r in engine.status().to_dict()["registries"]}


def test_the_sweep_finds_an_identity_that_lost_access_to_its_key(az, estate, engine) -> None:
    assert status_problems(engine)["acrpinned"] == []
    authorization = AuthorizationManagementClient(az.admin_credential, estate.subscription_id,
                                                  **seed.client_options(az))
    authorization.role_assignments.delete_by_id(estate.key_access_assignment_id)
    problems = status_problems(engine)
    assert all("IDENTITY_WITHOUT_KEY_ACCESS" in problems[name] for name in problems)
    report = engine.run(RunRequest.sweep(dry_run=True))
    assert "IDENTITY_WITHOUT_KEY_ACCESS" in report.to_dict()["problemsFound"][estate.registries["acrpinned"]]


def test_the_sweep_judges_access_to_a_key_in_a_subscription_without_registries(az, estate, engine) -> None:
    # A central security subscription holds the vault; the registries live elsewhere.
    security = az.subscription_ids[1]
    vault_url = seed.create_vault(az, security, "rg-security", "kv-central", purge_protection=True)
    key = seed.create_key(az, vault_url, "acr-central")
    vault_id = f"/subscriptions/{security}/resourceGroups/rg-security/providers/Microsoft.KeyVault/vaults/kv-central"
    access = seed.grant(az, estate.identity_principal_id, "Key Vault Crypto Service Encryption User", vault_id)
    seed.create_registry(az, estate.subscription_id, "rg-registries", "acrcentral", identity_id=estate.identity_id,
                         key_id=str(key.id))
    assert status_problems(engine)["acrcentral"] == []
    AuthorizationManagementClient(az.admin_credential, security, **seed.client_options(az)) \
        .role_assignments.delete_by_id(access)
    assert status_problems(engine)["acrcentral"] == ["IDENTITY_WITHOUT_KEY_ACCESS"]


def test_diagnosis_that_cannot_read_reports_unknown_and_never_blocks_a_rotation(az, estate, engine) -> None:
    az.inject_fault(method="GET", path_contains="/providers/Microsoft.KeyVault/vaults", status=403, times=100)
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    report = engine.run(RunRequest.sweep())
    assert by_name(report)["acrpinned"].to_version == new.properties.version
    assert by_name(report)["acrpinned"].result == Result.ROTATED
    assert "KEY_ACCESS_UNKNOWN" in report.diagnosis[estate.registries["acrpinned"]]


def test_diagnosis_reads_are_cached_per_vault_and_identity(az, estate, engine) -> None:
    before = len(az.requests)
    status_problems(engine)
    reads = [r["path"] for r in az.requests[before:]]
    # Vaults are listed once in each subscription that holds registries (or is configured as in scope).
    assert sum(p.endswith("/providers/Microsoft.KeyVault/vaults") for p in reads) == 1
    assert sum("roleAssignments" in p for p in reads) == 1  # three registries, one identity, one vault


def test_a_local_cli_run_is_attributed_to_the_identity_its_credential_signs_in_as(az, estate, app_env) -> None:
    done = subprocess.run([sys.executable, "-m", "shared", "rotate", "--registry", estate.registries["acrpinned"],
                           "--dry-run", "--json", "--reason", "checking before the change window"], env=app_env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    [outcome] = json.loads(done.stdout)["outcomes"]
    who = outcome["requestedBy"]
    assert (who["kind"], who["objectId"], who["tenantId"]) == ("cli", az.principal_id, az.world.tenant_id)
    assert outcome["requestReason"] == "checking before the change window"
