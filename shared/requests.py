"""A run request: everything one run of the engine needs to know, as one frozen value.

Triggers, the CLI and the queue build it; ``engine.run(request)`` runs it. Nothing here does I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from shared.armids import RegistryRef
from shared.keyids import KeyRef
from shared.reasons import Trigger


@dataclass(frozen=True)
class Requester:
    """Who asked for a run: a person or an application (manual runs), or ``system`` (events, the timer, the queue)."""

    kind: str  # "user" | "app" | "functionkey" | "cli" (a local CLI run, as its credential) | "system"
    object_id: str = ""
    name: str = ""  # a user's UPN or an application's app id
    tenant_id: str = ""
    role: str = ""  # the app role the request was allowed by


SYSTEM = Requester("system")


@dataclass(frozen=True)
class ManualTarget:
    """An operator's break-glass target for one registry."""

    version: str
    allow_downgrade: bool = False


@dataclass(frozen=True)
class Scope:
    """Which registries a run considers: one registry, the registries on one key, or everything in scope."""

    registry: RegistryRef | None = None
    key: KeyRef | None = None


def _no_targets() -> Mapping[str, ManualTarget]:
    return MappingProxyType({})


@dataclass(frozen=True)
class RunRequest:
    trigger: Trigger
    correlation_id: str
    dry_run: bool = False
    scope: Scope = Scope()
    targets: Mapping[str, ManualTarget] = field(default_factory=_no_targets)  # registry id (lower) -> target
    budget_s: float | None = None  # no update starts after this many seconds (Event Grid waits 30 s)
    diagnose: bool = False  # read vault access too, and report problems per registry (sweeps)
    fan_out: bool = False  # may hand its updates to the rotation queue, where one is configured
    alert_versions: tuple[tuple[KeyRef, str], ...] = ()  # versions to alert on even if no registry uses them
    requested_by: Requester = SYSTEM
    reason: str = ""  # the operator's free text (required for a forced downgrade), recorded verbatim
    retire: bool = False  # the sweep only: may retire superseded key versions (ROTATION_RETIRE, docs/retirement.md)

    def target_for(self, registry_id: str) -> ManualTarget | None:
        return self.targets.get(registry_id.lower())

    @classmethod
    def sweep(cls, correlation_id: str | None = None, *, dry_run: bool = False,
              requested_by: Requester = SYSTEM) -> RunRequest:
        """The sweep: everything in scope, with diagnosis; its updates may fan out to the rotation queue."""
        return cls(Trigger.SWEEP, correlation_id or new_correlation_id(), dry_run, diagnose=True, fan_out=True,
                   requested_by=requested_by, retire=True)


def new_correlation_id() -> str:
    return str(uuid.uuid4())

