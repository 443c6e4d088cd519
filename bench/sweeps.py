"""sweep_steady, sweep_throttled and memory: the timer's sweep over large estates."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench import estate as est
from bench.runner import LRO_S, run_child, standin

WRITE_BURST, WRITE_PER_S = 200, 10.0  # ARM's write bucket per subscription and principal


def _kind(req: dict[str, Any]) -> str:
    path = req["path"].lower()
    if req["host"] == "127.0.0.1":
        return "token"
    if ".vault." in req["host"]:
        return "keyvault"
    if path.endswith("/registries"):
        return "registry_list"
    if path.endswith("/vaults"):
        return "vault_list"
    if "roleassignments" in path:
        return "role_assignments"
    if path.rstrip("/") == "/subscriptions":
        return "subscription_list"
    return "other"


def steady(registries: int = 2000, subscriptions: int = 20, keys: int = 10) -> dict[str, Any]:
    az = standin(subscriptions=subscriptions)
    try:
        est.cmk_estate(az, registries, keys, subscriptions)
        pages = -(-registries // subscriptions // az.world.settings.arm_page_size)
        before = len(az.requests)
        result = run_child("sweep", {}, az)
        calls = az.requests[before:]
    finally:
        az.stop()
    kinds = Counter(_kind(r) for r in calls)
    return {
        "registries": registries, "subscriptions": subscriptions, "keys": keys,
        "http_calls": len(calls), "seconds": round(result["seconds"], 2),
        "unchanged": result["counts"].get("unchanged", 0), "diagnosed": result["diagnosed"],
        "pages_per_subscription": pages, "calls_by_kind": dict(sorted(kinds.items())),
        "registry_reads": kinds["other"], "throttled_429": sum(1 for r in calls if r["status"] == 429),
    }


def throttled(registries: int = 1000, subscriptions: int = 2, keys: int = 10) -> dict[str, Any]:
    az = standin(subscriptions=subscriptions)
    try:
        estate = est.cmk_estate(az, registries, keys, subscriptions)
        for name in estate.keys:
            est.new_version(az, estate, name)  # every registry is now one version behind
        before = len(az.requests)
        result = run_child("sweep", {}, az, timeout=280)
        calls = az.requests[before:]
    finally:
        az.stop()
    patches = Counter(r["path"].split("/")[2].lower() for r in calls if r["method"] == "PATCH" and r["status"] == 201)
    bucket_min = max(max(0.0, (n - WRITE_BURST) / WRITE_PER_S) for n in patches.values()) + LRO_S
    reads = Counter(r["path"].split("/")[2].lower() for r in calls
                    if r["method"] == "GET" and r["path"].lower().startswith("/subscriptions/"))
    counts = result["counts"]
    return {
        "registries": registries, "seconds": round(result["seconds"], 1), "bucket_min_s": round(bucket_min, 1),
        "vs_bucket_min": round(result["seconds"] / bucket_min, 2), "failed": counts.get("failed", 0),
        "rotated": counts.get("rotated", 0), "subscriptions": subscriptions,
        "throttled_429": sum(1 for r in calls if r["status"] == 429),
        "arm_reads_per_subscription": max(reads.values(), default=0),
        "patches_per_subscription": max(patches.values(), default=0),
        "failed_examples": result["failed_examples"],
    }


def memory(registries: int = 10_000, subscriptions: int = 20, keys: int = 10) -> dict[str, Any]:
    az = standin(subscriptions=subscriptions, throttling=False)
    try:
        est.cmk_estate(az, registries, keys, subscriptions)
        result = run_child("sweep", {}, az)
    finally:
        az.stop()
    return {"registries": registries, "peak_rss_mb": round(result["peak_rss_mb"], 1),
            "seconds": round(result["seconds"], 2), "unchanged": result["counts"].get("unchanged", 0)}
