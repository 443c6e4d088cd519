"""The engine end to end over in-memory fakes: what crosses no wire, but spans observe, plan, apply, verify."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from shared.composition import assemble
from shared.errors import PermanentError, TemporaryError
from shared.events import KeyEvent, KeyEventKind
from shared.keyids import KeyId
from shared.locks import KeyedLocks
from shared.manual import ManualRequest
from shared.reasons import Reason, Result, Trigger
from shared.requests import RunRequest
from shared.settings import Settings
from tests.builders import KEY, NOW, days, registry, version
from tests.fakes import FakeKeyVault, FakeRegistries


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def setup(settings: Settings | None = None, clock: Clock | None = None):
    clock = clock or Clock()
    kv = FakeKeyVault(clock)
    kv.add(KEY, version("v1", 30))
    kv.add(KEY, version("v2", 1))
    arm = FakeRegistries()
    engine = assemble(settings or Settings(), kv, arm, clock=clock, locks=KeyedLocks())
    return engine, kv, arm


def event(version_id: str = "v2", kind: KeyEventKind = KeyEventKind.NEW_VERSION) -> KeyEvent:
    return KeyEvent("evt-1", kind, KeyId(KEY, version_id), "/subscriptions/x")


def test_an_event_moves_pinned_registries_and_leaves_the_others_alone() -> None:
    engine, _, arm = setup()
    arm.add(registry("pinned1", version="v1"), registry("versionless1", version=None, versioned="v1"),
            registry("optedout1", version="v1", tags={"cmk-rotation": "off"}))
    report = engine.run(event().request(engine.settings.event_budget_s))
    by_name = {o.registry_name: o for o in report.outcomes}
    assert (by_name["pinned1"].result, by_name["pinned1"].to_version) == (Result.ROTATED, "v2")
    assert by_name["versionless1"].reason == Reason.VERSIONLESS
    assert by_name["optedout1"].reason == Reason.OPTED_OUT
    assert [p[0].rsplit("/", 1)[-1] for p in arm.patches] == ["pinned1"]
    assert all(o.trigger == Trigger.EVENT and o.correlation_id == "evt-1" for o in report.outcomes)


def test_the_event_is_only_a_hint_an_older_version_named_by_it_is_not_used() -> None:
    engine, _, arm = setup()
    arm.add(registry("pinned1", version="v1"))
    report = engine.run(event("v1").request(engine.settings.event_budget_s))
    assert report.outcomes[0].to_version == "v2"


def test_a_duplicate_delivery_makes_no_second_patch() -> None:
    engine, _, arm = setup()
    arm.add(registry("pinned1", version="v1"))
    first, second = engine.run(event().request(20)), engine.run(event().request(20))
    assert first.outcomes[0].result == Result.ROTATED
    assert (second.outcomes[0].result, second.outcomes[0].reason) == (Result.UNCHANGED, Reason.ALREADY_CURRENT)
    assert len(arm.patches) == 1


def test_concurrent_deliveries_in_one_process_coalesce_into_one_patch() -> None:
    engine, _, arm = setup()
    arm.add(registry("pinned1", version="v1"))
    barrier = threading.Barrier(4)
    reports = []

    def deliver() -> None:
        barrier.wait()
        reports.append(engine.run(event().request(engine.settings.event_budget_s)))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(arm.patches) == 1
    assert sorted(r.outcomes[0].result for r in reports) == [Result.ROTATED] + [Result.UNCHANGED] * 3


def test_dry_run_setting_writes_nothing_whatever_the_request_says() -> None:
    engine, _, arm = setup(Settings(dry_run=True))
    arm.add(registry("pinned1", version="v1"))
    report = engine.run(ManualRequest(dry_run=False).request("manual-run"))
    assert report.dry_run and report.outcomes[0].result == Result.PLANNED and not arm.patches


def test_a_requests_dry_run_plans_without_writing() -> None:
    engine, _, arm = setup()
    arm.add(registry("pinned1", version="v1"))
    report = engine.run(ManualRequest(dry_run=True).request("manual-run"))
    assert (report.outcomes[0].result, report.outcomes[0].to_version) == (Result.PLANNED, "v2")
    assert not arm.patches


def test_one_registrys_failure_does_not_stop_the_rest_and_is_classified() -> None:
    engine, _, arm = setup()
    arm.add(registry("busy1", version="v1"), registry("denied1", version="v1"), registry("fine1", version="v1"))
    arm.update_errors[registry("busy1").id.lower()] = TemporaryError(Reason.REGISTRY_BUSY, "409")
    arm.update_errors[registry("denied1").id.lower()] = PermanentError(Reason.UPDATE_REJECTED, "400")
    report = engine.run(RunRequest.sweep())
    by_name = {o.registry_name: o for o in report.outcomes}
    assert (by_name["busy1"].result, by_name["busy1"].transient) == (Result.FAILED, True)
    assert (by_name["denied1"].result, by_name["denied1"].transient) == (Result.FAILED, False)
    assert by_name["fine1"].result == Result.ROTATED
    assert report.needs_retry


def test_permanent_failures_alone_do_not_ask_for_redelivery() -> None:
    engine, _, arm = setup()
    arm.add(registry("denied1", version="v1"))
    arm.update_errors[registry("denied1").id.lower()] = PermanentError(Reason.UPDATE_REJECTED, "400")
    assert not engine.run(event().request(engine.settings.event_budget_s)).needs_retry


def test_every_registry_gets_exactly_one_outcome() -> None:
    engine, kv, arm = setup()
    arm.add(*(registry(f"reg{i:03d}", version="v1") for i in range(40)))
    report = engine.run(RunRequest.sweep())
    assert sorted(o.registry_name for o in report.outcomes) == [f"reg{i:03d}" for i in range(40)]
    assert len(arm.patches) == 40 and kv.reads <= 3  # one key, read once per run


def test_the_event_budget_defers_updates_it_cannot_start_in_time() -> None:
    clock = Clock()
    engine, _, arm = setup(Settings(event_budget_s=10, max_parallel_per_subscription=1), clock)
    arm.add(*(registry(f"reg{i}", version="v1") for i in range(5)))

    def slow_update(_r: object, _uri: str) -> None:  # each update takes 4 s of the injected clock
        clock.now += timedelta(seconds=4)

    arm.on_update = slow_update
    report = engine.run(event().request(engine.settings.event_budget_s))
    results = [o.reason for o in report.outcomes]
    assert results.count(Reason.NEWER_VERSION_AVAILABLE) == 3
    assert results.count(Reason.DEFERRED) == 2
    assert report.needs_retry and len(arm.patches) == 3


def test_near_expiry_event_alerts_with_every_registry_using_the_version() -> None:
    clock = Clock()
    engine, kv, arm = setup(clock=clock)
    kv.keys[KEY][1].attrs = version("v2", 1, exp=NOW + days(10))
    arm.add(registry("pinned1", version="v2"), registry("versionless1", version=None, versioned="v2"))
    report = engine.run(event("v2", KeyEventKind.NEAR_EXPIRY).request(engine.settings.event_budget_s))
    assert len(report.alerts) == 1
    alert = report.alerts[0]
    assert (alert.version, alert.severity, alert.days_left) == ("v2", "warning", 10)
    assert [a.rsplit("/", 1)[-1] for a in alert.affected_registries] == ["pinned1", "versionless1"]


def test_auto_rotate_creates_one_new_version_per_expiring_version_and_converges() -> None:
    engine, kv, arm = setup(Settings(auto_rotate_keys=True))
    kv.keys[KEY] = kv.keys[KEY][:1]
    kv.keys[KEY][0].attrs = version("v1", 300, exp=NOW + days(5))
    arm.add(registry("pinned1", version="v1"))
    first = engine.run(event("v1", KeyEventKind.NEAR_EXPIRY).request(engine.settings.event_budget_s))
    second = engine.run(event("v1", KeyEventKind.NEAR_EXPIRY).request(engine.settings.event_budget_s))
    assert kv.created == ["auto1"]
    assert first.outcomes[0].result == Result.ROTATED and first.outcomes[0].to_version == "auto1"
    assert second.outcomes[0].reason == Reason.ALREADY_CURRENT


def test_auto_rotate_is_off_by_default() -> None:
    engine, kv, arm = setup()
    kv.keys[KEY] = kv.keys[KEY][:1]
    kv.keys[KEY][0].attrs = version("v1", 300, exp=NOW + days(5))
    arm.add(registry("pinned1", version="v1"))
    engine.run(event("v1", KeyEventKind.NEAR_EXPIRY).request(engine.settings.event_budget_s))
    assert kv.created == []


def test_a_registry_deleted_between_listing_and_update_fails_alone() -> None:
    engine, _, arm = setup()
    gone = registry("gone1", version="v1")
    arm.add(gone, registry("fine1", version="v1"))
    arm.on_list = lambda _subscription: arm.registries.pop(gone.id.lower(), None)  # deleted right after listing
    report = engine.run(RunRequest.sweep())
    by_name = {o.registry_name: o for o in report.outcomes}
    assert by_name["gone1"].reason == Reason.REGISTRY_NOT_FOUND and by_name["fine1"].result == Result.ROTATED
    assert arm.reads.count("gone1") == 1  # the re-read before writing found it gone
    assert [patch[0] for patch in arm.patches] == [by_name["fine1"].registry]


def test_canaries_move_first_and_the_rest_follow_when_they_succeed() -> None:
    engine, _, arm = setup()
    arm.add(registry("reg1", version="v1"), registry("canary1", version="v1", tags={"cmk-rotation": "canary"}),
            registry("reg2", version="v1"))
    report = engine.run(RunRequest.sweep())
    assert arm.patches[0][0].endswith("/canary1")
    assert {o.registry_name: o.result for o in report.outcomes} == {
        "canary1": Result.ROTATED, "reg1": Result.ROTATED, "reg2": Result.ROTATED}


def test_a_failed_canary_holds_back_the_other_registries_on_its_key_and_is_reported() -> None:
    engine, kv, arm = setup()
    other_key = KEY.__class__("kv-other.vault.azure.net", "other")
    kv.add(other_key, version("o1", 30))
    kv.add(other_key, version("o2", 1))
    arm.add(registry("reg1", version="v1"), registry("canary1", version="v1", tags={"cmk-rotation": "canary"}),
            registry("elsewhere1", version="o1", key=other_key))
    arm.update_errors[registry("canary1").id.lower()] = PermanentError(Reason.UPDATE_REJECTED, "400")
    report = engine.run(RunRequest.sweep())
    by_name = {o.registry_name: o for o in report.outcomes}
    assert (by_name["canary1"].result, by_name["canary1"].reason) == (Result.FAILED, Reason.UPDATE_REJECTED)
    assert (by_name["reg1"].result, by_name["reg1"].reason) == (Result.SKIPPED, Reason.CANARY_FAILED)
    assert by_name["elsewhere1"].result == Result.ROTATED  # another key is not held
    assert [p.reason for p in report.problems] == [Reason.CANARY_FAILED]
    assert [p[0].rsplit("/", 1)[-1] for p in arm.patches] == ["canary1", "elsewhere1"]


def test_a_run_answers_with_the_documented_fields_and_no_ignored_field() -> None:
    """The HTTP and CLI answer of a run (README, "The functions"); ``ignored`` was never set and is gone."""
    engine, _, arm = setup()
    arm.add(registry("pinned1", version="v1"))
    answer = engine.run(RunRequest.sweep(dry_run=True)).to_dict()
    assert set(answer) == {"trigger", "correlationId", "dryRun", "counts", "outcomes", "alerts", "keyVersionsCreated",
                           "problems", "problemsFound", "durationMs", "requestedBy", "requestReason"}
    assert set(answer["outcomes"][0]) == {"registry", "name", "subscription", "resourceGroup", "vault", "key",
                                          "fromVersion", "toVersion", "result", "reason", "transient", "detail",
                                          "trigger", "dryRun", "correlationId", "durationMs", "requestedBy",
                                          "requestReason"}
    assert answer["requestedBy"] == answer["outcomes"][0]["requestedBy"] == {
        "kind": "system", "objectId": "", "name": "", "tenantId": "", "role": ""}
    assert answer["outcomes"][0]["registry"].endswith("/registries/pinned1") and answer["outcomes"][0]["name"] == \
        "pinned1"
