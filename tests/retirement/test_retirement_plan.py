"""The plan: each named check, alone, keeps a version enabled; with all of them passing, the superseded version
is eligible. Built on in-memory ports, read as retirement reads them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from shared.errors import PermanentError, TemporaryError
from shared.keyids import KeyRef
from shared.model import KeyVersion
from shared.reasons import Reason, RetireCheck
from shared.retirement import RETIRE_TAG, RetirementPlan, Unwrappers, difference, plan_hash
from tests.builders import KEY, NOW, days
from tests.retirement.estate import World, on, settled_world


def plan_of(world: World, at=NOW) -> RetirementPlan:
    retirer = world.engine(clock=at).retirement
    assert retirer is not None
    plan, _, problems = retirer.plan()
    return replace(plan, problems=problems)


def candidate(plan: RetirementPlan, version: str):
    [found] = [c for c in plan.candidates if c.version == version]
    return found


def failed_checks(plan: RetirementPlan, version: str) -> set[RetireCheck]:
    return {e.check for e in candidate(plan, version).failed}


def test_a_settled_superseded_version_is_eligible_with_evidence_for_every_check() -> None:
    plan = plan_of(settled_world())
    v1 = candidate(plan, "v1")
    assert v1.eligible and [e.check for e in v1.evidence] == list(RetireCheck)
    assert [c.uri for c in plan.eligible] == [KEY.uri("v1")]
    assert plan.digest == plan_hash([KEY.uri("v1")])


def test_without_the_tag_a_key_is_never_considered() -> None:
    world = settled_world()
    world.keyvault.tags[KEY] = {"owner": "team-a"}
    plan = plan_of(world)
    assert plan.candidates == () and plan.problems == () and world.keyvault.reads == 1  # the tags, nothing more


@pytest.mark.parametrize("value", ["abc", "6", "0", "-14", "14.5", " ", "99999999999", "1e3", "\u0661\u0664"])
def test_a_bad_tag_value_is_a_problem_naming_the_key_and_the_tag_and_retires_nothing(value: str) -> None:
    world = settled_world(tag=value)
    plan = plan_of(world)
    assert plan.candidates == ()
    [problem] = plan.problems
    assert problem.reason == Reason.RETIRE_TAG_INVALID and not problem.transient
    assert str(KEY) in problem.detail and RETIRE_TAG in problem.detail


def test_the_floor_is_accepted_and_the_tag_name_is_case_insensitive() -> None:
    world = settled_world()
    world.keyvault.tags[KEY] = {"CMK-Rotation-Retire-After-Days": " 7 "}
    assert candidate(plan_of(world), "v1").eligible


def _hsm(world: World) -> None:
    hsm = KeyRef("hsm-prod.managedhsm.azure.net", "acr-cmk")
    world.keyvault.keys[hsm] = world.keyvault.keys.pop(KEY)
    world.keyvault.tags[hsm] = world.keyvault.tags.pop(KEY)
    for r in list(world.registries.registries.values()):
        world.registries.add(replace(on(r.name, r.key_id.version if r.key_id else None, 30, key=hsm,
                                        versioned="v2" if r.key_id and r.key_id.version is None else None)))


def _listing_fails(world: World) -> None:
    other = "00000000-0000-0000-0000-000000000009"
    world.registries.add(on("acrfar", "v2", 30, subscription=other))
    world.registries.listing_errors[other] = TemporaryError(Reason.THROTTLED, "throttled")


CASES: dict[str, tuple[Callable[[World], None], RetireCheck]] = {
    "a Managed HSM key": (_hsm, RetireCheck.NOT_MANAGED_HSM),
    "a subscription that could not be listed": (_listing_fails, RetireCheck.RUN_CLEAN),
    "another principal that can unwrap": (
        lambda w: w.unwrap.per_key.update({KEY.name: Unwrappers(frozenset({"22222222-2222-2222-2222-222222222222",
                                                                            "someone-else"}))}),
        RetireCheck.UNWRAPPERS_KNOWN),
    "a group that can unwrap": (
        lambda w: w.unwrap.per_key.update({KEY.name: Unwrappers(unsettled=("group g1 can unwrap",))}),
        RetireCheck.UNWRAPPERS_KNOWN),
    "role assignments that could not be read": (
        lambda w: w.unwrap.per_key.update({KEY.name: Unwrappers(unsettled=("role assignments not readable",))}),
        RetireCheck.UNWRAPPERS_KNOWN),
    "a vault not found": (lambda w: w.unwrap.vaults.clear(), RetireCheck.UNWRAPPERS_KNOWN),
    "a registry still updating": (lambda w: w.registries.add(on("acrother", "v2", 20, state="Updating")),
                                  RetireCheck.NO_REGISTRY_BUSY),
    "a registry rotated under N days ago": (lambda w: w.registries.add(on("acrother", "v2", 3)),
                                            RetireCheck.REGISTRIES_SETTLED),
    "a registry with no lastKeyRotationTimestamp": (lambda w: w.registries.add(on("acrother", "v2", None)),
                                                    RetireCheck.REGISTRIES_SETTLED),
    "a registry in another subscription still on it": (
        lambda w: w.registries.add(on("acrfar", "v1", 40, subscription="00000000-0000-0000-0000-000000000009")),
        RetireCheck.NOT_IN_USE),
    "a versionless registry whose lag has not caught up": (
        lambda w: w.registries.add(on("acrversionless", None, 40, versioned="v1")), RetireCheck.NOT_IN_USE),
    "a registry whose keyIdentifier names it while versionedKeyIdentifier moved on": (
        lambda w: w.registries.add(on("acrother", "v1", 20, versioned="v2")), RetireCheck.NOT_IN_USE),
}


@pytest.mark.parametrize("change", list(CASES), ids=list(CASES))
def test_each_guard_alone_keeps_the_version_enabled(change: str) -> None:
    world = settled_world()
    mutate, check = CASES[change]
    mutate(world)
    plan = plan_of(world)
    assert plan.eligible == ()
    assert check in {e.check for c in plan.candidates for e in c.failed}


def test_the_newest_usable_and_the_current_version_are_never_candidates_to_retire() -> None:
    plan = plan_of(settled_world())
    assert {RetireCheck.OLDER_THAN_NEWEST_USABLE, RetireCheck.NOT_CURRENT} <= failed_checks(plan, "v2")


def test_a_successor_younger_than_the_waiting_period_keeps_the_old_version() -> None:
    world = settled_world(tag="45")  # v2 is 30 days old
    world.registries.registries.clear()
    world.registries.add(on("acrpinned", "v2", 50))  # (a registry settled longer than its key: time skew)
    assert failed_checks(plan_of(world), "v1") == {RetireCheck.SUCCESSOR_AGED}


def test_no_registry_on_the_newest_version_for_n_days_keeps_everything() -> None:
    world = settled_world(tag="30")  # registries rotated 29, 28 and 20 days ago
    assert RetireCheck.NEWEST_IN_SERVICE in failed_checks(plan_of(world), "v1")


def test_a_disabled_current_version_leaves_the_current_version_unknown_and_retires_nothing() -> None:
    world = settled_world()
    world.keyvault.add(KEY, KeyVersion("v3", False, NOW - days(20)))  # Key Vault's current, disabled
    plan = plan_of(world)
    assert plan.eligible == () and RetireCheck.NOT_CURRENT in failed_checks(plan, "v1")
    assert RetireCheck.OLDER_THAN_NEWEST_USABLE in failed_checks(plan, "v2")  # v2 is the newest usable now


def test_a_key_that_cannot_be_read_retires_nothing() -> None:
    world = settled_world()
    real = world.keyvault.list_versions

    def fail(key: KeyRef) -> list[KeyVersion]:
        raise PermanentError(Reason.KEY_FORBIDDEN, "no")

    world.keyvault.list_versions = fail  # type: ignore[method-assign]
    assert plan_of(world).candidates == ()
    world.keyvault.list_versions = real  # type: ignore[method-assign]


def test_a_version_without_a_creation_time_retires_nothing() -> None:
    from datetime import UTC, datetime

    world = settled_world()
    world.keyvault.add(KEY, KeyVersion("v0", True, datetime.fromtimestamp(0, tz=UTC)))  # the adapter's "not known"
    plan = plan_of(world)
    assert plan.eligible == () and RetireCheck.KEY_READ in failed_checks(plan, "v1")


def test_the_plan_hash_covers_what_would_be_disabled_not_how_old_the_evidence_is() -> None:
    world = settled_world()
    assert plan_of(world).digest == plan_of(world, at=NOW + days(1)).digest
    world.registries.add(on("acrback", "v1", 40))
    changed = plan_of(world)
    assert changed.digest != plan_of(settled_world()).digest
    [line] = difference([KEY.uri("v1")], changed)
    assert line.startswith(f"- {KEY.uri('v1')}") and "NOT_IN_USE" in line and "acrback" in line
