"""discovery: per-subscription listing against one Azure Resource Graph query, on the same estate.

Each estate is built once; the engine's discovery (what a sweep does before reading keys) runs in a
fresh interpreter per mode, with 20 ms per call and throttling on. Only calls made after the worker is
warm (token, connection) are counted.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench import estate as est
from bench.runner import run_child, standin

SIZES = ((2000, 20), (10_000, 20))
MODES = ("list", "resourcegraph")


def _kind(req: dict[str, Any]) -> str:
    path = req["path"].lower()
    if "microsoft.resourcegraph" in path:
        return "graph_query"
    if path.endswith("/registries"):
        return "registry_list"
    if path.rstrip("/") == "/subscriptions":
        return "subscription_list"
    return "other"


def _measure(registries: int, subscriptions: int, keys: int) -> dict[str, Any]:
    az = standin(subscriptions=subscriptions)
    out: dict[str, Any] = {"registries": registries, "subscriptions": subscriptions}
    try:
        est.cmk_estate(az, registries, keys, subscriptions)
        for mode in MODES:
            result = run_child("discover", {}, az, settings={"ROTATION_DISCOVERY": mode})
            calls = [r for r in az.requests if r["time"] >= result["started_at"] and r["host"] != "127.0.0.1"]
            assert result["found"] == registries and not result["problems"], result
            out[mode] = {"http_calls": len(calls), "seconds": round(result["seconds"], 2),
                         "calls_by_kind": dict(sorted(Counter(_kind(r) for r in calls).items())),
                         "throttled_429": sum(1 for r in calls if r["status"] == 429)}
    finally:
        az.stop()
    return out


def run(sizes: tuple[tuple[int, int], ...] = SIZES, keys: int = 10) -> dict[str, Any]:
    runs = [_measure(registries, subscriptions, keys) for registries, subscriptions in sizes]
    largest = runs[-1]
    figure: dict[str, Any] = {
        "registries": largest["registries"], "subscriptions": largest["subscriptions"],
        "list_calls": largest["list"]["http_calls"], "list_s": largest["list"]["seconds"],
        "graph_calls": largest["resourcegraph"]["http_calls"], "graph_s": largest["resourcegraph"]["seconds"],
        "speedup": round(largest["list"]["seconds"] / max(largest["resourcegraph"]["seconds"], 0.01), 2),
    }
    for run_ in runs[:-1]:  # the smaller sizes, flat, for the table and the BENCH line
        tag = f"_{run_['registries']}"
        figure.update({f"list_calls{tag}": run_["list"]["http_calls"], f"list_s{tag}": run_["list"]["seconds"],
                       f"graph_calls{tag}": run_["resourcegraph"]["http_calls"],
                       f"graph_s{tag}": run_["resourcegraph"]["seconds"]})
    figure["runs"] = runs
    return figure
