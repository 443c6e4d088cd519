"""Applying: only the sweep (ROTATION_RETIRE=auto, not a dry run) and the CLI retire; each version under its key's
lock, with every registry on the key read by a GET right before and right after; a registry showing the version
after it was disabled gets it back at once, with a critical problem."""

from __future__ import annotations

import logging

import pytest

from shared.__main__ import parser
from shared.armids import RegistryRef
from shared.errors import PermanentError
from shared.keyids import KeyRef
from shared.model import KeyVersion, Registry
from shared.queue_messages import RotationMessage
from shared.reasons import Reason, RetireCheck, RetireResult, Trigger
from shared.requests import RunRequest
from shared.retirement_apply import RETIRED_EVENT, Retirer
from shared.retirement_cli import run
from tests.builders import KEY, NOW, days
from tests.retirement.estate import World, on, settled_world

V1 = KEY.uri("v1")


def retirer(world: World, **kwargs) -> Retirer:
    found = world.engine(**kwargs).retirement
    assert found is not None
    return found


def results(report) -> list[tuple[str, RetireResult]]:
    return [(o.version, o.result) for o in report.retirement.outcomes]


def test_the_default_sweep_reports_what_it_would_retire_and_disables_nothing(caplog) -> None:
    world = settled_world()
    with caplog.at_level(logging.INFO, logger="shared.outcomes"):
        report = world.engine().run(RunRequest.sweep())
    assert results(report) == [("v1", RetireResult.WOULD_RETIRE)] and world.keyvault.switches == []
    [event] = [r for r in caplog.records if getattr(r, "microsoft.custom_event.name", "") == RETIRED_EVENT]
    assert event.result == "would_retire" and event.keyVersion == V1 and event.requestedBy == "system"
    assert report.to_dict()["retirement"]["plan"]["retire"] == [V1]


def test_the_sweep_retires_with_auto_reading_every_registry_before_and_after() -> None:
    world = settled_world()
    report = world.engine(retire="auto").run(RunRequest.sweep())
    assert results(report) == [("v1", RetireResult.RETIRED)]
    assert world.keyvault.enabled() == {"v1": False, "v2": True}
    assert world.keyvault.switches == [(str(KEY), "v1", False)]
    assert sorted(world.registries.reads) == sorted(["acrother", "acrpinned", "acrversionless"] * 2)


def test_a_second_sweep_finds_nothing_more_to_retire() -> None:
    world = settled_world()
    world.engine(retire="auto").run(RunRequest.sweep())
    again = world.engine(retire="auto").run(RunRequest.sweep())
    assert results(again) == [] and len(world.keyvault.switches) == 1


def test_a_dry_run_never_retires() -> None:
    world = settled_world()
    report = world.engine(retire="auto", dry_run=True).run(RunRequest.sweep())
    assert results(report) == [("v1", RetireResult.WOULD_RETIRE)] and world.keyvault.switches == []


@pytest.mark.parametrize("request_of", [
    lambda: RunRequest(Trigger.EVENT, "event-run"),
    lambda: RotationMessage(RegistryRef("00000000-0000-0000-0000-000000000001", "rg-acr", "acrpinned").id, "v2",
                            Trigger.SWEEP, "queued", False).request(),
    lambda: RunRequest(Trigger.MANUAL, "manual-run"),
], ids=["an event run", "a queue run from a sweep", "a manual rotation"])
def test_only_the_sweep_retires(request_of) -> None:
    world = settled_world()
    report = world.engine(retire="auto").run(request_of())
    assert report.retirement is None and world.keyvault.switches == []


def test_without_an_opted_in_key_the_sweep_reads_only_the_tags_for_retirement() -> None:
    world = settled_world()
    world.keyvault.tags.clear()
    listed: list[str] = []
    world.registries.on_list = listed.append
    report = world.engine(retire="plan").run(RunRequest.sweep())
    assert listed == ["00000000-0000-0000-0000-000000000001"]  # the sweep's own discovery, not a second listing
    assert report.retirement is not None and report.retirement.plan is not None
    assert report.retirement.plan.candidates == ()


