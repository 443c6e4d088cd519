"""Races and ordering: random interleavings of deliveries, sweeps and manual runs, with key versions
created and disabled in between. Invariants, always:

- the final state of every pinned registry is its key's newest usable version (unless that would be older);
- no registry is ever moved to a version older than the one it had;
- at most one update per registry per target version.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.composition import assemble
from shared.engine import RotationEngine
from shared.events import KeyEvent, KeyEventKind
from shared.keyids import KeyId, KeyRef
from shared.locks import KeyedLocks
from shared.manual import ManualRequest
from shared.model import KeyVersion, Registry
from shared.planner import newest_usable_version
from shared.requests import RunRequest
from shared.settings import Settings
from tests.builders import NOW, registry
from tests.fakes import FakeKeyVault, FakeRegistries

KEYS = [KeyRef("kv-a.vault.azure.net", "key-a"), KeyRef("kv-b.vault.azure.net", "key-b")]
REGISTRIES = [("rega1", 0), ("rega2", 0), ("regb1", 1), ("regb2", 1)]


class World:
    """Fakes with a clock that moves one second per key version, so creation times never tie."""

    def __init__(self) -> None:
        self.now = NOW
        self.kv = FakeKeyVault(lambda: self.now)
        self.arm = FakeRegistries()
        self.moves: list[tuple[str, str, str]] = []  # registry, from, to
        self.lock = threading.Lock()
        for key in KEYS:
            self.add_version(key)
        for name, k in REGISTRIES:
            self.arm.add(registry(name, version=self.versions(KEYS[k])[0].version, key=KEYS[k]))
        self.arm.add(registry("optedout", version="k0v0", key=KEYS[0], tags={"cmk-rotation": "off"}),
                     registry("versionless", version=None, versioned="k0v0", key=KEYS[0]))
        self.arm.on_update = self.record_move

    def record_move(self, reg: Registry, uri: str) -> None:
        with self.lock:
            self.moves.append((reg.name, reg.version_in_use or "", uri.rsplit("/", 1)[-1]))

    def versions(self, key: KeyRef) -> list[KeyVersion]:
        return [v.attrs for v in self.kv.keys[key]]

    def add_version(self, key: KeyRef) -> str:
        with self.lock:
            self.now += timedelta(seconds=1)
            name = f"k{KEYS.index(key)}v{len(self.kv.keys.get(key, []))}"
            self.kv.add(key, KeyVersion(name, True, self.now))
            return name

    def disable(self, key: KeyRef, index: int) -> None:
        fakes = self.kv.keys[key]
        chosen = fakes[index % len(fakes)]
        chosen.attrs = replace(chosen.attrs, enabled=False)

    def created(self, key: KeyRef, version: str) -> object:
        return next(v.created_on for v in self.versions(key) if v.version == version)

    def engine(self, locks: KeyedLocks) -> RotationEngine:
        return assemble(Settings(), self.kv, self.arm, clock=lambda: self.now, locks=locks)


def run(world: World, engine: RotationEngine, op: tuple) -> None:
    kind = op[0]
    if kind == "deliver":
        key = KEYS[op[1]]
        versions = world.versions(key)
        version = versions[op[2] % len(versions)].version
        event = KeyEvent(f"evt-{version}", KeyEventKind.NEW_VERSION, KeyId(key, version), "")
        engine.run(event.request(engine.settings.event_budget_s))
    elif kind == "sweep":
        engine.run(RunRequest.sweep())
    elif kind == "manual":
        engine.run(ManualRequest(key=KEYS[op[1]]).request("manual-run"))


deliveries = st.tuples(st.just("deliver"), st.integers(0, 1), st.integers(0, 9))
runs = st.one_of(deliveries, st.tuples(st.just("sweep")), st.tuples(st.just("manual"), st.integers(0, 1)))
steps = st.one_of(
    st.tuples(st.just("create"), st.integers(0, 1)),
    st.tuples(st.just("disable"), st.integers(0, 1), st.integers(0, 9)),
    st.tuples(st.just("together"), st.lists(runs, min_size=2, max_size=4)),
    runs,
)


def check_invariants(world: World) -> None:
    for name, before, after in world.moves:
        key = KEYS[0] if name.startswith("rega") else KEYS[1]
        assert world.created(key, after) > world.created(key, before), f"{name} moved back {before} -> {after}"
    repeated = [m for m, n in Counter((name, after) for name, _, after in world.moves).items() if n > 1]
    assert not repeated, f"more than one update per registry and version: {repeated}"
    assert not any(m[0] in ("optedout", "versionless") for m in world.moves)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(steps, max_size=12))
def test_any_interleaving_converges_without_downgrades_or_duplicate_updates(script: list[tuple]) -> None:
    world = World()
    locks = KeyedLocks()  # one process: concurrent work coalesces on these
    engine = world.engine(locks)
    for step in script:
        if step[0] == "create":
            world.add_version(KEYS[step[1]])
        elif step[0] == "disable":
            world.disable(KEYS[step[1]], step[2])
        elif step[0] == "together":
            threads = [threading.Thread(target=run, args=(world, engine, op)) for op in step[1]]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        else:
            run(world, engine, step)
        check_invariants(world)
    engine.run(RunRequest.sweep())  # whatever the order, the next sweep converges
    check_invariants(world)
    for name, k in REGISTRIES:
        reg = world.arm.registries[registry(name).id.lower()]
        observation_key = KEYS[k]
        from shared.observe import observe_key

        newest = newest_usable_version(observe_key(world.kv, observation_key, world.now), world.now)
        current = reg.version_in_use
        if newest is not None and world.created(observation_key, newest.version) >= world.created(
                observation_key, current or ""):
            assert current == newest.version, f"{name} on {current}, newest usable is {newest.version}"


@pytest.mark.standin
def test_two_engine_instances_bound_duplicates_by_rereading_and_arms_409(az, estate, app_env) -> None:
    """Two instances (separate processes in Azure: separate locks), both past their re-read at once."""
    from emulator import seed
    from shared.composition import assemble, build_engine
    from shared.reasons import Reason, Result

    new = seed.create_key(az, estate.vault_url, estate.key_name)
    barrier = threading.Barrier(2, timeout=10)

    class MeetAfterReread:
        """The registry port, waiting for the other instance right after its re-read of acrpinned."""

        def __init__(self, inner) -> None:
            self.inner, self.waited = inner, False

        def __getattr__(self, name: str):
            return getattr(self.inner, name)

        def get_registry(self, ref):
            found = self.inner.get_registry(ref)
            if ref.name == "acrpinned" and not self.waited:
                self.waited = True
                barrier.wait()  # both have seen the old version before either writes
            return found

    built = build_engine(app_env), build_engine(app_env)
    first, second = (assemble(e.settings, e.keyvault, MeetAfterReread(e.registries), locks=KeyedLocks(), sink=e.sink)
                     for e in built)
    reports = []
    threads = [threading.Thread(target=lambda e=e: reports.append(e.run(RunRequest.sweep()))) for e in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcomes = sorted((r.outcomes for r in reports), key=lambda o: o[0].result.value)
    pinned = sorted((o.result, o.reason) for os in outcomes for o in os if o.registry_name == "acrpinned")
    accepted = [r for r in az.requests if r["method"] == "PATCH" and r["status"] == 201]
    refused = [r for r in az.requests if r["method"] == "PATCH" and r["status"] == 409]
    assert len(accepted) == 1 and len(refused) == 1
    assert pinned == sorted([(Result.ROTATED, Reason.NEWER_VERSION_AVAILABLE),
                             (Result.FAILED, Reason.REGISTRY_BUSY)])
    # The loser's retry (Event Grid redelivery or the next sweep) finds the work done.
    retry = {o.registry_name: o for o in build_engine(app_env).run(RunRequest.sweep()).outcomes}["acrpinned"]
    assert (retry.reason, retry.to_version) == (Reason.ALREADY_CURRENT, new.properties.version)
    assert len([r for r in az.requests if r["method"] == "PATCH" and r["status"] == 201]) == 1
