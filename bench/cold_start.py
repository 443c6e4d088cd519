"""cold_start: importing function_app against importing, bare, the third-party modules it loads at start-up."""

from __future__ import annotations

import statistics
import tempfile
from typing import Any

from bench.runner import run_child


def run(repetitions: int = 5) -> dict[str, Any]:
    # The third-party packages were byte-compiled by pip; ours must be too for a fair comparison. This
    # workplace sets PYTHONDONTWRITEBYTECODE, so bytecode goes to a scratch prefix, never into the tree.
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as prefix:
        compiled = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": prefix}
        probe = run_child("import_time", {"modules": ["function_app"], "list_third_party": True},
                          environment=compiled)
        third_party = probe["third_party"]
        app, bare = [], []
        for _ in range(repetitions):  # alternate, so drift in the machine's load hits both alike
            app.append(run_child("import_time", {"modules": ["function_app"]}, environment=compiled))
            bare.append(run_child("import_time", {"modules": third_party}, environment=compiled))
    from_source = [run_child("import_time", {"modules": ["function_app"]},
                             environment={"PYTHONDONTWRITEBYTECODE": "1"}) for _ in range(repetitions)]
    app_s = statistics.median(r["seconds"] for r in app)
    bare_s = statistics.median(r["seconds"] for r in bare)
    return {
        "app_s": round(app_s, 3), "bare_s": round(bare_s, 3), "ratio": round(app_s / bare_s, 2),
        "app_rss_mb": round(statistics.median(r["rss_mb"] for r in app), 1),
        "bare_rss_mb": round(statistics.median(r["rss_mb"] for r in bare), 1),
        "third_party_modules": len(third_party), "repetitions": repetitions,
        # Our modules compiled from source at every start (a read-only package shipped without __pycache__).
        "app_from_source_s": round(statistics.median(r["seconds"] for r in from_source), 3),
    }
