"""The composition root: the one place that builds the credential, the SDK clients and the engine.

Nothing here runs at import time; ``engine()`` builds once per worker, on first use. The stand-in
is reached only through standard configuration (proxy, CA bundle, managed-identity endpoint).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from azure.core.pipeline.transport import RequestsTransport
from azure.identity import AzureAuthorityHosts, DefaultAzureCredential
from azure.keyvault.keys import KeyClient
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.resource.subscriptions import SubscriptionClient
from requests import Session
from requests.adapters import HTTPAdapter

from shared.adapters.access import AccessAdapter
from shared.adapters.arm_pacing import ARM_LIMITS, ArmPacingPolicy, Buckets, TokenBuckets
from shared.adapters.arm_pipeline import arm_policies
from shared.adapters.entra_keys import EntraSigningKeys, ca_ssl_context
from shared.adapters.keyvault import KeyVaultAdapter
from shared.adapters.registries import RegistryAdapter
from shared.auth import MODE_ENTRA, MODE_FUNCTION_KEY, Gate, entra_config
from shared.discovery import Discovery, Listing, ResourceGraph
from shared.engine import Clock, OutcomeSink, RotationEngine, utc_now
from shared.errors import ConfigurationError
from shared.fanout import QueueDispatch
from shared.key_rotation import KeyRotator
from shared.keyids import Cloud
from shared.locks import PROCESS_LOCKS, KeyedLocks
from shared.logsetup import quiet_azure_loggers
from shared.ports import (
    AccessPort,
    DispatchPort,
    InventoryPort,
    KeyVaultPort,
    KeyVersionSwitchPort,
    RegistryPort,
    UnwrapAccessPort,
)
from shared.requests import Requester
from shared.retirement_apply import Retirer
from shared.retirement_observe import RetirementReads
from shared.rollout import MAX_WORKERS, Applier, Rollout
from shared.settings import Settings, load_settings
from shared.telemetry import CONNECTION_STRING, TelemetrySink, already_configured, running_in_functions

if TYPE_CHECKING:
    from azure.mgmt.eventgrid import EventGridManagementClient

    from shared.doctor import DoctorReport

USER_AGENT = "acr-cmk-rotation/0.1"
_AUTHORITY = {
    Cloud.PUBLIC: AzureAuthorityHosts.AZURE_PUBLIC_CLOUD,
    Cloud.CHINA: AzureAuthorityHosts.AZURE_CHINA,
    Cloud.US_GOVERNMENT: AzureAuthorityHosts.AZURE_GOVERNMENT,
}


class AzureClients:
    """Lazily built, cached SDK clients sharing one credential and one connection pool."""

    def __init__(self, settings: Settings, credential: Any = None) -> None:
        self.settings = settings
        self._credential = credential
        self._lock = threading.Lock()
        self._key_clients: dict[str, KeyClient] = {}
        self._subscription_client: SubscriptionClient | None = None
        self._per_subscription: dict[tuple[type, str], Any] = {}
        self._session: Session | None = None
        # One set of ARM token buckets per process: every client here acts as the same principal.
        self.arm_buckets: Buckets = TokenBuckets()

    def _common(self) -> dict[str, Any]:
        if self._session is None:
            # One pool big enough for the engine's parallel updates (requests defaults to 10 per host):
            # a connection dropped for want of room costs a new TLS handshake on the next call.
            self._session = Session()
            self._session.mount("https://", HTTPAdapter(pool_connections=16, pool_maxsize=MAX_WORKERS))
        return {
            "transport": RequestsTransport(session=self._session, session_owner=False),
            "user_agent": USER_AGENT,
            "connection_timeout": 10,
            "read_timeout": self.settings.http_timeout_s,
        }

    @property
    def credential(self) -> Any:
        with self._lock:
            if self._credential is None:
                self._credential = DefaultAzureCredential(authority=_AUTHORITY[self.settings.cloud])
            return self._credential

    def key_client(self, vault_url: str) -> KeyClient:
        credential = self.credential
        with self._lock:
            client = self._key_clients.get(vault_url)
            if client is None:
                client = KeyClient(vault_url, credential, **self._common())
                self._key_clients[vault_url] = client
            return client

    def _arm(self, credential: Any, paced: bool = True) -> dict[str, Any]:
        """Options of every ARM client: its own pipeline without resource-provider auto-registration
        (adapters/arm_pipeline.py); paced to ARM's buckets, which every client here shares (one principal)."""
        base = self.settings.endpoints.resource_manager
        scopes = [base + "/.default"]
        common = self._common()
        pacing = ArmPacingPolicy(self.arm_buckets) if paced else None  # one instance per pipeline
        return {"base_url": base, "credential_scopes": scopes,
                "policies": arm_policies(credential, scopes, pacing, **common), **common}

    def acr_client(self, subscription_id: str) -> ContainerRegistryManagementClient:
        client: ContainerRegistryManagementClient = self._arm_client(ContainerRegistryManagementClient, subscription_id)
        return client

    def _arm_client(self, client_type: type, subscription_id: str) -> Any:
        credential = self.credential
        with self._lock:
            key = (client_type, subscription_id.lower())
            if key not in self._per_subscription:
                self._per_subscription[key] = client_type(credential, subscription_id, **self._arm(credential))
            return self._per_subscription[key]

    def vaults_client(self, subscription_id: str) -> KeyVaultManagementClient:
        client: KeyVaultManagementClient = self._arm_client(KeyVaultManagementClient, subscription_id)
        return client

    def authorization_client(self, subscription_id: str) -> AuthorizationManagementClient:
        client: AuthorizationManagementClient = self._arm_client(AuthorizationManagementClient, subscription_id)
        return client

    def eventgrid_client(self, subscription_id: str) -> EventGridManagementClient:
        from azure.mgmt.eventgrid import EventGridManagementClient  # doctor only: not loaded at cold start

        client: EventGridManagementClient = self._arm_client(EventGridManagementClient, subscription_id)
        return client

    def subscription_client(self) -> SubscriptionClient:
        credential = self.credential
        with self._lock:
            if self._subscription_client is None:
                self._subscription_client = SubscriptionClient(credential, **self._arm(credential))
            return self._subscription_client


