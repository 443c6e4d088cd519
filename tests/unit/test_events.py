"""Key Vault events, from the real payload shapes under tests/events/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.events import (
    EventEnvelope,
    IgnoredEvent,
    InvalidEvent,
    KeyEvent,
    KeyEventKind,
    envelope_from_json,
    parse_key_event,
)
from tests.builders import SUFFIXES
from tests.reference import ABSENT, AZURE_WIRE

EVENTS = Path(__file__).parent.parent / "events"
SHARED_EVENTGRID = AZURE_WIRE / "eventgrid"


def load(name: str) -> list[dict]:
    payload = json.loads((EVENTS / name).read_text())
    return payload if isinstance(payload, list) else [payload]


def parse(payload: dict) -> KeyEvent | IgnoredEvent:
    return parse_key_event(envelope_from_json(payload), SUFFIXES)


@pytest.mark.parametrize("name", sorted(p.name for p in EVENTS.glob("key-*.json")))
def test_real_shaped_key_events_parse_in_both_schemas(name: str) -> None:
    [event] = [parse(p) for p in load(name)]
    assert isinstance(event, KeyEvent)
    assert str(event.key_id) == "https://sample-kv.vault.azure.net/keys/acr-cmk/ee059b2bb5bc48398a53b168c6cdcb10"
    assert event.topic.endswith("/vaults/sample-kv")


def test_each_key_event_type_is_recognised() -> None:
    kinds = {parse(load(n)[0]).kind for n in ("key-new-version-created.eventgrid-schema.json",  # type: ignore[union-attr]
                                             "key-near-expiry.eventgrid-schema.json", "key-expired.cloudevents.json")}
    assert kinds == set(KeyEventKind)


@pytest.mark.parametrize(("nbf", "exp"), [("soon", True), ("1e400", "never"), ({"a": 1}, [1, 2]), (None, "")],
                         ids=["words and a boolean", "an overflow and words", "an object and a list", "null and empty"])
def test_unreadable_nbf_and_exp_never_drop_an_event(nbf: object, exp: object) -> None:
    """The app never reads NBF or EXP (it re-reads Key Vault), so what they hold cannot make it drop an event."""
    event = parse_key_event(envelope({**GOOD, "NBF": nbf, "EXP": exp}), SUFFIXES)
    assert isinstance(event, KeyEvent) and str(event.key_id) == GOOD["Id"]


@pytest.mark.parametrize("name", sorted(p.name for p in EVENTS.glob("*SecretNewVersionCreated.json")))
def test_published_secret_samples_are_acknowledged_and_ignored(name: str) -> None:
    for payload in load(name):
        assert isinstance(parse(payload), IgnoredEvent)


@pytest.mark.parametrize("name", sorted(p.name for p in EVENTS.glob("*SecretNewVersionCreated.json")))
def test_published_samples_parse_as_key_events_once_they_name_a_key(name: str) -> None:
    """The published shapes (typos, PascalCase, string epochs) with the key event type and a key id."""
    for payload in load(name):
        type_field = "type" if "specversion" in payload else "eventType"
        data = {k: (v.replace("/secrets/", "/keys/") if isinstance(v, str) else v) for k, v in payload["data"].items()}
        data = {k: ("Key" if k.strip() == "ObjectType" else v) for k, v in data.items()}
        event = parse({**payload, type_field: "Microsoft.KeyVault.KeyNewVersionCreated", "data": data})
        assert isinstance(event, KeyEvent) and event.key_id.version == "ee059b2bb5bc48398a53b168c6cdcb10"


def test_copies_match_the_shared_reference_samples() -> None:
    if not SHARED_EVENTGRID.is_dir():
        pytest.skip(ABSENT)
    for original in SHARED_EVENTGRID.glob("*SecretNewVersionCreated.json"):
        assert (EVENTS / original.name).read_bytes() == original.read_bytes(), original.name


def envelope(data: object, event_type: str = "Microsoft.KeyVault.KeyNewVersionCreated") -> EventEnvelope:
    return EventEnvelope("id-1", event_type, "acr-cmk", "/subscriptions/x", data)


GOOD = {"Id": "https://kv1.vault.azure.net/keys/acr-cmk/abc123", "VaultName": "kv1", "ObjectType": "Key",
        "ObjectName": "acr-cmk", "Version": "abc123"}


@pytest.mark.parametrize(("data", "message"), [
    (None, "must be a JSON object"),
    ("a string", "must be a JSON object"),
    ({}, "data.Id"),
    ({**GOOD, "Id": 42}, "data.Id"),
    ({**GOOD, "Id": "https://evil.example.com/keys/acr-cmk/abc123"}, "not a Key Vault host"),
    ({**GOOD, "Id": "https://kv1.vault.azure.net.evil.example.com/keys/a/b"}, "not a Key Vault host"),
    ({**GOOD, "Id": "https://a.b.vault.azure.net/keys/acr-cmk/abc123"}, "not a valid vault host"),
    ({**GOOD, "Id": "http://kv1.vault.azure.net/keys/acr-cmk/abc123"}, "https"),
    ({**GOOD, "Id": "https://kv1.vault.azure.net:8443/keys/acr-cmk/abc123"}, "plain"),
    ({**GOOD, "Id": "https://kv1.vault.azure.net:$/keys/acr-cmk/abc123"}, "plain"),
    ({**GOOD, "Id": "https://[kv1.vault.azure.net/keys/acr-cmk/abc123"}, "plain"),
    ({**GOOD, "Id": "https://kv1.vault.azure.net/secrets/acr-cmk/abc123"}, "/keys/"),
    ({**GOOD, "Id": "https://kv1.vault.azure.net/keys/" + "a" * 600}, "too long"),
    ({**GOOD, "VaultName": "kv2"}, "disagrees"),
    ({**GOOD, "ObjectName": "other"}, "disagrees"),
    ({**GOOD, "Version": "def456"}, "disagrees"),
    ({**GOOD, "ObjectType": "Secret"}, "ObjectType"),
])
def test_malformed_and_hostile_key_events_are_refused_with_a_reason(data: object, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        parse_key_event(envelope(data), SUFFIXES)


def test_a_sovereign_cloud_accepts_only_its_own_hosts() -> None:
    china = ("vault.azure.cn", "managedhsm.azure.cn")
    with pytest.raises(InvalidEvent, match="not a Key Vault host"):
        parse_key_event(envelope(GOOD), china)
    event = parse_key_event(envelope({**GOOD, "Id": "https://kv1.vault.azure.cn/keys/acr-cmk/abc123"}), china)
    assert isinstance(event, KeyEvent)


def test_managed_hsm_key_ids_are_key_vault_hosts() -> None:
    data = {"Id": "https://hsm1.managedhsm.azure.net/keys/acr-cmk/abc123", "ObjectType": "Key"}
    assert isinstance(parse_key_event(envelope(data), SUFFIXES), KeyEvent)


def test_event_types_match_case_insensitively() -> None:
    assert isinstance(parse_key_event(envelope(GOOD, "microsoft.keyvault.keynearexpiry"), SUFFIXES), KeyEvent)
