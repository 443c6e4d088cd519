"""CMK registries of many subscriptions in one Azure Resource Graph query (azure-mgmt-resourcegraph 8).

Opt-in discovery (ROTATION_DISCOVERY=resourcegraph): one paged query for the whole scope instead of a
registry listing per subscription. Resource Graph lags ARM by seconds to minutes; that is safe here
because the engine re-reads every registry with a GET right before writing (see bench/README.md).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from azure.core.exceptions import AzureError
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions, QueryResponse

from shared.adapters.errors import Call, translate
from shared.adapters.registries import to_registry
from shared.model import Registry

# Only encrypted registries come back; `order by id` keeps pages stable, as the service asks.
QUERY = ("Resources"
         " | where type =~ 'microsoft.containerregistry/registries'"
         " | where tostring(properties.encryption.status) =~ 'enabled'"
         " | project id, name, type, location, tags, sku, identity, properties"
         " | order by id asc")
PAGE_ROWS = 1000  # the service's maximum $top
SUBSCRIPTIONS_PER_QUERY = 1000  # what az graph and Search-AzGraph send at most per request
_RESETS = re.compile(r"^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$")


def quota_wait_s(headers: Any) -> float:
    """Seconds to wait before the next query: the rest of the quota window once none is left, else 0."""
    if str(headers.get("x-ms-user-quota-remaining", "1")).strip() != "0":
        return 0.0
    m = _RESETS.match(str(headers.get("x-ms-user-quota-resets-after", "")).strip())
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else 1.0


def _with_headers(response: Any, model: QueryResponse, _: Any) -> tuple[QueryResponse, Any]:
    return model, response.http_response.headers


class GraphAdapter:
    def __init__(self, client: Callable[[], ResourceGraphClient], key_vault_suffixes: tuple[str, ...],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self._suffixes = key_vault_suffixes
        self._sleep = sleep

    def list_cmk_registries_in(self, subscription_ids: Sequence[str]) -> list[Registry]:
        found: list[Registry] = []
        ids = list(subscription_ids)
        for start in range(0, len(ids), SUBSCRIPTIONS_PER_QUERY):
            found.extend(self._query(ids[start:start + SUBSCRIPTIONS_PER_QUERY]))
        return found

    def _query(self, subscriptions: list[str]) -> list[Registry]:
        found: list[Registry] = []
        token: str | None = None
        while True:
            request = QueryRequest(subscriptions=subscriptions, query=QUERY, options=QueryRequestOptions(
                top=PAGE_ROWS, skip_token=token, result_format="objectArray"))
            try:
                answer: Any = self._client().resources(request, cls=_with_headers)
            except AzureError as exc:
                raise translate(exc, Call(f"querying Resource Graph for {len(subscriptions)} subscriptions")) from None
            page, headers = answer
            rows: list[dict[str, Any]] = page.data or []  # objectArray: one JSON object per registry
            found.extend(r for r in (to_registry(row, self._suffixes) for row in rows) if r is not None)
            token = page.skip_token
            if not token:
                return found
            # Stay inside the per-user quota (15 queries per 5 s) rather than meet its 429.
            wait = quota_wait_s(headers)
            if wait:
                self._sleep(wait)
