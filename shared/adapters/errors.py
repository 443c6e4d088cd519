"""Translate azure-core exceptions into the engine's two error kinds, with a short, secret-free message."""

from __future__ import annotations

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)

from shared.errors import PermanentError, RotationError, TemporaryError
from shared.reasons import Reason


def describe(exc: BaseException) -> str:
    if isinstance(exc, HttpResponseError):
        code = getattr(getattr(exc, "error", None), "code", None) or ""
        message = getattr(getattr(exc, "error", None), "message", None) or exc.reason or ""
        status = exc.status_code if exc.status_code is not None else "?"
        text = f"HTTP {status} {code}: {message}".strip()
    else:
        text = f"{exc.__class__.__name__}: {exc}"
    return " ".join(text.split())[:400]


def is_disabled_key(exc: HttpResponseError) -> bool:
    """Key Vault answers a GET of a disabled version with 403 (innerError KeyDisabled), not 'no access'."""
    return exc.status_code == 403 and "disabled" in str(exc).lower()


def translate(exc: Exception, *, what: str, forbidden: Reason, not_found: Reason,
              rejected: Reason = Reason.UPDATE_REJECTED) -> RotationError:
    detail = f"{what}: {describe(exc)}"
    if isinstance(exc, ResourceNotFoundError):
        return PermanentError(not_found, detail)
    if isinstance(exc, ClientAuthenticationError):
        return PermanentError(forbidden, detail)
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        status = exc.status_code
        if status == 403:
            return PermanentError(forbidden, detail)
        if status == 404:
            return PermanentError(not_found, detail)
        if status == 409:
            return TemporaryError(Reason.REGISTRY_BUSY, detail)
        if status == 429:
            return TemporaryError(Reason.THROTTLED, detail)
        if status >= 500 or status == 408:
            return TemporaryError(Reason.SERVICE_ERROR, detail)
        return PermanentError(rejected, detail)
    return TemporaryError(Reason.SERVICE_ERROR, detail)  # no answer (ServiceRequestError, ...): try again
