"""adapters/errors.translate over azure-core exceptions built from the real wire bodies (pinned in
tests/fixtures/misconfig/): classified by exception type, status, error.code and innererror.code only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceExistsError

from shared.adapters.errors import Call, is_disabled_key, translate
from shared.reasons import Reason

BODIES = Path(__file__).parents[1] / "fixtures" / "misconfig"


class Response:
    """Just what azure-core's HttpResponseError reads of a response."""

    def __init__(self, status: int, body: dict, headers: dict | None = None) -> None:
        self.status_code, self.reason, self.headers = status, "", headers or {}
        self.content_type, self.request, self._body = "application/json", None, json.dumps(body)

    def text(self, encoding: str | None = None) -> str:
        return self._body

    def body(self) -> bytes:
        return self._body.encode()


def error(kind: type[HttpResponseError], status: int, code: str, message: str = "m", inner: str | None = None,
          headers: dict | None = None) -> HttpResponseError:
    body: dict = {"error": {"code": code, "message": message}}
    if inner:
        body["error"]["innererror"] = {"code": inner}
    return kind(response=Response(status, body, headers))


KEY_CALL = Call("reading key", forbidden=Reason.KEY_FORBIDDEN, not_found=Reason.KEY_NOT_FOUND, vault="kv1", key="k")


@pytest.mark.parametrize(("exc", "call", "reason", "transient"), [
    (error(HttpResponseError, 403, "Forbidden", inner="ForbiddenByRbac"), KEY_CALL, Reason.KEY_FORBIDDEN_BY_RBAC,
     False),
    (error(HttpResponseError, 403, "Forbidden", inner="ForbiddenByPolicy"), KEY_CALL, Reason.KEY_FORBIDDEN_BY_POLICY,
     False),
    (error(HttpResponseError, 403, "Forbidden", inner="AccessDenied"), KEY_CALL, Reason.KEY_FORBIDDEN_BY_POLICY, False),
    (error(HttpResponseError, 403, "Forbidden", inner="ForbiddenByFirewall"), KEY_CALL,
     Reason.KEY_FORBIDDEN_BY_FIREWALL, False),
    (error(HttpResponseError, 403, "Forbidden", inner="ForbiddenByConnection"), KEY_CALL,
     Reason.KEY_FORBIDDEN_BY_PRIVATE_LINK, False),
    (error(HttpResponseError, 403, "Forbidden"), KEY_CALL, Reason.KEY_FORBIDDEN, False),
    (error(ClientAuthenticationError, 401, "ExpiredAuthenticationToken"), Call("x"), Reason.TOKEN_REJECTED, True),
    (error(ClientAuthenticationError, 401, "InvalidAuthenticationTokenAudience"), Call("x"), Reason.TOKEN_REJECTED,
     False),
    (error(ClientAuthenticationError, 401, "InvalidAuthenticationToken",
           headers={"WWW-Authenticate": 'Bearer error="insufficient_claims", claims="e30="'}), Call("x"),
     Reason.CLAIMS_CHALLENGE_FAILED, False),
    (error(ResourceExistsError, 409, "MissingSubscriptionRegistration",
           "The subscription is not registered to use namespace 'Microsoft.ContainerRegistry'."),
     Call("listing registries in subscription s1"), Reason.PROVIDER_NOT_REGISTERED, False),
    (error(ResourceExistsError, 409, "Conflict"), Call("x"), Reason.REGISTRY_BUSY, True),
    (ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
                               "Attempted credentials:\n\tEnvironmentCredential: unavailable\n"
                               "\tManagedIdentityCredential: unavailable"), Call("x"), Reason.NO_CREDENTIAL, False),
], ids=["RBAC", "access policy", "access policy (2024)", "firewall", "private link", "403 without a reason",
        "expired token", "wrong audience", "claims challenge", "provider not registered", "another 409",
        "no credential"])