def rotation_queue(settings: Settings, env: Mapping[str, str], clients: AzureClients) -> DispatchPort:
    """The opt-in rotation queue, in the Functions host's storage account: identity-based in Azure
    (``AzureWebJobsStorage__queueServiceUri``), a connection string locally (Azurite)."""
    from azure.storage.queue import QueueClient, TextBase64EncodePolicy

    from shared.adapters.queue import QueueDispatcher

    options: dict[str, Any] = {"message_encode_policy": TextBase64EncodePolicy(),  # the queue trigger's default
                               "connection_timeout": 10, "read_timeout": 30, "user_agent": USER_AGENT}
    service_uri = env.get("AzureWebJobsStorage__queueServiceUri", "").strip()
    connection = env.get("AzureWebJobsStorage", "").strip()
    if service_uri:
        client = QueueClient(service_uri, settings.queue_name, credential=clients.credential, **options)
    elif connection:
        client = QueueClient.from_connection_string(connection, settings.queue_name, **options)
    else:
        raise ConfigurationError("ROTATION_QUEUE_NAME is set but neither AzureWebJobsStorage__queueServiceUri "
                                 "nor AzureWebJobsStorage names the storage account")
    return QueueDispatcher(client)


def shared_arm_budget(settings: Settings, env: Mapping[str, str], clients: AzureClients) -> Buckets:
    """Scale-out: every instance takes ARM tokens from one budget in the host's storage account (blobs in
    ``arm-pacing``), or paces to 1/ROTATION_MAX_INSTANCES of ARM's buckets while storage cannot be reached.
    Why: shared/adapters/arm_pacing.py."""
    from azure.storage.blob import ContainerClient, ExponentialRetry

    from shared.adapters.arm_pacing import SharedBuckets, share_of
    from shared.adapters.bucket_store import CONTAINER, BlobBucketStore

    # One quick retry: past it, the instance paces on its share of the buckets for a while (never waits minutes).
    options: dict[str, Any] = {"connection_timeout": 5, "read_timeout": 10, "user_agent": USER_AGENT,
                               "retry_policy": ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=1,
                                                                 random_jitter_range=1)}
    service_uri = env.get("AzureWebJobsStorage__blobServiceUri", "").strip()
    connection = env.get("AzureWebJobsStorage", "").strip()
    if service_uri:
        container = ContainerClient(service_uri, CONTAINER, credential=clients.credential, **options)
    elif connection:
        container = ContainerClient.from_connection_string(connection, CONTAINER, **options)
    else:
        raise ConfigurationError("ROTATION_QUEUE_NAME is set but neither AzureWebJobsStorage__blobServiceUri "
                                 "nor AzureWebJobsStorage names the storage account")
    return SharedBuckets(BlobBucketStore(container), TokenBuckets(share_of(ARM_LIMITS, settings.max_instances)))


