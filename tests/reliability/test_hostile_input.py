"""Hostile and malformed input: never a 5xx or a stack trace, always a JSON 400 naming the problem; a bad
event is logged and acknowledged (Event Grid would redeliver it for a day); nothing reaches a host outside
the configured cloud's Key Vault suffixes."""

from __future__ import annotations

import json

import azure.functions as func
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import function_app
from emulator.functions_host import FunctionsHost, user_functions
from shared import triggers
from shared.composition import assemble
from shared.engine import RotationEngine
from shared.events import EventEnvelope
from shared.locks import KeyedLocks
from shared.settings import Settings
from tests.builders import KEY, NOW, SUB, registry, version
from tests.fakes import FakeKeyVault, FakeRegistries

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
FIELDS = ["registry", "key", "dryRun", "toVersion", "allowDowngrade"]
hosts = st.sampled_from(["kv1.vault.azure.net", "evil.example.com", "kv1.vault.azure.net.evil.example.com",
                         "169.254.169.254", "kv1.vault.azure.cn", "a.b.vault.azure.net", "localhost:8080",
                         "kv1.managedhsm.azure.net", "", "KV1.VAULT.AZURE.NET"])
rotate_bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5).map(lambda v: json.dumps(v).encode()),
    st.builds(lambda h, name, extra: json.dumps({"key": f"https://{h}/keys/{name}", **extra}).encode(),
              hosts, st.text(max_size=20), st.dictionaries(st.sampled_from(FIELDS[2:]), json_values, max_size=2)),
    st.builds(lambda sub, rg, name: json.dumps({
        "registry": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}",
        "dryRun": True}).encode(), st.sampled_from([SUB, "00000000-0000-0000-0000-00000000dead", "x"]),
        st.sampled_from(["rg-acr", "rg-other", "../.."]), st.text(max_size=60)),
)


def fake_engine(settings: Settings | None = None) -> RotationEngine:
    kv = FakeKeyVault(lambda: NOW)
    kv.add(KEY, version("v1", 30))
    arm = FakeRegistries()
    arm.add(registry("acrprod1", version="v1"))
    return assemble(settings or Settings(subscription_ids=(SUB,), resource_groups=("rg-acr",)), kv, arm,
                    clock=lambda: NOW, locks=KeyedLocks())


@settings(max_examples=300, deadline=None)
@given(rotate_bodies)
def test_rotate_never_fails_on_input_and_names_the_field(body: bytes) -> None:
    engine = fake_engine()
    answered = triggers.rotate(body, lambda: engine)
    status, answer = answered.status, answered.body
    json.dumps(answer)  # always JSON-serialisable
    assert status in (200, 400), answer
    if status == 400:
        assert isinstance(answer["error"]["field"], str) and answer["error"]["field"]
        assert answer["error"]["message"] and "Traceback" not in answer["error"]["message"]
    else:
        # A named registry is considered: it has its outcome, or (not there, no CMK) a problem says why. A key or
        # the whole scope may hold no registry at all: then there is nothing to answer for.
        if b'"registry"' in body:
            assert answer["outcomes"] or answer["problems"], answer
        assert all(o["registry"].lower().startswith(f"/subscriptions/{SUB}") for o in answer["outcomes"])


@settings(max_examples=300, deadline=None)
@given(event_type=st.sampled_from(["Microsoft.KeyVault.KeyNewVersionCreated", "Microsoft.KeyVault.KeyNearExpiry",
                                   "Microsoft.KeyVault.KeyExpired", "Microsoft.KeyVault.SecretNewVersionCreated",
                                   "", "x" * 5000]),
       data=st.one_of(json_values, st.fixed_dictionaries({}, optional={
           "Id": st.builds(lambda h, n, v: f"https://{h}/keys/{n}/{v}", hosts, st.text(max_size=30),
                           st.text(max_size=40)) | json_values,
           "VaultName": st.text(max_size=30) | json_values, "ObjectType": st.sampled_from(["Key", "Secret", ""]),
           "ObjectName": st.text(max_size=300), "Version": st.text(max_size=40),
           "NBF": json_values, "EXP": st.text(max_size=30) | json_values})))
