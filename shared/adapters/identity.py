"""Who the app is: a token for ARM from the credential, and which credential of the chain gave it.

The credential's name comes from azure-identity's own INFO record ("DefaultAzureCredential acquired a token from
ManagedIdentityCredential"), caught while the token is asked for. The tenant and object id are the token's claims;
the token itself is never kept, printed or logged.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from typing import Any

from azure.core.exceptions import AzureError

from shared.adapters.errors import Call, translate
from shared.doctor import Identity
from shared.requests import Requester

_ACQUIRED = re.compile(r"acquired a token from (\w+)")
_IDENTITY_LOGGER = "azure.identity"


class _Acquired(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.names: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        found = _ACQUIRED.search(record.getMessage())
        if found:
            self.names.append(found.group(1))


def claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (Azure verifies it; here it only says who we are)."""
    parts = token.split(".")
    if len(parts) < 2:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        decoded = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


class IdentityAdapter:
    def __init__(self, credential: Any, scope: str) -> None:
        self._credential = credential
        self._scope = scope

    def whoami(self) -> Identity:
        logger = logging.getLogger(_IDENTITY_LOGGER)
        handler, level = _Acquired(), logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            token = self._credential.get_token(self._scope).token
        except AzureError as exc:
            raise translate(exc, Call("asking for a token for ARM")) from None
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
        found = claims(token)
        return Identity(handler.names[-1] if handler.names else "", str(found.get("tid", "")),
                        str(found.get("oid", "")), str(found.get("appid") or found.get("azp") or ""))


def requester_of(credential: Any, scope: str) -> Requester:
    """A local CLI run, attributed to whoever its credential signs in as (a user's UPN, or an application's id);
    ``cli`` alone when no token can be had (the run then fails on that, and says so)."""
    try:
        token = credential.get_token(scope).token
    except AzureError:
        return Requester("cli")
    found = claims(token)
    name = found.get("upn") or found.get("unique_name") or found.get("preferred_username") or found.get("appid") \
        or found.get("azp") or ""
    return Requester("cli", str(found.get("oid", "")), str(name), str(found.get("tid", "")))
