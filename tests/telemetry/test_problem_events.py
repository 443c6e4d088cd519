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
