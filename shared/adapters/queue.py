"""The opt-in rotation queue through azure-storage-queue: one message per registry, interleaved by subscription.

Why interleaved: a Storage queue hands messages out roughly in the order they were sent, and each
subscription has ARM buckets of its own. Sent in registry-id order (grouped by subscription), every instance
would work on the first subscription's registries at once and wait on its buckets while the other
subscriptions' sat unused: measured, 1,000 registries in 4 subscriptions took 5x the write-bucket minimum."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from itertools import zip_longest

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
            errors = [e for e in pool.map(self._send, interleaved(messages)) if e is not None]
        if errors:
            raise TemporaryError(Reason.QUEUE_UNAVAILABLE, f"{len(errors)} of {len(messages)} messages not queued "
                                                            f"on {self._client.queue_name}: {errors[0]}")

    def _send(self, message: RotationMessage) -> str | None:
        try:
            self._client.send_message(message.to_json())
        except AzureError as exc:
            return describe(exc)
        return None


def interleaved(messages: list[RotationMessage]) -> list[RotationMessage]:
    """One message of each subscription in turn, each subscription's in their original order."""
    by_subscription: dict[str, list[RotationMessage]] = {}
    for message in messages:
        by_subscription.setdefault(message.registry_id.split("/")[2].lower(), []).append(message)
    rounds = zip_longest(*by_subscription.values())
    return [message for round_ in rounds for message in round_ if message is not None]
