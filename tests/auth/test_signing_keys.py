"""The JWKS adapter against the stand-in's login.microsoftonline.com, through the HTTPS proxy and CA bundle."""

from __future__ import annotations

import os
import ssl

import certifi
import pytest

from emulator import entra
from shared.adapters.entra_keys import EntraSigningKeys, ca_ssl_context
from shared.auth import SigningKeysUnavailable, UnknownSigningKey, authenticate
from tests.auth.support import bearer, config_for

pytestmark = pytest.mark.standin


def keys_for(az, **kwargs) -> EntraSigningKeys:
    tenant = entra.tenant(az.world)
    return EntraSigningKeys("login.microsoftonline.com", tenant.tenant_id, ca_ssl_context(os.environ), **kwargs)


def test_a_token_is_checked_against_keys_fetched_through_the_proxy(az) -> None:
    tenant = entra.tenant(az.world)
    caller = authenticate(bearer(tenant.mint(["Rotation.Read"], name="ana@contoso.example")), config_for(tenant),
                          keys_for(az))
    assert caller.name == "ana@contoso.example"
    hosts = [(r["host"], r["path"]) for r in az.requests]
    assert ("login.microsoftonline.com", f"/{tenant.tenant_id}/v2.0/.well-known/openid-configuration") in hosts
    assert ("login.microsoftonline.com", f"/{tenant.tenant_id}/discovery/v2.0/keys") in hosts


def test_the_key_set_is_cached(az) -> None:
    tenant, keys = entra.tenant(az.world), keys_for(az)
    for _ in range(3):
        keys.key_for(tenant.keys[0].kid)
    assert tenant.key_fetches == 1


def test_an_unknown_kid_refreshes_once_and_finds_a_rolled_key(az) -> None:
    tenant = entra.tenant(az.world)
    keys = keys_for(az, cooldown_s=0)
    keys.key_for(tenant.keys[0].kid)
    new_kid = tenant.rotate_signing_key()
    assert keys.key_for(new_kid) is not None
    assert tenant.key_fetches == 2


def test_an_unknown_kid_within_the_cooldown_does_not_refetch(az) -> None:
    tenant, keys = entra.tenant(az.world), keys_for(az, cooldown_s=3600)
    keys.key_for(tenant.keys[0].kid)
    for _ in range(5):
        with pytest.raises(UnknownSigningKey):
            keys.key_for("forged-kid")
    assert tenant.key_fetches == 1


def test_a_tenant_the_authority_does_not_know_is_keys_unavailable(az) -> None:
    keys = EntraSigningKeys("login.microsoftonline.com", "00000000-0000-0000-0000-000000000001",
                            ca_ssl_context(os.environ))
    with pytest.raises(SigningKeysUnavailable):
        keys.key_for("any")


def test_an_untrusted_certificate_is_keys_unavailable_not_unknown(az) -> None:
    keys = EntraSigningKeys("login.microsoftonline.com", entra.tenant(az.world).tenant_id,
                            ssl.create_default_context(cafile=certifi.where()))  # no stand-in CA
    with pytest.raises(SigningKeysUnavailable):
        keys.key_for(entra.tenant(az.world).keys[0].kid)


def test_the_other_clouds_authorities_are_served_too(az) -> None:
    tenant = entra.tenant(az.world)
    for host in ("login.microsoftonline.us", "login.chinacloudapi.cn"):
        keys = EntraSigningKeys(host, tenant.tenant_id, ca_ssl_context(os.environ))
        assert keys.key_for(tenant.keys[0].kid) is not None
