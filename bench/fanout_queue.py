"""fanout_queue: the queue path as the distributed engine. A sweep enqueues one message per registry to a
Storage queue on Azurite, and N host processes (emulator/queue_host.py: the Functions host's queue listener)
apply them, sharing ARM's buckets through the budget in storage, with throttling on in the stand-in.

``seconds`` runs from the planning sweep's start to the last registry verified. ``bucket_min_s`` is what
``sweep_throttled`` computes: per subscription ``max(0, (PATCHes - 200) / 10)`` plus one long-running operation.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from typing import Any

from azure.storage.queue import QueueClient

from bench import estate as est
from bench.runner import LRO_S, ROOT, child_env, run_child, standin
from bench.sweeps import WRITE_BURST, WRITE_PER_S
from emulator.azurite import Azurite
from emulator.standin import AzureStandIn

THREADS = 32  # PYTHON_THREADPOOL_THREAD_COUNT, as docs/scale-out.md recommends for the queue path


def run(registries: int = 2000, subscriptions: int = 4, instances: int = 4, keys: int = 10) -> dict[str, Any]:
    az = standin(subscriptions=subscriptions)
    azurite = Azurite()
    try:
        with azurite as storage:
            figure = measure(az, storage, registries, subscriptions, instances, keys)
            figure["azurite_cpu_s"] = round(azurite.cpu_seconds(), 1)
            figure["load_avg_1m"] = round(os.getloadavg()[0], 1)  # the machine is shared: how busy it was
            return figure
    finally:
        az.stop()


def measure(az: AzureStandIn, storage: str, registries: int, subscriptions: int, instances: int,
            keys: int, settings: dict[str, str] | None = None) -> dict[str, Any]:
    estate = est.cmk_estate(az, registries, keys, subscriptions)
    new = {name: est.new_version(az, estate, name) for name in estate.keys}
    queue_name = f"rotations-{uuid.uuid4().hex[:8]}"
    QueueClient.from_connection_string(storage, queue_name).create_queue()
    app = {"ROTATION_QUEUE_NAME": queue_name, "AzureWebJobsStorage": storage,
           "ROTATION_MAX_INSTANCES": str(instances), "PYTHON_THREADPOOL_THREAD_COUNT": str(THREADS),
           **(settings or {})}
    env = child_env(az, app)
    before = len(az.requests)
    with tempfile.TemporaryDirectory(prefix="fanout-queue-") as scratch:
        outputs = [open(f"{scratch}/host{i}.out", "w+") for i in range(instances)]  # noqa: SIM115 - closed below
        started, standin_cpu = time.time(), _cpu(resource.RUSAGE_SELF)
        hosts = [subprocess.Popen([sys.executable, "-m", "emulator.queue_host", "--queue", queue_name,
                                   "--until-empty"], cwd=ROOT, env=env, text=True, stdout=out,
                                  stderr=subprocess.STDOUT) for out in outputs]
        planning_cpu = _cpu(resource.RUSAGE_CHILDREN)
        planned = run_child("sweep", {}, az, app)
        planned["cpu_s"] = _cpu(resource.RUSAGE_CHILDREN) - planning_cpu
        for host in hosts:
            host.wait(timeout=1800)
        planned["standin_cpu_s"] = _cpu(resource.RUSAGE_SELF) - standin_cpu
        records = []
        for host, out in zip(hosts, outputs, strict=True):
            out.seek(0)
            text = out.read()
            out.close()
            if host.returncode != 0:
                raise RuntimeError(f"queue host failed ({host.returncode}):\n{text[-3000:]}")
            records.append([json.loads(line) for line in text.splitlines() if line.startswith("{")])
    return _figure(az, estate, new, records, az.requests[before:], started, planned,
                   {"registries": registries, "subscriptions": subscriptions, "instances": instances})


def _figure(az: AzureStandIn, estate: est.BenchEstate, new: dict[str, str], records: list[list[dict[str, Any]]],
            calls: list[dict[str, Any]], started: float, planned: dict[str, Any],
            shape: dict[str, int]) -> dict[str, Any]:
    runs = [r for host in records for r in host if r.get("event") == "invocation"]
    outcomes = [o for r in runs for o in r.get("outcomes", [])]
    patches = Counter(r["path"].split("/")[2].lower() for r in calls if r["method"] == "PATCH" and r["status"] == 201)
    bucket_min = max((max(0.0, (n - WRITE_BURST) / WRITE_PER_S) for n in patches.values()), default=0.0) + LRO_S
    seconds = max((r["doneAt"] for r in runs), default=started) - started
    arm = [r for r in calls if r["host"].startswith("management.")]
    throttled = sum(1 for r in arm if r["status"] == 429)
    failures = (sum(1 for o in outcomes if o["result"] == "failed") + sum(1 for r in runs if "raised" in r)
                + sum(1 for host in records for r in host if r.get("event") == "poisoned"))
    return {
        **shape, "seconds": round(seconds, 1), "bucket_min_s": round(bucket_min, 1),
        "vs_bucket_min": round(seconds / bucket_min, 2), "throttled_429": throttled,
        "throttled_pct": round(100.0 * throttled / max(1, len(arm)), 2), "failures": failures,
        "peak_rss_mb_per_instance": round(max(r["peakRssMb"] for host in records for r in host
                                              if r.get("event") == "exit"), 1),
        "rotated": sum(1 for o in outcomes if o["result"] == "rotated"),
        "converged": _converged(az, estate, new), "arm_calls": len(arm),
        "patches_per_subscription": max(patches.values(), default=0), "patches": sum(patches.values()),
        "invocations": len(runs),
        "planned_s": round(planned["seconds"], 1),
        # CPU seconds during the run, by process: this machine's 2 cores bound the figure (bench/README.md)
        "hosts_cpu_s": round(sum(r["cpuS"] for host in records for r in host if r.get("event") == "exit"), 1),
        "planning_cpu_s": round(planned["cpu_s"], 1), "standin_cpu_s": round(planned["standin_cpu_s"], 1),
        "invocations_per_instance": [sum(1 for r in host if r.get("event") == "invocation") for host in records],
    }


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _converged(az: AzureStandIn, estate: est.BenchEstate, new: dict[str, str]) -> int:
    """Registries whose versionedKeyIdentifier is their key's new version, as ARM holds it."""
    from emulator.arm_registries import settle

    done = 0
    with az.world.lock:
        for name, ids in estate.registries.items():
            wanted = f"{estate.key_url(name)}/{new[name]}".lower()
            for rid in ids:
                body = settle(az.world, rid.lower()) or {}
                kvp = body.get("properties", {}).get("encryption", {}).get("keyVaultProperties", {})
                done += str(kvp.get("versionedKeyIdentifier", "")).lower() == wanted
    return done
