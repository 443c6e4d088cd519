"""Translate azure-core exceptions into the engine's two error kinds, with a short, secret-free message that says
the cause and the fix (``shared.troubleshooting``).

Classified by what the wire reference confirms (../shared/azure-wire/misconfig): the exception type, the status
code, ARM's ``error.code`` and Key Vault's ``error.innererror.code``. Message text is read only where a real
recording or the SDK itself shows it, and only to fill in a detail (the missing action, the namespace, the tenant).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

from shared.errors import PermanentError, RotationError, TemporaryError
from shared.reasons import Reason
from shared.troubleshooting import KEY_PERMISSIONS, KEY_ROLE, fix, role_for

log = logging.getLogger(__name__)
MAX_CAUSE = 300  # what happened, shortened; the fix after it is never cut
_ACTION = re.compile(r"perform action(?:\(s\))? '([^']+)'(?: (?:over|on) (?:the linked )?scope(?:\(s\))? '([^']+)')?")
_NAMESPACE = re.compile(r"namespace '([^']+)'")
_TENANT = re.compile(r"tenant '?https://sts\.windows\.net/([0-9a-fA-F-]{36})/")
_KEY_VAULT_403 = {
    "forbiddenbyrbac": Reason.KEY_FORBIDDEN_BY_RBAC,
    "forbiddenbypolicy": Reason.KEY_FORBIDDEN_BY_POLICY,
    "accessdenied": Reason.KEY_FORBIDDEN_BY_POLICY,  # the access-policy refusal as captured in 2024
    "forbiddenbyfirewall": Reason.KEY_FORBIDDEN_BY_FIREWALL,
    "forbiddenbyconnection": Reason.KEY_FORBIDDEN_BY_PRIVATE_LINK,
}

_KEY_VAULT_CAUSE = {
    Reason.KEY_FORBIDDEN_BY_RBAC: "Key Vault RBAC refused the app's identity",
    Reason.KEY_FORBIDDEN_BY_POLICY: "no access policy grants the app's identity this permission",
    Reason.KEY_FORBIDDEN_BY_FIREWALL: "the vault's firewall refused the app's network address",
    Reason.KEY_FORBIDDEN_BY_PRIVATE_LINK: "the vault takes traffic only through a private endpoint",
}


@dataclass(frozen=True)
class Call:
    """What an adapter was doing when it failed: words for the detail, and the reasons its failures become."""

    what: str
    forbidden: Reason = Reason.FORBIDDEN
    not_found: Reason = Reason.REGISTRY_NOT_FOUND
    rejected: Reason = Reason.UPDATE_REJECTED
    vault: str = ""  # the vault's name, for Key Vault calls
    key: str = ""  # the key's name, for Key Vault calls
    needs: str = "read"  # for Key Vault calls: "read", "create" or "update" (retirement)


def describe(exc: BaseException) -> str:
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        code = getattr(getattr(exc, "error", None), "code", None) or ""
        message = getattr(getattr(exc, "error", None), "message", None) or exc.reason or ""
        text = f"HTTP {exc.status_code} {code}: {message}"
    else:
        text = f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return " ".join(text.split())[:400]


def is_disabled_key(exc: HttpResponseError) -> bool:
    """A 403 ``KeyDisabled`` (Key Vault's answer to a crypto operation on a disabled version)."""
    return exc.status_code == 403 and _inner_code(exc) == "keydisabled"


def _code(exc: HttpResponseError) -> str:
    return str(getattr(getattr(exc, "error", None), "code", None) or "").lower()


def _inner_code(exc: HttpResponseError) -> str:
    inner = getattr(getattr(exc, "error", None), "innererror", None) or {}
    return str(inner.get("code", "") if isinstance(inner, dict) else "").lower()


def _message(exc: HttpResponseError) -> str:
    return str(getattr(getattr(exc, "error", None), "message", None) or exc.message or "")


def _failure(reason: Reason, transient: bool, call: Call, cause: str, remedy: str) -> RotationError:
    detail = " ".join(f"{call.what}: {cause}".split())[:MAX_CAUSE]
    if remedy:
        detail = f"{detail}. Fix: {remedy}"
    return (TemporaryError if transient else PermanentError)(reason, detail)


def translate(exc: Exception, call: Call) -> RotationError:
    if isinstance(exc, ClientAuthenticationError):
        return _authentication(exc, call)
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        return _http(exc, call)
    if isinstance(exc, ServiceRequestError) and call.vault and "resolve" in str(exc).lower():
        # The vault's name did not resolve. Permanent only once ARM confirms the vault is gone.
        return _failure(Reason.VAULT_UNREACHABLE, True, call, "the vault's name does not resolve",
                        fix(Reason.VAULT_UNREACHABLE, vault=call.vault))
    return _failure(Reason.SERVICE_ERROR, True, call, describe(exc), "")  # no answer: try again


def _authentication(exc: ClientAuthenticationError, call: Call) -> RotationError:
    if exc.status_code is None:  # no token was obtained: nothing was sent
        text = str(exc)
        log.debug("credential chain: %s", text)  # azure-identity's long account of what it tried
        if "Unable to load the proper Managed Identity" in text or "No MSI found" in text:
            return _failure(Reason.MANAGED_IDENTITY_NOT_FOUND, False, call,
                            "the managed identity asked for is not attached to this app",
                            fix(Reason.MANAGED_IDENTITY_NOT_FOUND))
        if "not configured to acquire tokens for tenant" in text:
            tenant = text.split("for tenant", 1)[1].split()[0].strip(".'\"")
            return _failure(Reason.WRONG_TENANT, False, call, f"the resource belongs to tenant {tenant}, which the "
                            "credential is not configured for", fix(Reason.WRONG_TENANT, tenant=tenant))
        return _failure(Reason.NO_CREDENTIAL, False, call, f"no credential: {tried(text)}", fix(Reason.NO_CREDENTIAL))
    code, message = _code(exc), _message(exc)
    if code == "invalidauthenticationtokentenant" or "AKV10032" in message:
        found = _TENANT.search(message)
        tenant = found.group(1) if found else "the resource's tenant"
        return _failure(Reason.WRONG_TENANT, False, call, f"the token is for another tenant than {tenant}",
                        fix(Reason.WRONG_TENANT, tenant=tenant))
    headers = getattr(exc.response, "headers", None) or {}
    challenge = str(headers.get("WWW-Authenticate", ""))
    if "claims=" in challenge:
        return _failure(Reason.CLAIMS_CHALLENGE_FAILED, False, call, describe(exc),
                        fix(Reason.CLAIMS_CHALLENGE_FAILED))
    return _failure(Reason.TOKEN_REJECTED, code == "expiredauthenticationtoken", call, describe(exc),
                    fix(Reason.TOKEN_REJECTED))


def tried(chain: str) -> str:
    """DefaultAzureCredential's message, shortened to the credentials it tried."""
    names = re.findall(r"^\s*(\w+Credential):", chain, flags=re.MULTILINE)
    if not names:
        return chain.splitlines()[0][:200] if chain else "no credential is available"
    tried_names = ", ".join(dict.fromkeys(n.removesuffix("Credential") for n in names))
    return f"DefaultAzureCredential found none (tried {tried_names})"


def _http(exc: HttpResponseError, call: Call) -> RotationError:
    status, code = exc.status_code or 0, _code(exc)
    if status == 403:
        return _forbidden(exc, call)
    if status == 404:
        if code == "subscriptionnotfound":
            subscription = _message(exc).split("'")[1] if "'" in _message(exc) else "the subscription"
            return _failure(Reason.SUBSCRIPTION_NOT_FOUND, False, call, describe(exc),
                            fix(Reason.SUBSCRIPTION_NOT_FOUND, subscription=subscription))
        return _failure(call.not_found, False, call, describe(exc), "")
    if status == 409:
        if code == "missingsubscriptionregistration":
            found = _NAMESPACE.search(_message(exc))
            subscription = call.what.split("subscription ", 1)[1].split()[0] if "subscription " in call.what else "<id>"
            return _failure(Reason.PROVIDER_NOT_REGISTERED, False, call, describe(exc), fix(
                Reason.PROVIDER_NOT_REGISTERED, namespace=found.group(1) if found else "<namespace>",
                subscription=subscription))
        return _failure(Reason.REGISTRY_BUSY, True, call, describe(exc), "")
    if status == 429:
        return _failure(Reason.THROTTLED, True, call, describe(exc), "")
    if status >= 500 or status == 408:
        return _failure(Reason.SERVICE_ERROR, True, call, describe(exc), "")
    return _failure(call.rejected, False, call, describe(exc), "")


def _forbidden(exc: HttpResponseError, call: Call) -> RotationError:
    code, inner = _code(exc), _inner_code(exc)
    if code in ("authorizationfailed", "linkedauthorizationfailed"):
        found = _ACTION.search(_message(exc))
        action, scope = (found.group(1), found.group(2) or "") if found else ("", "")
        cause = f"the app's identity may not perform {action}" + (f" on {scope}" if scope else "") if action \
            else describe(exc)
        return _failure(Reason.FORBIDDEN, False, call, cause, fix(Reason.FORBIDDEN, role=role_for(action)
                                                                  if action else "the roles in docs/deploy.md"))
    reason = _KEY_VAULT_403.get(inner)
    if reason is not None:
        return _failure(reason, False, call, _KEY_VAULT_CAUSE[reason], fix(
            reason, vault=call.vault or "<vault>", key_role=KEY_ROLE[call.needs],
            key_permissions=KEY_PERMISSIONS[call.needs]))
    return _failure(call.forbidden, False, call, describe(exc), fix(call.forbidden, role="the roles in docs/deploy.md"))