def test_a_bad_tag_in_the_sweep_is_one_problem_of_the_run() -> None:
    world = settled_world(tag="soon")
    report = world.engine().run(RunRequest.sweep())
    assert [p.reason for p in report.problems] == [Reason.RETIRE_TAG_INVALID]
    assert [p.reason for p in report.retirement.problems] == [Reason.RETIRE_TAG_INVALID]


def test_off_reads_nothing_for_retirement() -> None:
    world = settled_world()
    tags_read: list[KeyRef] = []
    world.keyvault.get_tags = lambda key: tags_read.append(key) or {}  # type: ignore[method-assign]
    report = world.engine(retire="off").run(RunRequest.sweep())
    assert report.retirement is None and world.keyvault.switches == [] and tags_read == []
    world.engine(retire="plan").run(RunRequest.sweep())
    assert tags_read == [KEY]  # (the same wrapper sees the tags read when retirement is on)


def test_a_failed_registry_anywhere_in_the_sweep_blocks_retirement() -> None:
    world = settled_world()
    other = KeyRef("kv-prod.vault.azure.net", "other-key")  # untagged; its registry fails to rotate
    world.keyvault.add(other, KeyVersion("o1", True, NOW - days(9)))
    world.keyvault.add(other, KeyVersion("o2", True, NOW - days(1)))
    failing = on("acrfailing", "o1", 9, key=other)
    world.registries.add(failing)
    world.registries.update_errors[failing.id.lower()] = PermanentError(Reason.UPDATE_REJECTED, "no")
    report = world.engine(retire="auto").run(RunRequest.sweep())
    assert report.counts()["failed"] == 1 and results(report) == [] and world.keyvault.switches == []
    [v1] = [c for c in report.retirement.plan.candidates if c.version == "v1"]
    assert [e.check for e in v1.failed] == [RetireCheck.RUN_CLEAN] and "acrfailing" in v1.failed[0].detail


def _moves_to_v1_on(world: World, when: str) -> None:
    """Someone points acrother back at v1: at the re-read before disabling, or right after the disable."""
    def move() -> None:
        world.registries.add(on("acrother", "v1", 0))
    if when == "before":
        real = world.registries.get_registry

        def get(ref: RegistryRef) -> Registry | None:
            move()
            return real(ref)
        world.registries.get_registry = get  # type: ignore[method-assign]
    else:
        real_set = world.keyvault.set_enabled

        def set_enabled(key, version, enabled):
            answer = real_set(key, version, enabled)
            if not enabled:
                move()
            return answer
        world.keyvault.set_enabled = set_enabled  # type: ignore[method-assign]


def test_a_registry_on_the_version_at_the_re_read_keeps_it_enabled() -> None:
    world = settled_world()
    _moves_to_v1_on(world, "before")
    report = world.engine(retire="auto").run(RunRequest.sweep())
    assert results(report) == [("v1", RetireResult.CHANGED)] and world.keyvault.switches == []
    assert "acrother shows it" in report.retirement.outcomes[0].detail


def test_a_registry_showing_the_version_after_it_was_disabled_gets_it_back_and_a_critical_problem(caplog) -> None:
    world = settled_world()
    _moves_to_v1_on(world, "after")
    with caplog.at_level(logging.INFO, logger="shared.outcomes"):
        report = world.engine(retire="auto").run(RunRequest.sweep())
    assert results(report) == [("v1", RetireResult.REVERTED)]
    assert [s[2] for s in world.keyvault.switches] == [False, True] and world.keyvault.enabled()["v1"] is True
    [problem] = [p for p in report.problems if p.reason == Reason.RETIREMENT_REVERTED]
    assert not problem.transient and problem.scope == V1 and problem.detail.startswith("critical")
    assert any(r.levelno == logging.ERROR and getattr(r, "result", "") == "reverted" for r in caplog.records)


