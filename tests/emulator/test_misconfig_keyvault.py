"""Key Vault misconfigurations on the stand-in, through azure-keyvault-keys, azure-mgmt-keyvault and
DefaultAzureCredential unchanged: each row's raw answer against the real body pinned in tests/fixtures/misconfig,
and its exception against how the reference's generated/ run surfaced the same answer."""

from __future__ import annotations

import json

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.identity import DefaultAzureCredential
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, KeyWrapAlgorithm
from azure.mgmt.keyvault import KeyVaultManagementClient
from misconfig_support import BODIES, assert_like, assert_surfaces_as, error_of, norm

from emulator import AzureStandIn, seed
from emulator.scenario import KEY_NAME, RESOURCE_GROUP, Estate, seed_estate

pytestmark = pytest.mark.standin
VAULT = "kv-acr-demo"


@pytest.fixture
def demo(az: AzureStandIn) -> Estate:
    return seed_estate(az)


def app_keys(demo: Estate) -> KeyClient:
    return KeyClient(demo.vault_url, DefaultAzureCredential(), retry_total=0)


def test_token_from_another_tenant_is_refused_with_a_challenge_naming_the_vault_tenant(
        az: AzureStandIn, demo: Estate) -> None:
    other = az.misconfig.token_tenant()
    with pytest.raises(ClientAuthenticationError) as err:
        app_keys(demo).get_key(KEY_NAME)
    assert_surfaces_as(err.value, "keyvault: 401 AKV10032 wrong tenant (vault challenge names tenant B, token still "
                                  "rejected)")
    message = error_of(err.value)["message"]
    real = BODIES["kv-401-AKV10032-invalid-issuer"]["body"]["error"]["message"]
    assert message.split(" Expected one of ")[0] == real.split(" Expected one of ")[0]
    assert message.endswith(f", found https://sts.windows.net/{other}/.")
    assert f"https://sts.windows.net/{az.world.tenant_id}/" in message
    assert err.value.response is not None
    assert f'authorization="https://login.microsoftonline.com/{az.world.tenant_id}"' in (
        err.value.response.headers["WWW-Authenticate"])


def test_claims_challenge_on_key_vault_is_answered_once(az: AzureStandIn, demo: Estate) -> None:
    az.misconfig.claims_challenge("vault", "insufficient_claims", times=1)
    assert app_keys(demo).get_key(KEY_NAME).name == KEY_NAME
    az.misconfig.claims_challenge("vault", "insufficient_claims", times=2)
    with pytest.raises(ClientAuthenticationError) as err:
        KeyClient(demo.vault_url, DefaultAzureCredential(), retry_total=0).get_key(KEY_NAME)
    assert err.value.status_code == 401


def test_expired_token_is_a_401(az: AzureStandIn, demo: Estate) -> None:
    client = app_keys(demo)
    client.get_key(KEY_NAME)
    az.misconfig.expire_tokens(az.principal_id)
    with pytest.raises(ClientAuthenticationError) as err:
        client.get_key(KEY_NAME)
    assert err.value.status_code == 401 and error_of(err.value)["code"] == "Unauthorized"


def test_rbac_denied(az: AzureStandIn, demo: Estate) -> None:
    az.misconfig.revoke(az.principal_id, "Key Vault Reader")
    with pytest.raises(HttpResponseError) as err:
        app_keys(demo).get_key(KEY_NAME)
    assert_surfaces_as(err.value, "keyvault: 403 ForbiddenByRbac")
    assert_like(err.value, "kv-403-ForbiddenByRbac")
    assert "Action: 'Microsoft.KeyVault/vaults/keys/read'" in error_of(err.value)["message"]


