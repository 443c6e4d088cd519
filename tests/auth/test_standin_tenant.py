"""The stand-in's Entra ID endpoints, reached with requests through the proxy as any client would."""

from __future__ import annotations

import jwt
import pytest
import requests

from emulator import entra

pytestmark = pytest.mark.standin


def get(az, url: str) -> requests.Response:
    return requests.get(url, timeout=10)


def test_v2_and_v1_openid_configuration_name_the_issuers_and_keys(az) -> None:
    tenant = entra.tenant(az.world)
    v2 = get(az, f"https://login.microsoftonline.com/{tenant.tenant_id}/v2.0/.well-known/openid-configuration").json()
    assert v2["issuer"] == f"https://login.microsoftonline.com/{tenant.tenant_id}/v2.0"
    assert v2["jwks_uri"] == f"https://login.microsoftonline.com/{tenant.tenant_id}/discovery/v2.0/keys"
    v1 = get(az, f"https://login.microsoftonline.com/{tenant.tenant_id}/.well-known/openid-configuration").json()
    assert v1["issuer"] == f"https://sts.windows.net/{tenant.tenant_id}/"


def test_the_keys_are_the_ones_tokens_are_signed_with(az) -> None:
    tenant = entra.tenant(az.world)
    keys = get(az, f"https://login.microsoftonline.com/{tenant.tenant_id}/discovery/v2.0/keys").json()["keys"]
    assert [k["kid"] for k in keys] == [tenant.keys[0].kid]
    assert {"kty", "use", "n", "e"} <= set(keys[0]) and "d" not in keys[0]  # public parts only
    assert jwt.get_unverified_header(tenant.mint(["Rotation.Read"]))["kid"] == keys[0]["kid"]


def test_an_unknown_tenant_is_aadsts90002(az) -> None:
    resp = get(az, "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/discovery/v2.0/keys")
    assert resp.status_code == 400 and resp.json()["error_codes"] == [90002]


def test_other_paths_are_404(az) -> None:
    tenant = entra.tenant(az.world)
    assert get(az, f"https://login.microsoftonline.com/{tenant.tenant_id}/oauth2/v2.0/devicecode").status_code == 404
