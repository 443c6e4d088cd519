"""The two kinds of failure the engine knows (after kopf): retry later, or stop and report.

Adapters translate ``azure.core.exceptions`` into these, so the rest of the package never
imports ``azure``.
"""

from __future__ import annotations

from shared.reasons import Reason


class RotationError(Exception):
    """A failure with a reason constant; ``transient`` says whether a retry can fix it."""

    transient = False

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class TemporaryError(RotationError):
    """Throttling, 5xx, a busy registry, a dropped connection: a later run can succeed."""

    transient = True


class PermanentError(RotationError):
    """Forbidden, not found, rejected, unusable: retrying the same thing will not help."""

    transient = False


class ConfigurationError(ValueError):
    """A bad app setting, named in the message."""


class BadRequest(ValueError):
    """Bad manual input; ``field`` names the offending JSON field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
