"""Shared pieces of the misconfiguration tests: the pinned facts, message normalisation, surfacing checks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from azure.core.exceptions import HttpResponseError

FACTS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "misconfig" / "pinned-wire-facts.json").read_text())
BODIES: dict[str, Any] = FACTS["bodies"]

_GUID = re.compile(r"[0-9a-fx]{8}-[0-9a-fx]{4}-[0-9a-fx]{4}-[0-9a-fx]{4}-[0-9a-fx]{12,13}", re.IGNORECASE)
_IP = re.compile(r"\b(?:\d{1,3}|xx+)(?:\.(?:\d{1,3}|x+)){3}\b")


def norm(text: str) -> str:
    """A message with what differs between tenants made generic: ids, addresses, quoted names, vault lines,
    the optional managed-identity parts of a Caller line, and times."""
    text = _GUID.sub("<id>", text)
    text = _IP.sub("<ip>", text)
    text = re.sub(r";xms_mirid=[^;\r\n]*;xms_az_rid=[^\r\n]*", "", text)
    text = re.sub(r"Vault: [^;\r\n]+;location=[^\r\n]+", "Vault: <v>;location=<l>", text)
    text = re.sub(r"'[^']*'", "'<q>'", text)
    return text


def surfaced(exc: BaseException) -> dict[str, Any]:
    """The fields generated/sdk-surfacing.json records for a raised exception."""
    err = getattr(exc, "error", None)
    return {"class": f"{type(exc).__module__}.{type(exc).__qualname__}",
            "status_code": getattr(exc, "status_code", None),
            "error.code": getattr(err, "code", None) if err is not None else None,
            "error.innererror": (getattr(err, "innererror", None) or {}) if err is not None else None}


def assert_surfaces_as(exc: BaseException, case: str) -> None:
    """``exc`` arrives as the reference's generated/ run saw the same wire answer arrive."""
    expected = FACTS["surfacing"][case]
    assert surfaced(exc) == expected, (case, surfaced(exc), expected)


def error_of(exc: HttpResponseError) -> dict[str, Any]:
    """The raw JSON error the service sent."""
    assert exc.response is not None
    return json.loads(exc.response.text())["error"]


def assert_like(exc: HttpResponseError, body_name: str, *, message: bool = True,
                names: dict[str, str] | None = None) -> None:
    """The raw answer behind ``exc`` has the status, code, innererror and (normalised) message of a real body;
    ``names`` maps names in the real message to ours (a key's name, say)."""
    real = json.loads(json.dumps(BODIES[body_name]))
    for theirs_name, ours in (names or {}).items():
        real["body"]["error"]["message"] = real["body"]["error"]["message"].replace(theirs_name, ours)
    assert exc.status_code == real["status"]
    mine, theirs = error_of(exc), real["body"]["error"]
    assert mine.get("code") == theirs["code"]
    assert mine.get("innererror") == theirs.get("innererror")
    if message:
        assert norm(mine["message"]) == norm(theirs["message"]), (mine["message"], theirs["message"])
