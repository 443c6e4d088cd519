"""Print GET /api/doctor's JSON answer as `python -m shared doctor` prints it (the postdeploy hooks use this).

Standard library only: it runs on the deployer's machine, outside the app's environment."""

from __future__ import annotations

import json
import sys
import textwrap


def lines(report: dict) -> list[str]:
    out = [f"doctor, run from {report.get('ranFrom', '?')}"]
    for check in report.get("checks", []):
        reason = f" [{check['reason']}]" if check.get("reason") else ""
        out.append(f"{check['status']}  {check['check']}: {check['detail']}{reason}")
        if check.get("fix"):
            out += textwrap.wrap(f"fix: {check['fix']}", width=110, initial_indent="      ",
                                 subsequent_indent="        ")
    counts = report.get("counts", {})
    out.append(", ".join(f"{n} {status}" for status, n in counts.items()))
    return out


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as answer:
        print("\n".join(lines(json.load(answer))))
