"""A stand-in for the Functions host's HTTP side: serves a ``FunctionApp``'s HTTP routes on loopback, so the
remote CLI and the demo call ``/api/rotate`` and ``/api/status`` over real HTTP.

Like ``func start``, it checks no function key (the host's key check is not ours to test); the app's own
Entra ID check runs as deployed. Headers reach the function as sent; nothing here logs them.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func

from emulator.functions_host import user_functions

ROUTES = {("POST", "/api/rotate"): "rotate", ("GET", "/api/status"): "status"}
MAX_BODY = 1024 * 1024


class HttpHost:
    """Use as a context manager; ``url`` is the base URL (``http://127.0.0.1:<port>``)."""

    def __init__(self, app: func.FunctionApp) -> None:
        self.functions = user_functions(app)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="http-host")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> HttpHost:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve(self, method: str, path: str, headers: dict[str, str], body: bytes) -> func.HttpResponse:
        name = ROUTES.get((method, urlsplit(path).path.rstrip("/")))
        if name is None or name not in self.functions:
            return func.HttpResponse(b"", status_code=404)
        return self.functions[name](func.HttpRequest(method, f"http://localhost{path}", headers=headers, body=body))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self.send_response(413)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = self.rfile.read(length) if length else b""
                resp = host.serve(self.command, self.path, {k: v for k, v in self.headers.items()}, body)
                payload = resp.get_body() or b""
                self.send_response(resp.status_code)
                for name, value in resp.headers.items():
                    if name.lower() != "content-length":
                        self.send_header(name, value)
                if resp.mimetype and "content-type" not in {k.lower() for k, _ in resp.headers.items()}:
                    self.send_header("Content-Type", resp.mimetype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return  # no access log: it could be mistaken for a place headers may go

        return Handler
