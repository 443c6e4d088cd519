"""The rotation queue end to end: the stand-in for Azure, Azurite for the storage queue, the official SDKs."""

from __future__ import annotations

import json

import pytest
from azure.storage.queue import QueueClient, TextBase64DecodePolicy

from emulator import seed
from shared import triggers
from shared.composition import build_engine
from shared.events import envelope_from_json
from shared.reasons import Reason, Result
from shared.requests import RunRequest

pytestmark = pytest.mark.standin
QUEUE = "acr-rotations"


def test_an_event_enqueues_and_apply_rotation_moves_verifies_and_ignores_a_redelivery(
        az, estate, app_env, azurite) -> None:
    queue = QueueClient.from_connection_string(azurite, QUEUE, message_decode_policy=TextBase64DecodePolicy())
    queue.create_queue()
    engine = build_engine({**app_env, "ROTATION_QUEUE_NAME": QUEUE, "AzureWebJobsStorage": azurite})
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    [event] = [e for e in az.events if e["data"]["Version"] == new.properties.version]

    report = triggers.key_event(envelope_from_json(event), lambda: engine)
    assert report is not None
    queued = [o for o in report.outcomes if o.reason == Reason.QUEUED]
    assert [o.registry_name for o in queued] == ["acrpinned"]
    assert not [r for r in az.requests if r["method"] == "PATCH" and r["principal"] == az.principal_id]

    [message] = queue.receive_messages()
    body = json.loads(message.content)  # base64 on the wire, as the Functions queue trigger expects
    assert body == {"registry": estate.registries["acrpinned"], "toVersion": new.properties.version,
                    "trigger": "event", "correlationId": event["id"], "dryRun": False}
    applied = triggers.apply_rotation(message.content, message.dequeue_count, engine_factory=lambda: engine)
    again = triggers.apply_rotation(message.content, message.dequeue_count + 1, engine_factory=lambda: engine)
    assert applied is not None and applied.outcomes[0].result == Result.ROTATED
    assert again is not None and again.outcomes[0].reason == Reason.ALREADY_CURRENT
    patches = [r for r in az.requests if r["method"] == "PATCH" and r["principal"] == az.principal_id]
    assert len(patches) == 1
    assert engine.run(RunRequest.sweep()).counts()["planned"] == 0  # nothing left to enqueue
