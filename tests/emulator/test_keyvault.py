"""Key Vault keys data plane of the stand-in: at handler level, then through the official SDK."""

from __future__ import annotations

import re
import secrets
from urllib.parse import parse_qsl, urlsplit

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import DefaultAzureCredential
from azure.keyvault.keys import KeyClient, KeyRotationLifetimeAction, KeyRotationPolicy, KeyRotationPolicyAction
from emu_support import SUB, Caller, add_vault

from emulator import AzureStandIn, keyvault, seed
from emulator.identity import AdminCredential
from emulator.world import Vault, World

HOST = "kv-test.vault.azure.net"


def create(kv: Caller, name: str, host: str = HOST, **body: object) -> dict:
    r = kv("POST", host, f"/keys/{name}/create", {"kty": "RSA", **body})
    assert r.status == 200, r.body
    return r.body


def version_of(bundle: dict) -> str:
    return bundle["key"]["kid"].rsplit("/", 1)[1]


# ---- challenge authentication ----------------------------------------------------------------

def test_a_request_without_a_token_gets_the_challenge(world: World, vault: Vault, kv: Caller) -> None:
    r = kv("POST", HOST, "/keys/k1/create", {"kty": "RSA"}, token=False)
    assert r.status == 401
    assert r.headers["WWW-Authenticate"] == (
        f'Bearer authorization="https://login.microsoftonline.com/{world.tenant_id}", '
        'resource="https://vault.azure.net"')
    assert r.body["error"]["code"] == "Unauthorized"
    assert world.keys == {}


def test_a_token_for_another_audience_is_refused(world: World, vault: Vault, admin: str) -> None:
    arm_token = Caller(world, keyvault.handle, admin, "https://management.azure.com/")
    r = arm_token("GET", HOST, "/keys")
    assert r.status == 401 and "WWW-Authenticate" in r.headers
    scope_form = Caller(world, keyvault.handle, admin, "https://vault.azure.net/.default")
    assert scope_form("GET", HOST, "/keys").status == 200


def test_sovereign_and_hsm_hosts_challenge_with_their_own_resource(world: World, admin: str) -> None:
    cases = {"kv-cn.vault.azure.cn": ("https://login.chinacloudapi.cn", "https://vault.azure.cn"),
             "kv-gov.vault.usgovcloudapi.net": ("https://login.microsoftonline.us",
                                                "https://vault.usgovcloudapi.net"),
             "hsm1.managedhsm.azure.net": ("https://login.microsoftonline.com",
                                           "https://managedhsm.azure.net")}
    for host, (authority, resource) in cases.items():
        add_vault(world, host.split(".")[0], host)
        anonymous = Caller(world, keyvault.handle, None, None)
        r = anonymous("GET", host, "/keys", token=False)
        assert r.headers["WWW-Authenticate"] == (
            f'Bearer authorization="{authority}/{world.tenant_id}", resource="{resource}"')
        caller = Caller(world, keyvault.handle, admin, resource)
        r = caller("POST", host, "/keys/k/create", {"kty": "RSA-HSM"})
        assert r.status == 200, r.body
        assert r.body["key"]["kid"].startswith(f"https://{host}/keys/k/")


def test_managed_hsm_serves_hsm_keys_only(world: World, admin: str) -> None:
    add_vault(world, "hsm1", "hsm1.managedhsm.azure.net")
    hsm = Caller(world, keyvault.handle, admin, "https://managedhsm.azure.net")
    assert hsm("POST", "hsm1.managedhsm.azure.net", "/keys/soft/create", {"kty": "RSA"}).status == 400
    r = hsm("POST", "hsm1.managedhsm.azure.net", "/keys/hard/create", {"kty": "RSA-HSM", "key_size": 3072})
    assert r.status == 200 and r.body["key"]["kty"] == "RSA-HSM"
    assert r.body["attributes"]["key_size"] == 3072
    assert world.events == []  # Managed HSM is not an Event Grid source


# ---- create / get ----------------------------------------------------------------------------