def test_a_refused_disable_is_a_failed_outcome() -> None:
    world = settled_world()
    world.keyvault.switch_errors["v1"] = PermanentError(Reason.KEY_FORBIDDEN_BY_RBAC, "ForbiddenByRbac")
    report = world.engine(retire="auto").run(RunRequest.sweep())
    assert results(report) == [("v1", RetireResult.FAILED)] and world.keyvault.enabled()["v1"] is True


# --- The CLI ----------------------------------------------------------------------------------------

def cli(world: World, *argv: str) -> int:
    return run(parser().parse_args(["retire", *argv]), lambda: retirer(world))


def plan_hash_printed(out: str) -> str:
    return out.rsplit("plan hash: ", 1)[1].split()[0]


def test_plan_prints_each_check_with_its_evidence_and_the_hash(capsys) -> None:
    world = settled_world()
    assert cli(world, "--plan") == 0
    out = capsys.readouterr().out
    assert f"KEY {KEY.uri()}" in out and "RETIRE v1" in out and "keep   v2" in out
    assert "[x] NOT_IN_USE: no registry of 3 read shows it" in out and "[ ] NOT_CURRENT" in out
    assert world.keyvault.switches == []


def test_apply_with_the_reviewed_hash_retires(capsys) -> None:
    world = settled_world()
    cli(world, "--plan")
    digest = plan_hash_printed(capsys.readouterr().out)
    assert cli(world, "--apply", "--plan-hash", digest) == 0
    assert "RETIRED" in capsys.readouterr().out and world.keyvault.enabled()["v1"] is False


def test_apply_of_a_plan_that_changed_prints_the_difference_and_does_nothing(capsys) -> None:
    world = settled_world()
    cli(world, "--plan")
    digest = plan_hash_printed(capsys.readouterr().out)
    world.registries.add(on("acrback", "v1", 40))
    assert cli(world, "--apply", "--plan-hash", digest) == 1
    out = capsys.readouterr().out
    assert "nothing was disabled" in out and f"- {V1} (" in out and "acrback" in out
    assert world.keyvault.switches == []


def test_the_cli_sweep_prints_its_retirement_step(capsys) -> None:
    from shared.__main__ import print_run

    world = settled_world()
    print_run(world.engine(retire="auto").run(RunRequest.sweep()))
    out = capsys.readouterr().out
    assert f"RETIREMENT retired {V1}" in out and "RETIREMENT (auto) plan hash" in out


def test_not_being_signed_in_exits_3_with_one_paragraph(capsys) -> None:
    world = settled_world()
    world.registries.listing_errors["*"] = PermanentError(Reason.NO_CREDENTIAL, "DefaultAzureCredential found none")
    assert cli(world, "--plan") == 3
    assert capsys.readouterr().err.startswith("Could not authenticate to Azure. DefaultAzureCredential found none")


def test_apply_needs_a_plan_hash(capsys) -> None:
    assert cli(settled_world(), "--apply") == 2


def test_undo_re_enables_a_version_by_its_id_and_is_recorded(capsys, caplog) -> None:
    world = settled_world()
    world.engine(retire="auto").run(RunRequest.sweep())
    with caplog.at_level(logging.INFO, logger="shared.outcomes"):
        assert cli(world, "--undo", "v1") == 0
    assert world.keyvault.enabled()["v1"] is True and "RESTORED" in capsys.readouterr().out
    [event] = [r for r in caplog.records if getattr(r, "result", "") == "restored"]
    assert event.requestedBy == "cli" and event.trigger == "manual"  # the CLI's own identity (here: unknown)


def test_undo_of_an_unknown_version_is_a_usage_error(capsys) -> None:
    assert cli(settled_world(), "--undo", "nosuchversion") == 2
    assert "found on 0 keys" in capsys.readouterr().out
