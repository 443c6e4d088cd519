"""fanout: one new key version used by 200 pinned registries in 4 subscriptions, through the Event
Grid path; the same engine for one registry; and a naive sequential loop on a sample, scaled."""

from __future__ import annotations

from typing import Any

from bench import estate as est
from bench.runner import POLL_S, run_child, standin
from emulator import seed


def _event_for(az: Any, key_url: str, version: str) -> dict[str, Any]:
    [event] = [e for e in az.events if e["eventType"].endswith("KeyNewVersionCreated")
               and e["data"]["Id"].lower() == f"{key_url}/{version}".lower()]
    return dict(event)


def run(registries: int = 200, subscriptions: int = 4, sample: int = 20) -> dict[str, Any]:
    az = standin(subscriptions=subscriptions)
    try:
        subs = az.subscription_ids[:subscriptions]
        vault_url, identity_id = est.vault_and_identity(az)
        estate = est.BenchEstate(vault_url)
        for name, count, prefix in (("fan", registries, "acrfan"), ("one", 1, "acrone"),
                                    ("naive", sample, "acrnaive")):
            est.add_key_with_registries(az, estate, identity_id, name, count, subs, prefix)
        seed.create_key(az, vault_url, "warm", "RSA", size=2048)
        new = {name: est.new_version(az, estate, name) for name in ("fan", "one", "naive")}
        events = {"single": _event_for(az, estate.key_url("one"), new["one"]),
                  "fanout": _event_for(az, estate.key_url("fan"), new["fan"])}
        before = len(az.requests)
        timed = run_child("event_run", {"warm_key": estate.key_url("warm"), "events": events}, az)
        engine_requests = az.requests[before:]
        naive = run_child("naive", {"registries": estate.registries["naive"], "key_url": estate.key_url("naive"),
                                    "version": new["naive"], "poll_s": POLL_S}, az)
        verified = sum(1 for rid in estate.registries["fan"]
                       if az.world.registries[rid.lower()]["properties"]["encryption"]["keyVaultProperties"]
                       ["versionedKeyIdentifier"].endswith(new["fan"]))
    finally:
        az.stop()
    ours, single = timed["fanout"]["seconds"], timed["single"]["seconds"]
    naive_s = naive["seconds"] / naive["registries"] * registries
    return {
        "ours_s": round(ours, 2), "single_s": round(single, 2), "naive_s": round(naive_s, 1),
        "speedup_vs_naive": round(naive_s / ours, 1), "vs_single": round(ours / single, 2),
        "registries": registries, "subscriptions": subscriptions, "naive_sample": naive["registries"],
        "verified": verified, "rotated": timed["fanout"]["counts"].get("rotated", 0),
        "throttled_429": sum(1 for r in engine_requests if r["status"] == 429),
        "within_event_budget": int(ours < 30),
    }