def test_create_rsa_key_returns_a_real_looking_bundle(world: World, vault: Vault, kv: Caller) -> None:
    body = create(kv, "cmk", tags={"team": "a"}, attributes={"enabled": True, "exp": 2000000000})
    key, attrs = body["key"], body["attributes"]
    assert re.fullmatch(r"https://kv-test\.vault\.azure\.net/keys/cmk/[0-9a-f]{32}", key["kid"])
    assert key["kty"] == "RSA" and key["e"] == "AQAB"
    assert key["key_ops"] == ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"]
    assert len(key["n"]) == 342  # 256 bytes in unpadded base64url
    assert attrs["created"] == attrs["updated"] == int(world.now()) or abs(attrs["created"] - world.now()) < 2
    assert attrs["exp"] == 2000000000 and attrs["key_size"] == 2048
    assert {k: attrs[k] for k in ("recoveryLevel", "recoverableDays", "exportable", "hsmPlatform")} == {
        "recoveryLevel": "CustomizedRecoverable+Purgeable", "recoverableDays": 7, "exportable": False,
        "hsmPlatform": "0"}
    assert body["tags"] == {"team": "a"}


def test_create_ec_key(kv: Caller, vault: Vault) -> None:
    r = kv("POST", HOST, "/keys/ec1/create", {"kty": "EC", "crv": "P-384"})
    assert r.status == 200
    assert r.body["key"]["crv"] == "P-384" and "n" not in r.body["key"]
    assert "key_size" not in r.body["attributes"]


def test_get_latest_with_empty_version_and_by_version(kv: Caller, vault: Vault) -> None:
    first = create(kv, "k")
    second = create(kv, "k")
    latest = kv("GET", HOST, "/keys/k/")
    assert latest.status == 200 and latest.body["key"]["kid"] == second["key"]["kid"]
    by_version = kv("GET", HOST, f"/keys/K/{version_of(first)}")  # names are case-insensitive
    assert by_version.body["key"]["kid"] == first["key"]["kid"]
    assert kv("GET", HOST, "/keys/k/" + "0" * 32).status == 404
    missing = kv("GET", HOST, "/keys/nope/")
    assert missing.status == 404 and missing.body["error"]["code"] == "KeyNotFound"


def test_list_keys_shows_versionless_ids(kv: Caller, vault: Vault) -> None:
    create(kv, "b")
    create(kv, "a")
    r = kv("GET", HOST, "/keys")
    assert [i["kid"] for i in r.body["value"]] == [f"https://{HOST}/keys/a", f"https://{HOST}/keys/b"]
    assert r.body["nextLink"] is None


# ---- versions --------------------------------------------------------------------------------

def test_versions_are_listed_by_version_id_not_creation_and_paged(world: World, kv: Caller,
                                                                  vault: Vault) -> None:
    created = []
    for _ in range(7):
        created.append(version_of(create(kv, "k")))
        world.advance(2)
    seen, query = [], {"maxresults": "3"}
    pages = 0
    while True:
        r = kv("GET", HOST, "/keys/k/versions", query=query)
        assert r.status == 200
        pages += 1
        seen += [i["kid"].rsplit("/", 1)[1] for i in r.body["value"]]
        if r.body["nextLink"] is None:
            break
        link = urlsplit(r.body["nextLink"])
        assert link.netloc == f"{HOST}:443" and "$skiptoken" in link.query
        query = dict(parse_qsl(link.query))
    assert pages == 3
    assert seen == sorted(created)
    assert "nextLink" in r.body and r.body["nextLink"] is None


def test_newest_enabled_version_goes_by_created_then_creation_order(world: World, kv: Caller,
                                                                    vault: Vault) -> None:
    a = version_of(create(kv, "k"))
    b = version_of(create(kv, "k"))  # same second as a: the later one wins
    newest = keyvault.newest_enabled_version(world, HOST, "K")
    assert newest is not None and newest.version == b
    kv("PATCH", HOST, f"/keys/k/{b}", {"attributes": {"enabled": False}})
    newest = keyvault.newest_enabled_version(world, HOST, "k")
    assert newest is not None and newest.version == a
    assert keyvault.newest_enabled_version(world, HOST, "missing") is None


# ---- disabled versions -----------------------------------------------------------------------

