"""The benchmark's code paths at tiny sizes, so they don't rot: shapes and correctness, never speed."""

from __future__ import annotations

import json
import os

import pytest

from bench.__main__ import BENCH_KEYS, bench_line, figures, table
from emulator import azurite

pytestmark = pytest.mark.standin


def test_every_figure_runs_small_and_the_bench_line_has_the_issues_shape() -> None:
    if not azurite.installed():  # fanout_queue needs Azurite; `make test` installs it and names it
        assert "AZURITE" not in os.environ, "AZURITE is set but Azurite's queue and blob binaries are missing"
        pytest.skip("Azurite is not installed: `make test` installs it (npm install --prefix .tools azurite)")
    results = figures(small=True)
    line = bench_line(results)
    assert line.startswith("BENCH ") and "\n" not in line
    shaped = json.loads(line.removeprefix("BENCH "))
    for figure, keys in BENCH_KEYS.items():
        assert set(keys) <= set(shaped[figure])
        assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in shaped[figure].values())
    fanout = results["fanout"]
    assert fanout["verified"] == fanout["rotated"] == fanout["registries"]  # every registry moved and verified
    steady = results["sweep_steady"]
    assert steady["unchanged"] == steady["diagnosed"] == steady["registries"]
    assert steady["registry_reads"] == 0  # no call per registry
    assert steady["calls_by_kind"]["registry_list"] == steady["subscriptions"] * steady["pages_per_subscription"]
    throttled = results["sweep_throttled"]
    assert throttled["failed"] == 0 and throttled["rotated"] == throttled["registries"]
    assert results["memory"]["unchanged"] == results["memory"]["registries"]
    found = results["discovery"]
    assert found["graph_calls"] == 2 and found["list_calls"] == 1 + found["subscriptions"]  # one query vs per sub
    assert {r["resourcegraph"]["calls_by_kind"]["graph_query"] for r in found["runs"]} == {1}
    queued = results["fanout_queue"]  # several host processes on Azurite, through the shared ARM budget
    assert queued["converged"] == queued["rotated"] == queued["registries"] and queued["failures"] == 0
    assert queued["instances"] == len(queued["invocations_per_instance"])
    assert "fanout" in table(results)
