"""ROTATION_DISCOVERY=resourcegraph against the stand-in: one query for every subscription in scope, the same
convergence as listing per subscription, nothing out of scope, and a stale (lagging) listing never writes wrong."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerregistry import models as acr

from emulator import seed
from emulator.scenario import Estate
from shared.composition import build_engine
from shared.reasons import Reason, Result
from shared.requests import RunRequest

pytestmark = pytest.mark.standin
GRAPH = {"ROTATION_DISCOVERY": "resourcegraph"}


def _graph_queries(az) -> list[dict]:
    return [r for r in az.requests if r["method"] == "POST" and "microsoft.resourcegraph" in r["path"].lower()]


def _listings(az) -> list[dict]:
    return [r for r in az.requests if r["method"] == "GET" and r["path"].lower().endswith("/registries")]


def _outcomes(report) -> list[tuple]:
    return sorted((o.registry.lower(), o.result, o.reason, o.to_version) for o in report.outcomes)


@dataclass
class Second:
    subscription_id: str
    vault_url: str
    key_name: str = "acr-cmk-two"


@pytest.fixture
def two_subscriptions(az, estate) -> tuple[Estate, Second]:
    """The shared estate in the first subscription; in the second, a vault, a key and one pinned registry."""
    sub = az.subscription_ids[1]
    vault_url = seed.create_vault(az, sub, "rg-two", "kv-acr-two")
    key = seed.create_key(az, vault_url, Second.key_name, "RSA", size=2048)
    identity_id, _, principal_id = seed.create_identity(az, sub, "rg-two", "id-two")
    seed.grant(az, principal_id, "Key Vault Crypto Service Encryption User",
               f"/subscriptions/{sub}/resourceGroups/rg-two/providers/Microsoft.KeyVault/vaults/kv-acr-two")
    seed.create_registry(az, sub, "rg-two", "acrpinnedtwo", identity_id=identity_id, key_id=str(key.id))
    return estate, Second(sub, vault_url)


def test_a_sweep_converges_exactly_like_listing_per_subscription(az, two_subscriptions, app_env) -> None:
    first, second = two_subscriptions
    for e in (first, second):
        seed.create_key(az, e.vault_url, e.key_name)
    default, graph = build_engine(app_env), build_engine({**app_env, **GRAPH})
    planned = default.run(RunRequest.sweep(dry_run=True))
    assert _outcomes(graph.run(RunRequest.sweep(dry_run=True))) == _outcomes(planned)
    assert sum(o.result == Result.PLANNED for o in planned.outcomes) == 2
    rotated = graph.run(RunRequest.sweep())
    assert {o.registry_name for o in rotated.outcomes if o.result == Result.ROTATED} == {"acrpinned", "acrpinnedtwo"}
    after = default.run(RunRequest.sweep())
    assert {o.result for o in after.outcomes} <= {Result.UNCHANGED, Result.SKIPPED}
    assert _outcomes(graph.run(RunRequest.sweep())) == _outcomes(after)


def test_one_discovery_call_for_every_subscription(az, two_subscriptions, app_env) -> None:
    build_engine({**app_env, **GRAPH}).run(RunRequest.sweep(dry_run=True))
    [query] = _graph_queries(az)
    assert sorted(query["body"]["subscriptions"]) == sorted(s.lower() for s in az.subscription_ids)
    assert query["body"]["options"]["resultFormat"] == "objectArray"
    assert _listings(az) == []  # no registry listing per subscription


def test_registries_out_of_scope_are_not_returned(az, two_subscriptions, app_env) -> None:
    first, second = two_subscriptions
    seed.create_registry(az, first.subscription_id, "rg-elsewhere", "acrelsewhere",
                         identity_id=first.identity_id, key_id=f"{first.key_url}/{first.first_version}")
    env = {**app_env, **GRAPH, "ROTATION_SUBSCRIPTION_IDS": first.subscription_id,
           "ROTATION_RESOURCE_GROUPS": "rg-registries"}
    report = build_engine(env).run(RunRequest.sweep(dry_run=True))
    [query] = _graph_queries(az)
    assert query["body"]["subscriptions"] == [first.subscription_id]  # the query itself is scoped
    ids = {o.registry.lower() for o in report.outcomes}
    assert ids == {i.lower() for i in first.registries.values()}  # neither the other group nor subscription
    assert not any(second.subscription_id in i for i in ids)


def test_a_stale_listing_never_causes_a_wrong_write(az, estate, app_env) -> None:
    az.world.settings.graph_lag_s = 3600  # Resource Graph still shows the registry as it was
    engine = build_engine({**app_env, **GRAPH})
    engine.run(RunRequest.sweep(dry_run=True))  # the graph's snapshot is taken here
    client = ContainerRegistryManagementClient(az.admin_credential, estate.subscription_id,
                                               **seed.client_options(az))
    client.registries.begin_update("rg-registries", "acrpinned", acr.RegistryUpdateParameters(
        tags={"cmk-rotation": "off"}), polling_interval=0.05).result()  # opted out after the snapshot
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    report = engine.run(RunRequest.sweep())
    pinned = next(o for o in report.outcomes if o.registry_name == "acrpinned")
    assert (pinned.result, pinned.reason) == (Result.SKIPPED, Reason.OPTED_OUT)  # decided on the fresh GET
    assert not [r for r in az.requests if r["method"] == "PATCH" and "encryption" in str(r["body"])]
    assert new.properties.version not in str(client.registries.get("rg-registries", "acrpinned").as_dict())


def test_a_configured_subscription_the_app_cannot_read_is_a_problem_not_silence(az, two_subscriptions,
                                                                                app_env) -> None:
    # Resource Graph answers no rows, not an error, for it; listing per subscription would have failed loudly.
    first, second = two_subscriptions
    with az.world.lock:
        for key, assignment in list(az.world.role_assignments.items()):
            if assignment.principal_id == az.principal_id and second.subscription_id in assignment.scope:
                del az.world.role_assignments[key]
    env = {**app_env, **GRAPH, "ROTATION_SUBSCRIPTION_IDS": f"{first.subscription_id},{second.subscription_id}"}
    report = build_engine(env).run(RunRequest.sweep(dry_run=True))
    assert [(p.scope, p.reason, p.transient) for p in report.problems] == [
        (f"/subscriptions/{second.subscription_id}", Reason.FORBIDDEN, False)]
    assert {o.registry.lower() for o in report.outcomes} == {i.lower() for i in first.registries.values()}