def test_disabled_version_reads_but_refuses_unwrap_and_is_listed(kv: Caller, vault: Vault) -> None:
    v = version_of(create(kv, "k"))
    r = kv("PATCH", HOST, f"/keys/k/{v}", {"attributes": {"enabled": False}})
    assert r.status == 200 and r.body["attributes"]["enabled"] is False
    r = kv("GET", HOST, f"/keys/k/{v}")
    assert r.status == 200 and r.body["attributes"]["enabled"] is False
    assert kv("GET", HOST, "/keys/k/").body["attributes"]["enabled"] is False
    r = kv("POST", HOST, f"/keys/k/{v}/unwrapkey", {"alg": "RSA-OAEP-256", "value": "AAAA"})
    assert r.status == 403
    assert r.body == {"error": {"code": "Forbidden", "message": "Operation unwrapKey is not allowed on a disabled key.",
                                "innererror": {"code": "KeyDisabled"}}}
    listed = kv("GET", HOST, "/keys/k/versions").body["value"]
    assert [i["attributes"]["enabled"] for i in listed] == [False]


def test_update_latest_properties(kv: Caller, vault: Vault) -> None:
    create(kv, "k")
    r = kv("PATCH", HOST, "/keys/k/", {"attributes": {"exp": 1900000000, "nbf": 1800000000},
                                        "key_ops": ["wrapKey", "unwrapKey"], "tags": {"x": "1"}})
    assert r.status == 200
    assert r.body["attributes"]["exp"] == 1900000000 and r.body["attributes"]["nbf"] == 1800000000
    assert r.body["key"]["key_ops"] == ["wrapKey", "unwrapKey"] and r.body["tags"] == {"x": "1"}


# ---- rotation --------------------------------------------------------------------------------

