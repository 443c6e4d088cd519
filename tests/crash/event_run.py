"""One Event Grid delivery in a process of its own, as the Functions worker runs ``on_key_event``:
``python -m tests.crash.event_run`` with the event's JSON on stdin. Prints the run's report (or the
``RetryLater`` that asks Event Grid to redeliver) as one JSON line, then exports telemetry, as a worker
does after its invocation; the crash tests kill it at chosen points of that."""

from __future__ import annotations

import json
import sys

from shared import telemetry, triggers
from shared.composition import configure_telemetry_for_cli
from shared.events import envelope_from_json


def main() -> int:
    exporting = configure_telemetry_for_cli()
    try:
        try:
            report = triggers.key_event(envelope_from_json(json.load(sys.stdin)))
            answer = {"report": report.to_dict() if report is not None else None, "raised": None}
        except triggers.RetryLater as exc:
            answer = {"report": None, "raised": str(exc)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    finally:
        if exporting:
            telemetry.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
