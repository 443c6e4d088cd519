"""Retirement end to end against the stand-in, through the official SDKs: the estate is seeded in the past (the
stand-in's clock moved back), so that its versions and rotations are weeks old when the app reads them now."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerregistry import models as acr

from emulator import seed
from emulator.scenario import RESOURCE_GROUP, Estate, seed_estate
from emulator.standin import AzureStandIn
from shared.__main__ import parser
from shared.engine import RotationEngine
from shared.reasons import RetireCheck, RetireResult
from shared.requests import RunRequest
from shared.retirement import RETIRE_TAG
from shared.retirement_cli import run

pytestmark = pytest.mark.standin
DAY = 86400.0


@dataclass
class Settled:
    estate: Estate
    v1: str
    v2: str
    vault_id: str

    def uri(self, version: str) -> str:
        return f"{self.estate.key_url}/{version}"


def repoint(az: AzureStandIn, estate: Estate, name: str, key_id: str, subscription: str | None = None,
            wait: bool = True) -> None:
    """An administrator moves a registry's key (ACR sets lastKeyRotationTimestamp when it accepts the PATCH)."""
    client = ContainerRegistryManagementClient(az.admin_credential, subscription or estate.subscription_id,
                                               **seed.client_options(az))
    poller = client.registries.begin_update(RESOURCE_GROUP, name, acr.RegistryUpdateParameters(
        encryption=acr.EncryptionProperty(status="enabled", key_vault_properties=acr.KeyVaultProperties(
            key_identifier=key_id, identity=estate.identity_client_id))), polling_interval=0.05)
    if wait:
        poller.result()


def settle(az: AzureStandIn, *, keep_opted_out_on_v1: bool = False, before_now=None) -> Settled:
    """V1 made 40 days ago and tagged 14; V2 made by rotation 30 days ago; every registry moved to V2 then (the
    versionless one by ACR itself). The admin's Key Vault Administrator role (which can unwrap) is gone; the app
    holds the retirement role on the vault."""
    az.world.advance(-40 * DAY)
    estate = seed_estate(az)
    seed.update_key(az, estate.vault_url, estate.key_name, tags={RETIRE_TAG: "14"})
    az.world.advance(10 * DAY)
    v2 = str(seed.rotate_key(az, estate.vault_url, estate.key_name).properties.version)
    repoint(az, estate, "acrpinned", f"{estate.key_url}/{v2}")
    if not keep_opted_out_on_v1:
        repoint(az, estate, "acroptedout", f"{estate.key_url}/{v2}")
    if before_now is not None:
        before_now(estate, v2)
    az.world.advance(30 * DAY)
    vault_id = (f"/subscriptions/{estate.subscription_id}/resourceGroups/{RESOURCE_GROUP}/providers/"
                "Microsoft.KeyVault/vaults/kv-acr-demo")
    az.world.revoke(az.admin_principal_id, "Key Vault Administrator")
    az.grant(az.principal_id, "ACR CMK Key Version Retirement", vault_id)
    return Settled(estate, estate.first_version, v2, vault_id)


def version_enabled(az: AzureStandIn, settled: Settled, version: str) -> bool:
    key = az.world.keys[(settled.estate.vault_url.split("//")[1].rstrip("/"), settled.estate.key_name)]
    return next(v.enabled for v in key.versions if v.version == version)


def app_key_patches(az: AzureStandIn) -> list[dict]:
    return [r for r in az.requests if r["method"] == "PATCH" and "/keys/" in r["path"]
            and r["principal"] == az.principal_id]


def plan_of(engine: RotationEngine):
    assert engine.retirement is not None
    plan, _, problems = engine.retirement.plan()
    return plan, problems


def failed(plan, version: str) -> set[RetireCheck]:
    [candidate] = [c for c in plan.candidates if c.version == version]
    return {e.check for e in candidate.failed}


def cli(engine: RotationEngine, *argv: str) -> int:
    return run(parser().parse_args(["retire", *argv]), lambda: engine.retirement)  # type: ignore[arg-type, return-value]