def resource_graph(settings: Settings, clients: AzureClients) -> InventoryPort:
    """The opt-in discovery (ROTATION_DISCOVERY=resourcegraph). Imported only then: cold starts stay as they were."""
    from azure.mgmt.resourcegraph import ResourceGraphClient

    from shared.adapters.graph import GraphAdapter

    built: list[ResourceGraphClient] = []
    lock = threading.Lock()

    def client() -> ResourceGraphClient:
        with lock:
            if not built:
                # No ARM pacing policy: Resource Graph has a quota of its own, which the adapter follows.
                credential = clients.credential
                built.append(ResourceGraphClient(credential, **clients._arm(credential, paced=False)))
            return built[0]

    return GraphAdapter(client, settings.endpoints.key_vault_suffixes)


def assemble(settings: Settings, keyvault: KeyVaultPort, registries: RegistryPort, *,
             inventory: InventoryPort | None = None, queue: DispatchPort | None = None,
             access: AccessPort | None = None, clock: Clock = utc_now, sink: OutcomeSink | None = None,
             locks: KeyedLocks = PROCESS_LOCKS, switch: KeyVersionSwitchPort | None = None,
             unwrap: UnwrapAccessPort | None = None) -> RotationEngine:
    """Every choice, made once: how registries are discovered, how a plan is applied, whether access is read.
    The ports are the SDK adapters in Azure (``build_engine``) and in-memory fakes in tests."""
    discovery: Discovery = ResourceGraph(inventory, registries, settings) if inventory is not None \
        else Listing(registries, settings)
    rollout = Rollout(registries, settings, clock, locks)
    applier: Applier = QueueDispatch(queue, rollout) if queue is not None else rollout
    # Retirement (docs/retirement.md) reads every subscription by ARM's listing, whatever ROTATION_DISCOVERY says.
    retirer = Retirer(RetirementReads(settings, keyvault, switch, registries, access, unwrap), locks, clock) \
        if switch is not None else None
    return RotationEngine(settings, keyvault, registries, discovery, applier,
                          KeyRotator(keyvault, clock, locks, settings.near_expiry_days), access=access, clock=clock,
                          sink=sink or OutcomeSink(), retirement=retirer)


def build_engine(env: Mapping[str, str] | None = None, credential: Any = None,
                 sink: OutcomeSink | None = None) -> RotationEngine:
    env = os.environ if env is None else env
    settings = load_settings(env)
    clients = AzureClients(settings, credential)
    if settings.queue_name:  # scaled out: the instances share ARM's buckets
        clients.arm_buckets = shared_arm_budget(settings, env, clients)
    quiet_azure_loggers()
    keyvault = KeyVaultAdapter(clients.key_client)
    access = AccessAdapter(clients.vaults_client, clients.authorization_client)
    return assemble(
        settings, keyvault,
        RegistryAdapter(clients.subscription_client, clients.acr_client, settings.endpoints.key_vault_suffixes),
        inventory=resource_graph(settings, clients) if settings.discovery == "resourcegraph" else None,
        queue=rotation_queue(settings, env, clients) if settings.queue_name else None,
        access=access, sink=sink or TelemetrySink(), switch=keyvault, unwrap=access)


def configure_telemetry_for_cli(env: Mapping[str, str] | None = None) -> bool:
    """Export to Application Insights from the CLI or the demo when a connection string is set.

    Never inside the Functions worker (it configures Azure Monitor itself), and never a second time.
    """
    env = os.environ if env is None else env
    if not env.get(CONNECTION_STRING) or running_in_functions(env) or already_configured():
        return False
    from azure.monitor.opentelemetry import configure_azure_monitor

    quiet_azure_loggers()
    logging.getLogger("shared").setLevel(logging.INFO)  # outcome events are INFO records
    # One run makes one trace: keep all of it, unless the operator chose a sampler (OTEL_TRACES_SAMPLER).
    # The distro's default rate-limits traces to 5 per second, and drops most of a run's SDK calls.
    sampling = {} if env.get("OTEL_TRACES_SAMPLER") else {"sampling_ratio": 1.0}
    configure_azure_monitor(
        connection_string=env[CONNECTION_STRING],
        **sampling,
        logger_name="shared",
        disable_offline_storage=True,  # a short-lived process: nothing would retry a stored batch
        enable_live_metrics=False,  # nobody watches a one-shot run live
        enable_performance_counters=False,
        # Sampling applies to traces only: events must never be dropped with an unsampled trace.
        enable_trace_based_sampling_for_logs=False,
    )
    return True


