"""The race properties once more, against the stand-in through the official SDKs (fewer examples: each
costs real HTTPS round trips). Events come from the stand-in's own Event Grid outbox, delivered
duplicated, stale and concurrently with sweeps."""

from __future__ import annotations

import itertools
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator import seed
from emulator.scenario import seed_estate
from shared.composition import build_engine
from shared.events import envelope_from_json, parse_key_event
from shared.requests import RunRequest

pytestmark = pytest.mark.standin
_names = itertools.count()

steps = st.lists(st.one_of(
    st.just(("create",)),
    st.tuples(st.just("disable_newest"), st.booleans()),
    st.tuples(st.just("deliver"), st.integers(0, 5)),  # an index into the outbox: duplicates and stale ones
    st.just(("sweep",)),
    st.tuples(st.just("together"), st.integers(0, 5)),  # a delivery and a sweep at once
), min_size=1, max_size=6)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
@given(script=steps)
def test_deliveries_sweeps_and_key_changes_in_any_order(az, app_env, script) -> None:
    estate = seed_estate(az, vault_name=f"kv-race-{next(_names)}")
    engine = build_engine(app_env)
    suffixes = engine.settings.endpoints.key_vault_suffixes
    created = [estate.first_version]

    def deliver(index: int) -> None:
        events = [e for e in az.events if e["data"]["Id"].startswith(estate.key_url)]  # never empty: key creation
        event = parse_key_event(envelope_from_json(events[index % len(events)]), suffixes)
        engine.run(event.request(engine.settings.event_budget_s))

    before = len(az.requests)
    for step in script:
        if step[0] == "create":
            created.append(str(seed.create_key(az, estate.vault_url, estate.key_name).properties.version))
        elif step[0] == "disable_newest" and len(created) > 1 and step[1]:
            seed.update_key(az, estate.vault_url, estate.key_name, created.pop(), enabled=False)
        elif step[0] == "deliver":
            deliver(step[1])
        elif step[0] == "sweep":
            engine.run(RunRequest.sweep())
        elif step[0] == "together":
            threads = [threading.Thread(target=deliver, args=(step[1],)),
                       threading.Thread(target=engine.run, args=(RunRequest.sweep(),))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    engine.run(RunRequest.sweep())

    pinned = estate.registries["acrpinned"].lower()
    patches = [r for r in az.requests[before:] if r["method"] == "PATCH" and r["status"] == 201
               and r["path"].lower() == pinned]
    targets = [p["body"]["properties"]["encryption"]["keyVaultProperties"]["keyIdentifier"].rsplit("/", 1)[-1]
               for p in patches]
    assert len(targets) == len(set(targets)), f"more than one update to the same version: {targets}"
    order = {v: i for i, v in enumerate(created)}  # creation order of the versions still enabled
    assert all(order.get(a, -1) < order.get(b, 10**6) for a, b in itertools.pairwise(targets)), targets
    status = {r.registry.name: r.registry for r in engine.status().registries}
    assert status["acrpinned"].version_in_use in (created[-1], *targets[-1:])
    assert status["acroptedout"].version_in_use == estate.first_version
    assert not [p for p in az.requests[before:] if p["method"] == "PATCH" and "acroptedout" in p["path"]]
