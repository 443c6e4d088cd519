"""Property: over random estates and histories, retirement never disables a version that any registry shows (in any
subscription, listed or not), nor the newest usable or the current version; a listing failure anywhere blocks it,
and so does an unknown principal (or anything unsettled) with unwrap rights on the key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from shared.errors import TemporaryError
from shared.model import KeyVersion
from shared.outcomes import RunReport
from shared.reasons import Reason
from shared.requests import RunRequest
from shared.retirement import RETIRE_TAG, Unwrappers, shows
from shared.versions import newest_usable_version
from tests.builders import KEY, NOW, days, observation
from tests.fakes import FakeRegistries
from tests.retirement.estate import PRINCIPAL, FakeUnwrap, RetireKeyVault, World, on

SUBS = ("00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002",
        "00000000-0000-0000-0000-000000000003")


@dataclass(frozen=True)
class Case:
    versions: list[tuple[float, bool]]  # (created days ago, enabled), oldest first
    tag: str
    registries: list[tuple[int, int, bool, float | None, bool]]  # (sub, version index, pinned, rotated ago, busy)
    failing_sub: int | None
    stranger: bool  # an unknown principal can unwrap
    unsettled: bool  # a group, or assignments not readable
    before: tuple[int, int] | None  # at the re-read under the lock: registry i moves to version j
    after: int | None  # right after the disable: registry i moves onto the version just disabled


@st.composite
def cases(draw: st.DrawFn) -> Case:
    # Half the estates are calm (settled registries, no stranger, every subscription listed, a short waiting
    # period): there retirement does happen, and the histories and the version guards are what is tested. The
    # other half draw every guard at random.
    calm = draw(st.booleans())
    ages = sorted(draw(st.lists(st.floats(0, 120), min_size=1, max_size=5, unique=True)), reverse=True)
    versions = [(age, draw(st.integers(0, 5)) > 0) for age in ages]  # mostly enabled
    n = len(versions)
    rare = st.just(False) if calm else st.integers(0, 5).map(lambda x: x == 0)
    rotated = st.floats(8, 120) if calm else st.tuples(rare, st.floats(0, 120)).map(lambda r: None if r[0] else r[1])
    registry = st.tuples(st.integers(0, 2), st.one_of(st.just(n - 1), st.integers(0, n - 1)), st.booleans(),
                         rotated, rare)
    registries = draw(st.lists(registry, min_size=1 if calm else 0, max_size=5))
    move = st.one_of(st.none(), st.tuples(st.integers(0, max(len(registries) - 1, 0)), st.integers(0, n - 1)))
    return Case(versions, "7" if calm else draw(st.sampled_from(["7", "14", "30", "abc", "3"])), registries,
                None if calm else draw(st.one_of(st.none(), st.integers(0, 2))), draw(rare), draw(rare),
                draw(move) if registries else None,
                draw(st.one_of(st.none(), st.integers(0, len(registries) - 1))) if registries else None)


def build(case: Case) -> World:
    keyvault = RetireKeyVault(lambda: NOW)
    for i, (age, enabled) in enumerate(case.versions):
        keyvault.add(KEY, KeyVersion(f"v{i}", enabled, NOW - days(age)))
    keyvault.tags[KEY] = {RETIRE_TAG: case.tag}
    registries = FakeRegistries()
    for i, (sub, version, pinned, rotated, busy) in enumerate(case.registries):
        registries.add(on(f"acr{i}", f"v{version}" if pinned else None, rotated, versioned=f"v{version}",
                          subscription=SUBS[sub], state="Updating" if busy else "Succeeded"))
    registries.list_subscription_ids = lambda: list(SUBS)  # type: ignore[method-assign]  # the identity sees all
    if case.failing_sub is not None:
        registries.listing_errors[SUBS[case.failing_sub]] = TemporaryError(Reason.THROTTLED, "throttled")
    principals = {PRINCIPAL} | ({"stranger"} if case.stranger else set())
    unwrap = FakeUnwrap({KEY.name: Unwrappers(frozenset(principals), ("group g can unwrap",) if case.unsettled
                                              else ())})
    return World(keyvault, registries, unwrap)


def install_history(world: World, case: Case) -> None:
    def move(i: int, version: str) -> None:
        sub, _, pinned, _, _ = case.registries[i]
        world.registries.add(on(f"acr{i}", version if pinned else None, 0, versioned=version, subscription=SUBS[sub]))

    real_get, real_set = world.registries.get_registry, world.keyvault.set_enabled
    pending: dict[str, Any] = {"before": case.before, "after": case.after}

    def get(ref):  # the first read under the lock is where "before" happens
        change = pending.pop("before", None)
        if change is not None:
            move(change[0], f"v{change[1]}")
        return real_get(ref)

    def set_enabled(key, version, enabled):
        answer = real_set(key, version, enabled)
        change = pending.pop("after", None) if not enabled else None
        if change is not None:
            move(change, version)
        return answer

    world.registries.get_registry = get  # type: ignore[method-assign]
    world.keyvault.set_enabled = set_enabled  # type: ignore[method-assign]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_retirement_never_disables_what_is_in_use_newest_or_current(case: Case) -> None:
    world = build(case)
    start = observation(*(v.attrs for v in world.keyvault.keys[KEY]), key=KEY)
    newest = newest_usable_version(start, NOW)
    current = world.keyvault.keys[KEY][-1].attrs.version
    install_history(world, case)
    retirer = world.engine(retire="auto").retirement
    assert retirer is not None
    report = retirer.after_sweep(RunReport(RunRequest.sweep(), NOW))
    disabled = {v for v, enabled in world.keyvault.enabled().items() if not enabled} - \
        {f"v{i}" for i, (_, enabled) in enumerate(case.versions) if not enabled}
    everyone = list(world.registries.registries.values())  # every subscription, listed or not
    assert not [(r.name, v) for r in everyone for v in disabled if shows(r, v)]
    assert newest is None or newest.version not in disabled
    assert current not in disabled
    if case.failing_sub is not None or case.stranger or case.unsettled or case.tag in ("abc", "3"):
        assert world.keyvault.switches == []
    assert report.retirement is not None
    event("retired something" if disabled else "retired nothing")
    if disabled:
        event("a retirement with a history" if case.before or case.after else "a quiet retirement")
