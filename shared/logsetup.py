"""Logging set-up shared by the function app, the CLI and the composition root (kept light: imported at start-up)."""

from __future__ import annotations

import logging


def quiet_azure_loggers() -> None:
    """At INFO the SDK logs every request, the exporter's own included: exported, logged again, forever."""
    azure_logger = logging.getLogger("azure")
    if azure_logger.level == logging.NOTSET:  # an operator's explicit level (e.g. DEBUG) is kept
        azure_logger.setLevel(logging.WARNING)
