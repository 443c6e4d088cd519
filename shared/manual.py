"""Validation of manual run requests (`POST /api/rotate` and the CLI). Errors name the field."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from shared.armids import InvalidResourceId, RegistryRef, parse_registry_id
from shared.errors import BadRequest
from shared.keyids import InvalidKeyId, KeyRef, parse_key_id
from shared.reasons import Trigger
from shared.requests import SYSTEM, ManualTarget, Requester, RunRequest, Scope
from shared.settings import Settings

_FIELDS = ("registry", "key", "dryRun", "toVersion", "allowDowngrade")
_VERSION = re.compile(r"^[0-9A-Za-z]{1,64}$")
MAX_BODY_BYTES = 16 * 1024


@dataclass(frozen=True)
class ManualRequest:
    registry: RegistryRef | None = None
    key: KeyRef | None = None
    dry_run: bool = False
    to_version: str | None = None
    allow_downgrade: bool = False

    def request(self, correlation_id: str, requested_by: Requester = SYSTEM) -> RunRequest:
        targets = {}
        if self.registry is not None and self.to_version is not None:
            targets[self.registry.id.lower()] = ManualTarget(self.to_version, self.allow_downgrade)
        return RunRequest(Trigger.MANUAL, correlation_id, self.dry_run, Scope(self.registry, self.key),
                          MappingProxyType(targets), requested_by=requested_by)


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(name, "must be true or false")
    return value


def parse_rotate_body(raw: bytes | str, settings: Settings) -> ManualRequest:
    if isinstance(raw, bytes):
        if len(raw) > MAX_BODY_BYTES:
            raise BadRequest("body", f"must be at most {MAX_BODY_BYTES} bytes")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("body", "must be UTF-8 JSON") from None
    if not raw.strip():
        return parse_rotate_request({}, settings)
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("body", "must be a JSON object") from None
    return parse_rotate_request(body, settings)


def parse_rotate_request(body: Any, settings: Settings) -> ManualRequest:
    if not isinstance(body, dict):
        raise BadRequest("body", "must be a JSON object")
    for name in body:
        if name not in _FIELDS:
            shown = name[:64] if name.strip() and name.isprintable() else json.dumps(name)[:64]
            raise BadRequest(shown, f"unknown field; expected one of {', '.join(_FIELDS)}")
    if "registry" in body and "key" in body:
        raise BadRequest("key", "give either registry or key, not both")
    registry = None
    if "registry" in body:
        try:
            registry = parse_registry_id(body["registry"])
        except InvalidResourceId as exc:
            raise BadRequest("registry", str(exc)) from None
        if not settings.in_scope(registry.subscription_id, registry.resource_group):
            raise BadRequest("registry", "is outside the configured subscriptions and resource groups")
    key = None
    if "key" in body:
        try:
            key_id = parse_key_id(body["key"], settings.endpoints.key_vault_suffixes)
        except InvalidKeyId as exc:
            raise BadRequest("key", str(exc)) from None
        if key_id.version:
            raise BadRequest("key", "name the key without a version; to pick a version use registry and toVersion")
        key = key_id.key
    to_version = body.get("toVersion")
    if to_version is not None:
        if registry is None:
            raise BadRequest("toVersion", "is only allowed together with registry")
        if not isinstance(to_version, str) or not _VERSION.match(to_version):
            raise BadRequest("toVersion", "must be a key version id")
        to_version = to_version.lower()
    allow_downgrade = _flag(body, "allowDowngrade")
    if allow_downgrade and to_version is None:
        raise BadRequest("allowDowngrade", "is only allowed together with toVersion")
    return ManualRequest(registry, key, _flag(body, "dryRun"), to_version, allow_downgrade)


def cli_fields(args: Any) -> dict[str, Any]:
    """The CLI's rotate flags as the fields of POST /api/rotate, so that they are validated by the same code."""
    names = {"registry": args.registry, "key": args.key, "toVersion": args.to_version}
    fields: dict[str, Any] = {name: value for name, value in names.items() if value is not None}
    if args.allow_downgrade:
        fields["allowDowngrade"] = True
    if args.dry_run:
        fields["dryRun"] = True
    return fields
