"""doctor's checks as pure functions over facts: each can fail for the reason its name gives."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from types import MappingProxyType

import pytest

from shared import triggers
from shared.__main__ import exit_code as cli_exit_code
from shared.__main__ import parser, show
from shared.composition import doctor as run_doctor
from shared.doctor import (
    BAD_SETTINGS,
    CREATE_DATA_ACTION,
    FAILED,
    KEY_EVENTS,
    NOT_AUTHENTICATED,
    OK,
    Delivery,
    Facts,
    Failure,
    Identity,
    Permissions,
    RegistryFacts,
    Status,
    Topic,
    VaultFacts,
    allows,
    checks,
    creatable_check,
    event_grid_check,
    exit_code,
    ran_from,
    registry_check,
    report,
    telemetry_check,
)
from shared.model import VaultAccess
from shared.reasons import Problem, Reason

APP_OID = "11111111-1111-1111-1111-111111111111"
VAULT_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv"
FUNCTION = "/subscriptions/s/resourceGroups/rg-app/providers/Microsoft.Web/sites/{app}/functions/on_key_event"
TELEMETRY = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://x.example/"
WHO = Identity("ManagedIdentityCredential", "tenant", APP_OID)
ARM_VAULT = VaultAccess(VAULT_ID, "kv", True)
GOOD_TOPIC = Topic("/t/evgt-kv", (Delivery("on-key-event", FUNCTION.format(app="func-a"), KEY_EVENTS, True),))


def facts(**changes: object) -> Facts:
    vault = VaultFacts("kv", VaultAccess(VAULT_ID, "kv", True), keys=("k",), topic=GOOD_TOPIC)
    base = Facts("the operator's machine m", False, identity=WHO, subscriptions=("s",), vaults=(vault,),
                 registries=(RegistryFacts("acr", "kv", (), "client-id"),), app_name="func-a", telemetry=TELEMETRY)
    return replace(base, **changes)  # type: ignore[arg-type]


def statuses(f: Facts) -> dict[str, Status]:
    return {c.name: c.status for c in checks(f)}


def test_a_well_configured_deployment_passes_every_check_in_order() -> None:
    found = checks(facts())
    assert [c.status for c in found] == [Status.PASS] * len(found)
    assert [c.name for c in found][:3] == ["settings", "credential", "ARM: subscriptions listable"]
    assert found[-1].name == "Application Insights" and exit_code(report(facts())) == OK


@pytest.mark.parametrize(("entries", "allowed"), [
    ((Permissions(("Microsoft.KeyVault/vaults/keys/*",)),), True),  # Key Vault Crypto Officer
    ((Permissions(("Microsoft.KeyVault/vaults/*/read",)),), False),  # Key Vault Reader
    ((Permissions(("Microsoft.KeyVault/vaults/*",), ("Microsoft.KeyVault/vaults/keys/rotate/action",)),), False),
    ((Permissions(("microsoft.keyvault/VAULTS/keys/*",)),), True),  # compared case-insensitively
    ((Permissions(("*",), ("Microsoft.KeyVault/vaults/keys/*",)), Permissions(("Microsoft.KeyVault/*",))), True),
])
def test_effective_permissions_follow_azure_rbac_rules(entries: tuple[Permissions, ...], allowed: bool) -> None:
    assert allows(entries, CREATE_DATA_ACTION) is allowed


def test_key_creation_on_an_access_policy_vault_is_judged_from_the_apps_own_policy() -> None:
    policy = VaultAccess(VAULT_ID, "kv", False, MappingProxyType({APP_OID: frozenset({"get", "list"})}))
    vault = VaultFacts("kv", policy)
    check = creatable_check(vault, facts())
    assert (check.status, check.reason) == (Status.FAIL, Reason.KEY_FORBIDDEN_BY_POLICY)
    assert "get, list, rotate" in check.fix
    granted = replace(policy, policies=MappingProxyType({APP_OID: frozenset({"get", "list", "rotate"})}))
    assert creatable_check(replace(vault, access=granted), facts()).status == Status.PASS


def test_unreadable_permissions_warn_rather_than_guess() -> None:
    vault = VaultFacts("kv", VaultAccess(VAULT_ID, "kv", True), permissions=Failure(Reason.FORBIDDEN, "x. Fix: y"))
    check = creatable_check(vault, facts())
    assert (check.status, check.reason, check.detail, check.fix) == (Status.WARN, Reason.FORBIDDEN, "x", "y")


def test_a_subscription_to_another_apps_function_does_not_count() -> None:
    other = Topic("/t/evgt-kv", (Delivery("theirs", FUNCTION.format(app="func-b"), KEY_EVENTS, True),))
    check = event_grid_check(VaultFacts("kv", ARM_VAULT, topic=other), facts())
    assert (check.status, check.reason) == (Status.FAIL, Problem.EVENT_SUBSCRIPTION_MISSING)
    assert "evgt-kv" in check.detail


def test_all_event_types_count_and_an_unnamed_app_warns() -> None:
    every = Topic("/t/evgt-kv", (Delivery("all", FUNCTION.format(app="func-a"), None, True),))
    assert event_grid_check(VaultFacts("kv", ARM_VAULT, topic=every), facts()).status == Status.PASS
    assert event_grid_check(VaultFacts("kv", ARM_VAULT, topic=every), facts(app_name="")).status == Status.WARN
    vault = VaultAccess(VAULT_ID, "kv", True)
    assert event_grid_check(VaultFacts("kv", vault), facts()).reason == Problem.EVENT_SUBSCRIPTION_MISSING
    unknown = event_grid_check(VaultFacts("kv"), facts())  # not found in ARM: not looked for, so not judged missing
    assert (unknown.status, unknown.reason) == (Status.WARN, Problem.KEY_ACCESS_UNKNOWN)


def test_the_registry_check_reuses_the_diagnosis() -> None:
    missing = registry_check(RegistryFacts("acr", "kv", (Problem.IDENTITY_MISSING,), "client-id"))
    assert (missing.status, missing.reason) == (Status.FAIL, Problem.IDENTITY_MISSING)
    assert "az acr identity assign --identities client-id" in missing.fix
    unknown = registry_check(RegistryFacts("acr", "kv", (Problem.KEY_ACCESS_UNKNOWN,), "client-id"))
    assert unknown.status == Status.WARN


def test_telemetry_fails_in_the_app_and_warns_on_a_machine() -> None:
    assert telemetry_check(facts(telemetry="")).status == Status.WARN
    assert telemetry_check(facts(telemetry="", in_app=True)).status == Status.FAIL
    assert telemetry_check(facts(telemetry="InstrumentationKey=x")).reason == Problem.TELEMETRY_NOT_CONFIGURED


def test_exit_codes_and_where_each_stops() -> None:
    bad = report(facts(settings_error="ROTATION_DRY_RUN must be true or false, not 'maybe'"))
    assert [c.name for c in bad.checks] == ["settings"] and exit_code(bad) == BAD_SETTINGS
    nobody = report(facts(identity=Failure(Reason.NO_CREDENTIAL, "no credential. Fix: run `az login`")))
    assert [c.name for c in nobody.checks] == ["settings", "credential"] and exit_code(nobody) == NOT_AUTHENTICATED
    assert nobody.checks[1].fix == "run `az login`"
    tenant = report(facts(subscriptions=Failure(Reason.WRONG_TENANT, "other tenant")))
    assert exit_code(tenant) == NOT_AUTHENTICATED
    no_topic = VaultFacts("kv", VaultAccess(VAULT_ID, "kv", True))
    assert exit_code(report(facts(vaults=(no_topic,)))) == FAILED  # no topic: a FAIL
    assert exit_code(report(facts(telemetry=""))) == OK  # a WARN only


def test_where_it_ran_from() -> None:
    assert ran_from({"WEBSITE_SITE_NAME": "func-a", "FUNCTIONS_WORKER_RUNTIME": "python"}, "m") == (
        "the deployed app func-a (its own network: its VNet when integrated)", True)
    assert ran_from({}, "laptop")[0].startswith("the operator's machine laptop")


@pytest.mark.parametrize("env", [{"ROTATION_DRY_RUN": "maybe"}, {"EVENTGRID_SYSTEM_TOPIC_IDS": "/not/a/topic"}])
def test_bad_settings_exit_2_before_anything_is_asked_of_azure(env: dict[str, str], capsys) -> None:
    answer = triggers.doctor(run=lambda app: run_doctor(env, app))
    assert answer.status == 200 and cli_exit_code(answer) == BAD_SETTINGS
    assert show(parser().parse_args(["doctor"]), answer) == BAD_SETTINGS
    out = capsys.readouterr().out
    assert out.splitlines()[1].startswith("FAIL  settings: ") and next(iter(env)) in out


def test_the_cli_prints_each_check_with_its_fix_or_json(capsys) -> None:
    no_topic = VaultFacts("kv", VaultAccess(VAULT_ID, "kv", True))
    answer = triggers.doctor("func-a", run=lambda app: report(facts(app_name=app, vaults=(no_topic,))))
    assert show(parser().parse_args(["doctor", "--app", "func-a"]), answer) == FAILED
    text = capsys.readouterr().out
    assert "FAIL  vault kv: Event Grid delivers key events to on_key_event" in text
    assert "fix: run the postdeploy" in text
    assert show(argparse.Namespace(json=True, command="doctor"), answer) == FAILED
    body = json.loads(capsys.readouterr().out)
    assert body == answer.body and body["counts"]["FAIL"] >= 1 and body["checks"][0]["check"] == "settings"


@pytest.mark.parametrize(("permissions", "status"), [
    ((Permissions(("Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/update/action")),),
     Status.PASS),
    ((Permissions(("Microsoft.KeyVault/vaults/keys/read",)),), Status.FAIL),
    (Failure(Reason.FORBIDDEN, "not readable. Fix: grant Reader"), Status.WARN),
], ids=["read and update: the retirement role", "read only", "permissions not readable"])
def test_with_retirement_on_doctor_judges_whether_versions_can_be_disabled(permissions, status) -> None:
    vault = VaultFacts("kv", ARM_VAULT, keys=("k",), topic=GOOD_TOPIC, permissions=permissions)
    found = statuses(facts(retire=True, vaults=(vault,)))
    assert found["vault kv: superseded versions can be disabled (retirement)"] == status
    assert "vault kv: superseded versions can be disabled (retirement)" not in statuses(facts(vaults=(vault,)))
