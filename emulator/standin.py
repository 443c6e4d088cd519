"""``AzureStandIn``: starts the world, the proxy and the identity endpoint, and seeds subscriptions."""

from __future__ import annotations

import secrets
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from emulator import eventgrid
from emulator.identity import IDENTITY_PATH, AdminCredential
from emulator.misconfig import Misconfig
from emulator.proxy import Proxy
from emulator.world import (
    CONTAINER_REGISTRY_CONTRIBUTOR_AND_DATA_ACCESS_CONFIG_ADMIN,
    KEY_VAULT_ADMINISTRATOR,
    KEY_VAULT_READER,
    OWNER,
    READER,
    Fault,
    RoleAssignment,
    Settings,
    World,
)

APP_ROLES = (READER, KEY_VAULT_READER, CONTAINER_REGISTRY_CONTRIBUTOR_AND_DATA_ACCESS_CONFIG_ADMIN)
ADMIN_ROLES = (OWNER, KEY_VAULT_ADMINISTRATOR)
INGESTION_ENDPOINT = "https://westeurope-5.in.applicationinsights.azure.com/"


class AzureStandIn:
    """A local Azure reached by the unmodified SDKs through an HTTPS proxy. Use as a context manager."""

    def __init__(self, lro_seconds: float = 0.2, latency_ms: float = 0, throttling: bool = False,
                 versionless_lag_s: float = 0, subscriptions: int = 2) -> None:
        self.world = World(Settings(lro_seconds=lro_seconds, latency_ms=latency_ms, throttling=throttling,
                                    versionless_lag_s=versionless_lag_s))
        w = self.world
        for i in range(max(2, subscriptions)):
            w.subscriptions[str(uuid.uuid4())] = f"Stand-in subscription {i + 1}"
        self.subscription_ids: list[str] = list(w.subscriptions)
        app = w.add_principal("acr-cmk-rotation (managed identity)")
        admin = w.add_principal("stand-in admin")
        w.app_principal_id = app.principal_id
        w.identity_header = secrets.token_urlsafe(24)
        for sub in self.subscription_ids:
            for role in APP_ROLES:
                w.grant(app.principal_id, role, f"/subscriptions/{sub}")
            for role in ADMIN_ROLES:
                w.grant(admin.principal_id, role, f"/subscriptions/{sub}")
        self.principal_id: str = app.principal_id
        self.client_id: str = app.client_id
        self.admin_principal_id: str = admin.principal_id
        self.admin_credential = AdminCredential(w, admin.principal_id)
        self.instrumentation_key = str(uuid.uuid4())
        self.misconfig = Misconfig(w)  # switches for each misconfiguration (docs/misconfig-standin.md)
        self._proxy: Proxy | None = None
        self._tmp: Path | None = None
        self.env: dict[str, str] = {}

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> AzureStandIn:
        self._proxy = Proxy(self.world)
        self._tmp = Path(tempfile.mkdtemp(prefix="azure-standin-"))
        ca_file = self._tmp / "ca.pem"
        ca_file.write_bytes(self._proxy.ca_pem)
        self._proxy.start()
        base = f"http://127.0.0.1:{self._proxy.port}"
        self.env = {
            "HTTPS_PROXY": base, "https_proxy": base,
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
            "REQUESTS_CA_BUNDLE": str(ca_file), "SSL_CERT_FILE": str(ca_file),
            "IDENTITY_ENDPOINT": f"{base}{IDENTITY_PATH}", "IDENTITY_HEADER": self.world.identity_header,
            "AZURE_SUBSCRIPTION_ID": self.subscription_ids[0],
            "APPLICATIONINSIGHTS_CONNECTION_STRING":
                f"InstrumentationKey={self.instrumentation_key};IngestionEndpoint={INGESTION_ENDPOINT}",
            "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
            "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
            "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
        }
        return self

    def env_without_credential(self, home: str | Path | None = None) -> dict[str, str]:
        """``env`` for a machine with no credential at all: no App Service identity endpoint, and azure-identity's
        IMDS probe pointed at the stand-in (``AZURE_POD_IDENTITY_AUTHORITY_HOST``), which answers as a VM
        without an identity (``misconfig.imds`` changes that). With ``home`` it is a whole environment for a
        subprocess: HOME there (no az/azd login, no MSAL cache) and a PATH of this Python's directory and the
        system's only."""
        env = {k: v for k, v in self.env.items() if k not in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER")}
        env["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = f"http://127.0.0.1:{self.port}"
        if home is not None:
            env.update(HOME=str(home), PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin", LANG="C.UTF-8")
        return env

    def stop(self) -> None:
        try:
            eventgrid.close(self.world)
        finally:
            if self._proxy is not None:
                self._proxy.stop()
                self._proxy = None
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = None

    def __enter__(self) -> AzureStandIn:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._proxy is not None, "not started"
        return self._proxy.port

    @property
    def ca_file(self) -> str:
        return self.env["REQUESTS_CA_BUNDLE"]

    # --- the test API -------------------------------------------------------------------------
    def grant(self, principal_id: str, role: str, scope: str) -> RoleAssignment:
        return self.world.grant(principal_id, role, scope)

    def inject_fault(self, method: str | None = None, host: str | None = None, path_contains: str | None = None,
                     status: int | None = 500, retry_after: float | None = None, times: int = 1,
                     reset: bool = False, delay_s: float = 0, lro_failed: bool = False,
                     lro_failed_state: str = "Succeeded") -> Fault:
        fault = Fault(method, host, path_contains, status, retry_after, times, reset, delay_s, lro_failed,
                      lro_failed_state)
        with self.world.lock:
            self.world.faults.append(fault)
        return fault

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.world.requests

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.world.events

    @property
    def telemetry(self) -> list[dict[str, Any]]:
        return self.world.telemetry

    @property
    def unexpected_egress(self) -> list[str]:
        return self.world.unexpected_egress

    def egress_failure(self) -> str | None:
        """Why a test must fail because traffic tried to leave for a host not served here, or None."""
        if self.world.unexpected_egress:
            hosts = sorted(set(self.world.unexpected_egress))
            return f"unexpected egress to hosts not served by the stand-in: {hosts}"
        return None

    def tick(self) -> list[dict[str, Any]]:
        return eventgrid.tick(self.world)

    def subscribe_webhook(self, url: str) -> None:
        """Deliver every Key Vault event to ``url`` (no ARM resource; event subscriptions made through ARM on
        system topics deliver by their own destination and filter)."""
        eventgrid.subscribe(self.world, url)

    def add_function(self, resource_id: str, url: str) -> None:
        """A function Event Grid can deliver to: ``/subscriptions/../providers/Microsoft.Web/sites/{app}/functions/
        {fn}`` served at ``url`` (the local Functions host's webhook URL). AzureFunction subscriptions need it."""
        with self.world.lock:
            self.world.function_endpoints[resource_id.lower()] = url

    def remove_function(self, resource_id: str) -> None:
        """The function is gone: deliveries to it fail (NotFound) and end dead-lettered."""
        with self.world.lock:
            self.world.function_endpoints.pop(resource_id.lower(), None)

    @property
    def dead_letters(self) -> list[dict[str, Any]]:
        return self.world.dead_letters

    @property
    def provider_registrations(self) -> list[dict[str, Any]]:
        """Every ``POST /subscriptions/{sub}/providers/{ns}/register`` received, permitted or not."""
        return self.world.provider_registrations

    def wait_for_deliveries(self, timeout: float = 10) -> bool:
        return eventgrid.wait_idle(self.world, timeout)
