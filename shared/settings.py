"""App settings, parsed and validated once into a typed object; errors name the setting.

Each setting is declared once, in ``SETTINGS``: its app-setting name, the field it fills, its default (as infra
writes it) and its parser. The ``Settings`` defaults are those defaults, parsed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import ConfigurationError
from shared.keyids import ENDPOINTS, Cloud, CloudEndpoints

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_QUEUE_NAME = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")  # Azure Storage queue naming rules
QUEUE_NAME_RULE = "3-63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit"
APP_ID_URI_RULE = "the app registration's application ID URI (api://... or https://...)"
_RESOURCE_GROUP = re.compile(r"^[-\w._()]{1,90}$")
DISCOVERY_MODES = ("list", "resourcegraph")  # registries.list per subscription | one Resource Graph query
HTTP_AUTH_MODES = ("entra", "functionkey")  # Entra ID bearer tokens (shared.auth) | the Functions host's function keys
_APP_ID_URI = re.compile(r"^(?:api|https)://[^\s/][^\s\"]{0,250}$")
RETIRE_MODES = ("off", "plan", "auto")  # the sweep: no retirement reads | reports what it would retire | retires
Parser = Callable[[str, str], Any]  # (setting name, raw value) -> typed value, or ConfigurationError


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no", ""):
        return False
    raise ConfigurationError(f"{name} must be true or false, not {value!r}")


def _number(low: float, high: float, whole: bool = False) -> Parser:
    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ConfigurationError(f"{name} must be a number, not {raw.strip()!r}") from None
        if not low <= value <= high:
            raise ConfigurationError(f"{name} must be between {low:g} and {high:g}, not {raw.strip()!r}")
        if whole and value != int(value):
            raise ConfigurationError(f"{name} must be a whole number")
        return int(value) if whole else value
    return parse


def _items(pattern: re.Pattern[str], what: str) -> Parser:
    def parse(name: str, raw: str) -> tuple[str, ...]:
        items = tuple(item.strip() for item in raw.split(",") if item.strip())
        for item in items:
            if not pattern.match(item):
                raise ConfigurationError(f"{name}: {item!r} is not {what}")
        return items
    return parse


def _schedule(name: str, raw: str) -> str:
    schedule = raw.strip()
    if len(schedule.split()) != 6 and not re.match(r"^\d{1,2}:\d{2}:\d{2}$", schedule):
        raise ConfigurationError(f"{name} must be a six-field NCRONTAB expression, not {schedule!r}")
    return schedule


def _one_of(modes: tuple[str, ...]) -> Parser:
    def parse(name: str, raw: str) -> str:
        mode = raw.strip().lower()
        if mode not in modes:
            raise ConfigurationError(f"{name} must be one of {', '.join(modes)}, not {raw.strip()!r}")
        return mode
    return parse


def _matching(pattern: re.Pattern[str], what: str) -> Parser:
    """Empty (not set), or matching ``pattern``."""
    def parse(name: str, raw: str) -> str:
        value = raw.strip()
        if value and not pattern.match(value):
            raise ConfigurationError(f"{name} must be {what}, not {value!r}")
        return value
    return parse


def _cloud(name: str, raw: str) -> Cloud:
    clouds = {c.value.lower(): c for c in Cloud}
    if raw.strip().lower() not in clouds:
        raise ConfigurationError(f"{name} must be one of {', '.join(c.value for c in Cloud)}, not {raw.strip()!r}")
    return clouds[raw.strip().lower()]


# app setting -> (Settings field, default as infra writes it, parser). The one declaration of each setting.
SETTINGS: dict[str, tuple[str, str, Parser]] = {
    "ROTATION_SUBSCRIPTION_IDS": ("subscription_ids", "", _items(_GUID, "a subscription id (a GUID)")),
    "ROTATION_RESOURCE_GROUPS": ("resource_groups", "", _items(_RESOURCE_GROUP, "a resource group name")),
    "ROTATION_DRY_RUN": ("dry_run", "false", _bool),
    "ROTATION_NEAR_EXPIRY_DAYS": ("near_expiry_days", "30", _number(0, 3650, whole=True)),
    "ROTATION_SWEEP_SCHEDULE": ("sweep_schedule", "0 0 * * * *", _schedule),
    "ROTATION_AUTO_ROTATE_KEYS": ("auto_rotate_keys", "false", _bool),
    "ROTATION_POLL_INTERVAL_SECONDS": ("poll_interval_s", "5", _number(0.01, 300)),
    # ARM's write bucket allows 200 at once, then 10/s (paced)
    "ROTATION_MAX_PARALLEL_PER_SUBSCRIPTION": ("max_parallel_per_subscription", "50", _number(1, 200, whole=True)),
    # Event Grid waits 30 s; keep a margin for the answer
    "ROTATION_EVENT_BUDGET_SECONDS": ("event_budget_s", "20", _number(1, 25)),
    # read timeout per Azure call; a slower answer is retried by azure-core
    "ROTATION_HTTP_TIMEOUT_SECONDS": ("http_timeout_s", "60", _number(1, 300)),
    # set: events and sweeps enqueue one message per registry (apply_rotation applies)
    "ROTATION_QUEUE_NAME": ("queue_name", "", _matching(_QUEUE_NAME, QUEUE_NAME_RULE)),
    # the app's maximumInstanceCount: with the queue, each instance's share of ARM's buckets if storage is down
    "ROTATION_MAX_INSTANCES": ("max_instances", "40", _number(1, 1000, whole=True)),
    "ROTATION_DISCOVERY": ("discovery", "list", _one_of(DISCOVERY_MODES)),
    # the sweep and superseded key versions of keys tagged cmk-rotation-retire-after-days (docs/retirement.md)
    "ROTATION_RETIRE": ("retire", "plan", _one_of(RETIRE_MODES)),
    "AZURE_CLOUD": ("cloud", "AzureCloud", _cloud),
    # Who may call the operator endpoints (shared.auth). The tenant and the app registration are required only when
    # they are served in entra mode (checked there), so timers, events and the local CLI run without them.
    "ROTATION_HTTP_AUTH": ("http_auth", "entra", _one_of(HTTP_AUTH_MODES)),
    "ROTATION_AUTH_TENANT_ID": ("auth_tenant_id", "", _matching(_GUID, "a GUID")),
    "ROTATION_AUTH_CLIENT_ID": ("auth_client_id", "", _matching(_GUID, "a GUID")),
    "ROTATION_AUTH_APP_ID_URI": ("auth_app_id_uri", "", _matching(_APP_ID_URI, APP_ID_URI_RULE)),  # empty: api://<ROTATION_AUTH_CLIENT_ID>
}
DEFAULTS: dict[str, str] = {name: default for name, (_, default, _) in SETTINGS.items()}


_PARSED: dict[str, Any] = {name: parse(name, default) for name, (_, default, parse) in SETTINGS.items()}


@dataclass(frozen=True)
class Settings:
    subscription_ids: tuple[str, ...] = _PARSED["ROTATION_SUBSCRIPTION_IDS"]  # empty: every one listable
    resource_groups: tuple[str, ...] = _PARSED["ROTATION_RESOURCE_GROUPS"]  # empty: every resource group
    dry_run: bool = _PARSED["ROTATION_DRY_RUN"]
    near_expiry_days: int = _PARSED["ROTATION_NEAR_EXPIRY_DAYS"]
    sweep_schedule: str = _PARSED["ROTATION_SWEEP_SCHEDULE"]
    auto_rotate_keys: bool = _PARSED["ROTATION_AUTO_ROTATE_KEYS"]
    poll_interval_s: float = _PARSED["ROTATION_POLL_INTERVAL_SECONDS"]
    max_parallel_per_subscription: int = _PARSED["ROTATION_MAX_PARALLEL_PER_SUBSCRIPTION"]
    event_budget_s: float = _PARSED["ROTATION_EVENT_BUDGET_SECONDS"]
    http_timeout_s: float = _PARSED["ROTATION_HTTP_TIMEOUT_SECONDS"]
    cloud: Cloud = _PARSED["AZURE_CLOUD"]
    queue_name: str = _PARSED["ROTATION_QUEUE_NAME"]
    max_instances: int = _PARSED["ROTATION_MAX_INSTANCES"]
    discovery: str = _PARSED["ROTATION_DISCOVERY"]
    http_auth: str = _PARSED["ROTATION_HTTP_AUTH"]
    auth_tenant_id: str = _PARSED["ROTATION_AUTH_TENANT_ID"]
    auth_client_id: str = _PARSED["ROTATION_AUTH_CLIENT_ID"]
    auth_app_id_uri: str = _PARSED["ROTATION_AUTH_APP_ID_URI"]
    retire: str = _PARSED["ROTATION_RETIRE"]

    @property
    def endpoints(self) -> CloudEndpoints:
        return ENDPOINTS[self.cloud]

    def in_scope(self, subscription_id: str, resource_group: str) -> bool:
        subs = {s.lower() for s in self.subscription_ids}
        groups = {g.lower() for g in self.resource_groups}
        return (not subs or subscription_id.lower() in subs) and (not groups or resource_group.lower() in groups)


def load_settings(env: Mapping[str, str]) -> Settings:
    """Every setting from the environment; an empty value means the default."""
    values = {}
    for name, (field_name, default, parse) in SETTINGS.items():
        raw = env.get(name, "")
        values[field_name] = parse(name, raw if raw.strip() else default)
    return Settings(**values)


def operator_routes_need_function_key(env: Mapping[str, str]) -> bool:
    """For the Functions host, at indexing: anything but a readable ``entra`` keeps the function key (fail closed)."""
    name = "ROTATION_HTTP_AUTH"
    _, default, parse = SETTINGS[name]
    try:
        return parse(name, env.get(name, "").strip() or default) != "entra"
    except ConfigurationError:
        return True