def test_plan_apply_and_undo_of_a_settled_superseded_version(az, engine, capsys) -> None:
    settled = settle(az)
    assert cli(engine, "--plan") == 0
    out = capsys.readouterr().out
    assert f"RETIRE {settled.v1}" in out and "[x] UNWRAPPERS_KNOWN" in out and "[x] NOT_IN_USE" in out
    digest = out.rsplit("plan hash: ", 1)[1].split()[0]
    assert cli(engine, "--apply", "--plan-hash", digest, "--json") == 0
    answer = json.loads(capsys.readouterr().out)
    assert [(o["version"], o["result"]) for o in answer["outcomes"]] == [(settled.v1, "retired")]
    assert version_enabled(az, settled, settled.v1) is False and version_enabled(az, settled, settled.v2) is True
    [patch] = app_key_patches(az)
    assert patch["body"] == {"attributes": {"enabled": False}}
    assert cli(engine, "--undo", settled.v1) == 0
    assert "RESTORED" in capsys.readouterr().out and version_enabled(az, settled, settled.v1) is True


def test_the_sweep_retires_only_with_auto(az, app_env) -> None:
    from shared.composition import build_engine

    settled = settle(az)
    planned = build_engine(app_env).run(RunRequest.sweep())
    assert [(o.version, o.result) for o in planned.retirement.outcomes] == [(settled.v1, RetireResult.WOULD_RETIRE)]
    assert version_enabled(az, settled, settled.v1) is True
    retired = build_engine({**app_env, "ROTATION_RETIRE": "auto"}).run(RunRequest.sweep())
    assert [(o.version, o.result) for o in retired.retirement.outcomes] == [(settled.v1, RetireResult.RETIRED)]
    assert version_enabled(az, settled, settled.v1) is False
    after = build_engine({**app_env, "ROTATION_RETIRE": "auto"}).run(RunRequest.sweep())  # reads a disabled version
    assert after.counts()["failed"] == 0 and after.problems == () and after.retirement.outcomes == ()


def test_a_registry_outside_the_configured_scope_still_on_the_version_keeps_it(az, app_env) -> None:
    from shared.composition import build_engine

    settled = settle(az)
    other = az.subscription_ids[1]
    identity_id = settled.estate.identity_id
    seed.create_registry(az, other, RESOURCE_GROUP, "acrelsewhere", identity_id=identity_id,
                         key_id=settled.uri(settled.v1))
    scoped = build_engine({**app_env, "ROTATION_SUBSCRIPTION_IDS": settled.estate.subscription_id})
    plan, _ = plan_of(scoped)
    assert plan.eligible == () and RetireCheck.NOT_IN_USE in failed(plan, settled.v1)


def test_a_registry_whose_update_is_still_running_keeps_it(az, engine) -> None:
    settled = settle(az, keep_opted_out_on_v1=True)
    az.world.settings.lro_seconds = 3600.0
    repoint(az, settled.estate, "acroptedout", settled.uri(settled.v2), wait=False)  # accepted, still Updating
    plan, _ = plan_of(engine)
    assert plan.eligible == ()
    assert {RetireCheck.NO_REGISTRY_BUSY, RetireCheck.REGISTRIES_SETTLED} <= failed(plan, settled.v1)


def test_a_versionless_registry_whose_lag_has_not_caught_up_keeps_it(az, engine) -> None:
    az.world.settings.versionless_lag_s = 60 * DAY  # ACR has not moved it to V2 yet
    settled = settle(az)
    plan, _ = plan_of(engine)
    assert plan.eligible == () and RetireCheck.NOT_IN_USE in failed(plan, settled.v1)
    [check] = [e for c in plan.candidates if c.version == settled.v1 for e in c.failed
               if e.check == RetireCheck.NOT_IN_USE]
    assert "acrversionless" in check.detail