def retirer() -> Retirer:
    """Retirement for the CLI (``python -m shared retire``), on the worker's engine and its adapters."""
    built = engine().retirement
    if built is None:
        raise ConfigurationError("retirement is not assembled")
    return built


_engine: RotationEngine | None = None
_engine_lock = threading.Lock()


def engine() -> RotationEngine:
    """The worker's engine, built on first use (settings are validated then, with a clear error)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = build_engine()
        return _engine


def doctor(env: Mapping[str, str] | None = None, app_name: str = "", credential: Any = None) -> DoctorReport:
    """``doctor``'s wiring: the facts read as the app's own identity (or the operator's), then judged. Reads only.
    Its own clients and credential, so that azure-identity says which credential of its chain gave the token."""
    from shared.adapters.doctor import DoctorAdapter
    from shared.adapters.eventgrid import EventGridAdapter
    from shared.adapters.identity import IdentityAdapter
    from shared.adapters.permissions import PermissionsAdapter
    from shared.doctor import Facts, report, topic_ids
    from shared.doctor_gather import gather
    from shared.engine import OutcomeSink, utc_now

    env = os.environ if env is None else env
    where, in_app = ran_from_of(env)
    base = Facts(where, in_app, app_name=app_name or env.get("WEBSITE_SITE_NAME", "") or
                 env.get("AZURE_FUNCTION_APP_NAME", ""), telemetry=env.get(CONNECTION_STRING, ""))
    try:
        settings, topics = load_settings(env), topic_ids(env.get("EVENTGRID_SYSTEM_TOPIC_IDS", ""))
    except ConfigurationError as exc:
        return report(replace(base, settings_error=str(exc)))
    clients = AzureClients(settings, credential)
    quiet_azure_loggers()
    port = DoctorAdapter(IdentityAdapter(clients.credential, settings.endpoints.resource_manager + "/.default"),
                         PermissionsAdapter(clients.authorization_client),
                         EventGridAdapter(clients.eventgrid_client, topics))
    facts = gather(replace(base, auto_rotate=settings.auto_rotate_keys, retire=settings.retire == "auto"),
                   lambda: build_engine(env, clients.credential, OutcomeSink()), port, utc_now)
    return report(facts)


def ran_from_of(env: Mapping[str, str]) -> tuple[str, bool]:
    from shared.doctor import ran_from

    return ran_from(env, socket.gethostname())


# --- who may call the operator endpoints (shared.auth) ------------------------------------------------------------
_gates: dict[tuple[str, ...], Gate] = {}


def gate(env: Mapping[str, str] | None = None) -> Gate:
    """The operator endpoints' gate, per auth configuration (built once; the signing keys are cached in it).
    Entra mode without its tenant and app registration raises ``ConfigurationError``: fail closed."""
    env = os.environ if env is None else env
    settings = load_settings(env)
    cafile = (env.get("REQUESTS_CA_BUNDLE") or env.get("SSL_CERT_FILE") or "").strip()
    key = (settings.http_auth, settings.auth_tenant_id, settings.auth_client_id, settings.auth_app_id_uri,
           settings.cloud.value, cafile)
    with _engine_lock:
        if key not in _gates:
            if settings.http_auth == MODE_FUNCTION_KEY:
                _gates[key] = Gate(MODE_FUNCTION_KEY)
            else:
                config = entra_config(settings.auth_tenant_id, settings.auth_client_id, settings.auth_app_id_uri,
                                      settings.cloud)
                keys = EntraSigningKeys(config.authority_host, config.tenant_id, ca_ssl_context(env))
                _gates[key] = Gate(MODE_ENTRA, config, keys)
        return _gates[key]


def cli_requester(env: Mapping[str, str] | None = None) -> Requester:
    """Who a local CLI run is attributed to: the identity its own credential signs in as."""
    from shared.adapters.identity import requester_of

    settings = load_settings(os.environ if env is None else env)
    return requester_of(operator_credential(env), settings.endpoints.resource_manager + "/.default")


def operator_credential(env: Mapping[str, str] | None = None) -> Any:
    """The operator's own credential for the remote CLI (``az login``, environment, ...), in the configured cloud."""
    settings = load_settings(os.environ if env is None else env)
    return DefaultAzureCredential(authority=_AUTHORITY[settings.cloud])