@pytest.mark.parametrize("inner", ["ForbiddenByPolicy", "AccessDenied"])
def test_access_policy_denied(az: AzureStandIn, demo: Estate, inner: str) -> None:
    props = az.misconfig.access_policies(VAULT, [seed_policy(az.admin_principal_id, ["all"]),
                                                 seed_policy(az.principal_id, ["list"])])
    assert "enableRbacAuthorization" not in props and props["accessPolicies"][1]["permissions"] == {"keys": ["list"]}
    az.misconfig.policy_innererror(inner)
    client = app_keys(demo)
    assert [p.name for p in client.list_properties_of_keys()] == [KEY_NAME]  # "list" is granted
    with pytest.raises(HttpResponseError) as err:
        client.get_key(KEY_NAME)
    case = ("keyvault: 403 ForbiddenByPolicy (access policy)" if inner == "ForbiddenByPolicy"
            else "keyvault: 403 AccessDenied (access policy, 2024)")
    assert_surfaces_as(err.value, case)
    if inner == "ForbiddenByPolicy":
        assert_like(err.value, "kv-403-ForbiddenByPolicy-accesspolicy-key")
    else:  # the 2024 capture is of a secret; same sentence with "secrets"
        assert_like(err.value, "kv-403-AccessDenied-accesspolicy-secret", names={"secrets get": "keys get"})
    assert "does not have keys get permission on key vault" in error_of(err.value)["message"]


def seed_policy(object_id: str, keys: list[str]) -> dict[str, object]:
    from emulator.misconfig import access_policy

    return access_policy(object_id, keys)


def test_firewall_denied_unless_the_address_is_allowed(az: AzureStandIn, demo: Estate) -> None:
    az.misconfig.firewall(VAULT, "Deny", ip_rules=("198.51.100.0/24",))
    with pytest.raises(HttpResponseError) as err:
        app_keys(demo).get_key(KEY_NAME)
    assert_surfaces_as(err.value, "keyvault: 403 ForbiddenByFirewall")
    assert_like(err.value, "kv-403-ForbiddenByFirewall")
    assert err.value.response is not None
    assert err.value.response.headers["x-ms-keyvault-network-info"] == (
        "conn_type=Ipv4;addr=203.0.113.10;act_addr_fam=InterNetwork;")
    az.misconfig.caller_address("198.51.100.7")
    assert app_keys(demo).get_key(KEY_NAME).name == KEY_NAME


def test_private_link_only(az: AzureStandIn, demo: Estate) -> None:
    az.misconfig.public_network_access(VAULT, enabled=False)
    with pytest.raises(HttpResponseError) as err:
        app_keys(demo).get_key(KEY_NAME)
    assert_surfaces_as(err.value, "keyvault: 403 ForbiddenByConnection")
    assert_like(err.value, "kv-403-ForbiddenByConnection")
    az.misconfig.private_link(VAULT)
    assert app_keys(demo).get_key(KEY_NAME).name == KEY_NAME


def test_soft_deleted_key_versus_gone(az: AzureStandIn, demo: Estate) -> None:
    az.misconfig.delete_key(VAULT, KEY_NAME)
    client = app_keys(demo)
    with pytest.raises(ResourceNotFoundError) as err:
        client.get_key(KEY_NAME)
    assert_surfaces_as(err.value, "keyvault: 404 KeyNotFound")
    assert_like(err.value, "kv-404-KeyNotFound", names={"CRUDKeyName-candeleteakey-": KEY_NAME})
    deleted = KeyClient(demo.vault_url, az.admin_credential).get_deleted_key(KEY_NAME)
    assert deleted.recovery_id and deleted.scheduled_purge_date and deleted.deleted_date
    real = BODIES["kv-200-DeleteKey-DeletedKeyBundle"]["body"]
    raw = json.loads(_raw_deleted(az, demo))
    assert list(raw)[:3] == list(real)[:3] and set(real) <= set(raw)
    with pytest.raises(ResourceExistsError) as conflict:
        KeyClient(demo.vault_url, az.admin_credential).create_rsa_key(KEY_NAME)
    assert_like(conflict.value, "kv-409-ObjectIsDeletedButRecoverable-secret", message=False)
    assert norm(error_of(conflict.value)["message"]) == norm(
        BODIES["kv-409-ObjectIsDeletedButRecoverable-secret"]["body"]["error"]["message"]
        .replace("Secret secret1", f"Key {KEY_NAME}").replace("secret", "key"))
    az.misconfig.delete_key(VAULT, KEY_NAME, purge=True)
    with pytest.raises(ResourceNotFoundError) as gone:
        KeyClient(demo.vault_url, az.admin_credential).get_deleted_key(KEY_NAME)
    assert_surfaces_as(gone.value, "keyvault: 404 get_deleted_key (Deleted Key not found)")
    assert norm(error_of(gone.value)["message"]).replace(KEY_NAME, "<n>") == norm(
        BODIES["kv-404-DeletedKeyNotFound"]["body"]["error"]["message"]).replace(
        "recoverKeyName-canrecoveradeletedkey-", "<n>")


