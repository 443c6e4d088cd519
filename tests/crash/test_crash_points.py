"""Crash consistency: a real process runs a real rotation through the SDKs and is killed (SIGKILL) at each
point of a registry update; a new process (the redelivered event, or the next sweep) must finish the job.

The stand-in holds the request that marks each point and says when it arrived (``az.hold``); the test kills
the process then. No hook in production code, and no sleep: every wait is on the stand-in's signal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.mgmt.containerregistry import ContainerRegistryManagementClient

from emulator import seed
from emulator.holds import Hold
from emulator.scenario import RESOURCE_GROUP, Estate
from emulator.standin import AzureStandIn
from tests.crash.processes import (
    envelopes,
    environment,
    finish,
    is_registry,
    json_lines,
    kill,
    rotation_events,
    start,
)

pytestmark = pytest.mark.standin
LONG_OPERATION_S = 3600.0  # an update the stand-in keeps running until the test moves its clock


@dataclass(frozen=True)
class KillPoint:
    name: str
    arm: Callable[[AzureStandIn, str, str], Hold]  # (stand-in, registry id, target version) -> the hold
    patch_sent: bool  # did the killed process's PATCH reach ARM?


def _reread(az: AzureStandIn, registry_id: str, version: str) -> Hold:
    return az.hold("GET", when=is_registry(registry_id))  # its first GET is the re-read; the PATCH never goes


def _operation(az: AzureStandIn, registry_id: str, version: str) -> Hold:
    az.world.settings.lro_seconds = LONG_OPERATION_S  # the PATCH's operation runs until the clock moves
    return az.hold("GET", when=is_registry(registry_id), skip=1)  # the first poll: inside the operation


def _verification(az: AzureStandIn, registry_id: str, version: str) -> Hold:
    az.world.settings.lro_seconds = 0  # succeeded at once: the next GET is the verifying read
    return az.hold("GET", when=is_registry(registry_id), skip=1)


def _telemetry(az: AzureStandIn, registry_id: str, version: str) -> Hold:
    az.world.settings.lro_seconds = 0
    return az.hold("POST", host="applicationinsights.azure.com",
                   when=lambda req: bool(rotation_events(envelopes(req), version)))


POINTS = [KillPoint("after the re-read, before the PATCH", _reread, False),
          KillPoint("while the long-running operation runs", _operation, True),
          KillPoint("after it succeeded, before verification", _verification, True),
          KillPoint("after verification, while telemetry is flushed", _telemetry, True)]


def _process(kind: str, event: dict[str, Any]) -> tuple[list[str], str | None]:
    if kind == "event":  # the redelivery is the same event again
        return ["-m", "tests.crash.event_run"], json.dumps(event)
    return ["-m", "shared", "sweep", "--json"], None  # the operator CLI's sweep, as the timer's


def _outcomes(kind: str, printed: str) -> list[dict[str, Any]]:
    if kind == "event":
        answers = json_lines(printed)
        return answers[-1]["report"]["outcomes"] if answers and answers[-1]["report"] else []
    return list(json.loads(printed)["outcomes"]) if printed.strip() else []


def _run(kind: str, event: dict[str, Any], env: dict[str, str], registry_id: str) -> dict[str, Any]:
    """A recovering process: its one outcome for the registry, and everything it printed."""
    args, stdin = _process(kind, event)
    printed = finish(start(args, env, stdin))
    mine = [o for o in _outcomes(kind, printed) if o["registry"].lower() == registry_id.lower()]
    assert len(mine) == 1, f"one outcome for the registry, not {mine}"
    return mine[0]


def _key_vault_properties(az: AzureStandIn, estate: Estate, name: str) -> dict[str, Any]:
    client = ContainerRegistryManagementClient(az.admin_credential, estate.subscription_id, **seed.client_options(az))
    properties: dict[str, Any] = client.registries.get(RESOURCE_GROUP, name).as_dict()["properties"]
    found = dict(properties["encryption"]["keyVaultProperties"])
    stamp = found.get("lastKeyRotationTimestamp")
    found["lastKeyRotationTimestamp"] = datetime.fromisoformat(str(stamp)) if stamp else None
    return found


@pytest.mark.parametrize("kind", ["event", "sweep"])
@pytest.mark.parametrize("point", POINTS, ids=[p.name for p in POINTS])
def test_a_process_killed_at_any_point_of_an_update_is_finished_by_the_next_without_a_second_update(
        az, estate, app_env, kind, point) -> None:
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    version = str(new.properties.version)
    [event] = [e for e in az.events if e["data"].get("Version") == version]
    pinned = estate.registries["acrpinned"]
    env = environment(app_env)
    hold = point.arm(az, pinned, version)

    args, stdin = _process(kind, event)
    victim = start(args, env, stdin)
    hold.wait_arrived()
    killed_printed = kill(victim)
    sent = [r for r in az.requests if r["method"] == "PATCH" and r["path"].lower() == pinned.lower()]
    assert len(sent) == (1 if point.patch_sent else 0), "the hold caught the process where the table says"
    hold.release()  # the held request is served now, to nobody
    printed_by_victim = _outcomes(kind, killed_printed) if point.name.startswith("after verification") else []

    if point is POINTS[1]:  # the update still runs: the next process writes nothing and says so
        busy = _run(kind, event, env, pinned)
        assert (busy["result"], busy["reason"]) == ("unchanged", "UPDATE_IN_PROGRESS")
        az.world.advance(LONG_OPERATION_S)
    recovered = _run(kind, event, env, pinned)

    patches = [r for r in az.requests if r["method"] == "PATCH" and r["path"].lower() == pinned.lower()]
    targets = [p["body"]["properties"]["encryption"]["keyVaultProperties"]["keyIdentifier"] for p in patches]
    assert targets == [new.id], f"exactly one update, to the new version: {targets}"
    after = _key_vault_properties(az, estate, "acrpinned")
    assert after["versionedKeyIdentifier"] == new.id  # the newest usable version, never older
    if point.patch_sent:  # the first update landed: the next run says so, with the time ACR recorded for it
        assert (recovered["result"], recovered["reason"]) == ("unchanged", "ALREADY_CURRENT")
        rotated_at = datetime.fromisoformat(recovered["detail"].rsplit(" ", 1)[-1])
        assert abs(rotated_at - after["lastKeyRotationTimestamp"]).total_seconds() < 0.001
        assert abs(rotated_at.timestamp() - patches[0]["time"]) < 2  # the killed process's update
    else:  # the PATCH never left: the next run makes the one update
        assert (recovered["result"], recovered["reason"]) == ("rotated", "NEWER_VERSION_AVAILABLE")
    rotated_runs = {o["correlationId"] for o in [*printed_by_victim, recovered]
                    if o["result"] == "rotated" and o["toVersion"] == version}
    rotated_runs |= {e["data"]["baseData"]["properties"]["correlationId"]
                     for e in rotation_events(az.telemetry, version)}
    # The killed process may have said ROTATED (it printed and exported before it died) or not; never two runs.
    said_by_victim = bool(printed_by_victim) or not point.patch_sent
    assert len(rotated_runs) == (1 if said_by_victim else 0), f"ROTATED outcomes for the version: {rotated_runs}"


def test_the_recovering_run_reports_when_the_earlier_rotation_happened(az, estate, app_env) -> None:
    """The detail of ALREADY_CURRENT is ACR's lastKeyRotationTimestamp, read from the wire."""
    seed.create_key(az, estate.vault_url, estate.key_name)
    env = environment(app_env)
    finish(start(["-m", "shared", "sweep", "--json"], env))
    second = _run("sweep", {}, env, estate.registries["acrpinned"])
    stamp = _key_vault_properties(az, estate, "acrpinned")["lastKeyRotationTimestamp"]
    assert second["reason"] == "ALREADY_CURRENT" and second["detail"].startswith("rotated to this version at ")
    said = datetime.fromisoformat(second["detail"].rsplit(" ", 1)[-1])
    assert said.tzinfo is not None and abs((said - stamp.astimezone(UTC)).total_seconds()) < 0.001
