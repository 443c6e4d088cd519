"""The planner's decision chain, one sentence per case."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shared.keyids import KeyRef
from shared.model import KeyDetails, KeyObservation, Registry
from shared.planner import REASONS, Action, ManualTarget, plan_registry
from shared.reasons import Problem, Reason, Result
from shared.status import registry_problems
from shared.versions import newest_usable_version
from tests.builders import KEY, NOW, days, observation, registry, rsa, version


@dataclass
class Case:
    id: str
    registry: Registry
    key: KeyObservation | None
    action: Action
    reason: Reason
    to: str | None = None
    result: Result | None = None
    transient: bool = False
    target: ManualTarget | None = None


TWO = observation(version("v1", 30), version("v2", 1))

CASES = [
    Case("a pinned registry on an older version moves to the newest usable version",
         registry(version="v1"), TWO, Action.ROTATE, Reason.NEWER_VERSION_AVAILABLE, "v2"),
    Case("a pinned registry already on the newest usable version is unchanged",
         registry(version="v2"), TWO, Action.LEAVE, Reason.ALREADY_CURRENT, "v2", Result.UNCHANGED),
    Case("a versionless registry is skipped and reported, never patched",
         registry(version=None, versioned="v1"), TWO, Action.LEAVE, Reason.VERSIONLESS, None, Result.SKIPPED),
    Case("a registry tagged cmk-rotation off is skipped even when behind",
         registry(tags={"cmk-rotation": "off"}), TWO, Action.LEAVE, Reason.OPTED_OUT, None, Result.SKIPPED),
    Case("the opt-out tag is read case-insensitively",
         registry(tags={"CMK-Rotation": " OFF "}), TWO, Action.LEAVE, Reason.OPTED_OUT, None, Result.SKIPPED),
    Case("another value of the opt-out tag does not opt out",
         registry(tags={"cmk-rotation": "canary"}), TWO, Action.ROTATE, Reason.NEWER_VERSION_AVAILABLE, "v2"),
    Case("a disabled newest version is not a target",
         registry(version="v1"), observation(version("v1", 30), version("v2", 1, enabled=False)),
         Action.LEAVE, Reason.ALREADY_CURRENT, "v1", Result.UNCHANGED),
    Case("a version not valid before tomorrow is not a target",
         registry(version="v1"), observation(version("v1", 30), version("v2", 1, nbf=NOW + days(1))),
         Action.LEAVE, Reason.ALREADY_CURRENT, "v1", Result.UNCHANGED),
    Case("a version valid from this very moment is a target",
         registry(version="v1"), observation(version("v1", 30), version("v2", 1, nbf=NOW)),
         Action.ROTATE, Reason.NEWER_VERSION_AVAILABLE, "v2"),
    Case("an expired newest version is not a target",
         registry(version="v1"), observation(version("v1", 30), version("v2", 1, exp=NOW)),
         Action.LEAVE, Reason.ALREADY_CURRENT, "v1", Result.UNCHANGED),
    Case("an EC newest version is not a target",
         registry(version="v1"),
         observation(version("v1", 30), version("v2", 1), details={"v1": rsa(), "v2": KeyDetails("EC", None)}),
         Action.LEAVE, Reason.ALREADY_CURRENT, "v1", Result.UNCHANGED),
    Case("an RSA-HSM newest version is a target",
         registry(version="v1"),
         observation(version("v1", 30), version("v2", 1), details={"v1": rsa(), "v2": KeyDetails("RSA-HSM", None)}),
         Action.ROTATE, Reason.NEWER_VERSION_AVAILABLE, "v2"),
    Case("a newest version whose operations omit unwrapKey is not a target",
         registry(version="v1"),
         observation(version("v1", 30), version("v2", 1), details={"v1": rsa(), "v2": rsa(("wrapKey", "sign"))}),
         Action.LEAVE, Reason.ALREADY_CURRENT, "v1", Result.UNCHANGED),
    Case("a newest version with no operation restriction is a target",
         registry(version="v1"),
         observation(version("v1", 30), version("v2", 1), details={"v1": rsa(), "v2": rsa(None)}),
         Action.ROTATE, Reason.NEWER_VERSION_AVAILABLE, "v2"),
    Case("the newest is chosen by creation time, not by the order Key Vault lists versions in",
         registry(version="b"), observation(version("c", 3), version("a", 1), version("b", 2)),
         Action.ROTATE, Reason.NEWER_VERSION_AVAILABLE, "a"),
    Case("a tie in creation time goes to the version Key Vault reports as current",
         registry(version="v1"),
         observation(version("v1", 30), version("zz", 1), version("aa", 1), current="aa"),
         Action.ROTATE, Reason.NEWER_VERSION_AVAILABLE, "aa"),
    Case("a newest usable version older than the one in use would be a downgrade and is skipped",
         registry(version="v2"), observation(version("v1", 30), version("v2", 1, enabled=False)),
         Action.LEAVE, Reason.WOULD_DOWNGRADE, "v1", Result.SKIPPED),
    Case("a version created in the same second as the one in use is older unless Key Vault calls it current",
         registry(version="b"), observation(version("a", 1), version("b", 1, enabled=False), current="b"),
         Action.LEAVE, Reason.WOULD_DOWNGRADE, "a", Result.SKIPPED),
    Case("a version created in the same second that Key Vault calls current is newer",
         registry(version="b"), observation(version("a", 1), version("b", 1), current="a"),
         Action.ROTATE, Reason.NEWER_VERSION_AVAILABLE, "a"),
    Case("two versions tied in time, neither current, cannot be ordered and nothing moves",
         registry(version="a"), observation(version("a", 1), version("b", 1), version("c", 0, enabled=False),
                                            current="c"),
         Action.LEAVE, Reason.WOULD_DOWNGRADE, "b", Result.SKIPPED),
    Case("an expired version in use moves to a newer usable version",
         registry(version="v1"), observation(version("v1", 400, exp=NOW - days(1)), version("v2", 1)),
         Action.ROTATE, Reason.NEWER_VERSION_AVAILABLE, "v2"),
    Case("a key with no usable version at all fails for an operator to see",
         registry(version="v1"), observation(version("v1", 400, exp=NOW - days(1))),
         Action.LEAVE, Reason.NO_USABLE_VERSION, None, Result.FAILED),
    Case("a key our identity may not read fails permanently",
         registry(), KeyObservation(KEY, error=Reason.KEY_FORBIDDEN),
         Action.LEAVE, Reason.KEY_FORBIDDEN, None, Result.FAILED),
    Case("a key Key Vault failed to serve fails transiently",
         registry(), KeyObservation(KEY, error=Reason.KEY_UNREADABLE, error_transient=True),
         Action.LEAVE, Reason.KEY_UNREADABLE, None, Result.FAILED, transient=True),
    Case("a registry whose key is on a foreign host fails without a key read",
         registry(key_uri="https://evil.example.com/keys/acr-cmk/v1"), None,
         Action.LEAVE, Reason.KEY_HOST_NOT_ALLOWED, None, Result.FAILED),
    Case("a registry already updating to the target is left to that update",
         registry(version="v2", state="Updating", versioned="v1"), TWO,
         Action.LEAVE, Reason.UPDATE_IN_PROGRESS, "v2", Result.UNCHANGED),
    Case("a registry updating to something else is busy and retried later",
         registry(version="v1", state="Updating"), TWO,
         Action.LEAVE, Reason.REGISTRY_BUSY, "v2", Result.FAILED, transient=True),
    Case("an operator's newer target is rotated to and recorded as manual",
         registry(version="v1"), observation(version("v1", 30), version("v2", 10), version("v3", 1)),
         Action.ROTATE, Reason.MANUAL_TARGET, "v2", target=ManualTarget("v2")),
    Case("an operator's older target without allowDowngrade is refused",
         registry(version="v2"), TWO, Action.LEAVE, Reason.WOULD_DOWNGRADE, "v1", Result.SKIPPED,
         target=ManualTarget("v1")),
    Case("an operator's older target with allowDowngrade is forced and recorded as such",
         registry(version="v2"), TWO, Action.ROTATE, Reason.DOWNGRADE_FORCED, "v1",
         target=ManualTarget("v1", allow_downgrade=True)),
    Case("an operator's disabled target is refused",
         registry(version="v1"), observation(version("v1", 30), version("v2", 1, enabled=False)),
         Action.LEAVE, Reason.TARGET_NOT_USABLE, None, Result.FAILED, target=ManualTarget("v2")),
    Case("an operator's target that does not exist is refused",
         registry(version="v1"), TWO, Action.LEAVE, Reason.TARGET_NOT_USABLE, None, Result.FAILED,
         target=ManualTarget("nope")),
    Case("an opted-out registry is not touched even by an operator's target",
         registry(version="v1", tags={"cmk-rotation": "off"}), TWO, Action.LEAVE, Reason.OPTED_OUT, None,
         Result.SKIPPED, target=ManualTarget("v2")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_decision(case: Case) -> None:
    decision = plan_registry(case.registry, case.key, NOW, case.target)
    assert (decision.action, decision.reason) == (case.action, case.reason), decision.detail
    assert decision.to_version == case.to
    assert decision.result == case.result
    assert decision.transient == case.transient
    assert decision.from_version == case.registry.version_in_use


def test_newest_usable_version_needs_details_before_trusting_a_version() -> None:
    key = observation(version("v1", 30), version("v2", 1), details={"v1": rsa()})
    newest = newest_usable_version(key, NOW)
    assert newest is not None and newest.version == "v1"


def test_keys_compare_case_insensitively() -> None:
    assert KeyRef("KV-Prod.Vault.Azure.Net", "ACR-CMK") == KEY


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_check_decides_only_with_the_reasons_it_declares(case: Case) -> None:
    """What docs/reasons.md's order is built from: the reasons each check declares."""
    decision = plan_registry(case.registry, case.key, NOW, case.target)
    assert decision.reason in REASONS[decision.check], (decision.check, decision.reason)


