"""Staged rollout against the stand-in: canaries move and verify first; a failed canary holds the rest."""

from __future__ import annotations

import pytest

from emulator import seed
from shared.reasons import Reason, Result
from shared.requests import RunRequest

pytestmark = pytest.mark.standin


def add_canary(az, estate) -> None:
    seed.create_registry(az, estate.subscription_id, "rg-registries", "acrcanary", identity_id=estate.identity_id,
                         key_id=f"{estate.key_url}/{estate.first_version}", tags={"cmk-rotation": "canary"})


def test_the_canary_moves_first_then_the_rest(az, estate, engine) -> None:
    add_canary(az, estate)
    seed.create_key(az, estate.vault_url, estate.key_name)
    report = engine.run(RunRequest.sweep())
    patched = [r["path"].rsplit("/", 1)[-1] for r in az.requests if r["method"] == "PATCH" and r["status"] == 201]
    assert patched == ["acrcanary", "acrpinned"]
    assert {o.registry_name: o.result for o in report.outcomes if o.result == Result.ROTATED} == {
        "acrcanary": Result.ROTATED, "acrpinned": Result.ROTATED}


def test_a_canary_whose_update_fails_holds_back_its_key_and_is_reported(az, estate, engine) -> None:
    add_canary(az, estate)
    seed.create_key(az, estate.vault_url, estate.key_name)
    az.inject_fault(method="PATCH", path_contains="/registries/acrcanary", status=None, lro_failed=True)
    report = engine.run(RunRequest.sweep())
    by_name = {o.registry_name: o for o in report.outcomes}
    assert (by_name["acrcanary"].result, by_name["acrcanary"].reason) == (Result.FAILED, Reason.UPDATE_FAILED)
    assert (by_name["acrpinned"].result, by_name["acrpinned"].reason) == (Result.SKIPPED, Reason.CANARY_FAILED)
    assert [p.reason for p in report.problems] == [Reason.CANARY_FAILED]
    assert report.needs_retry  # the canary's failure was transient: the next run tries the canary again
    assert [r["path"].rsplit("/", 1)[-1] for r in az.requests if r["method"] == "PATCH"] == ["acrcanary"]
