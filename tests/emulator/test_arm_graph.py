"""Azure Resource Graph (POST /providers/Microsoft.ResourceGraph/resources) through azure-mgmt-resourcegraph 8:
the envelope, casing, paging by $skipToken, authorization, errors, the quota and Resource Graph's lag."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions
from standin_seed import Seed, kid

from emulator import AzureStandIn
from emulator.identity import AdminCredential
from shared.adapters.graph import QUERY

pytestmark = pytest.mark.standin


def _client(az: AzureStandIn, principal_id: str | None = None) -> ResourceGraphClient:
    credential = AdminCredential(az.world, principal_id) if principal_id else az.admin_credential
    return ResourceGraphClient(credential, retry_total=0)


def _query(client: ResourceGraphClient, subscriptions: list[str], query: str = QUERY, **options: Any) -> Any:
    return client.resources(QueryRequest(subscriptions=subscriptions, query=query,
                                         options=QueryRequestOptions(result_format="objectArray", **options)),
                            cls=lambda response, model, _: (model, response.http_response.headers))


def _code(err: HttpResponseError) -> tuple[str, list[str]]:
    assert err.error is not None
    return str(err.error.code), [str(d.code) for d in err.error.details or []]


@pytest.fixture
def cmk(az: AzureStandIn) -> dict[str, Any]:
    """Two CMK registries in the first subscription, one in the second, and one without CMK."""
    first, second = Seed(az), Seed(az, subscription_id=az.subscription_ids[1], rg="RG-Other")
    _, ident, key = first.cmk_setup()
    names = {first.registry(identity=ident, key_id=kid(key)).name for _ in range(2)}
    other_ident = second.identity()
    second.grant_wrap(other_ident.principal_id, f"/subscriptions/{first.sub}")
    names.add(second.registry(identity=other_ident, key_id=kid(key)).name)
    plain = first.registry(sku="Basic").name
    return {"names": names, "plain": plain, "seed": first, "other": second, "identity": ident, "key": key}


def test_one_query_pages_every_cmk_registry_of_both_subscriptions_in_the_real_envelope(az, cmk) -> None:
    client = _client(az)
    page, headers = _query(client, az.subscription_ids, top=2)
    assert (page.total_records, page.count, page.result_truncated, page.facets) == (3, 2, "false", [])
    assert page.skip_token
    rest, _ = _query(client, az.subscription_ids, skip_token=page.skip_token)
    assert rest.count == 1 and rest.skip_token is None
    rows = page.data + rest.data
    assert {r["name"] for r in rows} == cmk["names"] and cmk["plain"] not in {r["name"] for r in rows}
    assert [r["id"].lower() for r in rows] == sorted(r["id"].lower() for r in rows)  # order by id asc
    row = rows[0]
    assert list(row) == ["id", "name", "type", "location", "tags", "sku", "identity", "properties"]
    # Resource Graph lower-cases type; the id keeps ARM's casing.
    assert row["type"] == "microsoft.containerregistry/registries"
    assert "/resourceGroups/" in row["id"] and "/providers/Microsoft.ContainerRegistry/registries/" in row["id"]
    assert row["properties"]["encryption"]["keyVaultProperties"]["keyIdentifier"] == kid(cmk["key"])
    assert row["sku"] == {"name": "Premium", "tier": "Premium"}
    assert int(headers["x-ms-user-quota-remaining"]) < 15 and headers["x-ms-user-quota-resets-after"].startswith("00:")
    [request] = [r for r in az.requests if r["method"] == "POST"][:1]
    assert request["path"] == "/providers/Microsoft.ResourceGraph/resources"
    assert request["query"]["api-version"] == "2021-03-01"  # what azure-mgmt-resourcegraph 8 sends


def test_default_columns_lower_case_resource_group_and_the_table_format(az, cmk) -> None:
    client = _client(az)
    page, _ = _query(client, [az.subscription_ids[1]], query="Resources | where name =~ '"
                     + next(iter(cmk["names"] - {r.name for r in cmk["seed"].acr.registries.list()})) + "'")
    [row] = page.data
    assert row["resourceGroup"] == "rg-other" and "/resourceGroups/RG-Other/" in row["id"]
    assert row["subscriptionId"] == az.subscription_ids[1] and row["tenantId"] == az.world.tenant_id
    table = client.resources(QueryRequest(subscriptions=az.subscription_ids, query="Resources | project id, name",
                                          options=QueryRequestOptions(result_format="table")))
    assert [c["name"] for c in table.data["columns"]] == ["id", "name"] and len(table.data["rows"]) == 4


def test_only_what_the_caller_can_read(az, cmk) -> None:
    seed = cmk["seed"]
    group_reader = az.world.add_principal("group reader")
    az.grant(group_reader.principal_id, "Reader", f"/subscriptions/{seed.sub}/resourceGroups/{seed.rg}")
    page, _ = _query(_client(az, group_reader.principal_id), az.subscription_ids)
    assert {r["name"] for r in page.data} == {n for n in cmk["names"] if n in
                                              {r.name for r in seed.acr.registries.list()}}
    nobody = az.world.add_principal("nobody")
    with pytest.raises(HttpResponseError) as err:
        _query(_client(az, nobody.principal_id), az.subscription_ids)
    assert err.value.status_code == 403 and _code(err.value) == ("AccessDenied", ["AccessDenied"])


def test_bad_queries_tokens_and_api_versions_are_refused_as_the_service_does(az, cmk) -> None:
    client = _client(az)
    with pytest.raises(HttpResponseError) as err:
        _query(client, az.subscription_ids, query="Resources | extend x = 1")
    assert err.value.status_code == 400 and _code(err.value) == ("BadRequest", ["InvalidQuery", "ParserFailure"])
    with pytest.raises(HttpResponseError) as err:
        _query(client, az.subscription_ids, skip_token="bm90IGEgdG9rZW4=")
    assert err.value.status_code == 400
    with pytest.raises(HttpResponseError) as err:
        _query(client, az.subscription_ids, top=1001)
    assert err.value.status_code == 400
    with pytest.raises(HttpResponseError) as err:
        client.resources(QueryRequest(subscriptions=az.subscription_ids, query=QUERY), api_version="2030-01-01")
    assert _code(err.value)[0] == "InvalidApiVersionParameter"


def test_the_quota_is_15_queries_per_5_seconds_when_throttling_is_on(az, cmk) -> None:
    az.world.settings.throttling = True
    client = _client(az)
    remaining = [int(_query(client, az.subscription_ids)[1]["x-ms-user-quota-remaining"]) for _ in range(15)]
    assert remaining == list(range(14, -1, -1))
    with pytest.raises(HttpResponseError) as err:
        _query(client, az.subscription_ids)
    assert err.value.status_code == 429 and _code(err.value)[0] == "RateLimiting"
    assert err.value.response.headers["x-ms-user-quota-remaining"] == "0"
    az.world.advance(5)
    assert _query(client, az.subscription_ids)[0].count == 3


def test_the_data_lags_arm_when_asked_to(az, cmk) -> None:
    az.world.settings.graph_lag_s = 60
    client = _client(az)
    assert _query(client, az.subscription_ids)[0].count == 3
    seed = cmk["seed"]
    seed.registry(identity=cmk["identity"], key_id=kid(cmk["key"]))
    assert _query(client, az.subscription_ids)[0].count == 3  # not indexed yet
    az.world.advance(60)
    assert _query(client, az.subscription_ids)[0].count == 4