def test_a_hostile_event_is_acknowledged_and_never_reaches_a_foreign_host(event_type: str, data: object) -> None:
    engine = fake_engine(Settings())
    report = triggers.key_event(EventEnvelope("id", event_type, "s", "t", data), lambda: engine)
    asked = engine.keyvault.hosts_read  # type: ignore[attr-defined]
    if report is None:  # acknowledged and ignored: nothing was read
        assert asked == []
    else:  # taken as a hint: the key it names was read, on a Key Vault host of the cloud only
        assert asked and all(h.endswith((".vault.azure.net", ".managedhsm.azure.net")) and h.count(".") == 3
                             for h in asked)


@pytest.mark.standin
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=rotate_bodies)
def test_rotate_over_http_against_the_stand_in_never_answers_5xx(az, estate, function_app_engine, body) -> None:
    before = len(az.requests)
    resp = user_functions(function_app.app)["rotate"](func.HttpRequest("POST", "/api/rotate", body=body))
    answer = json.loads(resp.get_body())
    assert resp.status_code in (200, 400) and resp.mimetype == "application/json"
    assert resp.status_code == 200 or answer["error"]["field"]
    assert {r["host"] for r in az.requests[before:]} <= {"127.0.0.1", "management.azure.com",
                                                        "kv-acr-demo.vault.azure.net"}
    assert az.unexpected_egress == []


@pytest.mark.standin
def test_hostile_events_through_the_webhook_are_acknowledged_with_no_egress(az, estate, function_app_engine) -> None:
    base = az.events[0]
    hostile = [
        dict(base, data=None), dict(base, data="Key"), dict(base, data=[1, 2]), {"eventType": base["eventType"]},
        dict(base, data={**base["data"], "Id": "https://evil.example.com/keys/acr-cmk/abc"}),
        dict(base, data={**base["data"], "Id": "https://kv-acr-demo.vault.azure.net.evil.example.com/keys/a/b"}),
        dict(base, data={**base["data"], "VaultName": "another-vault"}),
        dict(base, data={**base["data"], "ObjectName": "x" * 100000}),
        dict(base, data={**base["data"], "ObjectType": "Certificate"}),
        dict(base, eventType="Microsoft.KeyVault.VaultAccessPolicyChanged"),
        {"specversion": "1.0", "type": base["eventType"], "data": {"Id": "https://169.254.169.254/keys/a/b"}},
    ]
    before = len(az.requests)
    with FunctionsHost(function_app.app) as host:
        assert host.deliver("on_key_event", hostile) == 202
    assert all(i["outcome"] == "succeeded" for i in host.invocations)
    assert {r["host"] for r in az.requests[before:]} <= {"127.0.0.1"}  # nothing but, at most, a token
    assert az.unexpected_egress == []


@pytest.mark.standin
def test_an_event_whose_nbf_and_exp_cannot_be_read_is_still_acted_on(az, estate, function_app_engine) -> None:
    """NBF and EXP are never read (Key Vault is), so what they hold cannot make the app drop a valid hint."""
    from emulator import seed

    new = seed.create_key(az, estate.vault_url, estate.key_name)
    [published] = [e for e in az.events if e["data"]["Version"] == new.properties.version]
    garbled = dict(published, data={**published["data"], "NBF": "soon", "EXP": {"nested": True}})
    with FunctionsHost(function_app.app) as host:
        assert host.deliver("on_key_event", [garbled]) == 202
    assert [i["outcome"] for i in host.invocations] == ["succeeded"]
    patches = [r for r in az.requests if r["method"] == "PATCH" and r["status"] == 201]
    assert [p["body"]["properties"]["encryption"]["keyVaultProperties"]["keyIdentifier"] for p in patches] == [
        f"{estate.key_url}/{new.properties.version}"]
