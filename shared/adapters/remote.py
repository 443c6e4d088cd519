"""The operator endpoints of a deployed app, called with an Entra ID token for the app's audience.

The token comes from an azure-core credential (``DefaultAzureCredential`` from the composition root: the
Azure CLI login, environment, managed identity...). Requests go through ``requests``: the standard proxy
variables and REQUESTS_CA_BUNDLE apply. Redirects are not followed, so the token goes to the named app only.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

import requests
from azure.core.exceptions import ClientAuthenticationError

TIMEOUT_S = (10.0, 300.0)  # connect, read: a manual run over many registries takes a while
AZURE_CLI_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"


class RemoteError(Exception):
    """A failure to reach or talk to the app, worded for the operator (never with a token in it)."""


class NoToken(RemoteError):
    """No token for the app's audience: not signed in, no consent, or no such application."""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url(url: str) -> str:
    """``https://<app>.azurewebsites.net`` (plain http only on loopback, for ``func start``)."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host or parts.query or parts.fragment or parts.username:
        raise RemoteError(f"--remote must be the app's base URL, like https://<app>.azurewebsites.net, not {url!r}")
    if parts.scheme == "http" and not _loopback(host):
        raise RemoteError("--remote must use https (plain http is allowed on loopback only): a token is sent to it")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def consent_message(audience: str) -> str:
    return (f"Entra ID has no consent for the Azure CLI to get tokens for {audience} (AADSTS65001). Grant it once: "
            f"pre-authorize the Azure CLI ({AZURE_CLI_CLIENT_ID}) for the app registration's user_impersonation "
            f"scope (infra/hooks/app-registration.sh does), or have an administrator grant admin consent for the "
            f"Azure CLI on that scope (Enterprise applications > the app > Permissions), or consent for yourself "
            f"with: az login --scope {audience}/.default")


class RemoteApp:
    """``call("GET", "/api/status")`` -> (status code, JSON body)."""

    def __init__(self, url: str, audience: str, credential: Any, session: requests.Session | None = None) -> None:
        self.url = base_url(url)
        self.audience = audience.rstrip("/")
        self._credential = credential
        self._session = session or requests.Session()

    def _token(self) -> str:
        try:
            return str(self._credential.get_token(f"{self.audience}/.default").token)
        except ClientAuthenticationError as exc:
            if "AADSTS65001" in str(exc):
                raise NoToken(consent_message(self.audience)) from None
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise NoToken(f"could not get a token for {self.audience}: {first[:400]}") from None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
        try:
            resp = self._session.request(method, f"{self.url}{path}", json=body, headers=headers,
                                         timeout=TIMEOUT_S, allow_redirects=False)
        except requests.RequestException as exc:
            raise RemoteError(f"could not reach {self.url}: {type(exc).__name__}") from None
        try:
            answer = resp.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise RemoteError(f"{self.url}{path} answered {resp.status_code} without a JSON object "
                              f"(is this the rotation app?)")
        if resp.status_code == 401 and "WWW-Authenticate" in resp.headers:
            answer.setdefault("error", {})["challenge"] = resp.headers["WWW-Authenticate"][:500]
        return resp.status_code, answer
