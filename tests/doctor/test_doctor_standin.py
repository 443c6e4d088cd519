"""``doctor`` end to end through the unmodified SDKs against the stand-in: it passes on the demo estate, and each
thing broken on its own FAILs or WARNs exactly the check about it, with the fix."""

from __future__ import annotations

import json
import os

import pytest
from azure.mgmt.eventgrid import EventGridManagementClient

from emulator import AzureStandIn, seed
from emulator.scenario import RESOURCE_GROUP, Estate
from emulator.world import KEY_VAULT_CRYPTO_OFFICER, KEY_VAULT_READER, READER
from shared.composition import doctor
from shared.doctor import OK, Check, DoctorReport, Status, exit_code
from shared.reasons import Problem, Reason
from tests.doctor.conftest import APP, SUBSCRIPTION, TOPIC, VAULT, Deployment, deploy_event_grid

pytestmark = pytest.mark.standin

READ_NAME = f"vault {VAULT}: keys readable by the app"
REACH_NAME = f"vault {VAULT}: reachable through its network rules"
CREATE_NAME = f"vault {VAULT}: new key versions creatable (auto-rotation)"
GRID_NAME = f"vault {VAULT}: Event Grid delivers key events to on_key_event"


def run(**env: str) -> DoctorReport:
    return doctor({**os.environ, **env}, app_name=APP)


def not_passing(report: DoctorReport) -> dict[str, Check]:
    return {c.name: c for c in report.checks if c.status != Status.PASS}


def app_requests(az: AzureStandIn, since: int) -> list[dict]:
    return [r for r in az.requests[since:] if r.get("principal") == az.principal_id]


def test_doctor_passes_on_the_demo_estate_and_writes_nothing(az: AzureStandIn, deployment: Deployment) -> None:
    since = len(az.requests)
    report = run()
    assert not_passing(report) == {} and exit_code(report) == OK
    names = [c.name for c in report.checks]
    assert names[:3] == ["settings", "credential", "ARM: subscriptions listable"]
    assert names[-1] == "Application Insights" and GRID_NAME in names and READ_NAME in names
    credential = report.checks[1].detail
    assert "ManagedIdentityCredential" in credential and az.principal_id in credential
    assert az.world.tenant_id in credential
    assert "eyJ" not in json.dumps(report.to_dict()), "the token itself is never shown"
    sent = app_requests(az, since)
    assert sent and {r["method"] for r in sent} == {"GET"}, "doctor only reads"
    assert az.provider_registrations == []


def test_a_removed_role_fails_exactly_the_readability_check(az: AzureStandIn, deployment: Deployment) -> None:
    assert az.misconfig.revoke(az.principal_id, KEY_VAULT_READER) > 0
    failing = not_passing(run())
    assert list(failing) == [READ_NAME]
    check = failing[READ_NAME]
    assert (check.status, check.reason) == (Status.FAIL, Reason.KEY_FORBIDDEN_BY_RBAC)
    assert "Key Vault Reader" in check.fix and VAULT in check.fix


def test_auto_rotation_judges_key_creation_from_effective_permissions_without_creating(
        az: AzureStandIn, deployment: Deployment) -> None:
    def versions() -> int:
        return len(list(seed.key_client(az, deployment.estate.vault_url).list_properties_of_key_versions("acr-cmk")))

    before = versions()
    failing = not_passing(run(ROTATION_AUTO_ROTATE_KEYS="true"))
    assert list(failing) == [CREATE_NAME]
    assert failing[CREATE_NAME].reason == Reason.KEY_FORBIDDEN_BY_RBAC
    assert "Key Vault Crypto Officer" in failing[CREATE_NAME].fix
    group = az.misconfig.add_group([az.principal_id])  # a grant to a group the app is in counts
    az.grant(group, KEY_VAULT_CRYPTO_OFFICER, deployment.vault_id)
    assert not_passing(run(ROTATION_AUTO_ROTATE_KEYS="true")) == {}
    assert versions() == before, "nothing was created"


def test_a_vault_firewall_fails_the_network_check_from_where_it_ran(az: AzureStandIn,
                                                                    deployment: Deployment) -> None:
    az.misconfig.firewall(VAULT, "Deny", ip_rules=("198.51.100.0/24",))
    failing = not_passing(run())
    reach = failing.pop(REACH_NAME)
    assert (reach.status, reach.reason) == (Status.FAIL, Reason.KEY_FORBIDDEN_BY_FIREWALL)
    assert "networking rules" in reach.fix and reach.ran_from.startswith("the operator's machine")
    # The same firewall keeps ACR out too: the pinned registry's identity is user-assigned, not a trusted service.
    assert [(c.name, c.reason) for c in failing.values()] == [
        ("registry acrpinned: identity and key access", Problem.VAULT_FIREWALL_BLOCKS_REGISTRY)]