def _raw_deleted(az: AzureStandIn, demo: Estate) -> str:
    import requests

    token = az.admin_credential.get_token("https://vault.azure.net/.default").token
    return requests.get(f"{demo.vault_url}deletedkeys/{KEY_NAME}?api-version=7.6", timeout=10,
                        headers={"Authorization": f"Bearer {token}"}).text


def test_disabled_version_reads_and_only_crypto_is_refused(az: AzureStandIn, demo: Estate) -> None:
    seed.rotate_key(az, demo.vault_url, KEY_NAME)
    seed.update_key(az, demo.vault_url, KEY_NAME, demo.first_version, enabled=False)
    az.grant(az.principal_id, "Key Vault Crypto User", f"/subscriptions/{demo.subscription_id}")
    key = app_keys(demo).get_key(KEY_NAME, demo.first_version)
    assert key.properties.enabled is False  # 200, as "keyvault: 200 GET disabled key" surfaced
    crypto = CryptographyClient(key.id, DefaultAzureCredential())
    with pytest.raises(HttpResponseError) as err:
        crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, b"x" * 256)
    assert_surfaces_as(err.value, "keyvault: unwrap_key -> 403 KeyDisabled (CryptographyClient)")
    assert error_of(err.value) == BODIES["kv-403-KeyDisabled-unwrap"]["body"]["error"]


def test_key_without_the_operation(az: AzureStandIn, demo: Estate) -> None:
    made = seed.create_key(az, demo.vault_url, "signing", key_ops=["sign", "verify"])
    az.grant(az.principal_id, "Key Vault Crypto User", f"/subscriptions/{demo.subscription_id}")
    with pytest.raises(HttpResponseError) as err:
        CryptographyClient(made.id, DefaultAzureCredential()).decrypt("RSA-OAEP", b"x" * 256)
    assert error_of(err.value) == BODIES["kv-403-KeyOperationForbidden"]["body"]["error"]


def test_vault_deleted_dns_fails_arm_says_404_and_deleted_vaults_has_it(az: AzureStandIn, demo: Estate) -> None:
    az.misconfig.delete_vault(VAULT)
    with pytest.raises(ServiceRequestError) as dns:
        KeyClient(demo.vault_url, DefaultAzureCredential(), retry_total=0).get_key(KEY_NAME)
    assert "resolve" in str(dns.value).lower()  # through the proxy, as a direct "Failed to resolve" says
    mgmt = KeyVaultManagementClient(DefaultAzureCredential(), demo.subscription_id)
    with pytest.raises(ResourceNotFoundError) as err:
        mgmt.vaults.get(RESOURCE_GROUP, VAULT)
    assert_surfaces_as(err.value, "arm: 404 ResourceNotFound")
    assert_like(err.value, "arm-404-ResourceNotFound-vault")
    deleted = mgmt.vaults.get_deleted(VAULT, "westeurope")
    assert deleted.properties is not None and deleted.properties.vault_id and deleted.properties.scheduled_purge_date
    assert deleted.properties.purge_protection_enabled is True  # the demo vault has it, as ACR advises
    assert [v.name for v in mgmt.vaults.list_deleted()] == [VAULT]


