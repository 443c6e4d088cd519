"""The engine's side of a benchmark, in its own process (``python -m bench.child TASK`` with a JSON
argument on stdin, a JSON answer as the last line of stdout).

The stand-in runs in the parent: the engine gets a GIL and a core of its own, as it would in Azure,
and its peak RSS (``resource.getrusage``) is its own.
"""

from __future__ import annotations

import contextlib
import json
import resource
import sys
import time
from typing import Any


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _counts(report: Any) -> dict[str, int]:
    counts: dict[str, int] = report.counts()
    return counts


def event_run(args: dict[str, Any]) -> dict[str, Any]:
    """Warm the worker (tokens, connections), then time the Event Grid path for each event, in order."""
    from shared import triggers
    from shared.composition import build_engine
    from shared.events import envelope_from_json
    from shared.keyids import parse_key_id

    engine = build_engine()
    warm = parse_key_id(args["warm_key"], engine.settings.endpoints.key_vault_suffixes)
    engine.status(warm.key)  # the credential's tokens and the pools, as in a worker that has run before
    results = {}
    for name, payload in args["events"].items():
        started = time.perf_counter()
        try:
            report = triggers.key_event(envelope_from_json(payload), lambda: engine)
            counts = _counts(report) if report else {}
        except triggers.RetryLater as exc:
            counts = {"retry_later": 1, "detail": str(exc)}  # type: ignore[dict-item]
        results[name] = {"seconds": time.perf_counter() - started, "counts": counts}
    return results


def naive(args: dict[str, Any]) -> dict[str, Any]:
    """The naive baseline: get, PATCH, wait, per registry, one after another, with the same SDK client
    options and polling interval as the engine (its own adapter's PATCH body)."""
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.containerregistry import ContainerRegistryManagementClient
    from azure.mgmt.containerregistry import models as acr

    credential = DefaultAzureCredential()
    clients: dict[str, ContainerRegistryManagementClient] = {}
    started = None
    for rid in args["registries"]:
        parts = rid.split("/")
        sub, rg, name = parts[2], parts[4], parts[8]
        client = clients.get(sub) or clients.setdefault(sub, ContainerRegistryManagementClient(credential, sub))
        if started is None:
            client.registries.get(rg, name)  # warm tokens and connections first, as for the engine
            started = time.perf_counter()
        current = client.registries.get(rg, name)
        kvp = current.encryption.key_vault_properties
        params = acr.RegistryUpdateParameters(properties=acr.RegistryPropertiesUpdateParameters(
            encryption=acr.EncryptionProperty(status="enabled", key_vault_properties=acr.KeyVaultProperties(
                key_identifier=args["key_url"] + "/" + args["version"], identity=kvp.identity))))
        client.registries.begin_update(rg, name, params, polling_interval=args["poll_s"]).result()
    assert started is not None
    return {"seconds": time.perf_counter() - started, "registries": len(args["registries"])}


def sweep(args: dict[str, Any]) -> dict[str, Any]:
    from shared.composition import build_engine
    from shared.requests import RunRequest

    engine = build_engine()
    started = time.perf_counter()
    report = engine.run(RunRequest.sweep(dry_run=bool(args.get("dry_run"))))
    seconds = time.perf_counter() - started
    failed = [o.to_dict() for o in report.outcomes if o.result.value == "failed"][:5]
    return {"seconds": seconds, "counts": _counts(report), "problems": len(report.problems),
            "diagnosed": len(report.diagnosis or {}), "failed_examples": failed, "peak_rss_mb": _rss_mb()}


def discover(args: dict[str, Any]) -> dict[str, Any]:
    """The engine's discovery alone, after one warm-up call (the credential's token, the connection)."""
    from shared.composition import build_engine
    from shared.requests import Scope

    engine = build_engine()
    engine.registries.list_subscription_ids()
    started_at = time.time()  # the stand-in stamps requests with its clock: the same wall clock
    started = time.perf_counter()
    registries, problems = engine.discovery.discover(Scope())
    return {"seconds": time.perf_counter() - started, "started_at": started_at, "found": len(registries),
            "problems": [p.detail for p in problems]}


def import_time(args: dict[str, Any]) -> dict[str, Any]:
    """Seconds and peak RSS to import ``args['modules']`` in this fresh interpreter."""
    import importlib

    started = time.perf_counter()
    for name in args["modules"]:
        with contextlib.suppress(ImportError):  # a lazily aliased submodule: its package is imported anyway
            importlib.import_module(name)
    seconds = time.perf_counter() - started
    out: dict[str, Any] = {"seconds": seconds, "rss_mb": _rss_mb()}
    if args.get("list_third_party"):
        ours = {"function_app", "shared", "bench", "emulator", "tests"}
        out["third_party"] = sorted(
            name for name in sys.modules
            if name.split(".")[0] not in sys.stdlib_module_names and name.split(".")[0] not in ours
            and not name.startswith("_"))
    return out


TASKS = {"event_run": event_run, "naive": naive, "sweep": sweep, "import_time": import_time, "discover": discover}

if __name__ == "__main__":
    task = TASKS[sys.argv[1]]
    answer = task(json.loads(sys.stdin.read() or "{}"))
    sys.stdout.write("\n" + json.dumps(answer) + "\n")