def test_a_second_identity_with_unwrap_rights_keeps_every_version(az, engine) -> None:
    settled = settle(az)
    _, _, stranger = seed.create_identity(az, settled.estate.subscription_id, RESOURCE_GROUP, "id-batch-job")
    seed.grant(az, stranger, "Key Vault Crypto User", f"{settled.vault_id}/keys/{settled.estate.key_name}")
    plan, _ = plan_of(engine)
    assert plan.eligible == () and RetireCheck.UNWRAPPERS_KNOWN in failed(plan, settled.v1)
    assert any(stranger in e.detail for c in plan.candidates for e in c.failed)


def test_a_group_with_unwrap_rights_keeps_every_version(az, engine) -> None:
    settled = settle(az)
    group = az.world.add_principal("grp-crypto").principal_id
    assignment = az.grant(group, "Key Vault Crypto Service Encryption User", settled.vault_id)
    assignment.principal_type = "Group"
    plan, _ = plan_of(engine)
    assert plan.eligible == () and RetireCheck.UNWRAPPERS_KNOWN in failed(plan, settled.v1)
    assert any(f"group {group}" in e.detail for c in plan.candidates for e in c.failed)


def test_a_plan_that_changed_between_plan_and_apply_is_not_applied(az, engine, capsys) -> None:
    settled = settle(az)
    cli(engine, "--plan")
    digest = capsys.readouterr().out.rsplit("plan hash: ", 1)[1].split()[0]
    repoint(az, settled.estate, "acroptedout", settled.uri(settled.v1))  # someone pins V1 again
    assert cli(engine, "--apply", "--plan-hash", digest) == 1
    out = capsys.readouterr().out
    assert "nothing was disabled" in out and f"- {settled.uri(settled.v1)}" in out
    assert version_enabled(az, settled, settled.v1) is True
    assert app_key_patches(az) == []


def test_without_the_permission_the_disable_fails_and_nothing_changes(az, engine) -> None:
    settled = settle(az)
    az.world.revoke(az.principal_id, "ACR CMK Key Version Retirement")
    report = engine.retirement.apply(RunRequest.sweep(), plan_of(engine)[0].digest)
    [outcome] = report.outcomes
    assert outcome.result == RetireResult.FAILED and "KEY_FORBIDDEN_BY_RBAC" in outcome.detail
    assert version_enabled(az, settled, settled.v1) is True


def test_the_doctor_hook_reads_the_apps_own_permission_on_the_vault(az, engine) -> None:
    from shared.adapters.permissions import PermissionsAdapter
    from shared.composition import AzureClients
    from shared.model import VaultAccess
    from shared.retirement_access import may_disable_versions

    settled = settle(az)
    doctors_read = PermissionsAdapter(AzureClients(engine.settings).authorization_client)  # what doctor reads
    vault = VaultAccess(settled.vault_id, "kv-acr-demo", True)
    assert may_disable_versions(vault, doctors_read.vault_permissions(settled.vault_id), None).allowed is True
    az.world.revoke(az.principal_id, "ACR CMK Key Version Retirement")
    refused = may_disable_versions(vault, doctors_read.vault_permissions(settled.vault_id), None)
    assert refused.allowed is False and "keys/update/action" in refused.detail


def test_with_resource_graph_discovery_retirement_still_lists_every_subscription_by_arm(az, app_env) -> None:
    from shared.composition import build_engine

    settled = settle(az)
    start = len(az.requests)
    report = build_engine({**app_env, "ROTATION_DISCOVERY": "resourcegraph"}).run(RunRequest.sweep())
    listing = "/providers/microsoft.containerregistry/registries"
    listed = {r["path"].split("/")[2].lower() for r in az.requests[start:]
              if r["method"] == "GET" and r["path"].lower().endswith(listing)}
    assert listed == {s.lower() for s in az.subscription_ids}
    assert [(o.version, o.result) for o in report.retirement.outcomes] == [(settled.v1, RetireResult.WOULD_RETIRE)]
