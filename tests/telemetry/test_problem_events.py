"""Problems outside any one registry (a failed canary, say) become RotationProblem events."""

from __future__ import annotations

import logging

import pytest

from shared.composition import assemble
from shared.errors import PermanentError
from shared.locks import KeyedLocks
from shared.reasons import Reason
from shared.requests import RunRequest
from shared.settings import Settings
from shared.telemetry import CUSTOM_EVENT, PROBLEM_EVENT, TelemetrySink
from tests.builders import KEY, NOW, registry, version
from tests.fakes import FakeKeyVault, FakeRegistries


def test_a_failed_canary_is_a_rotation_problem_event(caplog: pytest.LogCaptureFixture) -> None:
    kv = FakeKeyVault(lambda: NOW)
    kv.add(KEY, version("v1", 30))
    kv.add(KEY, version("v2", 1))
    arm = FakeRegistries()
    arm.add(registry("canary1", version="v1", tags={"cmk-rotation": "canary"}), registry("reg1", version="v1"))
    arm.update_errors[registry("canary1").id.lower()] = PermanentError(Reason.UPDATE_REJECTED, "400")
    engine = assemble(Settings(), kv, arm, clock=lambda: NOW, sink=TelemetrySink(), locks=KeyedLocks())
    caplog.set_level(logging.INFO, logger="shared")
    engine.run(RunRequest.sweep())
    [problem] = [r for r in caplog.records if getattr(r, CUSTOM_EVENT, None) == PROBLEM_EVENT]
    properties = vars(problem)  # extra attributes: what the exporter turns into customDimensions
    assert properties["reason"] == "CANARY_FAILED" and properties["transient"] == "false"
    assert "canary1" in properties["detail"] and properties["trigger"] == "sweep"


@pytest.mark.parametrize("trigger", ["sweep", "event"])
def test_a_credential_that_fails_everywhere_is_one_permanent_problem_event_per_run(
        trigger: str, caplog: pytest.LogCaptureFixture) -> None:
    """What the configuration-problems alert (infra/kql/configuration-problems.kql) reads: once per run, however
    many subscriptions were tried; and an event run with it is acknowledged, not redelivered for a day."""
    from shared import triggers
    from shared.events import EventEnvelope

    arm = FakeRegistries(listing_errors={"*": PermanentError(Reason.NO_CREDENTIAL, "no credential. Fix: az login")})
    subscriptions = ("00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002")
    engine = assemble(Settings(subscription_ids=subscriptions), FakeKeyVault(lambda: NOW), arm, clock=lambda: NOW,
                      sink=TelemetrySink(), locks=KeyedLocks())
    caplog.set_level(logging.INFO, logger="shared")
    if trigger == "sweep":
        triggers.sweep(lambda: engine)
    else:
        envelope = EventEnvelope("evt-1", "Microsoft.KeyVault.KeyNewVersionCreated", "acr-cmk", "/t",
                                 {"Id": KEY.uri("abc123"), "ObjectType": "Key"})
        assert triggers.key_event(envelope, lambda: engine) is not None  # no RetryLater: nothing to redeliver for
    problems = [vars(r) for r in caplog.records if getattr(r, CUSTOM_EVENT, None) == PROBLEM_EVENT]
    assert [(p["reason"], p["transient"], p["scope"]) for p in problems] == [("NO_CREDENTIAL", "false", "credential")]


def test_a_permanent_problem_that_cannot_be_recorded_is_left_to_redelivery_and_the_dead_letter() -> None:
    """on_key_event acknowledges a permanent problem once it is recorded; if even that fails, it raises, so that
    Event Grid redelivers and finally dead-letters the event, where the dead-letter alert fires."""
    from shared import triggers
    from shared.engine import OutcomeSink
    from shared.events import EventEnvelope

    class Broken(OutcomeSink):
        def run(self, report) -> None:
            raise OSError("telemetry is down")

    arm = FakeRegistries(listing_errors={"*": PermanentError(Reason.NO_CREDENTIAL, "no credential")})
    envelope = EventEnvelope("evt-1", "Microsoft.KeyVault.KeyNewVersionCreated", "acr-cmk", "/t",
                             {"Id": KEY.uri("abc123"), "ObjectType": "Key"})
    recorded = assemble(Settings(), FakeKeyVault(lambda: NOW), arm, clock=lambda: NOW, locks=KeyedLocks())
    assert triggers.key_event(envelope, lambda: recorded) is not None
    broken = assemble(Settings(), FakeKeyVault(lambda: NOW), arm, clock=lambda: NOW, sink=Broken(), locks=KeyedLocks())
    with pytest.raises(triggers.RetryLater, match="could not be recorded"):
        triggers.key_event(envelope, lambda: broken)
