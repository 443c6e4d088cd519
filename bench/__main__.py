"""``make bench``: every figure side by side against the stand-in, a table, then one ``BENCH {json}`` line.

``python -m bench --small`` runs the same code paths at tiny sizes (what tests/bench does).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench import cold_start, discovery, fanout, fanout_queue, sweeps

HERE = Path(__file__).resolve().parent
TARGETS = {  # figure -> (key, comparison, bound): the targets, checked here and nowhere else
    "fanout": [("speedup_vs_naive", ">=", 20), ("vs_single", "<=", 2.5), ("ours_s", "<", 30)],
    "sweep_throttled": [("vs_bucket_min", "<=", 1.5), ("failed", "==", 0)],
    "cold_start": [("ratio", "<=", 1.2)],
    "memory": [("peak_rss_mb", "<=", 250)],
    "fanout_queue": [("vs_bucket_min", "<=", 1.3), ("failures", "==", 0), ("throttled_pct", "<=", 1.0),
                     ("peak_rss_mb_per_instance", "<=", 150)],
}
BENCH_KEYS = {
    "fanout": ("ours_s", "single_s", "naive_s", "speedup_vs_naive", "vs_single"),
    "sweep_steady": ("registries", "subscriptions", "keys", "http_calls", "seconds"),
    "sweep_throttled": ("registries", "seconds", "bucket_min_s", "vs_bucket_min", "failed"),
    "cold_start": ("app_s", "bare_s", "ratio", "app_rss_mb"),
    "memory": ("registries", "peak_rss_mb"),
    "discovery": ("registries", "subscriptions", "list_calls", "list_s", "graph_calls", "graph_s", "speedup"),
    "fanout_queue": ("registries", "subscriptions", "instances", "seconds", "bucket_min_s", "vs_bucket_min",
                     "throttled_429", "failures", "peak_rss_mb_per_instance"),
}


def figures(small: bool) -> dict[str, dict[str, Any]]:
    if small:
        return {
            "fanout": fanout.run(registries=8, subscriptions=2, sample=2),
            "sweep_steady": sweeps.steady(registries=40, subscriptions=2, keys=2),
            "sweep_throttled": sweeps.throttled(registries=20, subscriptions=2, keys=2),
            "cold_start": cold_start.run(repetitions=1),
            "memory": sweeps.memory(registries=50, subscriptions=2, keys=2),
            "discovery": discovery.run(sizes=((40, 2),), keys=2),
            "fanout_queue": fanout_queue.run(registries=20, subscriptions=2, instances=2, keys=2),
        }
    return {
        "fanout": fanout.run(),
        "sweep_steady": sweeps.steady(),
        "sweep_throttled": sweeps.throttled(),
        "cold_start": cold_start.run(),
        "memory": sweeps.memory(),
        "discovery": discovery.run(),
        # 2,000 pinned registries in 4 subscriptions on 4 instances; BENCH_LARGE=1: 10,000 in 20.
        "fanout_queue": (fanout_queue.run(registries=10_000, subscriptions=20) if os.environ.get("BENCH_LARGE") == "1"
                         else fanout_queue.run()),
    }


def _met(value: float, op: str, bound: float) -> bool:
    return {">=": value >= bound, "<=": value <= bound, "<": value < bound, "==": value == bound}[op]


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [f"{'figure':<16} {'measure':<28} {'value':>12}  target"]
    for figure, values in results.items():
        targets = {key: (op, bound) for key, op, bound in TARGETS.get(figure, [])}
        for key, value in values.items():
            if isinstance(value, (dict, list)):
                continue
            mark = ""
            if key in targets:
                op, bound = targets[key]
                mark = f"{op} {bound}  {'ok' if _met(value, op, bound) else 'MISSED'}"
            lines.append(f"{figure:<16} {key:<28} {value:>12}  {mark}")
    return "\n".join(lines)


def bench_line(results: dict[str, dict[str, Any]]) -> str:
    shaped = {figure: {key: results[figure][key] for key in keys} for figure, keys in BENCH_KEYS.items()}
    for figure, keys in BENCH_KEYS.items():  # more keys are welcome: numbers only
        shaped[figure].update({k: v for k, v in results[figure].items()
                               if k not in keys and isinstance(v, (int, float))})
    return "BENCH " + json.dumps(shaped, separators=(",", ":"))


def main(argv: list[str]) -> int:
    small = "--small" in argv
    started = time.monotonic()
    results = figures(small)
    text = table(results) + f"\n\n(total {time.monotonic() - started:.0f} s)"
    line = bench_line(results)
    print(text)
    if not small:
        (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        (HERE / "results.txt").write_text(text + "\n" + line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
