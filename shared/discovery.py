"""Discovery: which CMK registries a run considers. One port, two ways, chosen by the composition root
(ROTATION_DISCOVERY): a listing per subscription, or one Azure Resource Graph query for all of them.

Both answer the same scope the same way and report what they could not see as run problems; a run scoped
to one registry reads just that registry with a GET.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from shared.armids import RegistryRef
from shared.errors import RotationError
from shared.model import Registry
from shared.outcomes import RunProblem
from shared.parallel import each
from shared.ports import InventoryPort, RegistryPort
from shared.reasons import Reason
from shared.requests import Scope
from shared.settings import Settings
from shared.troubleshooting import fix

Found = tuple[list[Registry], list[RunProblem]]


class Discovery(Protocol):
    def discover(self, scope: Scope) -> Found:
        """Registries in scope, sorted by id, and what could not be listed."""
        ...


class _Base:
    def __init__(self, registries: RegistryPort, settings: Settings) -> None:
        self.registries = registries
        self.settings = settings

    def discover(self, scope: Scope) -> Found:
        if scope.registry is not None:
            return self._one(scope.registry)
        try:
            subscriptions = list(self.settings.subscription_ids) or self.registries.list_subscription_ids()
        except RotationError as exc:
            return [], [RunProblem("subscriptions", exc.reason, exc.transient, exc.message)]
        if not subscriptions:  # ARM lists every subscription the identity holds any role in: here, none
            return [], [RunProblem("subscriptions", Reason.NO_SUBSCRIPTIONS, False,
                                   f"the app's identity sees no subscription. Fix: {fix(Reason.NO_SUBSCRIPTIONS)}")]
        found, problems = self._list(subscriptions)
        wanted = {s.lower() for s in subscriptions}
        return sorted((r for r in found if r.subscription_id.lower() in wanted
                       and self.settings.in_scope(r.subscription_id, r.resource_group)
                       and (scope.key is None or (r.key_id is not None and r.key_id.key == scope.key))),
                      key=lambda r: r.id.lower()), problems

    def _list(self, subscriptions: list[str]) -> Found:
        raise NotImplementedError

    def _one(self, ref: RegistryRef) -> Found:
        try:
            registry = self.registries.get_registry(ref)
        except RotationError as exc:
            return [], [RunProblem(ref.id, exc.reason, exc.transient, exc.message)]
        if registry is None:
            return [], [RunProblem(ref.id, Reason.KEY_NOT_FOUND, False, "the registry has no customer-managed key")]
        return [registry], []


class Listing(_Base):
    """ARM's registries.list, once per subscription, a few subscriptions at a time."""

    def _list(self, subscriptions: list[str]) -> Found:
        found: list[Registry] = []
        problems: list[RunProblem] = []
        for subscription_id, listed in zip(subscriptions, each(
                subscriptions, lambda s: list(self.registries.list_cmk_registries(s))), strict=True):
            if isinstance(listed, RotationError):
                problems.append(RunProblem(f"/subscriptions/{subscription_id}", listed.reason, listed.transient,
                                           listed.message))
            else:
                found.extend(listed)
        return found, problems


class ResourceGraph(_Base):
    """One paged Resource Graph query for every subscription in scope. Its data may lag ARM: harmless, as every
    registry is read again with a GET right before it is written, so a stale listing never causes a wrong write."""

    def __init__(self, inventory: InventoryPort, registries: RegistryPort, settings: Settings) -> None:
        super().__init__(registries, settings)
        self.inventory = inventory

    def _list(self, subscriptions: list[str]) -> Found:
        found: list[Registry] = []
        problems: list[RunProblem] = []
        try:
            found = self.inventory.list_cmk_registries_in(subscriptions)
        except RotationError as exc:
            problems.append(RunProblem("resourcegraph", exc.reason, exc.transient, exc.message))
        if self.settings.subscription_ids:
            problems.extend(self._invisible(subscriptions))
        return found, problems

    def _invisible(self, configured: Iterable[str]) -> list[RunProblem]:
        """Resource Graph answers nothing, not an error, for a subscription the identity cannot read: a
        configured one missing from the subscription list would otherwise be silently empty."""
        try:
            visible = {s.lower() for s in self.registries.list_subscription_ids()}
        except RotationError as exc:
            return [RunProblem("subscriptions", exc.reason, exc.transient, exc.message)]
        return [RunProblem(f"/subscriptions/{s}", Reason.FORBIDDEN, False,
                           "configured in ROTATION_SUBSCRIPTION_IDS but not readable by the app's identity; "
                           "Resource Graph returns nothing for it")
                for s in configured if s.lower() not in visible]
