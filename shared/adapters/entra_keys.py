"""The tenant's token-signing keys, from its OpenID configuration, through PyJWT's ``PyJWKClient``.

The key set is cached for a bounded time; a token naming an unknown ``kid`` forces one refresh, at most
once per cooldown, so forged key ids cannot make the app hammer the tenant. Requests go through urllib:
the standard proxy variables apply (urllib's default ``ProxyHandler``), and the CA bundle comes in the
``ssl_context`` the composition root builds.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import jwt
from jwt import PyJWKClient, PyJWKClientConnectionError

from shared.auth import SigningKeysUnavailable, UnknownSigningKey

log = logging.getLogger(__name__)
KEYS_LIFESPAN_S = 3600.0  # the key set is re-read at least hourly (Entra rolls keys with notice)
REFRESH_COOLDOWN_S = 30.0  # at most one forced refresh per this many seconds for unknown key ids
TIMEOUT_S = 10.0
MAX_METADATA_BYTES = 256 * 1024


class EntraSigningKeys:
    """``shared.auth.SigningKeys`` for one tenant on one authority host (per cloud)."""

    def __init__(self, authority_host: str, tenant_id: str, ssl_context: ssl.SSLContext,
                 lifespan_s: float = KEYS_LIFESPAN_S, cooldown_s: float = REFRESH_COOLDOWN_S,
                 timeout_s: float = TIMEOUT_S) -> None:
        self.metadata_url = f"https://{authority_host}/{tenant_id}/v2.0/.well-known/openid-configuration"
        self._authority_host = authority_host.lower()
        self._ssl_context = ssl_context
        self._lifespan_s = lifespan_s
        self._cooldown_s = cooldown_s
        self._timeout_s = timeout_s
        self._client: PyJWKClient | None = None
        self._lock = threading.Lock()

    def key_for(self, kid: str) -> Any:
        client = self._jwk_client()
        try:
            client.get_signing_keys()  # the cached set; a failure here is about reaching the keys
        except (jwt.PyJWTError, ValueError) as exc:
            raise SigningKeysUnavailable(f"signing keys unavailable: {type(exc).__name__}") from None
        try:
            return client.get_signing_key(kid).key  # refreshes once on an unknown kid (after the cooldown)
        except PyJWKClientConnectionError as exc:
            raise SigningKeysUnavailable(f"signing keys unavailable: {type(exc).__name__}") from None
        except (jwt.PyJWTError, ValueError):
            raise UnknownSigningKey("no published key has this kid") from None

    def _jwk_client(self) -> PyJWKClient:
        with self._lock:
            if self._client is None:
                self._client = PyJWKClient(self._jwks_uri(), cache_keys=False, cache_jwk_set=True,
                                           lifespan=self._lifespan_s, timeout=self._timeout_s,
                                           ssl_context=self._ssl_context, cooldown_duration=self._cooldown_s)
            return self._client

    def _jwks_uri(self) -> str:
        """From the tenant's OpenID configuration; it must stay on the authority host, over HTTPS."""
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=self._ssl_context))
        try:
            with opener.open(self.metadata_url, timeout=self._timeout_s) as response:
                metadata = json.loads(response.read(MAX_METADATA_BYTES))
        except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
            log.warning("cannot read the tenant's OpenID configuration: %s", type(exc).__name__)
            raise SigningKeysUnavailable("tenant OpenID configuration unavailable") from None
        uri = metadata.get("jwks_uri") if isinstance(metadata, dict) else None
        parts = urlsplit(uri) if isinstance(uri, str) else None
        if parts is None or parts.scheme != "https" or (parts.hostname or "").lower() != self._authority_host:
            raise SigningKeysUnavailable("tenant OpenID configuration names no jwks_uri on the authority host")
        return str(uri)


def ca_ssl_context(env: Any) -> ssl.SSLContext:
    """Trust what the Azure SDK's requests transport trusts: REQUESTS_CA_BUNDLE, else SSL_CERT_FILE, else
    certifi's bundle."""
    import certifi

    cafile = (env.get("REQUESTS_CA_BUNDLE") or env.get("SSL_CERT_FILE") or "").strip() or certifi.where()
    return ssl.create_default_context(cafile=cafile)
