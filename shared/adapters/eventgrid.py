"""A vault's Event Grid system topic and its subscriptions, through azure-mgmt-eventgrid (reads only).

The app holds Reader on each system topic infra made or reused (infra/app/rbac-systemtopic.bicep), not on the
vault's resource group: so the topics infra names (EVENTGRID_SYSTEM_TOPIC_IDS) are read first, each by its id,
and only a vault none of them is about is looked for by listing its resource group's system topics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.mgmt.eventgrid import EventGridManagementClient

from shared.adapters.errors import Call, translate
from shared.doctor import Delivery, Topic


def _parts(resource_id: str) -> tuple[str, str, str]:
    """(subscription, resource group, name) of an ARM resource id."""
    segments = resource_id.strip("/").split("/")
    return segments[1], segments[3], segments[-1]


def delivery(subscription: Any) -> Delivery:
    destination = subscription.destination or getattr(subscription.delivery_with_resource_identity, "destination",
                                                      None)
    function_id = str(getattr(destination, "resource_id", "") or "") \
        if getattr(destination, "endpoint_type", "") == "AzureFunction" else ""
    types = getattr(subscription.filter, "included_event_types", None)
    dead_letter = subscription.dead_letter_destination or subscription.dead_letter_with_resource_identity
    return Delivery(str(subscription.name), function_id, tuple(types) if types else None, dead_letter is not None)


class EventGridAdapter:
    def __init__(self, client_for: Callable[[str], EventGridManagementClient], topic_ids: Sequence[str]) -> None:
        self._client_for = client_for
        self._topic_ids = tuple(topic_ids)

    def system_topic(self, vault_id: str) -> Topic | None:
        try:
            found = self._named(vault_id) or self._listed(vault_id)
            if found is None:
                return None
            sub, group, name = _parts(str(found.id))
            listed = self._client_for(sub).system_topic_event_subscriptions.list_by_system_topic(group, name)
            return Topic(str(found.id), tuple(delivery(s) for s in listed))
        except AzureError as exc:
            raise translate(exc, Call(f"reading the Event Grid system topic of {vault_id}")) from None

    def _named(self, vault_id: str) -> Any:
        for topic_id in self._topic_ids:
            sub, group, name = _parts(topic_id)
            try:
                topic = self._client_for(sub).system_topics.get(group, name)
            except ResourceNotFoundError:
                continue
            if str(topic.source or "").lower() == vault_id.lower():
                return topic
        return None

    def _listed(self, vault_id: str) -> Any:
        sub, group, _ = _parts(vault_id)
        for topic in self._client_for(sub).system_topics.list_by_resource_group(group):
            if str(topic.source or "").lower() == vault_id.lower():
                return topic
        return None
