"""The opt-in rotation queue through azure-storage-queue: one message per registry."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from azure.core.exceptions import AzureError
from azure.storage.queue import QueueClient

from shared.adapters.errors import describe
from shared.errors import TemporaryError
from shared.queue_messages import RotationMessage
from shared.reasons import Reason

SEND_WORKERS = 16  # Storage queues take one message per call: thousands of them go out in parallel


class QueueDispatcher:
    def __init__(self, client: QueueClient) -> None:
        self._client = client

    def enqueue(self, messages: list[RotationMessage]) -> None:
        if not messages:
            return
        with ThreadPoolExecutor(max_workers=min(SEND_WORKERS, len(messages))) as pool:
            errors = [e for e in pool.map(self._send, messages) if e is not None]
        if errors:
            raise TemporaryError(Reason.QUEUE_UNAVAILABLE, f"{len(errors)} of {len(messages)} messages not queued "
                                                            f"on {self._client.queue_name}: {errors[0]}")

    def _send(self, message: RotationMessage) -> str | None:
        try:
            self._client.send_message(message.to_json())
        except AzureError as exc:
            return describe(exc)
        return None
