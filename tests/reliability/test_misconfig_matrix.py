"""The misconfiguration matrix: what a misconfigured tenant does, one test per row, against the stand-in through the
unmodified SDKs (each row switched on with ``az.misconfig``; docs/misconfig-standin.md).

Expected every time: the precise reason, its class (temporary or permanent), a detail ending with the fix, and
nothing written that should not be. RELIABILITY.md maps each row to its test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from emulator import seed
from shared.composition import build_engine
from shared.reasons import Problem, Reason, Result
from shared.requests import RunRequest

pytestmark = pytest.mark.standin
REGISTRY_WRITER = "Container Registry Contributor and Data Access Configuration Administrator"
VAULT = "kv-acr-demo"


def pinned(report):
    return next(o for o in report.outcomes if o.registry_name == "acrpinned")


def sent_to_azure(az, since: int) -> list[dict]:
    """Requests that reached ARM or Key Vault (not the identity endpoints)."""
    return [r for r in az.requests[since:]
            if r["host"] == "management.azure.com" or r["host"].endswith(".vault.azure.net")]


def app_patches(az) -> list[dict]:
    return [r for r in az.requests if r["method"] == "PATCH" and r["principal"] == az.principal_id]


# --- Who the app is -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["status", "sweep"])
def test_no_credential_at_all_says_so_exits_3_and_sends_nothing(az, estate, tmp_path, command) -> None:
    before = len(az.requests)
    env = {**az.env_without_credential(home=tmp_path), "ROTATION_POLL_INTERVAL_SECONDS": "0.05"}
    done = subprocess.run([sys.executable, "-m", "shared", command], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("Could not authenticate to Azure.") and "az login" in done.stderr
    assert "NO_CREDENTIAL" in done.stdout and "DefaultAzureCredential failed" not in done.stderr  # chain: DEBUG
    assert sent_to_azure(az, before) == []


def test_a_managed_identity_not_attached_is_named(az, estate, app_env, monkeypatch) -> None:
    monkeypatch.setenv("AZURE_CLIENT_ID", str(uuid.uuid4()))  # DefaultAzureCredential reads it from the environment
    engine = build_engine(app_env)
    report = engine.run(RunRequest.sweep(dry_run=True))
    assert [(p.scope, p.reason, p.transient) for p in report.problems] == [
        ("credential", Reason.MANAGED_IDENTITY_NOT_FOUND, False)]
    assert "AZURE_CLIENT_ID" in report.problems[0].detail


def test_a_token_for_another_tenant_is_wrong_tenant_on_arm_and_key_vault(az, estate, app_env) -> None:
    az.misconfig.token_tenant()
    engine = build_engine({**app_env, "ROTATION_SUBSCRIPTION_IDS": estate.subscription_id})
    report = engine.run(RunRequest.sweep(dry_run=True))
    assert [(p.reason, p.transient) for p in report.problems] == [(Reason.WRONG_TENANT, False)]
    assert az.world.tenant_id in report.problems[0].detail  # names the tenant to sign in to


def test_an_expired_token_is_temporary(az, estate, engine) -> None:
    engine.run(RunRequest.sweep(dry_run=True))  # tokens cached
    az.misconfig.expire_tokens(az.principal_id)
    report = engine.run(RunRequest.sweep(dry_run=True))
    assert report.problems and {(p.reason, p.transient) for p in report.problems} == {(Reason.TOKEN_REJECTED, True)}


def test_a_claims_challenge_is_answered_by_azure_core_once_and_surfaces_the_second_time(az, estate, engine) -> None:
    az.misconfig.claims_challenge("arm", "insufficient_claims", times=1)
    assert not engine.run(RunRequest.sweep(dry_run=True)).problems  # azure-core answered it: nothing to handle
    az.misconfig.claims_challenge("arm", "insufficient_claims", times=2)
    report = engine.run(RunRequest.sweep(dry_run=True))
    assert {(p.reason, p.transient) for p in report.problems} == {(Reason.CLAIMS_CHALLENGE_FAILED, False)}


# --- Where it may look, and what it may write -----------------------------------------------------------------

def test_authorization_failed_on_the_update_names_the_action_and_the_role(az, estate, engine) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)
    az.misconfig.revoke(az.principal_id, REGISTRY_WRITER)
    outcome = pinned(engine.run(RunRequest.sweep()))
    assert (outcome.result, outcome.reason, outcome.transient) == (Result.FAILED, Reason.FORBIDDEN, False)
    assert "Microsoft.ContainerRegistry/registries/write" in outcome.detail
    assert f"Fix: grant the app's identity {REGISTRY_WRITER}" in outcome.detail


def test_a_subscription_that_does_not_exist_is_a_permanent_run_problem(az, estate, app_env) -> None:
    missing = str(uuid.uuid4())
    engine = build_engine({**app_env, "ROTATION_SUBSCRIPTION_IDS": f"{estate.subscription_id},{missing}"})
    report = engine.run(RunRequest.sweep(dry_run=True))
    assert [(p.scope, p.reason, p.transient) for p in report.problems] == [
        (f"/subscriptions/{missing}", Reason.SUBSCRIPTION_NOT_FOUND, False)]
    assert pinned(report).result == Result.UNCHANGED  # the rest goes on


def test_an_unregistered_provider_is_reported_and_never_registered_by_the_app(az, estate, engine) -> None:
    az.misconfig.unregister_provider(estate.subscription_id, "Microsoft.ContainerRegistry")
    report = engine.run(RunRequest.sweep(dry_run=True))
    [problem] = [p for p in report.problems if p.reason == Reason.PROVIDER_NOT_REGISTERED]
    assert not problem.transient
    assert f"az provider register --namespace Microsoft.ContainerRegistry --subscription {estate.subscription_id}" \
        in problem.detail
    assert az.provider_registrations == []
    assert not [r for r in az.requests if r["path"].lower().endswith("/register")]


# --- What it may read in Key Vault, and whether the key is there ----------------------------------------------

def test_key_vault_rbac_refusal_names_the_role(az, estate, engine) -> None:
    az.misconfig.revoke(az.principal_id, "Key Vault Reader")
    outcome = pinned(engine.run(RunRequest.sweep()))
    assert (outcome.reason, outcome.transient) == (Reason.KEY_FORBIDDEN_BY_RBAC, False)
    assert f"grant the app's identity Key Vault Reader on vault {VAULT}" in outcome.detail
    assert not app_patches(az)


@pytest.mark.parametrize("innererror", ["ForbiddenByPolicy", "AccessDenied"])
def test_an_access_policy_vault_without_a_policy_for_the_app_names_the_permissions(az, estate, engine,
                                                                                   innererror) -> None:
    from emulator.misconfig import access_policy

    az.misconfig.policy_innererror(innererror)
    az.misconfig.access_policies(VAULT, [access_policy(estate.identity_principal_id, ["get", "wrapKey", "unwrapKey"])])
    outcome = pinned(engine.run(RunRequest.sweep()))
    assert (outcome.reason, outcome.transient) == (Reason.KEY_FORBIDDEN_BY_POLICY, False)
    assert "key permissions get, list" in outcome.detail


def test_a_vault_firewall_is_named_with_its_fix(az, estate, engine) -> None:
    az.misconfig.firewall(VAULT, "Deny")
    outcome = pinned(engine.run(RunRequest.sweep()))
    assert (outcome.reason, outcome.transient) == (Reason.KEY_FORBIDDEN_BY_FIREWALL, False)
    assert "not a trusted Microsoft service" in outcome.detail


def test_a_vault_reachable_only_by_private_link_is_named_with_its_fix(az, estate, engine) -> None:
    az.misconfig.public_network_access(VAULT, enabled=False)
    outcome = pinned(engine.run(RunRequest.sweep()))
    assert (outcome.reason, outcome.transient) == (Reason.KEY_FORBIDDEN_BY_PRIVATE_LINK, False)
    assert "private endpoint" in outcome.detail


def test_a_soft_deleted_key_is_recoverable_and_a_purged_one_is_gone(az, estate, engine) -> None:
    az.misconfig.delete_key(VAULT, estate.key_name)
    outcome = pinned(engine.run(RunRequest.sweep()))
    assert (outcome.reason, outcome.transient) == (Reason.KEY_SOFT_DELETED, False)
    assert f"az keyvault key recover --vault-name {VAULT} --name {estate.key_name}" in outcome.detail


def test_a_purged_key_is_gone(az, estate, engine) -> None:
    az.misconfig.delete_key(VAULT, estate.key_name, purge=True)
    outcome = pinned(engine.run(RunRequest.sweep()))
    assert (outcome.reason, outcome.transient) == (Reason.KEY_NOT_FOUND, False)


@pytest.mark.parametrize("purge", [False, True], ids=["soft-deleted", "purged"])
def test_a_deleted_vault_is_permanent_once_arm_confirms_it(az, estate, engine, purge) -> None:
    az.misconfig.delete_vault(VAULT, purge=purge)
    outcome = pinned(engine.run(RunRequest.sweep()))
    assert (outcome.reason, outcome.transient) == (Reason.VAULT_DELETED, False)
    assert f"az keyvault recover --name {VAULT}" in outcome.detail
    assert az.unexpected_egress == []


# --- The registries' own identities, and the vault's configuration ---------------------------------------------

def status_problems(engine) -> dict[str, tuple]:
    return {r.registry.name: r.problems for r in engine.status().registries}


def test_a_registry_identity_without_key_access_is_found_and_its_update_refused(az, estate, engine) -> None:
    az.misconfig.revoke(estate.identity_principal_id, "Key Vault Crypto Service Encryption User")
    assert Problem.IDENTITY_WITHOUT_KEY_ACCESS in status_problems(engine)["acrpinned"]
    seed.create_key(az, estate.vault_url, estate.key_name)
    outcome = pinned(engine.run(RunRequest.sweep()))
    assert (outcome.reason, outcome.transient) == (Reason.UPDATE_REJECTED, False)
    assert "Failed to access KeyId" in outcome.detail  # ACR's own words


def test_a_firewalled_vault_blocks_registries_with_a_user_assigned_identity(az, estate, engine) -> None:
    az.misconfig.firewall(VAULT, "Deny", ip_rules=("203.0.113.0/24",))  # the app's address is allowed
    problems = status_problems(engine)
    assert Problem.VAULT_FIREWALL_BLOCKS_REGISTRY in problems["acrpinned"]


def test_a_vault_without_purge_protection_is_a_risk(az, estate, engine) -> None:
    assert Problem.VAULT_WITHOUT_PURGE_PROTECTION not in status_problems(engine)["acrpinned"]
    az.misconfig.purge_protection(VAULT, on=False)
    assert Problem.VAULT_WITHOUT_PURGE_PROTECTION in status_problems(engine)["acrpinned"]


def test_the_cli_json_answer_for_a_misconfiguration_names_reason_and_fix(az, estate, app_env) -> None:
    az.misconfig.revoke(az.principal_id, "Key Vault Reader")
    done = subprocess.run([sys.executable, "-m", "shared", "sweep", "--dry-run", "--json"], env=app_env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    [row] = [o for o in json.loads(done.stdout)["outcomes"] if o["name"] == "acrpinned"]
    assert row["reason"] == "KEY_FORBIDDEN_BY_RBAC" and "Fix:" in row["detail"]


def test_a_token_for_another_tenant_without_configured_subscriptions_is_not_silent(az, estate, engine) -> None:
    """ARM lists the other tenant's subscriptions for the identity (none): no call ever answers 401."""
    az.misconfig.token_tenant()
    report = engine.run(RunRequest.sweep(dry_run=True))
    assert [(p.reason, p.transient) for p in report.problems] == [(Reason.NO_SUBSCRIPTIONS, False)]
    assert "another tenant" in report.problems[0].detail