def test_each_shape_has_its_reason_and_class(exc, call, reason, transient) -> None:
    translated = translate(exc, call)
    assert (translated.reason, translated.transient) == (reason, transient)
    if not transient:
        assert "Fix: " in translated.message


def test_the_provider_fix_names_the_namespace_and_the_subscription() -> None:
    exc = error(ResourceExistsError, 409, "MissingSubscriptionRegistration",
                "The subscription is not registered to use namespace 'Microsoft.ContainerRegistry'.")
    message = translate(exc, Call("listing registries in subscription s1")).message
    assert "az provider register --namespace Microsoft.ContainerRegistry --subscription s1" in message


RECORDED = json.loads((BODIES / "pinned-wire-facts.json").read_text())["bodies"]


def recorded(name: str, kind: type[HttpResponseError] = HttpResponseError) -> HttpResponseError:
    shape = RECORDED[name]
    return kind(response=Response(shape["status"], shape["body"], shape.get("headers")))


@pytest.mark.parametrize(("name", "kind", "call", "reason"), [
    ("arm-403-AuthorizationFailed", HttpResponseError, Call("reading"), Reason.FORBIDDEN),
    ("arm-403-LinkedAuthorizationFailed", HttpResponseError, Call("updating"), Reason.FORBIDDEN),
    ("arm-401-InvalidAuthenticationTokenTenant", ClientAuthenticationError, Call("listing"), Reason.WRONG_TENANT),
    ("arm-404-SubscriptionNotFound", HttpResponseError, Call("listing"), Reason.SUBSCRIPTION_NOT_FOUND),
    ("arm-409-MissingSubscriptionRegistration", ResourceExistsError, Call("listing registries in subscription s1"),
     Reason.PROVIDER_NOT_REGISTERED),
    ("kv-401-AKV10032-invalid-issuer", ClientAuthenticationError, KEY_CALL, Reason.WRONG_TENANT),
    ("kv-403-ForbiddenByRbac", HttpResponseError, KEY_CALL, Reason.KEY_FORBIDDEN_BY_RBAC),
    ("kv-403-ForbiddenByFirewall-NSP", HttpResponseError, KEY_CALL, Reason.KEY_FORBIDDEN_BY_FIREWALL),
    ("kv-403-ForbiddenByConnection", HttpResponseError, KEY_CALL, Reason.KEY_FORBIDDEN_BY_PRIVATE_LINK),
])
def test_the_recorded_bodies_are_classified_permanent_with_a_fix(name, kind, call, reason) -> None:
    translated = translate(recorded(name, kind), call)
    assert (translated.reason, translated.transient) == (reason, False)
    assert "Fix: " in translated.message


def test_authorization_failed_names_the_action_and_the_role() -> None:
    message = translate(recorded("arm-403-AuthorizationFailed"), Call("reading")).message
    assert "may not perform Microsoft.Authorization/policyDefinitions/error_policy/read on " \
           "/providers/Microsoft.Authorization/policyDefinitions/test" in message
    write = RECORDED["arm-403-AuthorizationFailed"]["body"]["error"]["message"].replace(
        "Microsoft.Authorization/policyDefinitions/error_policy/read", "Microsoft.ContainerRegistry/registries/write")
    message = translate(error(HttpResponseError, 403, "AuthorizationFailed", write), Call("updating")).message
    assert "Fix: grant the app's identity Container Registry Contributor and Data Access Configuration " \
           "Administrator" in message


def test_a_disabled_key_is_told_by_its_innererror_whatever_the_message() -> None:
    """Keys answer a GET of a disabled version with 200 and enabled false; a 403 KeyDisabled is accepted too."""
    assert is_disabled_key(error(HttpResponseError, 403, "Forbidden", "anything", inner="KeyDisabled"))
    assert not is_disabled_key(error(HttpResponseError, 403, "Forbidden", "a disabled thing", inner="ForbiddenByRbac"))