def test_vault_properties_keep_real_casing_and_omissions(az: AzureStandIn, demo: Estate) -> None:
    """The vault's ARM body: RBAC on (key present), purge protection off (key ABSENT, not false), no networkAcls
    until set; turning things on and off gives the recorded shapes."""
    mgmt = KeyVaultManagementClient(DefaultAzureCredential(), demo.subscription_id, retry_total=0)
    assert _raw_vault(mgmt)["enablePurgeProtection"] is True  # the demo vault has it
    az.misconfig.purge_protection(VAULT, False)
    raw = _raw_vault(mgmt)
    assert raw["enableRbacAuthorization"] is True and "enablePurgeProtection" not in raw and "networkAcls" not in raw
    az.misconfig.firewall(VAULT, "Deny")
    az.misconfig.purge_protection(VAULT, True)
    raw = _raw_vault(mgmt)
    real = BODIES["kv-arm-vault-networkAcls-Deny-rbac"]["body"]["properties"]
    assert raw["networkAcls"] == real["networkAcls"]
    ordered = [k for k in raw if k != "enablePurgeProtection"]
    assert ordered == [k for k in real if k in ordered]
    assert raw["enablePurgeProtection"] is True
    az.misconfig.purge_protection(VAULT, False)
    az.misconfig.access_policies(VAULT, [])
    az.misconfig.public_network_access(VAULT, enabled=False)
    raw = _raw_vault(mgmt)
    real = BODIES["kv-arm-vault-publicNetworkAccess-Disabled"]["body"]["properties"]
    assert "enableRbacAuthorization" not in raw and "enableRbacAuthorization" not in real
    assert "enablePurgeProtection" not in raw and raw["publicNetworkAccess"] == real["publicNetworkAccess"]
    vault = mgmt.vaults.get(RESOURCE_GROUP, VAULT)
    assert vault.properties.enable_purge_protection is None and vault.properties.enable_rbac_authorization is None


def _raw_vault(mgmt: KeyVaultManagementClient) -> dict[str, object]:
    seen: dict[str, object] = {}

    def hook(response: object) -> None:
        seen.update(json.loads(response.http_response.text())["properties"])  # type: ignore[attr-defined]

    mgmt.vaults.get(RESOURCE_GROUP, VAULT, raw_response_hook=hook)
    return seen


def test_access_policy_vault_made_through_arm(az: AzureStandIn, demo: Estate) -> None:
    from azure.mgmt.keyvault import models as kvm

    admin = KeyVaultManagementClient(az.admin_credential, demo.subscription_id)
    policies = [kvm.AccessPolicyEntry(tenant_id=az.world.tenant_id, object_id=az.admin_principal_id,
                                      permissions=kvm.Permissions(keys_property=["all"]))]
    made = admin.vaults.begin_create_or_update(RESOURCE_GROUP, "kv-policies", kvm.VaultCreateOrUpdateParameters(
        location="westeurope", properties=kvm.VaultProperties(
            tenant_id=az.world.tenant_id, sku=kvm.Sku(family="A", name="standard"), access_policies=policies,
            enable_rbac_authorization=False)), polling_interval=0.02).result()
    assert made.properties.enable_rbac_authorization is None  # omitted on the wire, not false
    url = str(made.properties.vault_uri)
    seed.create_key(az, url, "k")  # the admin's policy allows it
    with pytest.raises(HttpResponseError) as err:
        KeyClient(url, DefaultAzureCredential()).get_key("k")  # the app has no policy (its RBAC roles don't count)
    assert_surfaces_as(err.value, "keyvault: 403 ForbiddenByPolicy (access policy)")