def test_new_key_has_the_default_rotation_policy(kv: Caller, vault: Vault) -> None:
    create(kv, "k")
    r = kv("GET", HOST, "/keys/k/rotationpolicy")
    assert r.status == 200
    assert r.body["id"] == f"https://{HOST}/keys/k/rotationpolicy"
    assert r.body["lifetimeActions"] == [{"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}]
    assert list(r.body["lifetimeActions"][0]) == ["trigger", "action"]


def test_policy_put_keeps_default_notify_and_puts_trigger_first(kv: Caller, vault: Vault) -> None:
    create(kv, "k")
    r = kv("PUT", HOST, "/keys/k/rotationpolicy",
           {"lifetimeActions": [{"action": {"type": "Rotate"}, "trigger": {"timeAfterCreate": "P2M"}}],
            "attributes": {"expiryTime": "P90D"}})
    assert r.status == 200
    assert r.body["lifetimeActions"] == [
        {"trigger": {"timeAfterCreate": "P2M"}, "action": {"type": "Rotate"}},
        {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}]
    assert all(list(a) == ["trigger", "action"] for a in r.body["lifetimeActions"])
    assert r.body["attributes"]["expiryTime"] == "P90D"
    bad = kv("PUT", HOST, "/keys/k/rotationpolicy", {"lifetimeActions": [], "attributes": {"expiryTime": "P1D"}})
    assert bad.status == 400


def test_rotate_makes_a_new_version_with_the_policy_expiry(world: World, kv: Caller, vault: Vault) -> None:
    first = create(kv, "k", tags={"t": "1"})
    kv("PUT", HOST, "/keys/k/rotationpolicy", {"lifetimeActions": [], "attributes": {"expiryTime": "P90D"}})
    r = kv("POST", HOST, "/keys/k/rotate")
    assert r.status == 200
    assert version_of(r.body) != version_of(first)
    assert r.body["attributes"]["exp"] == r.body["attributes"]["created"] + 90 * 86400
    assert r.body["tags"] == {"t": "1"}
    assert kv("GET", HOST, "/keys/k/").body["key"]["kid"] == r.body["key"]["kid"]
    assert len(kv("GET", HOST, "/keys/k/versions").body["value"]) == 2


# ---- delete ----------------------------------------------------------------------------------

def test_delete_then_get_is_404_and_recover_restores(kv: Caller, vault: Vault) -> None:
    create(kv, "k")
    r = kv("DELETE", HOST, "/keys/k")
    assert r.status == 200 and r.body["recoveryId"] == f"https://{HOST}/deletedkeys/k"
    assert kv("GET", HOST, "/keys/k/").body["error"]["code"] == "KeyNotFound"
    assert kv("POST", HOST, "/keys/k/create", {"kty": "RSA"}).status == 409
    assert kv("GET", HOST, "/deletedkeys/k").status == 200
    assert kv("POST", HOST, "/deletedkeys/k/recover").status == 200
    assert kv("GET", HOST, "/keys/k/").status == 200


# ---- authorization ---------------------------------------------------------------------------

def test_reader_alone_cannot_read_keys(world: World, vault: Vault, kv: Caller) -> None:
    create(kv, "k")
    p = world.add_principal("reader-only")
    world.grant(p.principal_id, "Reader", f"/subscriptions/{SUB}")
    reader = Caller(world, keyvault.handle, p.principal_id, "https://vault.azure.net")
    r = reader("GET", HOST, "/keys/k/")
    assert r.status == 403
    err = r.body["error"]
    assert err["code"] == "Forbidden" and err["innererror"] == {"code": "ForbiddenByRbac"}
    assert f"Caller: appid={p.client_id};oid={p.principal_id};" in err["message"]
    assert "Action: 'Microsoft.KeyVault/vaults/keys/read'" in err["message"]
    assert f"Resource: '{vault.resource_id.lower()}/keys/k'" in err["message"]


def test_key_vault_reader_reads_but_cannot_rotate(world: World, vault: Vault, kv: Caller) -> None:
    create(kv, "k")
    p = world.add_principal("app")
    world.grant(p.principal_id, "Key Vault Reader", vault.resource_id + "/keys/k")
    app = Caller(world, keyvault.handle, p.principal_id, "https://vault.azure.net")
    assert app("GET", HOST, "/keys/k/").status == 200
    assert app("GET", HOST, "/keys/k/versions").status == 200
    assert app("GET", HOST, "/keys").status == 403  # listing needs the vault scope
    r = app("POST", HOST, "/keys/k/rotate")
    assert r.status == 403 and "keys/rotate/action" in r.body["error"]["message"]


def test_bad_requests(kv: Caller, vault: Vault) -> None:
    assert kv("POST", HOST, "/keys/k/create", {"kty": "RSA"}, query={"api-version": "1999-01-01"}).status == 400
    assert kv("POST", HOST, "/keys/bad_name/create", {"kty": "RSA"}).status == 400
    assert kv("POST", HOST, "/keys/k/create", {"kty": "oct"}).status == 400
    assert kv("POST", HOST, "/keys/k/create", {"kty": "RSA", "key_size": 1024}).status == 400
    assert kv("POST", HOST, "/keys/k/create", b"{not json").status == 400


# ---- end to end: the official SDK over HTTPS through the stand-in ------------------------------

@pytest.fixture
def vault_url(az: AzureStandIn) -> str:
    # A fresh vault name per test: azure-keyvault-keys caches challenges per host for the whole process.
    name = f"kv-e2e-{secrets.token_hex(4)}"
    return seed.create_vault(az, az.subscription_ids[0], "rg-keys", name, soft_delete_retention_days=7)


def vault_requests(az: AzureStandIn, vault_url: str) -> list[tuple[str, str, int]]:
    host = vault_url.split("/")[2]
    return [(r["method"], r["path"], r["status"]) for r in az.requests if r["host"] == host]


@pytest.mark.standin
def test_sdk_app_identity_gets_challenged_then_reads_the_key(az: AzureStandIn, vault_url: str) -> None:
    created = seed.create_key(az, vault_url, "cmk", tags={"team": "a"})
    with KeyClient(vault_url, DefaultAzureCredential()) as app:  # the app's managed identity, from az.env
        key = app.get_key("cmk")
    assert key.id == created.id and key.key_type == "RSA" and key.properties.tags == {"team": "a"}
    assert key.properties.recovery_level == "CustomizedRecoverable+Purgeable"
    # The first call to a vault is challenged, then retried with a token; the SDK caches the challenge.
    assert vault_requests(az, vault_url) == [("POST", "/keys/cmk/create", 401), ("POST", "/keys/cmk/create", 200),
                                             ("GET", "/keys/cmk/", 200)]


@pytest.mark.standin
def test_sdk_lists_versions_by_version_id_across_pages(az: AzureStandIn, vault_url: str) -> None:
    made = [seed.create_key(az, vault_url, "cmk").properties.version for _ in range(5)]
    with seed.key_client(az, vault_url) as client:
        listed = [p.version for p in client.list_properties_of_key_versions("cmk", max_page_size=2)]
        names = [p.name for p in client.list_properties_of_keys()]
    assert listed == sorted(made)
    assert names == ["cmk"]
    pages = [r for r in az.requests if r["path"] == "/keys/cmk/versions"]
    assert len(pages) == 3 and "$skiptoken" in pages[1]["query"]


@pytest.mark.standin
def test_sdk_disabled_version_reads_enabled_false_and_is_listed(az: AzureStandIn, vault_url: str) -> None:
    old = seed.create_key(az, vault_url, "cmk").properties.version
    seed.rotate_key(az, vault_url, "cmk")
    seed.update_key(az, vault_url, "cmk", old, enabled=False)
    with KeyClient(vault_url, DefaultAzureCredential()) as app:
        disabled = app.get_key("cmk", old)
        listed = {p.version: p.enabled for p in app.list_properties_of_key_versions("cmk")}
        latest = app.get_key("cmk")
    assert disabled.properties.enabled is False and disabled.properties.version == old
    assert listed[old] is False and latest.properties.enabled is True


@pytest.mark.standin
def test_sdk_rotation_and_default_policy(az: AzureStandIn, vault_url: str) -> None:
    first = seed.create_key(az, vault_url, "cmk")
    with seed.key_client(az, vault_url) as client:
        policy = client.get_key_rotation_policy("cmk")
        assert [(a.action, a.time_before_expiry) for a in policy.lifetime_actions] == [("Notify", "P30D")]
        client.update_key_rotation_policy("cmk", KeyRotationPolicy(expires_in="P90D", lifetime_actions=[
            KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P60D")]))
        rotated = client.rotate_key("cmk")
    assert rotated.properties.version != first.properties.version
    assert rotated.properties.expires_on is not None
    assert [e["eventType"] for e in az.events] == ["Microsoft.KeyVault.KeyNewVersionCreated"] * 2


@pytest.mark.standin
def test_sdk_reader_without_key_vault_role_gets_forbidden_by_rbac(az: AzureStandIn, vault_url: str) -> None:
    seed.create_key(az, vault_url, "cmk")
    reader = az.world.add_principal("reader only")
    seed.grant(az, reader.principal_id, "Reader", f"/subscriptions/{az.subscription_ids[0]}")
    with seed.key_client(az, vault_url, AdminCredential(az.world, reader.principal_id)) as client, \
            pytest.raises(HttpResponseError) as err:
        client.get_key("cmk")
    assert err.value.status_code == 403
    assert err.value.error is not None and err.value.error.innererror == {"code": "ForbiddenByRbac"}
    assert "Action: 'Microsoft.KeyVault/vaults/keys/read'" in str(err.value.error.message)


@pytest.mark.standin
def test_sdk_delete_then_get_is_not_found(az: AzureStandIn, vault_url: str) -> None:
    seed.create_key(az, vault_url, "cmk")
    with seed.key_client(az, vault_url) as client:
        deleted = client.begin_delete_key("cmk", _polling_interval=0).result()
        assert deleted.recovery_id == f"{vault_url}deletedkeys/cmk"
        with pytest.raises(ResourceNotFoundError):
            client.get_key("cmk")


@pytest.mark.standin
def test_sdk_managed_hsm_passes_challenge_verification(az: AzureStandIn) -> None:
    hsm_url = seed.create_managed_hsm(az, az.subscription_ids[0], "rg-keys", "hsm-e2e")
    assert hsm_url == "https://hsm-e2e.managedhsm.azure.net/"
    with seed.key_client(az, hsm_url) as client:
        key = client.create_rsa_key("cmk", hardware_protected=True, size=3072)
        assert client.get_key("cmk").id == key.id
    assert key.key_type == "RSA-HSM" and key.id.startswith(hsm_url + "keys/cmk/")


@pytest.mark.standin
def test_sdk_sovereign_vault_host(az: AzureStandIn) -> None:
    # Straight into the world: China-cloud ARM is not what this test is about.
    add_vault(az.world, "kv-cn", "kv-cn.vault.azure.cn", location="chinanorth3",
              subscription_id=az.subscription_ids[0])
    with seed.key_client(az, "https://kv-cn.vault.azure.cn/") as client:
        key = client.create_ec_key("cmk", curve="P-256")
        assert client.get_key("cmk").id == key.id
    challenge = next(r for r in az.requests if r["host"] == "kv-cn.vault.azure.cn" and r["status"] == 401)
    assert challenge["path"] == "/keys/cmk/create"
