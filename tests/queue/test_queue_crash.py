"""The queue path under crashes, with real host processes (emulator/queue_host.py) on Azurite: a killed
instance's message comes back when the listener's visibility runs out; a running one keeps it by renewing."""

from __future__ import annotations

import pytest
from queue_support import host_json, invocations, lines_until, new_queue, start_host

from emulator import seed
from shared import triggers
from shared.composition import build_engine
from tests.crash.processes import finish, is_registry, kill

pytestmark = pytest.mark.standin
VISIBILITY_S = 3.0  # the listener's visibility: 10 minutes in the host; seconds here, so a crash costs seconds


def _enqueue(az, estate, app_env, queue) -> str:
    """A new key version and a sweep that queues the pinned registry: (the new version)."""
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    report = triggers.sweep(lambda: build_engine(queue.env(app_env)))
    assert [o.registry_name for o in report.outcomes if o.reason.value == "QUEUED"] == ["acrpinned"]
    return str(new.id)


def _patches(az, registry_id: str) -> list[str]:
    return [r["body"]["properties"]["encryption"]["keyVaultProperties"]["keyIdentifier"] for r in az.requests
            if r["method"] == "PATCH" and r["path"].lower() == registry_id.lower()]


@pytest.mark.parametrize("point", ["re-read", "operation", "verification"])
def test_a_killed_instance_s_message_reappears_and_the_next_instance_finishes_without_a_second_update(
        az, estate, app_env, azurite, tmp_path, point) -> None:
    queue = new_queue(azurite)
    new_id = _enqueue(az, estate, app_env, queue)
    pinned = estate.registries["acrpinned"]
    config = host_json(tmp_path, maxPollingInterval="00:00:01")
    az.world.settings.lro_seconds = 3600 if point == "operation" else 0
    hold = az.hold("GET", when=is_registry(pinned), skip=0 if point == "re-read" else 1)

    victim = start_host(queue, app_env, config, VISIBILITY_S)
    hold.wait_arrived()
    kill(victim)
    hold.release()
    assert _patches(az, pinned) == ([] if point == "re-read" else [new_id])
    assert queue.count() == 1 and not list(queue.client.peek_messages())  # still taken by the dead instance
    if point == "operation":
        az.world.advance(3600)  # the update finishes on ARM's side

    printed = finish(start_host(queue, app_env, config, VISIBILITY_S))  # polls until the message is back
    [invocation] = invocations(printed)
    assert invocation["dequeueCount"] == 2
    [outcome] = [o for o in invocation["outcomes"] if o["registry"].lower() == pinned.lower()]
    expected = ("rotated", "NEWER_VERSION_AVAILABLE") if point == "re-read" else ("unchanged", "ALREADY_CURRENT")
    assert (outcome["result"], outcome["reason"]) == expected
    assert _patches(az, pinned) == [new_id]
    assert queue.count() == 0 and queue.poisoned() == []


def test_a_running_instance_renews_its_message_past_the_listener_s_visibility(
        az, estate, app_env, azurite, tmp_path) -> None:
    queue = new_queue(azurite)
    new_id = _enqueue(az, estate, app_env, queue)
    pinned = estate.registries["acrpinned"]
    az.world.settings.lro_seconds = 0
    hold = az.hold("GET", when=is_registry(pinned), skip=1)  # the function runs until the test says
    host = start_host(queue, app_env, host_json(tmp_path, maxPollingInterval="00:00:01"), VISIBILITY_S)
    hold.wait_arrived()
    renewals = [r for r in lines_until(host, "renewed", count=2) if r.get("event") == "renewed"]
    # The second renewal comes when the first visibility (taken at fetch) would have run out: still taken.
    assert len(renewals) == 2 and not list(queue.client.peek_messages())
    hold.release()
    rest = finish(host)
    [invocation] = invocations(rest)
    assert invocation["dequeueCount"] == 1 and invocation["outcomes"][0]["result"] == "rotated"
    assert _patches(az, pinned) == [new_id] and queue.count() == 0


def test_a_message_failing_on_every_delivery_becomes_retries_exhausted_not_poison(
        az, estate, app_env, azurite, tmp_path) -> None:
    queue = new_queue(azurite)
    _enqueue(az, estate, app_env, queue)
    pinned = estate.registries["acrpinned"]
    fault = az.inject_fault("PATCH", path_contains="/registries/acrpinned", status=409, times=100)
    config = host_json(tmp_path, maxDequeueCount=3, visibilityTimeout="00:00:00", maxPollingInterval="00:00:01")
    printed = finish(start_host(queue, app_env, config, VISIBILITY_S))
    runs = invocations(printed)
    assert [r["dequeueCount"] for r in runs] == [1, 2, 3]
    assert all("raised" in r for r in runs[:2])  # the host retries after host.json's visibilityTimeout
    [outcome] = runs[2]["outcomes"]
    assert (outcome["result"], outcome["reason"]) == ("failed", "RETRIES_EXHAUSTED")
    assert fault.times == 100 - 3 and len(_patches(az, pinned)) == 3
    assert queue.count() == 0 and queue.poisoned() == []  # recorded by the app, not dropped by the host
