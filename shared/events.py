"""Typed, defensive reading of Key Vault events from Event Grid (Event Grid schema or CloudEvents 1.0).

Real payloads use PascalCase data fields and the published samples have stray spaces in keys and values;
all of that parses. An event is only a hint naming a key: the engine re-reads Key Vault, so nothing here is
trusted beyond which key to look at. Only ``Id`` is used: it must parse as a key of the configured cloud, and
``ObjectType``, ``VaultName``, ``ObjectName`` and ``Version`` must not contradict it. ``NBF`` and ``EXP`` are
never read (Key Vault is), so an unreadable one never makes the app drop an event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from shared.keyids import InvalidKeyId, KeyId, parse_key_id

if TYPE_CHECKING:  # loaded with the engine, not when the Functions host indexes function_app (cold start)
    from shared.requests import RunRequest


class KeyEventKind(StrEnum):
    NEW_VERSION = "Microsoft.KeyVault.KeyNewVersionCreated"
    NEAR_EXPIRY = "Microsoft.KeyVault.KeyNearExpiry"
    EXPIRED = "Microsoft.KeyVault.KeyExpired"


_KINDS = {k.value.lower(): k for k in KeyEventKind}
_MAX_TEXT = 1024


class InvalidEvent(ValueError):
    """A key event we cannot use. Acknowledged and logged: Event Grid would only redeliver it."""


@dataclass(frozen=True)
class EventEnvelope:
    """The fields both schemas share, whatever delivered them."""

    event_id: str
    event_type: str
    subject: str
    topic: str
    data: Any


@dataclass(frozen=True)
class KeyEvent:
    event_id: str
    kind: KeyEventKind
    key_id: KeyId
    topic: str

    def request(self, budget_s: float) -> RunRequest:
        """Every registry on the event's key, within Event Grid's patience; the version it names is alerted on
        even if no registry uses it. Its updates may fan out to the rotation queue."""
        from shared.reasons import Trigger
        from shared.requests import RunRequest, Scope

        named = ((self.key_id.key, self.key_id.version),) if self.key_id.version else ()
        return RunRequest(Trigger.EVENT, self.event_id, scope=Scope(key=self.key_id.key), budget_s=budget_s,
                          fan_out=True, alert_versions=named)


@dataclass(frozen=True)
class IgnoredEvent:
    event_id: str
    event_type: str
    reason: str


def _text(value: Any) -> str:
    return value.strip()[:_MAX_TEXT] if isinstance(value, str) else ""


def envelope_from_json(payload: Mapping[str, Any]) -> EventEnvelope:
    """From one JSON event of either schema (CloudEvents has ``specversion``)."""
    if not isinstance(payload, Mapping):
        raise InvalidEvent("an event must be a JSON object")
    cloud = "specversion" in payload
    return EventEnvelope(
        event_id=_text(payload.get("id")),
        event_type=_text(payload.get("type" if cloud else "eventType")),
        subject=_text(payload.get("subject")),
        topic=_text(payload.get("source" if cloud else "topic")),
        data=payload.get("data"),
    )


def envelope_from_function_event(event: Any) -> EventEnvelope:
    """From the Functions worker's ``EventGridEvent`` or ``CloudEvent`` (duck-typed: no SDK import here)."""
    cloud = hasattr(event, "specversion")
    try:
        data = event.get_json()
    except Exception as exc:  # the worker hands over whatever JSON arrived
        raise InvalidEvent(f"event data is not JSON: {exc.__class__.__name__}") from None
    return EventEnvelope(
        event_id=_text(getattr(event, "id", "")),
        event_type=_text(getattr(event, "type" if cloud else "event_type", "")),
        subject=_text(getattr(event, "subject", "")),
        topic=_text(getattr(event, "source" if cloud else "topic", "")),
        data=data,
    )


def parse_key_event(envelope: EventEnvelope, allowed_suffixes: tuple[str, ...]) -> KeyEvent | IgnoredEvent:
    kind = _KINDS.get(envelope.event_type.lower())
    if kind is None:
        return IgnoredEvent(envelope.event_id, envelope.event_type or "(none)",
                            "not a key version or expiry event")
    if not isinstance(envelope.data, Mapping):
        raise InvalidEvent("event data must be a JSON object")
    # Keys case-insensitively and without stray spaces, as the published samples need.
    data = {str(k).strip().lower(): v for k, v in envelope.data.items()}
    object_type = _text(data.get("objecttype"))
    if object_type and object_type.lower() != "key":
        raise InvalidEvent(f"data.ObjectType is {object_type!r}, expected 'Key'")
    try:
        key_id = parse_key_id(_text(data.get("id")), allowed_suffixes)
    except InvalidKeyId as exc:
        raise InvalidEvent(f"data.Id: {exc}") from None
    vault_name = _text(data.get("vaultname"))
    if vault_name and vault_name.lower() != key_id.key.vault_name:
        raise InvalidEvent(f"data.VaultName {vault_name!r} disagrees with the key id's host {key_id.key.host!r}")
    object_name = _text(data.get("objectname"))
    if object_name and object_name.lower() != key_id.key.name:
        raise InvalidEvent(f"data.ObjectName {object_name!r} disagrees with the key id")
    version = _text(data.get("version"))
    if version and key_id.version and version.lower() != key_id.version:
        raise InvalidEvent(f"data.Version {version!r} disagrees with the key id")
    return KeyEvent(
        event_id=envelope.event_id or "(none)",
        kind=kind,
        key_id=key_id,
        topic=envelope.topic,
    )
