"""The stand-in's front door: an HTTPS proxy on loopback that serves Azure hosts itself.

Clients reach it through ``HTTPS_PROXY``. A CONNECT to a served host gets 200, then the tunnel is
TLS-terminated with one certificate (wildcard SANs) from a throwaway ``trustme`` CA and served as
HTTP/1.1 keep-alive. Anything else is refused and recorded as unexpected egress. Plain HTTP to the
proxy port itself is the App Service managed-identity endpoint.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import ssl
import struct
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import trustme

from emulator import appinsights, arm, entra, holds, identity, keyvault, limits
from emulator.clouds import certificate_names, service_of
from emulator.world import Request, Response, World

log = logging.getLogger("emulator.proxy")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive by default
    server: ProxyServer
    tunnel_host: str | None = None

    # --- connection lifecycle -------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        # Small answers must not wait for delayed ACKs (Nagle would add ~40 ms per request).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self, True)

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().finish()
        self.server.track(self, False)

    def log_message(self, format: str, *args: Any) -> None:
        return None  # quiet; the request log lives in world.requests (and never holds tokens)

    _server_header: str | None = None

    def version_string(self) -> str:
        return self._server_header or super().version_string()

    # --- CONNECT: decide, then terminate TLS --------------------------------------------------
    def do_CONNECT(self) -> None:
        host = self.path.rsplit(":", 1)[0].strip("[]").lower()
        world = self.server.world
        service = service_of(host)
        if service is None:
            with world.lock:
                world.unexpected_egress.append(host)
            self._log(Request("CONNECT", host, "", {}, self._headers()), 403, None)
            self._refuse(403, "Forbidden: the Azure stand-in does not serve this host")
            return
        if service == "vault" and world.vault_for_host(host) is None:
            # No such vault (or a deleted one): fail the way an unresolvable name fails through a proxy. Proxies
            # word this differently; the stand-in's status line says it (azure-core shows it: "Tunnel connection
            # failed: 502 Name Not Resolved"), as a direct connection's "Failed to resolve '<host>'" does.
            self._log(Request("CONNECT", host, "", {}, self._headers()), 502, None)
            self._refuse(502, "Bad Gateway: name not resolved", reason="Name Not Resolved")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        try:
            tls = self.server.ssl_context.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            self.close_connection = True
            return
        with contextlib.suppress(OSError, ValueError):
            self.rfile.close()
        self.connection = tls
        self.rfile = cast(Any, tls.makefile("rb", self.rbufsize))
        # Buffered: head and body leave in one TLS record; handle_one_request() flushes per answer.
        self.wfile = cast(Any, tls.makefile("wb"))
        self.tunnel_host = host
        self.close_connection = False

    def _refuse(self, status: int, text: str, reason: str | None = None) -> None:
        body = text.encode()
        self.send_response(status, reason)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    # --- requests -------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._serve()

    do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        world = self.server.world
        body = self._read_body()
        if self.tunnel_host is None:
            if self.path.startswith(("http://", "https://")):  # a proxied plain-HTTP request
                host = (urlsplit(self.path).hostname or "").lower()
                with world.lock:
                    world.unexpected_egress.append(host)
                self._refuse(403, "Forbidden: the Azure stand-in does not serve this host")
                return
            host, service = "127.0.0.1", "msi"
        else:
            host, service = self.tunnel_host, service_of(self.tunnel_host) or ""
        split = urlsplit(self.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        principal_id, audience, claims = self._principal()
        req = Request(self.command, host, split.path, query, self._headers(), body, principal_id, audience, claims)

        holds.wait_if_held(world, req)  # a crash test's hold keeps the request here until released
        if world.settings.latency_ms:
            time.sleep(world.settings.latency_ms / 1000.0)
        resp, lro_failed = None, None
        fault = limits.take_fault(world, req.method, host, req.path)
        if fault is not None:
            if fault.delay_s:
                time.sleep(fault.delay_s)
            if fault.reset:
                self._log(req, None, body)
                self._reset()
                return
            if fault.lro_failed:
                lro_failed = fault.lro_failed_state
            elif fault.status is not None:
                resp = limits.fault_response(service, fault)
        if service == "arm":
            allowed, remaining, wait = limits.arm_bucket(world, req.method, req.path, principal_id)
            if resp is None and not allowed:
                resp = limits.throttled_response(world, req.method, req.path, principal_id, wait)
        if resp is None:
            answer = self._dispatch(service, req, lro_failed)
            if answer is None:  # nothing listens there (IMDS absent): drop the connection
                self._log(req, None, body)
                self._reset()
                return
            resp = answer
        if service == "arm":
            resp.headers.setdefault(limits.ratelimit_header(req.method), str(remaining))
            resp.headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
        self._log(req, resp.status, body)
        self._write(resp)

    def _headers(self) -> Mapping[str, str]:
        return cast(Mapping[str, str], self.headers)  # email.message.Message: case-insensitive get()

    def _principal(self) -> tuple[str | None, str | None, dict[str, Any] | None]:
        auth = self.headers.get("Authorization", "")
        if not auth.lower().startswith("bearer "):
            return None, None, None
        token = auth[7:].strip()
        world = self.server.world
        with world.lock:
            found = world.tokens.get(token)
            claims = world.token_claims.get(token)
        return (found[0], found[1], dict(claims) if claims else None) if found else (None, None, None)

    def _dispatch(self, service: str, req: Request, lro_failed: str | None) -> Response | None:
        world = self.server.world
        try:
            if service == "arm":
                return arm.handle(world, req, lro_failed=lro_failed)
            if service == "vault":
                return keyvault.handle(world, req)
            if service == "appinsights":
                return appinsights.handle(world, req)
            if service == "login":
                return entra.handle(world, req)
            return identity.handle_msi(world, req)
        except Exception as exc:  # a bug in a service module must not kill the connection
            log.exception("stand-in %s handler failed for %s %s", service, req.method, req.path)
            return Response(500, limits.error_body(service, 500, f"Stand-in error: {type(exc).__name__}"))

    def _write(self, resp: Response) -> None:
        payload: bytes
        headers = dict(resp.headers)
        if resp.body is None:
            payload = b""
        elif isinstance(resp.body, bytes | bytearray):
            payload = bytes(resp.body)
        else:
            payload = json.dumps(resp.body, separators=(",", ":")).encode()
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        self._server_header = headers.pop("Server", None)  # a service's own Server header replaces ours
        self.send_response(resp.status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)

    def _reset(self) -> None:
        """Close abruptly: SO_LINGER 0 turns close() into a TCP RST."""
        self.close_connection = True
        sock = self.connection
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for f in (self.rfile, self.wfile):
            with contextlib.suppress(OSError, ValueError):
                f.close()
        with contextlib.suppress(OSError):
            sock.close()
        self.rfile, self.wfile = io.BytesIO(), io.BytesIO()  # the handler loop flushes once more

    def _log(self, req: Request, status: int | None, body: bytes | None) -> None:
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        entry = {"method": req.method, "host": req.host, "path": req.path, "query": req.query,
                 "status": status, "body": parsed, "principal": req.principal_id,
                 "time": self.server.world.now()}
        with self.server.world.lock:
            self.server.world.requests.append(entry)


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # many concurrent clients in benchmarks

    def __init__(self, world: World, ca: trustme.CA) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.world = world
        self.ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*certificate_names()).configure_cert(self.ssl_context)
        self._handlers: set[_Handler] = set()
        self._handlers_lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients dropping connections is normal for a proxy; anything else is worth a log line.
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError | ValueError):
            log.exception("stand-in proxy connection from %s failed", client_address)

    def track(self, handler: _Handler, alive: bool) -> None:
        with self._handlers_lock:
            (self._handlers.add if alive else self._handlers.discard)(handler)

    def close_connections(self) -> None:
        with self._handlers_lock:
            handlers = list(self._handlers)
        for h in handlers:
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)


class Proxy:
    """Runs a ProxyServer on a background thread."""

    def __init__(self, world: World) -> None:
        self.ca = trustme.CA()
        self.server = ProxyServer(world, self.ca)
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="azure-standin-proxy", daemon=True)

    @property
    def ca_pem(self) -> bytes:
        return self.ca.cert_pem.bytes()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.close_connections()
        self.server.server_close()
        self._thread.join(timeout=5)
