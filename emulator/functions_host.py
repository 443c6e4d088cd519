"""A stand-in for the Functions host's Event Grid webhook, enough to run ``function_app`` locally.

It speaks the local protocol the Functions host serves (``POST /runtime/webhooks/EventGrid?functionName=NAME``
with ``aeg-event-type: Notification``), decodes each event as the Python worker does (a payload with
``specversion`` becomes a ``CloudEvent``), calls the user function, and answers like the Event Grid
extension: 202 when every event succeeded, 500 when one raised (so Event Grid redelivers).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import azure.functions as func

log = logging.getLogger(__name__)


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def decode_event(body: dict[str, Any]) -> func.EventGridEvent | func.CloudEvent:
    """As ``azure.functions.eventgrid.EventGridEventInConverter.decode`` does for one JSON event
    (missing fields arrive as None there too)."""

    def field(name: str) -> Any:
        return body.get(name)

    if "specversion" in body:
        known = {"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "dataschema", "data"}
        return func.CloudEvent(
            id=field("id"), source=field("source"), type=field("type"),
            specversion=field("specversion"), time=_time(field("time")), subject=field("subject"),
            datacontenttype=field("datacontenttype"), dataschema=field("dataschema"),
            data=field("data"), **{k: v for k, v in body.items() if k not in known},
        )
    return func.EventGridEvent(
        id=field("id"), topic=field("topic"), subject=field("subject"),
        event_type=field("eventType"), event_time=_time(field("eventTime")), data=field("data"),
        data_version=field("dataVersion"),
    )


_indexed: dict[int, dict[str, Callable[..., Any]]] = {}


def user_functions(app: func.FunctionApp) -> dict[str, Callable[..., Any]]:
    """The app's functions by name, indexed once (``get_functions`` refuses to index twice)."""
    if id(app) not in _indexed:
        _indexed[id(app)] = {str(f.get_function_name()): f.get_user_function() for f in app.get_functions()}
    return _indexed[id(app)]


class FunctionsHost:
    """Serves one ``FunctionApp``'s Event Grid functions on loopback. Use as a context manager."""

    def __init__(self, app: func.FunctionApp) -> None:
        self.functions = user_functions(app)
        self.invocations: list[dict[str, Any]] = []  # function, event id, status
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, function_name: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/runtime/webhooks/EventGrid?functionName={function_name}"

    def __enter__(self) -> FunctionsHost:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def deliver(self, function_name: str, events: list[dict[str, Any]]) -> int:
        function = self.functions.get(function_name)
        if function is None:
            return 404
        status = 202
        for body in events:
            try:
                function(decode_event(body))
                outcome = "succeeded"
            except Exception as exc:  # the extension logs and answers 500: Event Grid will retry
                log.warning("function %s failed for event %s: %s", function_name, body.get("id"), exc)
                outcome, status = "failed", 500
            with self._lock:
                self.invocations.append({"function": function_name, "event": body.get("id"), "outcome": outcome})
        return status

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                name = parse_qs(parts.query).get("functionName", [""])[0]
                length = int(self.headers.get("Content-Length") or 0)
                if parts.path != "/runtime/webhooks/EventGrid" or self.headers.get("aeg-event-type") != "Notification":
                    self.send_response(400)
                    self.end_headers()
                    return
                try:
                    payload = json.loads(self.rfile.read(length) or b"[]")
                    events = payload if isinstance(payload, list) else [payload]
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                self.send_response(host.deliver(name, events))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
