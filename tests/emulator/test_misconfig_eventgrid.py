"""Event Grid system topics and event subscriptions as ARM resources on the stand-in, read with
azure-mgmt-eventgrid as the app would, compared with the spec examples pinned in tests/fixtures/misconfig; and
deliveries that follow the configured subscriptions (destination, included event types, dead letters)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.core.exceptions import HttpResponseError
from azure.identity import DefaultAzureCredential
from azure.mgmt.eventgrid import EventGridManagementClient
from misconfig_support import FACTS, assert_surfaces_as
from test_eventgrid import Receiver

from emulator import AzureStandIn, seed
from emulator.scenario import KEY_NAME, RESOURCE_GROUP, Estate, seed_estate

pytestmark = pytest.mark.standin
EXAMPLES = FACTS["eventgrid"]
NEW_VERSION = "Microsoft.KeyVault.KeyNewVersionCreated"


@pytest.fixture
def demo(az: AzureStandIn) -> Estate:
    return seed_estate(az)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def function_id(demo: Estate) -> str:
    return (f"/subscriptions/{demo.subscription_id}/resourceGroups/rg-app/providers/Microsoft.Web/sites/"
            "func-cmk/functions/on_key_event")


def wire(az: AzureStandIn, demo: Estate, receiver: Receiver, event_types: tuple[str, ...] = seed.KEY_EVENTS,
         dead_letter: bool = True) -> str:
    """The demo vault's system topic with one subscription to the app's function; returns the vault id."""
    vault_id = az.misconfig.vault("kv-acr-demo").resource_id
    az.add_function(function_id(demo), receiver.url)
    seed.create_system_topic(az, demo.subscription_id, RESOURCE_GROUP, "kv-acr-demo-topic", vault_id)
    storage = f"/subscriptions/{demo.subscription_id}/resourceGroups/rg-app/providers/Microsoft.Storage/" \
              "storageAccounts/stcmk"
    seed.create_event_subscription(az, demo.subscription_id, RESOURCE_GROUP, "kv-acr-demo-topic", "to-func",
                                   function_id=function_id(demo), event_types=event_types,
                                   dead_letter=(storage, "deadletters") if dead_letter else None)
    return vault_id


def test_app_reads_topic_and_subscription_shaped_like_the_spec_examples(az: AzureStandIn, demo: Estate,
                                                                       receiver: Receiver) -> None:
    vault_id = wire(az, demo, receiver)
    client = EventGridManagementClient(DefaultAzureCredential(), demo.subscription_id)
    [topic] = [t for t in client.system_topics.list_by_subscription() if t.source.lower() == vault_id.lower()]
    assert (topic.name, topic.topic_type, topic.provisioning_state) == (
        "kv-acr-demo-topic", "Microsoft.KeyVault.vaults", "Succeeded")
    [sub] = list(client.system_topic_event_subscriptions.list_by_system_topic(RESOURCE_GROUP, topic.name))
    assert sub.destination.endpoint_type == "AzureFunction" and sub.destination.resource_id == function_id(demo)
    assert sub.filter.included_event_types == list(seed.KEY_EVENTS)
    assert sub.dead_letter_destination.blob_container_name == "deadletters"
    raw: dict[str, dict[str, object]] = {}

    def keep(name: str):  # type: ignore[no-untyped-def]
        return lambda response: raw.__setitem__(name, response.http_response.json())

    client.system_topics.get(RESOURCE_GROUP, topic.name, raw_response_hook=keep("topic"))
    client.system_topic_event_subscriptions.get(RESOURCE_GROUP, topic.name, "to-func", raw_response_hook=keep("sub"))
    real_topic, real_sub = EXAMPLES["SystemTopics_Get"], EXAMPLES["SystemTopicEventSubscriptions_Get"]
    assert list(raw["topic"]) == list(real_topic) and list(raw["topic"]["properties"]) == list(real_topic["properties"])
    mine = raw["sub"]["properties"]
    assert [k for k in mine if k in real_sub["properties"]] == list(real_sub["properties"])
    assert set(mine["filter"]) == set(real_sub["properties"]["filter"])  # type: ignore[arg-type]
    assert mine["retryPolicy"] == real_sub["properties"]["retryPolicy"]
    assert raw["sub"]["type"] == real_sub["type"]
    function_example = EXAMPLES["EventSubscription_AzureFunctionDestination"]["properties"]["destination"]
    assert mine["destination"]["endpointType"] == function_example["endpointType"]  # type: ignore[index]
    assert set(function_example["properties"]) <= set(mine["destination"]["properties"])  # type: ignore[index]


def test_deliveries_follow_the_subscriptions_filter(az: AzureStandIn, demo: Estate, receiver: Receiver) -> None:
    wire(az, demo, receiver, event_types=("Microsoft.KeyVault.KeyNearExpiry",))
    seed.rotate_key(az, demo.vault_url, KEY_NAME)
    assert az.wait_for_deliveries(5) and receiver.calls == []  # a new version is not among the included types
    client = EventGridManagementClient(az.admin_credential, demo.subscription_id)
    client.system_topic_event_subscriptions.begin_update(
        RESOURCE_GROUP, "kv-acr-demo-topic", "to-func",
        {"filter": {"includedEventTypes": list(seed.KEY_EVENTS)}}, polling_interval=0.02).result()
    made = seed.rotate_key(az, demo.vault_url, KEY_NAME)
    assert az.wait_for_deliveries(5)
    [(_, _, body)] = receiver.calls
    assert body[0]["eventType"] == NEW_VERSION and body[0]["data"]["Version"] == made.properties.version


def test_function_gone_means_dead_letters(az: AzureStandIn, demo: Estate, receiver: Receiver) -> None:
    wire(az, demo, receiver)
    az.remove_function(function_id(demo))
    seed.rotate_key(az, demo.vault_url, KEY_NAME)
    assert az.wait_for_deliveries(10)
    [letter] = az.dead_letters
    example = FACTS["dead_letter_example"]
    assert set(example) <= set(letter)
    assert (letter["lastDeliveryOutcome"], letter["deadLetterReason"]) == ("NotFound", "MaxDeliveryAttemptsExceeded")
    assert letter["eventType"] == NEW_VERSION and letter["_container"] == "deadletters"


def test_subscription_needs_its_function_and_reading_needs_a_role(az: AzureStandIn, demo: Estate,
                                                                  receiver: Receiver) -> None:
    vault_id = az.misconfig.vault("kv-acr-demo").resource_id
    seed.create_system_topic(az, demo.subscription_id, RESOURCE_GROUP, "kv-acr-demo-topic", vault_id)
    with pytest.raises(HttpResponseError) as err:
        seed.create_event_subscription(az, demo.subscription_id, RESOURCE_GROUP, "kv-acr-demo-topic", "to-func",
                                       function_id=function_id(demo))
    assert err.value.status_code == 400
    seed.create_event_subscription(az, demo.subscription_id, RESOURCE_GROUP, "kv-acr-demo-topic", "hook",
                                   webhook_url=receiver.url + "&code=secret")
    admin = EventGridManagementClient(az.admin_credential, demo.subscription_id)
    hook = admin.system_topic_event_subscriptions.get(RESOURCE_GROUP, "kv-acr-demo-topic", "hook")
    assert "code=secret" not in str(hook.destination.endpoint_base_url)
    full = admin.system_topic_event_subscriptions.get_full_url(RESOURCE_GROUP, "kv-acr-demo-topic", "hook")
    assert full.endpoint_url == receiver.url + "&code=secret"
    az.misconfig.revoke(az.principal_id, "Reader")
    app = EventGridManagementClient(DefaultAzureCredential(), demo.subscription_id)
    with pytest.raises(HttpResponseError) as denied:
        list(app.system_topics.list_by_subscription())
    assert_surfaces_as(denied.value, "arm: 403 AuthorizationFailed")
    assert "Microsoft.EventGrid/systemTopics/read" in str(denied.value)