def test_a_deleted_event_subscription_fails_the_event_grid_check(az: AzureStandIn, deployment: Deployment) -> None:
    client = EventGridManagementClient(az.admin_credential, deployment.estate.subscription_id,
                                       **seed.client_options(az))
    client.system_topic_event_subscriptions.begin_delete(RESOURCE_GROUP, TOPIC, SUBSCRIPTION).result()
    failing = not_passing(run())
    assert list(failing) == [GRID_NAME]
    assert (failing[GRID_NAME].status, failing[GRID_NAME].reason) == (Status.FAIL, Problem.EVENT_SUBSCRIPTION_MISSING)
    assert "postdeploy" in failing[GRID_NAME].fix


def test_a_subscription_without_dead_letter_warns_and_one_missing_an_event_fails(az: AzureStandIn,
                                                                                 estate: Estate) -> None:
    deploy_event_grid(az, estate, dead_letter=False)
    assert [(c.name, c.status, c.reason) for c in not_passing(run()).values()] == [
        (GRID_NAME, Status.WARN, Problem.DEAD_LETTER_MISSING)]
    deploy_event_grid(az, estate, event_types=seed.KEY_EVENTS[:1])
    check = not_passing(run())[GRID_NAME]
    assert (check.status, check.reason) == (Status.FAIL, Problem.EVENT_TYPES_MISSING)
    assert "Microsoft.KeyVault.KeyNearExpiry, Microsoft.KeyVault.KeyExpired" in check.detail


def test_a_missing_grant_on_the_system_topic_warns_and_the_infra_grant_clears_it(az: AzureStandIn,
                                                                                 deployment: Deployment) -> None:
    """Where the app holds no Reader on the vault's resource group, it reads the topic infra names, by its id, with
    Reader on that topic alone (infra/app/rbac-systemtopic.bicep)."""
    sub = deployment.estate.subscription_id
    az.misconfig.revoke(az.principal_id, READER, f"/subscriptions/{sub}")
    check = not_passing(run())[GRID_NAME]
    assert (check.status, check.reason) == (Status.WARN, Reason.FORBIDDEN)
    assert "Reader on the vault's Event Grid system topic" in check.fix
    topic_id = f"/subscriptions/{sub}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.EventGrid/systemTopics/" \
               f"{TOPIC}"
    az.grant(az.principal_id, READER, topic_id)
    assert not_passing(run(EVENTGRID_SYSTEM_TOPIC_IDS=topic_id)) == {}


def test_a_fresh_vault_without_purge_protection_warns_on_that_vault_only(az: AzureStandIn,
                                                                        deployment: Deployment) -> None:
    estate, sub = deployment.estate, deployment.estate.subscription_id
    url = seed.create_vault(az, sub, RESOURCE_GROUP, "kv-nopurge")  # purge protection is opt-in
    key = seed.create_key(az, url, "acr-cmk-2", "RSA", size=2048)
    vault_id = az.misconfig.vault("kv-nopurge").resource_id
    seed.grant(az, estate.identity_principal_id, "Key Vault Crypto Service Encryption User", vault_id)
    seed.create_registry(az, sub, RESOURCE_GROUP, "acrnopurge", identity_id=estate.identity_id, key_id=str(key.id))
    seed.create_system_topic(az, sub, RESOURCE_GROUP, "evgt-kv-nopurge", vault_id)
    seed.create_event_subscription(az, sub, RESOURCE_GROUP, "evgt-kv-nopurge", SUBSCRIPTION,
                                   function_id=deployment.function_id,
                                   dead_letter=(deployment.storage_id, "deadletters"))
    failing = not_passing(run())
    assert list(failing) == ["vault kv-nopurge: soft delete and purge protection"]
    check = failing["vault kv-nopurge: soft delete and purge protection"]
    assert (check.status, check.reason) == (Status.WARN, Problem.VAULT_WITHOUT_PURGE_PROTECTION)
    assert "az keyvault update --name kv-nopurge --enable-purge-protection true" in check.fix


def test_in_the_deployed_app_it_says_so_and_missing_telemetry_fails(az: AzureStandIn, deployment: Deployment) -> None:
    report = doctor({**os.environ, "WEBSITE_SITE_NAME": APP, "FUNCTIONS_WORKER_RUNTIME": "python",
                     "APPLICATIONINSIGHTS_CONNECTION_STRING": ""})
    assert report.ran_from.startswith(f"the deployed app {APP}")
    assert [(c.name, c.status, c.reason) for c in not_passing(report).values()] == [
        ("Application Insights", Status.FAIL, Problem.TELEMETRY_NOT_CONFIGURED)]
    assert next(c for c in report.checks if c.name == REACH_NAME).ran_from == report.ran_from
