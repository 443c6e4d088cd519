"""The demo estate, wired as a deployment would be: the vault's system topic with a subscription delivering the
three key events to this app's on_key_event, dead-lettering into the app's storage."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from emulator import AzureStandIn, seed
from emulator.scenario import RESOURCE_GROUP, Estate

APP = "func-cmk"
VAULT = "kv-acr-demo"
TOPIC = "evgt-kv-acr-demo"
SUBSCRIPTION = "on-key-event"


@dataclass
class Deployment:
    estate: Estate
    vault_id: str
    function_id: str
    storage_id: str


def deploy_event_grid(az: AzureStandIn, estate: Estate, dead_letter: bool = True,
                      event_types: tuple[str, ...] = seed.KEY_EVENTS) -> Deployment:
    sub = estate.subscription_id
    function_id = f"/subscriptions/{sub}/resourceGroups/rg-app/providers/Microsoft.Web/sites/{APP}/functions/" \
                  "on_key_event"
    storage_id = f"/subscriptions/{sub}/resourceGroups/rg-app/providers/Microsoft.Storage/storageAccounts/stcmk"
    vault_id = az.misconfig.vault(VAULT).resource_id
    az.add_function(function_id, "http://127.0.0.1:9/runtime/webhooks/eventgrid?functionName=on_key_event")
    seed.create_system_topic(az, sub, RESOURCE_GROUP, TOPIC, vault_id)
    seed.create_event_subscription(az, sub, RESOURCE_GROUP, TOPIC, SUBSCRIPTION, function_id=function_id,
                                   event_types=event_types, dead_letter=(storage_id, "deadletters") if dead_letter
                                   else None)
    return Deployment(estate, vault_id, function_id, storage_id)


@pytest.fixture
def deployment(az: AzureStandIn, estate: Estate) -> Deployment:
    return deploy_event_grid(az, estate)
