"""The rotation queue's sender (adapters/queue.py): what order messages leave in, and a refusal."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError

from shared.adapters.queue import QueueDispatcher, interleaved
from shared.errors import TemporaryError
from shared.queue_messages import RotationMessage
from shared.reasons import Trigger

SUBS = ["00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"]


def message(sub: str, name: str) -> RotationMessage:
    rid = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/{name}"
    return RotationMessage(rid, "v2", Trigger.SWEEP, "run-1")


class FakeQueueClient:
    queue_name = "rotations"

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[str] = []
        self.fail = fail

    def send_message(self, content: Any) -> None:
        if self.fail:
            raise ServiceRequestError("no route to the storage account")
        self.sent.append(content)


def test_messages_leave_one_subscription_at_a_time_in_turn_so_consumers_spread_over_arm_s_buckets() -> None:
    # A sweep lists registries sorted by id, so grouped by subscription; consumers take messages roughly in
    # the order sent, and each subscription has its own ARM buckets.
    grouped = [message(SUBS[0], f"acra{i}") for i in range(3)] + [message(SUBS[1], f"acrb{i}") for i in range(2)]
    assert [m.registry.name for m in interleaved(grouped)] == ["acra0", "acrb0", "acra1", "acrb1", "acra2"]
    client = FakeQueueClient()
    QueueDispatcher(client).enqueue(grouped)  # type: ignore[arg-type]
    assert sorted(client.sent) == sorted(m.to_json() for m in grouped)


def test_messages_not_sent_make_one_temporary_error_naming_how_many() -> None:
    with pytest.raises(TemporaryError, match="2 of 2 messages not queued on rotations"):
        QueueDispatcher(FakeQueueClient(fail=True)).enqueue([message(SUBS[0], "acra0"), message(SUBS[1], "acrb0")])  # type: ignore[arg-type]
