"""The opt-in rotation queue over in-memory fakes: enqueueing, applying one message, giving up loudly."""

from __future__ import annotations

import pytest

from shared import triggers
from shared.composition import assemble
from shared.engine import OutcomeSink
from shared.errors import ConfigurationError, TemporaryError
from shared.locks import KeyedLocks
from shared.queue_messages import InvalidMessage, RotationMessage, parse_message
from shared.reasons import Reason, Result, Trigger
from shared.requests import RunRequest
from shared.settings import Settings, load_settings
from tests.builders import KEY, registry, version
from tests.fakes import FakeKeyVault, FakeRegistries


class FakeQueue:
    def __init__(self, error: TemporaryError | None = None) -> None:
        self.sent: list[RotationMessage] = []
        self.error = error

    def enqueue(self, messages: list[RotationMessage]) -> None:
        if self.error:
            raise self.error
        self.sent.extend(messages)


class RecordingSink(OutcomeSink):
    def __init__(self) -> None:
        self.outcomes = []

    def outcome(self, outcome) -> None:
        self.outcomes.append(outcome)


def setup(queue: FakeQueue | None = None):
    from tests.unit.test_engine import Clock

    clock = Clock()
    kv = FakeKeyVault(clock)
    kv.add(KEY, version("v1", 30))
    kv.add(KEY, version("v2", 1))
    arm = FakeRegistries()
    arm.add(registry("pinned1", version="v1"), registry("pinned2", version="v1"))
    sink = RecordingSink()
    engine = assemble(Settings(queue_name="rotations"), kv, arm, clock=clock, sink=sink, locks=KeyedLocks(),
                      queue=queue)
    return engine, arm, sink


def test_a_sweep_with_a_queue_enqueues_one_message_per_registry_and_writes_nothing() -> None:
    queue = FakeQueue()
    engine, arm, _ = setup(queue)
    report = engine.run(RunRequest.sweep(correlation_id="run-1"))
    assert not arm.patches
    assert {(o.result, o.reason) for o in report.outcomes} == {(Result.PLANNED, Reason.QUEUED)}
    assert sorted(m.registry_id.rsplit("/", 1)[-1] for m in queue.sent) == ["pinned1", "pinned2"]
    assert {(m.to_version, m.trigger, m.correlation_id, m.dry_run) for m in queue.sent} == {
        ("v2", Trigger.SWEEP, "run-1", False)}


def test_a_queue_that_refuses_fails_the_run_transiently_so_it_is_retried() -> None:
    engine, arm, _ = setup(FakeQueue(TemporaryError(Reason.QUEUE_UNAVAILABLE, "down")))
    report = engine.run(RunRequest.sweep())
    assert {o.reason for o in report.outcomes} == {Reason.QUEUE_UNAVAILABLE} and report.needs_retry
    assert not arm.patches


def test_a_message_is_applied_in_process_and_a_redelivery_changes_nothing() -> None:
    engine, arm, _ = setup(FakeQueue())
    message = RotationMessage(registry("pinned1").id, "v2", Trigger.EVENT, "evt-1").to_json()
    first = triggers.apply_rotation(message, 1, engine_factory=lambda: engine)
    again = triggers.apply_rotation(message, 2, engine_factory=lambda: engine)
    assert first is not None and first.outcomes[0].result == Result.ROTATED
    assert first.outcomes[0].trigger == Trigger.EVENT and first.outcomes[0].correlation_id == "evt-1"
    assert again is not None and again.outcomes[0].reason == Reason.ALREADY_CURRENT
    assert len(arm.patches) == 1


def test_a_transient_failure_is_retried_until_the_last_delivery_records_a_failed_outcome() -> None:
    engine, arm, sink = setup()
    arm.update_errors[registry("pinned1").id.lower()] = TemporaryError(Reason.THROTTLED, "429")
    message = RotationMessage(registry("pinned1").id, "v2", Trigger.SWEEP, "run-2").to_json()
    with pytest.raises(triggers.RetryLater):
        triggers.apply_rotation(message, 4, max_dequeue=5, engine_factory=lambda: engine)
    report = triggers.apply_rotation(message, 5, max_dequeue=5, engine_factory=lambda: engine)
    assert report is not None
    [outcome] = report.outcomes
    assert (outcome.result, outcome.reason, outcome.transient) == (Result.FAILED, Reason.RETRIES_EXHAUSTED, False)
    assert "THROTTLED" in outcome.detail and report.problems[0].reason == Reason.RETRIES_EXHAUSTED
    assert sink.outcomes[-1] == outcome  # recorded (telemetry, alerts), never a silent poison message


def test_a_malformed_message_is_dropped_with_an_error_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    engine, arm, _ = setup()
    assert triggers.apply_rotation(b'{"registry": "nope"}', 1, engine_factory=lambda: engine) is None
    assert "malformed rotation message" in caplog.text and not arm.patches
    with pytest.raises(InvalidMessage):
        parse_message(b"not json")


@pytest.mark.parametrize("name", ["ab", "Rotations", "-rotations", "rotations-", "rot--ations", "a" * 64])
def test_a_bad_queue_name_is_refused_naming_the_setting(name: str) -> None:
    with pytest.raises(ConfigurationError, match="ROTATION_QUEUE_NAME"):
        load_settings({"ROTATION_QUEUE_NAME": name})


def test_the_queue_is_off_by_default_and_takes_a_valid_name() -> None:
    assert load_settings({}).queue_name == ""
    assert load_settings({"ROTATION_QUEUE_NAME": "acr-rotations"}).queue_name == "acr-rotations"


def test_two_messages_for_one_registry_at_once_in_one_instance_make_one_patch() -> None:
    """A queued run skips the re-read (its own GET is moments old) only while nothing in this process has updated
    the registry since it began: the second of two concurrent messages re-reads and finds the work done."""
    import threading

    from shared.queue_messages import RotationMessage
    from shared.reasons import Trigger

    engine, arm, _ = setup()
    pinned = registry("pinned1", version="v1")
    both_read = threading.Barrier(2, timeout=10)
    first_reads: list[str] = []

    def meet(name: str) -> None:
        if len(first_reads) < 2:
            first_reads.append(name)
            both_read.wait()  # both messages have read the registry before either writes

    arm.on_get = meet
    message = RotationMessage(pinned.id, "v2", Trigger.EVENT, "evt-1")
    reports = []
    threads = [threading.Thread(target=lambda: reports.append(engine.run(message.request()))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(arm.patches) == 1
    assert sorted(r.outcomes[0].reason.value for r in reports) == ["ALREADY_CURRENT", "NEWER_VERSION_AVAILABLE"]
    assert arm.reads.count("pinned1") == 3  # two discoveries, one re-read by the second
