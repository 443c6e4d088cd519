"""Application Insights ingestion (``POST /v2.1/track``), as the Azure Monitor exporter uses it.

Answers with the TrackResponse the exporter parses: 200 when every envelope is accepted, 206
with per-item errors when some are not, 400 when the body cannot be read at all.
"""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

from emulator.world import Request, Response, World

HOST_SUFFIXES = (".applicationinsights.azure.com", ".applicationinsights.azure.us",
                 ".applicationinsights.azure.cn")
AUDIENCES = {"https://monitor.azure.com", "https://monitor.azure.us", "https://monitor.azure.cn"}
PATHS = {"/v2.1/track", "/v2/track"}
REQUIRED = ("name", "time", "iKey")
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def _answer(status: int, received: int, accepted: int, errors: list[dict[str, Any]]) -> Response:
    return Response(status, {"itemsReceived": received, "itemsAccepted": accepted, "errors": errors},
                    dict(JSON_HEADERS))


def _decode(req: Request) -> list[Any] | None:
    """The envelopes in the body: a JSON array, one JSON object, or newline-delimited JSON."""
    raw = req.body
    encoding = (req.headers.get("Content-Encoding") or "").strip().lower()
    try:
        if encoding == "gzip" or raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        text = raw.decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError):
        return None
    try:
        parsed = json.loads(text)
        return parsed if isinstance(parsed, list) else [parsed]
    except ValueError:
        pass
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError:
        return None


def _problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return "Envelope must be a JSON object."
    for field in REQUIRED:
        if not item.get(field):
            return f"Field '{field}' on type 'Envelope' is required but missing or empty."
    return None


def handle(world: World, req: Request) -> Response:
    if not req.host.lower().endswith(HOST_SUFFIXES) or req.method.upper() != "POST" \
            or req.path.rstrip("/") not in PATHS:
        return Response(404, {"error": {"code": "NotFound", "message": f"{req.method} {req.path}"}},
                        dict(JSON_HEADERS))
    # Entra ingestion: a bearer token must be for Azure Monitor. No token is instrumentation-key auth.
    if (req.headers.get("Authorization") or "").lower().startswith("bearer "):
        aud = (req.token_audience or "").lower().removesuffix("/.default").rstrip("/")
        if req.principal_id is None or (req.token_audience is not None and aud not in AUDIENCES):
            return _answer(401, 0, 0, [{"index": 0, "statusCode": 401,
                                        "message": "The provided credentials are invalid or the audience "
                                                   "is not https://monitor.azure.com."}])
    items = _decode(req)
    if not items:
        return _answer(400, 0, 0, [{"index": 0, "statusCode": 400,
                                    "message": "Invalid or empty telemetry payload."}])
    errors: list[dict[str, Any]] = []
    accepted: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        problem = _problem(item)
        if problem:
            errors.append({"index": i, "statusCode": 400, "message": problem})
        else:
            accepted.append(item)
    with world.lock:
        world.telemetry.extend(accepted)
    if not accepted:
        return _answer(400, len(items), 0, errors)
    return _answer(206 if errors else 200, len(items), len(accepted), errors)
