"""Helpers for handler-level stand-in tests: a vault in a World, callers with resolved tokens."""

from __future__ import annotations

import json
from typing import Any

from requests.structures import CaseInsensitiveDict

from emulator.world import Request, Response, Vault, World

SUB = "00000000-1111-2222-3333-444444444444"
RG = "rg-keys"


def add_vault(world: World, name: str, host: str | None = None, location: str = "westeurope",
              subscription_id: str = SUB) -> Vault:
    """A vault put straight into the world (as ARM would after a PUT)."""
    host = host or f"{name}.vault.azure.net"
    kind = "managedHSMs" if ".managedhsm." in host else "vaults"
    vault = Vault(f"/subscriptions/{subscription_id}/resourceGroups/{RG}/providers/Microsoft.KeyVault/{kind}/{name}",
                  name, host.lower(), location, subscription_id,
                  arm={"properties": {"softDeleteRetentionInDays": 7}})
    world.vaults[vault.host] = vault
    return vault


class Caller:
    """Sends ``Request`` objects to a handler as the front end would, for one principal."""

    def __init__(self, world: World, handler: Any, principal_id: str | None, audience: str | None) -> None:
        self.world, self.handler = world, handler
        self.principal_id, self.audience = principal_id, audience

    def __call__(self, method: str, host: str, path: str, body: Any = None, query: dict[str, str] | None = None,
                 token: bool = True, headers: dict[str, str] | None = None) -> Response:
        hdrs: CaseInsensitiveDict[str] = CaseInsensitiveDict(headers or {})
        if token:
            hdrs["Authorization"] = "Bearer opaque-test-token"
        raw = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
        q = {"api-version": "2025-07-01", **(query or {})}
        req = Request(method, host, path, q, hdrs, raw,
                      principal_id=self.principal_id if token else None,
                      token_audience=self.audience if token else None)
        return self.handler(self.world, req)


class PlainHTTPFront:
    """A loopback plain-HTTP server that hands every request to a stand-in handler as if it had come
    for ``host`` through the proxy (anonymous). Lets a real SDK client reach a handler directly."""

    def __init__(self, world: World, handler: Any, host: str) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qsl, urlsplit

        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                url = urlsplit(self.path)
                req = Request(self.command, host, url.path, dict(parse_qsl(url.query)), self.headers, raw)
                resp = handler(world, req)
                front.requests.append((req, resp))
                out = resp.body if isinstance(resp.body, bytes) else (
                    b"" if resp.body is None else json.dumps(resp.body).encode())
                self.send_response(resp.status)
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.requests: list[tuple[Request, Response]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
