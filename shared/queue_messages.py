"""Messages of the opt-in rotation queue (ROTATION_QUEUE_NAME): one per registry, a hint like an event.

``apply_rotation`` re-reads everything, so a message only says which registry to look at, the version
the enqueuing run planned, and where the work came from (trigger, correlation id, dry run).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shared.armids import RegistryRef, parse_registry_id
from shared.reasons import Trigger

if TYPE_CHECKING:  # loaded with the engine, not when the Functions host indexes function_app (cold start)
    from shared.requests import RunRequest

DEFAULT_MAX_DEQUEUE = 5  # the Functions host's default when host.json says nothing


class InvalidMessage(ValueError):
    pass


@dataclass(frozen=True)
class RotationMessage:
    registry_id: str
    to_version: str | None
    trigger: Trigger
    correlation_id: str
    dry_run: bool = False

    @property
    def registry(self) -> RegistryRef:
        return parse_registry_id(self.registry_id)

    def request(self) -> RunRequest:
        """Apply this one registry here and now: re-read, plan, apply, verify; never re-enqueued."""
        from shared.requests import RunRequest, Scope

        return RunRequest(self.trigger, self.correlation_id, self.dry_run, Scope(registry=self.registry))

    def to_json(self) -> str:
        return json.dumps({"registry": self.registry_id, "toVersion": self.to_version, "trigger": self.trigger.value,
                           "correlationId": self.correlation_id, "dryRun": self.dry_run}, separators=(",", ":"))


def parse_message(body: bytes | str) -> RotationMessage:
    try:
        data = json.loads(body)
        registry_id, trigger = str(data["registry"]), Trigger(data["trigger"])
        parse_registry_id(registry_id)
        return RotationMessage(registry_id, data.get("toVersion") or None, trigger,
                               str(data.get("correlationId") or ""), bool(data.get("dryRun", False)))
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidMessage(f"not a rotation message: {exc}") from None


def max_dequeue_count(host_json: Path) -> int:
    """host.json's extensions.queues.maxDequeueCount: after that many attempts the host moves a message
    to the poison queue without telling anyone, so the last attempt must record the failure itself."""
    try:
        queues = json.loads(host_json.read_text()).get("extensions", {}).get("queues", {})
        return int(queues.get("maxDequeueCount", DEFAULT_MAX_DEQUEUE))
    except (OSError, ValueError, AttributeError):
        return DEFAULT_MAX_DEQUEUE
