"""App settings, parsed and validated once into a typed object; errors name the setting."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from shared.errors import ConfigurationError
from shared.keyids import ENDPOINTS, Cloud, CloudEndpoints

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_QUEUE_NAME = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")  # Azure Storage queue naming rules
_RESOURCE_GROUP = re.compile(r"^[-\w._()]{1,90}$")

# Every app setting the engine reads, with its default (infra sets each of them).
DEFAULTS: dict[str, str] = {
    "ROTATION_SUBSCRIPTION_IDS": "",
    "ROTATION_RESOURCE_GROUPS": "",
    "ROTATION_DRY_RUN": "false",
    "ROTATION_NEAR_EXPIRY_DAYS": "30",
    "ROTATION_SWEEP_SCHEDULE": "0 0 * * * *",
    "ROTATION_AUTO_ROTATE_KEYS": "false",
    "ROTATION_POLL_INTERVAL_SECONDS": "5",
    "ROTATION_MAX_PARALLEL_PER_SUBSCRIPTION": "50",
    "ROTATION_EVENT_BUDGET_SECONDS": "20",
    "ROTATION_HTTP_TIMEOUT_SECONDS": "60",
    "ROTATION_QUEUE_NAME": "",
    "ROTATION_DISCOVERY": "list",
    "AZURE_CLOUD": "AzureCloud",
    "ROTATION_HTTP_AUTH": "entra",
    "ROTATION_AUTH_TENANT_ID": "",
    "ROTATION_AUTH_CLIENT_ID": "",
    "ROTATION_AUTH_APP_ID_URI": "",  # empty: api://<ROTATION_AUTH_CLIENT_ID>
}
DISCOVERY_MODES = ("list", "resourcegraph")  # registries.list per subscription | one Resource Graph query
HTTP_AUTH_MODES = ("entra", "functionkey")  # Entra ID bearer tokens | the Functions host's function keys
_APP_ID_URI = re.compile(r"^(?:api|https)://[^\s/][^\s\"]{0,250}$")


@dataclass(frozen=True)
class Settings:
    subscription_ids: tuple[str, ...] = ()  # empty: every subscription the identity can list
    resource_groups: tuple[str, ...] = ()  # empty: every resource group
    dry_run: bool = False
    near_expiry_days: int = 30
    sweep_schedule: str = DEFAULTS["ROTATION_SWEEP_SCHEDULE"]
    auto_rotate_keys: bool = False
    poll_interval_s: float = 5.0
    max_parallel_per_subscription: int = 50  # ARM's write bucket allows 200 at once, then 10/s (paced)
    event_budget_s: float = 20.0  # Event Grid waits 30 s; keep a margin for the answer
    http_timeout_s: float = 60.0  # read timeout per Azure call; a slower answer is retried by azure-core
    cloud: Cloud = Cloud.PUBLIC
    queue_name: str = ""  # set: events and sweeps enqueue one message per registry (apply_rotation applies)
    discovery: str = "list"  # "resourcegraph": one Resource Graph query for every subscription in scope
    # Operator endpoints: who may call them (shared.auth). The tenant and app registration are required only
    # when the endpoints are served in entra mode, so timers, events and the local CLI run without them.
    http_auth: str = DEFAULTS["ROTATION_HTTP_AUTH"]
    auth_tenant_id: str = ""
    auth_client_id: str = ""
    auth_app_id_uri: str = ""

    @property
    def endpoints(self) -> CloudEndpoints:
        return ENDPOINTS[self.cloud]

    def in_scope(self, subscription_id: str, resource_group: str) -> bool:
        subs = {s.lower() for s in self.subscription_ids}
        groups = {g.lower() for g in self.resource_groups}
        return (not subs or subscription_id.lower() in subs) and (not groups or resource_group.lower() in groups)


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, DEFAULTS[name]).strip().lower()
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no", ""):
        return False
    raise ConfigurationError(f"{name} must be true or false, not {raw!r}")


def _number(env: Mapping[str, str], name: str, low: float, high: float) -> float:
    raw = env.get(name, DEFAULTS[name]).strip() or DEFAULTS[name]
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be between {low:g} and {high:g}, not {raw!r}")
    return value


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def _queue_name(env: Mapping[str, str]) -> str:
    name = env.get("ROTATION_QUEUE_NAME", "").strip()
    if name and not _QUEUE_NAME.match(name):
        raise ConfigurationError(f"ROTATION_QUEUE_NAME must be 3-63 lower-case letters, digits and single hyphens, "
                                 f"starting and ending with a letter or digit, not {name!r}")
    return name


def _discovery(env: Mapping[str, str]) -> str:
    mode = env.get("ROTATION_DISCOVERY", "").strip().lower() or DEFAULTS["ROTATION_DISCOVERY"]
    if mode not in DISCOVERY_MODES:
        raise ConfigurationError(f"ROTATION_DISCOVERY must be one of {', '.join(DISCOVERY_MODES)}, "
                                 f"not {env.get('ROTATION_DISCOVERY', '')!r}")
    return mode


def http_auth_mode(env: Mapping[str, str]) -> str:
    mode = env.get("ROTATION_HTTP_AUTH", "").strip().lower() or DEFAULTS["ROTATION_HTTP_AUTH"]
    if mode not in HTTP_AUTH_MODES:
        raise ConfigurationError(f"ROTATION_HTTP_AUTH must be one of {', '.join(HTTP_AUTH_MODES)}, "
                                 f"not {env.get('ROTATION_HTTP_AUTH', '')!r}")
    return mode


def operator_routes_need_function_key(env: Mapping[str, str]) -> bool:
    """For the Functions host, at indexing: anything but a readable ``entra`` keeps the function key (fail closed)."""
    try:
        return http_auth_mode(env) != "entra"
    except ConfigurationError:
        return True


def _auth_ids(env: Mapping[str, str]) -> tuple[str, str, str]:
    tenant = env.get("ROTATION_AUTH_TENANT_ID", "").strip()
    client = env.get("ROTATION_AUTH_CLIENT_ID", "").strip()
    uri = env.get("ROTATION_AUTH_APP_ID_URI", "").strip()
    for name, value in (("ROTATION_AUTH_TENANT_ID", tenant), ("ROTATION_AUTH_CLIENT_ID", client)):
        if value and not _GUID.match(value):
            raise ConfigurationError(f"{name} must be a GUID, not {value!r}")
    if uri and not _APP_ID_URI.match(uri):
        raise ConfigurationError(f"ROTATION_AUTH_APP_ID_URI must be the app registration's application ID URI "
                                 f"(api://... or https://...), not {uri!r}")
    return tenant, client, uri


def load_settings(env: Mapping[str, str]) -> Settings:
    subs = _list(env, "ROTATION_SUBSCRIPTION_IDS")
    for sub in subs:
        if not _GUID.match(sub):
            raise ConfigurationError(f"ROTATION_SUBSCRIPTION_IDS: {sub!r} is not a subscription id (a GUID)")
    groups = _list(env, "ROTATION_RESOURCE_GROUPS")
    for group in groups:
        if not _RESOURCE_GROUP.match(group):
            raise ConfigurationError(f"ROTATION_RESOURCE_GROUPS: {group!r} is not a resource group name")
    cloud_name = env.get("AZURE_CLOUD", DEFAULTS["AZURE_CLOUD"]).strip() or DEFAULTS["AZURE_CLOUD"]
    clouds = {c.value.lower(): c for c in Cloud}
    if cloud_name.lower() not in clouds:
        raise ConfigurationError(f"AZURE_CLOUD must be one of {', '.join(c.value for c in Cloud)}, not {cloud_name!r}")
    days = _number(env, "ROTATION_NEAR_EXPIRY_DAYS", 0, 3650)
    if days != int(days):
        raise ConfigurationError("ROTATION_NEAR_EXPIRY_DAYS must be a whole number of days")
    schedule = env.get("ROTATION_SWEEP_SCHEDULE", DEFAULTS["ROTATION_SWEEP_SCHEDULE"]).strip()
    if len(schedule.split()) != 6 and not re.match(r"^\d{1,2}:\d{2}:\d{2}$", schedule):
        raise ConfigurationError(
            f"ROTATION_SWEEP_SCHEDULE must be a six-field NCRONTAB expression, not {schedule!r}"
        )
    auth_tenant_id, auth_client_id, auth_app_id_uri = _auth_ids(env)
    return Settings(
        subscription_ids=subs,
        resource_groups=groups,
        dry_run=_bool(env, "ROTATION_DRY_RUN"),
        near_expiry_days=int(days),
        sweep_schedule=schedule,
        auto_rotate_keys=_bool(env, "ROTATION_AUTO_ROTATE_KEYS"),
        poll_interval_s=_number(env, "ROTATION_POLL_INTERVAL_SECONDS", 0.01, 300),
        max_parallel_per_subscription=int(_number(env, "ROTATION_MAX_PARALLEL_PER_SUBSCRIPTION", 1, 200)),
        event_budget_s=_number(env, "ROTATION_EVENT_BUDGET_SECONDS", 1, 25),
        http_timeout_s=_number(env, "ROTATION_HTTP_TIMEOUT_SECONDS", 1, 300),
        queue_name=_queue_name(env),
        discovery=_discovery(env),
        cloud=clouds[cloud_name.lower()],
        http_auth=http_auth_mode(env),
        auth_tenant_id=auth_tenant_id,
        auth_client_id=auth_client_id,
        auth_app_id_uri=auth_app_id_uri,
    )
