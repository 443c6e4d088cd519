"""Shared state of the Azure stand-in.

One ``World`` per ``AzureStandIn``. The HTTP front end (proxy.py) turns every request into a
``Request`` (with the caller's principal already resolved from its bearer token) and hands it to a
service module (arm.py, keyvault.py, appinsights.py), which reads and mutates the world under
``world.lock`` and returns a ``Response``. Service modules never talk to sockets.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Built-in Azure role definition ids (stable across tenants).
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
KEY_VAULT_ADMINISTRATOR = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
KEY_VAULT_READER = "21090545-7ca7-4776-b22c-e363652d74d2"
KEY_VAULT_CRYPTO_OFFICER = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
KEY_VAULT_CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"
KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
MANAGED_HSM_CRYPTO_SERVICE_ENCRYPTION_USER = "33413926-3206-4cdd-b39a-83574fe37a17"
CONTAINER_REGISTRY_CONTRIBUTOR_AND_DATA_ACCESS_CONFIG_ADMIN = "3bc748fc-213d-45c1-8d91-9da5725539b9"
MANAGED_IDENTITY_OPERATOR = "f1a07417-d97a-45cb-824c-7a7467783830"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
EVENTGRID_CONTRIBUTOR = "1e241071-0855-49ea-94dc-649edcd759de"
EVENTGRID_EVENTSUBSCRIPTION_READER = "2414bbcf-6497-4faf-8c65-045460748405"
# A custom role (infra/app/rbac-retirement.bicep): keys/read and keys/update/action only. Its id is the stand-in's.
KEY_VERSION_RETIREMENT = "5b0c1f2e-7a53-4c55-9d1e-2f6c6f0e7a11"

ROLE_NAMES: dict[str, str] = {
    "Owner": OWNER,
    "Contributor": CONTRIBUTOR,
    "Reader": READER,
    "User Access Administrator": USER_ACCESS_ADMINISTRATOR,
    "Key Vault Administrator": KEY_VAULT_ADMINISTRATOR,
    "Key Vault Reader": KEY_VAULT_READER,
    "Key Vault Crypto Officer": KEY_VAULT_CRYPTO_OFFICER,
    "Key Vault Crypto User": KEY_VAULT_CRYPTO_USER,
    "Key Vault Crypto Service Encryption User": KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
    "Managed HSM Crypto Service Encryption User": MANAGED_HSM_CRYPTO_SERVICE_ENCRYPTION_USER,
    "Container Registry Contributor and Data Access Configuration Administrator":
        CONTAINER_REGISTRY_CONTRIBUTOR_AND_DATA_ACCESS_CONFIG_ADMIN,
    "Managed Identity Operator": MANAGED_IDENTITY_OPERATOR,
    "Monitoring Metrics Publisher": MONITORING_METRICS_PUBLISHER,
    "EventGrid Contributor": EVENTGRID_CONTRIBUTOR,
    "EventGrid EventSubscription Reader": EVENTGRID_EVENTSUBSCRIPTION_READER,
    "ACR CMK Key Version Retirement": KEY_VERSION_RETIREMENT,
}

# What each kind of operation needs, as the set of built-in roles that grant it. Azure RBAC for
# Key Vault keeps data-plane rights apart: Owner and Contributor do not read keys.
PERMISSIONS: dict[str, frozenset[str]] = {
    "arm/read": frozenset({OWNER, CONTRIBUTOR, READER, USER_ACCESS_ADMINISTRATOR,
                           CONTAINER_REGISTRY_CONTRIBUTOR_AND_DATA_ACCESS_CONFIG_ADMIN}),
    "arm/write": frozenset({OWNER, CONTRIBUTOR}),
    "registry/write": frozenset({OWNER, CONTRIBUTOR,
                                 CONTAINER_REGISTRY_CONTRIBUTOR_AND_DATA_ACCESS_CONFIG_ADMIN}),
    "identity/assign": frozenset({OWNER, CONTRIBUTOR, MANAGED_IDENTITY_OPERATOR}),
    "authorization/write": frozenset({OWNER, USER_ACCESS_ADMINISTRATOR}),
    "keys/read": frozenset({KEY_VAULT_ADMINISTRATOR, KEY_VAULT_READER, KEY_VAULT_CRYPTO_OFFICER,
                            KEY_VAULT_CRYPTO_USER, KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER, KEY_VERSION_RETIREMENT}),
    "keys/update": frozenset({KEY_VAULT_ADMINISTRATOR, KEY_VAULT_CRYPTO_OFFICER, KEY_VAULT_CRYPTO_USER,
                              KEY_VERSION_RETIREMENT}),
    "keys/write": frozenset({KEY_VAULT_ADMINISTRATOR, KEY_VAULT_CRYPTO_OFFICER}),
    "keys/wrap": frozenset({KEY_VAULT_ADMINISTRATOR, KEY_VAULT_CRYPTO_OFFICER, KEY_VAULT_CRYPTO_USER,
                            KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
                            MANAGED_HSM_CRYPTO_SERVICE_ENCRYPTION_USER}),
    "keys/crypto": frozenset({KEY_VAULT_ADMINISTRATOR, KEY_VAULT_CRYPTO_OFFICER, KEY_VAULT_CRYPTO_USER}),
}


def role_id(role: str) -> str:
    """A built-in role name, bare id or full roleDefinitions id, as the bare lower-case id."""
    if role in ROLE_NAMES:
        return ROLE_NAMES[role]
    return role.rsplit("/", 1)[-1].lower()


@dataclass
class Request:
    method: str
    host: str  # lower-case, without port
    path: str  # raw path without the query string
    query: dict[str, str]
    headers: Mapping[str, str]  # case-insensitive (an email.message.Message or similar)
    body: bytes = b""
    principal_id: str | None = None  # from a valid bearer token; None when absent or invalid
    token_audience: str | None = None
    # The claims the stand-in minted into that token (tid, oid, appid, exp, ...); None when not known.
    token_claims: dict[str, Any] | None = None

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Response:
    status: int
    body: Any = None  # dict/list is sent as JSON; bytes as they are; None as an empty body
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Principal:
    principal_id: str  # object id
    client_id: str
    display_name: str
    tenant_id: str | None = None  # the directory its tokens come from; None: the world's own tenant


@dataclass
class RoleAssignment:
    assignment_id: str  # full ARM id: {scope}/providers/Microsoft.Authorization/roleAssignments/{name}
    scope: str
    role_definition_id: str  # bare lower-case role id
    principal_id: str
    principal_type: str = "ServicePrincipal"  # or "Group"


@dataclass
class KeyVersion:
    version: str  # 32 lower-case hex characters, as Key Vault makes them
    kty: str  # RSA, RSA-HSM, EC, EC-HSM
    key_ops: list[str]
    key_size: int | None = None
    curve: str | None = None
    n: bytes | None = None
    e: bytes | None = None
    x: bytes | None = None
    y: bytes | None = None
    enabled: bool = True
    nbf: int | None = None  # epoch seconds
    exp: int | None = None  # epoch seconds
    created: int = 0  # epoch seconds (Key Vault's resolution: whole seconds)
    updated: int = 0
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Key:
    vault_host: str
    name: str
    versions: list[KeyVersion] = field(default_factory=list)  # in creation order; last = current
    rotation_policy: dict[str, Any] | None = None
    deleted: bool = False

    @property
    def current(self) -> KeyVersion:
        return self.versions[-1]


@dataclass
class Vault:
    resource_id: str  # /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}
    name: str
    host: str  # {name}.vault.azure.net (or the sovereign/HSM suffix), lower-case
    location: str
    subscription_id: str
    arm: dict[str, Any] = field(default_factory=dict)  # the ARM resource body as last PUT/returned


@dataclass
class Fault:
    method: str | None
    host: str | None
    path_contains: str | None
    status: int | None  # None: no error answer (use with delay_s or reset only)
    retry_after: float | None
    times: int
    reset: bool
    delay_s: float
    lro_failed: bool = False  # the matching PATCH is accepted but its operation ends Failed
    # The registry's provisioningState after that failure. ACR's is not documented: "Succeeded" models a
    # rollback to the previous state, "Failed" the shape most ARM providers use.
    lro_failed_state: str = "Succeeded"

    def matches(self, method: str, host: str, path: str) -> bool:
        return ((self.method is None or self.method.upper() == method.upper())
                and (self.host is None or host.endswith(self.host.lower()))
                and (self.path_contains is None or self.path_contains.lower() in path.lower()))


@dataclass
class Settings:
    lro_seconds: float = 0.2
    latency_ms: float = 0
    throttling: bool = False
    versionless_lag_s: float = 0
    arm_page_size: int = 100  # registries per list page before nextLink
    graph_lag_s: float = 0  # > 0: Resource Graph answers from a snapshot refreshed this often (it lags ARM)
    # ARM token buckets per (subscription, principal): burst size and refill per second.
    arm_read_burst: int = 250
    arm_read_rate: float = 25.0
    arm_write_burst: int = 200
    arm_write_rate: float = 10.0


class World:
    """Everything the stand-in knows. Lock ``lock`` around every read-modify-write."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = threading.RLock()
        self.tenant_id = str(uuid.uuid4())
        self.clock_offset_s = 0.0
        self.subscriptions: dict[str, str] = {}  # id -> display name
        self.principals: dict[str, Principal] = {}
        self.tokens: dict[str, tuple[str, str]] = {}  # token -> (principal_id, audience)
        self.role_assignments: dict[str, RoleAssignment] = {}  # lower-case id -> assignment
        self.vaults: dict[str, Vault] = {}  # lower-case host -> vault
        self.keys: dict[tuple[str, str], Key] = {}  # (lower-case host, lower-case name) -> key
        self.identities: dict[str, dict[str, Any]] = {}  # lower-case ARM id -> ARM body
        self.registries: dict[str, dict[str, Any]] = {}  # lower-case ARM id -> ARM body
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        self.unexpected_egress: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.telemetry: list[dict[str, Any]] = []
        self.webhooks: list[str] = []
        # Called with each published Event Grid event (eventgrid.py delivers to webhooks here).
        self.event_listeners: list[Callable[[dict[str, Any]], None]] = []
        # --- arm.py / proxy.py / standin.py state (append below) ---
        self.operations: dict[str, dict[str, Any]] = {}  # long-running operations by id
        # (subscription, principal, "reads"|"writes") -> [tokens, last refill time]
        self.rate_buckets: dict[tuple[str, str, str], list[float]] = {}
        # lower-case registry id -> private ACR state (pending operation, followed key version)
        self.registry_state: dict[str, dict[str, Any]] = {}
        self.identity_header: str = ""  # the App Service IDENTITY_HEADER secret
        self.app_principal_id: str = ""  # the principal behind the managed-identity endpoint
        # --- keyvault.py / eventgrid.py / appinsights.py state (append below) ---
        self.published_expiry: set[tuple[str, str, str]] = set()  # (event type, key id, version)
        self.deliveries: list[dict[str, Any]] = []  # webhook deliveries: event id, url, status
        # --- misconfigurations (misconfig.py switches them on; the defaults are a well-configured tenant) ---
        self.token_claims: dict[str, dict[str, Any]] = {}  # token -> the claims minted into it
        self.groups: dict[str, set[str]] = {}  # group object id -> member principal ids
        self.subscription_tenants: dict[str, str] = {}  # subscription -> its tenant when not the world's
        # The App Service managed-identity endpoint: "assigned" (the app's identity), "none" (no identity on
        # the app) or "user_assigned_only" (only user-assigned identities: a request must name one).
        self.msi_mode = "assigned"
        # IMDS (reached through AZURE_POD_IDENTITY_AUTHORITY_HOST): "no_identity" (a VM without one),
        # "absent" (nothing answers) or "assigned" (the app's identity).
        self.imds_mode = "no_identity"
        self.client_ip = "203.0.113.10"  # the address Key Vault sees the callers come from
        # Access-policy denials carry ForbiddenByPolicy (2021 capture for keys) or AccessDenied (2024 capture).
        self.access_policy_innererror = "ForbiddenByPolicy"
        self.private_link_hosts: set[str] = set()  # vault hosts the callers reach through a private endpoint
        self.unregistered_providers: set[tuple[str, str]] = set()  # (subscription, lower-case namespace)
        self.provider_registrations: list[dict[str, Any]] = []  # every POST .../providers/{ns}/register
        self.auth_challenges: list[dict[str, Any]] = []  # pending 401 challenges (claims, revoked sessions)
        self.deleted_vaults: dict[str, dict[str, Any]] = {}  # lower-case name -> soft-deleted vault record
        self.system_topics: dict[str, dict[str, Any]] = {}  # lower-case ARM id -> ARM body
        self.event_subscriptions: dict[str, dict[str, Any]] = {}  # lower-case ARM id -> ARM body
        self.function_endpoints: dict[str, str] = {}  # lower-case function resource id -> local URL
        self.dead_letters: list[dict[str, Any]] = []  # dead-lettered events, as Event Grid writes them
        # --- holds.py state: requests a test keeps waiting (crash tests) ---
        self.holds: list[Any] = []

    # Clock: the stand-in's idea of now, which tests may move forward.
    def now(self) -> float:
        return time.time() + self.clock_offset_s

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.clock_offset_s += seconds

    # Identities and tokens.
    def add_principal(self, display_name: str) -> Principal:
        p = Principal(str(uuid.uuid4()), str(uuid.uuid4()), display_name)
        with self.lock:
            self.principals[p.principal_id] = p
        return p

    def principal_by_client_id(self, client_id: str) -> Principal | None:
        for p in self.principals.values():
            if p.client_id.lower() == client_id.lower():
                return p
        return None

    # Authorization: an assignment applies at its scope and everything below it.
    def grant(self, principal_id: str, role: str, scope: str) -> RoleAssignment:
        scope = scope.rstrip("/")
        name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope}|{role_id(role)}|{principal_id}".lower()))
        ra = RoleAssignment(f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
                            scope, role_id(role), principal_id)
        with self.lock:
            self.role_assignments[ra.assignment_id.lower()] = ra
        return ra

    def revoke(self, principal_id: str, role: str | None = None, scope: str | None = None) -> int:
        """Remove the principal's assignments (of ``role``, at ``scope`` when given); returns how many."""
        with self.lock:
            gone = [k for k, ra in self.role_assignments.items()
                    if ra.principal_id == principal_id and (role is None or ra.role_definition_id == role_id(role))
                    and (scope is None or ra.scope.lower() == scope.rstrip("/").lower())]
            for k in gone:
                del self.role_assignments[k]
            return len(gone)

    def identities_of(self, principal_id: str) -> set[str]:
        """The principal and the groups it is a member of (role assignments to a group apply to its members)."""
        with self.lock:
            return {principal_id} | {g for g, members in self.groups.items() if principal_id in members}

    def assignments_for(self, principal_id: str | None, scope: str) -> list[RoleAssignment]:
        """The assignments that apply to ``principal_id`` at ``scope`` (made at it or above it, group grants too)."""
        if principal_id is None:
            return []
        who = self.identities_of(principal_id)
        target = scope.rstrip("/").lower() + "/"
        with self.lock:
            return [ra for ra in self.role_assignments.values()
                    if ra.principal_id in who and target.startswith(ra.scope.lower().rstrip("/") + "/")]

    def can(self, principal_id: str | None, permission: str, scope: str) -> bool:
        allowed = PERMISSIONS[permission]
        return any(ra.role_definition_id in allowed for ra in self.assignments_for(principal_id, scope))

    def tenant_of_subscription(self, subscription_id: str) -> str:
        return self.subscription_tenants.get(subscription_id.lower(), self.tenant_id)

    def vault_for_host(self, host: str) -> Vault | None:
        return self.vaults.get(host.lower())
