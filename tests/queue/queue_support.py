"""Helpers for the queue tests: a rotation queue on Azurite, host.json variants, and host processes."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.storage.queue import QueueClient, TextBase64DecodePolicy

from tests.crash.processes import environment, json_lines, start

HOST_JSON = Path(__file__).resolve().parents[2] / "host.json"


@dataclass
class RotationQueue:
    connection: str
    name: str

    @property
    def client(self) -> QueueClient:
        return QueueClient.from_connection_string(self.connection, self.name,
                                                  message_decode_policy=TextBase64DecodePolicy())

    @property
    def poison(self) -> QueueClient:
        return QueueClient.from_connection_string(self.connection, f"{self.name}-poison",
                                                  message_decode_policy=TextBase64DecodePolicy())

    def env(self, app_env: dict[str, str]) -> dict[str, str]:
        return environment(app_env, ROTATION_QUEUE_NAME=self.name, AzureWebJobsStorage=self.connection)

    def count(self) -> int:
        return int(self.client.get_queue_properties().approximate_message_count or 0)

    def poisoned(self) -> list[str]:
        try:
            return [m.content for m in self.poison.peek_messages(max_messages=32)]
        except Exception:  # no poison queue: nothing was poisoned
            return []


def new_queue(connection: str) -> RotationQueue:
    queue = RotationQueue(connection, f"rotations-{uuid.uuid4().hex[:12]}")
    queue.client.create_queue()
    return queue


def host_json(tmp_path: Path, **queues: Any) -> Path:
    """The app's host.json with some extensions.queues settings changed (a quick test's retry delays)."""
    config = json.loads(HOST_JSON.read_text())
    config.setdefault("extensions", {}).setdefault("queues", {}).update(queues)
    path = tmp_path / "host.json"
    path.write_text(json.dumps(config))
    return path


def start_host(queue: RotationQueue, app_env: dict[str, str], config: Path, listener_visibility_s: float,
               until_empty: bool = True, threads: int | None = None) -> subprocess.Popen[str]:
    args = ["-m", "emulator.queue_host", "--queue", queue.name, "--host-json", str(config),
            "--listener-visibility", str(listener_visibility_s)]
    env = queue.env(app_env)
    if threads:
        env["PYTHON_THREADPOOL_THREAD_COUNT"] = str(threads)
    return start([*args, *(["--until-empty"] if until_empty else [])], env)


def lines_until(proc: subprocess.Popen[str], event: str, count: int = 1) -> Iterator[dict[str, Any]]:
    """Read the host's JSON lines as they come, up to the ``count``-th line of ``event``."""
    assert proc.stdout is not None
    seen = 0
    for line in proc.stdout:
        for record in json_lines(line):
            yield record
            seen += record.get("event") == event
        if seen >= count:
            return
    raise AssertionError(f"the host ended before {count} {event!r} lines (exit {proc.wait()})")


def invocations(printed: str) -> list[dict[str, Any]]:
    return [r for r in json_lines(printed) if r.get("event") == "invocation"]
