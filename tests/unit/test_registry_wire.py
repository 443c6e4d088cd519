"""A registry from ARM's JSON (``adapters.registries.to_registry``), as the recorded ACR answer has it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from azure.mgmt.containerregistry.models import Registry as RegistryModel

from shared.adapters.registries import to_registry
from tests.builders import SUFFIXES

FACTS = json.loads((Path(__file__).parents[1] / "fixtures" / "acr-arm" / "pinned-wire-facts.json").read_text())
REGISTRY_ID = FACTS["registry_id_example"]


def wire(**key_vault_properties: object) -> dict:
    encryption = {**FACTS["encryption_after_rotation"]}
    encryption["keyVaultProperties"] = {**encryption["keyVaultProperties"], **key_vault_properties}
    return {"id": REGISTRY_ID, "name": REGISTRY_ID.rsplit("/", 1)[-1], "location": "westus",
            "properties": {"provisioningState": "Succeeded", "encryption": encryption}}


@pytest.mark.parametrize("through_sdk", [False, True], ids=["from JSON", "through the SDK model's as_dict"])
def test_last_key_rotation_is_read_from_the_wire(through_sdk: bool) -> None:
    data = wire()
    if through_sdk:
        data = {**RegistryModel(data).as_dict(), "id": REGISTRY_ID}
    registry = to_registry(data, SUFFIXES)
    assert registry is not None
    # 2023-12-21T23:57:34.1633437+00:00: seven fractional digits, as ACR writes them
    assert registry.last_key_rotation == datetime(2023, 12, 21, 23, 57, 34, 163343, tzinfo=UTC)


@pytest.mark.parametrize("raw", [None, "", "not a time"], ids=["absent", "empty", "unreadable"])
def test_a_missing_or_unreadable_timestamp_is_none_and_the_registry_is_still_read(raw: object) -> None:
    registry = to_registry(wire(lastKeyRotationTimestamp=raw), SUFFIXES)
    assert registry is not None and registry.last_key_rotation is None and registry.pinned
