"""Token validation (shared.auth.authenticate) with real RS256 tokens from the stand-in's Entra tenant."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives import serialization

from emulator.entra import EntraTenant
from shared.auth import Unauthenticated, authenticate, bearer_token, refusal
from tests.auth.support import OTHER_TENANT_ID, TENANT_ID, TenantKeys, bearer, config_for

OID = "5d9b1c7e-4a2f-4c1e-9a8b-0c1d2e3f4a5b"


@pytest.fixture
def tenant() -> EntraTenant:
    return EntraTenant(TENANT_ID)


def check(tenant: EntraTenant, headers: dict[str, str]):
    return authenticate(headers, config_for(tenant), TenantKeys(tenant))


def refused(tenant: EntraTenant, headers: dict[str, str]) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as info:
        check(tenant, headers)
    return info.value


def test_a_v2_user_token_names_the_user_their_tenant_and_roles(tenant) -> None:
    token = tenant.mint(["Rotation.Operate"], name="ana@contoso.example", object_id=OID)
    caller = check(tenant, bearer(token))
    assert (caller.kind, caller.object_id, caller.name, caller.tenant_id) == (
        "user", OID, "ana@contoso.example", TENANT_ID)
    assert caller.roles == {"Rotation.Operate"}


def test_a_v1_token_for_the_application_id_uri_is_accepted_too(tenant) -> None:
    token = tenant.mint(["Rotation.Read"], version="1.0", name="bob@contoso.example")
    claims_aud = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["aud"]
    assert claims_aud == tenant.app_id_uri
    assert check(tenant, bearer(token)).name == "bob@contoso.example"


def test_an_application_token_is_attributed_to_the_client_id(tenant) -> None:
    client = "0f4f4a8e-1c55-4b6a-9a0e-4d5c6b7a8e9f"
    caller = check(tenant, bearer(tenant.mint(["Rotation.Operate"], kind="app", name=client)))
    assert (caller.kind, caller.name) == ("app", client)


def test_no_header_is_a_401_challenge_without_an_error_code(tenant) -> None:
    exc = refused(tenant, {})
    status, body, headers = refusal(exc, config_for(tenant))
    assert status == 401 and body["error"]["code"] == "Unauthenticated"
    challenge = headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ") and "error=" not in challenge
    assert f"https://login.microsoftonline.com/{TENANT_ID}/oauth2/v2.0/authorize" in challenge
    assert f'scope="{tenant.app_id_uri}/.default"' in challenge


@pytest.mark.parametrize(("authorization", "reason"), [
    ("Basic dXNlcjpwYXNz", "only the Bearer scheme is accepted"),
    ("Bearer", "not a JWT"),
    ("Bearer not-a-jwt", "not a JWT"),
    ("Bearer a.b.c", "not a JWT"),
    ("Bearer " + "a" * 9000, "Authorization header too large"),
])
def test_malformed_authorization_headers_are_401s(tenant, authorization, reason) -> None:
    exc = refused(tenant, {"Authorization": authorization})
    assert exc.reason == reason
    assert refusal(exc, config_for(tenant))[2]["WWW-Authenticate"].count('error="invalid_token"') == 1


def test_platform_identity_headers_alone_are_never_trusted(tenant) -> None:
    principal = base64.b64encode(json.dumps({"auth_typ": "aad", "claims": [
        {"typ": "roles", "val": "Rotation.BreakGlass"}]}).encode()).decode()
    exc = refused(tenant, {"X-MS-CLIENT-PRINCIPAL": principal, "X-MS-CLIENT-PRINCIPAL-NAME": "admin@contoso.example",
                           "X-MS-CLIENT-PRINCIPAL-ID": OID})
    assert exc.reason == "no bearer token"


def test_an_unsigned_token_is_refused(tenant) -> None:
    assert refused(tenant, bearer(tenant.mint(["Rotation.Operate"], algorithm="none"))).reason == \
        "signing algorithm not allowed"


def test_an_hmac_token_keyed_with_the_public_key_is_refused(tenant) -> None:
    """The algorithm-confusion attack: HS256 with the published RSA public key as the shared secret."""
    public_pem = tenant.keys[0].private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "kid": tenant.keys[0].kid, "typ": "JWT"}
    segments = [base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=")
                for part in (header, tenant.claims(["Rotation.BreakGlass"]))]
    signature = hmac.new(public_pem, b".".join(segments), hashlib.sha256).digest()
    token = b".".join([*segments, base64.urlsafe_b64encode(signature).rstrip(b"=")]).decode()
    assert refused(tenant, bearer(token)).reason == "signing algorithm not allowed"


def test_a_token_signed_by_another_key_under_a_published_kid_is_refused(tenant) -> None:
    assert refused(tenant, bearer(tenant.mint(["Rotation.Operate"], forged=True))).reason == \
        "signature does not verify"


def test_a_token_signed_by_an_unpublished_key_is_refused(tenant) -> None:
    token = tenant.mint(["Rotation.Operate"], kid="not-a-published-kid")
    assert refused(tenant, bearer(token)).reason == "signed by a key the tenant does not publish"


def test_an_expired_token_is_refused(tenant) -> None:
    assert refused(tenant, bearer(tenant.mint(["Rotation.Read"], expires_in=-120))).reason == "token expired"


def test_a_token_just_past_expiry_is_within_the_clock_skew_leeway(tenant) -> None:
    assert check(tenant, bearer(tenant.mint(["Rotation.Read"], expires_in=-20))).roles == {"Rotation.Read"}


def test_a_token_not_yet_valid_is_refused(tenant) -> None:
    token = tenant.mint(["Rotation.Read"], not_before_in=600, expires_in=4000)
    assert refused(tenant, bearer(token)).reason == "token not yet valid"


def test_a_token_for_another_audience_is_refused(tenant) -> None:
    token = tenant.mint(["Rotation.Operate"], audience="https://management.azure.com")
    assert refused(tenant, bearer(token)).reason == "token is for another audience"


def test_a_token_from_another_tenant_is_refused(tenant) -> None:
    token = tenant.mint(["Rotation.Operate"], tenant_id=OTHER_TENANT_ID)
    assert refused(tenant, bearer(token)).reason == "token is from another issuer"


def test_a_tid_that_disagrees_with_the_issuer_is_refused(tenant) -> None:
    token = tenant.mint(["Rotation.Operate"], extra={"tid": OTHER_TENANT_ID})
    assert refused(tenant, bearer(token)).reason == "token is from another tenant"


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat", "iss", "aud", "tid", "oid", "sub"])
def test_a_token_missing_a_required_claim_is_refused(tenant, claim) -> None:
    assert refused(tenant, bearer(tenant.mint(["Rotation.Read"], omit=[claim]))).reason == \
        f"token lacks the {claim} claim"


@pytest.mark.parametrize("roles", ["Rotation.Operate", {"Rotation.Operate": True}, [1]])
def test_a_malformed_roles_claim_is_refused(tenant, roles) -> None:
    assert refused(tenant, bearer(tenant.mint(extra={"roles": roles}))).reason == "roles claim is malformed"


def test_a_token_without_roles_authenticates_with_none(tenant) -> None:
    assert check(tenant, bearer(tenant.mint(omit=["roles"]))).roles == frozenset()


def test_refusals_never_echo_the_token(tenant) -> None:
    token = tenant.mint(["Rotation.Operate"], forged=True)
    status, body, headers = refusal(refused(tenant, bearer(token)), config_for(tenant))
    shown = json.dumps(body) + json.dumps(headers)
    assert status == 401
    assert not any(part in shown for part in token.split(".") if len(part) > 8)


def test_bearer_token_is_case_insensitive_on_the_scheme() -> None:
    assert bearer_token({"authorization": "bearer a.b.c"}) == "a.b.c"