# Key Vault keeps whole seconds: two versions created in the same second, neither of them current.
SAME_SECOND = observation(version("aaa", 1), version("bbb", 1), version("ccc", 0.5, enabled=False), current="ccc")


@pytest.mark.parametrize("in_use", ["aaa", "bbb"])
def test_a_same_second_tie_is_neither_moved_nor_reported_behind(in_use: str) -> None:
    """The planner cannot order the two, so it leaves the registry; status agrees, instead of reporting a
    BEHIND_NEWEST_VERSION that no run would ever fix."""
    reg = registry(version=in_use)
    decision = plan_registry(reg, SAME_SECOND, NOW)
    assert (decision.action, decision.reason) in {(Action.LEAVE, Reason.WOULD_DOWNGRADE),
                                                  (Action.LEAVE, Reason.ALREADY_CURRENT)}
    assert Problem.BEHIND_NEWEST_VERSION not in registry_problems(reg, SAME_SECOND, NOW, 30)


def test_status_reports_behind_exactly_when_the_planner_would_move_a_pinned_registry() -> None:
    """(An opted-out registry is reported behind as if opted in: people move it by hand.)"""
    cases = [(c.registry, c.key) for c in CASES if c.target is None and not c.registry.opted_out]
    assert len(cases) > 10
    for reg, key in cases:
        moves = plan_registry(reg, key, NOW).action == Action.ROTATE
        assert (Problem.BEHIND_NEWEST_VERSION in registry_problems(reg, key, NOW, 30)) == moves, reg.name
