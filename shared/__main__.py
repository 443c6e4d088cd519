"""Operator CLI on the same engine: ``python -m shared status|sweep|rotate [--registry ID | --key URL]
[--dry-run] [--json] [--html FILE]``. Works against Azure after ``az login`` (DefaultAzureCredential), and
against the stand-in when its environment is exported. With APPLICATIONINSIGHTS_CONNECTION_STRING set,
outcomes, metrics and traces go to Application Insights too."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from shared import telemetry, triggers
from shared.render import table as _table
from shared.status_html import render_status_html


def print_status(report: dict[str, Any]) -> None:
    print(_table(report["registries"], [
        ("REGISTRY", "name"), ("MODE", "mode"), ("OPTED OUT", "optedOut"), ("KEY", "key"),
        ("IN USE", "versionInUse"), ("NEWEST USABLE", "newestUsableVersion"), ("DAYS LEFT", "daysUntilExpiry"),
        ("PROBLEMS", "problems"),
    ]))
    if report.get("keys"):
        print()
        print(_table(report["keys"], [("KEY", "key"), ("NEWEST USABLE", "newestUsableVersion"),
                                      ("IN USE", "versionsInUse"), ("CANDIDATES TO DISABLE", "candidatesToDisable")]))


def print_run(report: dict[str, Any]) -> None:
    print(_table(report["outcomes"], [
        ("REGISTRY", "name"), ("RESULT", "result"), ("REASON", "reason"), ("FROM", "fromVersion"),
        ("TO", "toVersion"), ("DETAIL", "detail"),
    ]))
    for alert in report["alerts"]:
        print(f"ALERT {alert['severity']}: {alert['key']} version {alert['version'][:12]} expires "
              f"{alert['expiresOn']} ({alert['daysLeft']} days); used by {len(alert['affectedRegistries'])} registries")
    for problem in report["problems"]:
        print(f"PROBLEM {problem['reason']} at {problem['scope']}: {problem['detail']}")
    print(f"{report['trigger']} run {report['correlationId']}{' (dry run)' if report['dryRun'] else ''}: "
          + ", ".join(f"{n} {r}" for r, n in report["counts"].items() if n))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared", description=__doc__)
    parser.add_argument("command", choices=["status", "sweep", "rotate"])
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--registry", help="registry resource id (rotate only)")
    target.add_argument("--key", help="https://<vault host>/keys/<name> (rotate only)")
    parser.add_argument("--dry-run", action="store_true", help="plan only; write nothing")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--html", metavar="FILE", help="status only: also write a self-contained HTML page")
    args = parser.parse_args(argv)
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)  # outcome events are INFO records: exported, not printed
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", handlers=[console])
    exporting = telemetry.configure_for_cli()
    try:
        return _run(parser, args)
    finally:
        if exporting:
            telemetry.flush()


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.html and args.command != "status":
        parser.error("--html goes with status")
    if args.command == "status":
        if args.registry or args.key or args.dry_run:
            parser.error("status takes no --registry, --key or --dry-run")
        code, body = triggers.status()
        if code == 200 and args.html:
            with open(args.html, "w", encoding="utf-8") as page:
                page.write(render_status_html(body))
    elif args.command == "sweep":
        if args.registry or args.key:
            parser.error("sweep covers everything in scope; use rotate with --registry or --key")
        code, body = triggers.cli_sweep(args.dry_run)
    else:
        request: dict[str, Any] = {"dryRun": True} if args.dry_run else {}
        if args.registry:
            request["registry"] = args.registry
        if args.key:
            request["key"] = args.key
        code, body = triggers.rotate(json.dumps(request).encode())
    if args.json or code != 200:
        print(json.dumps(body, indent=2))
    elif args.command == "status":
        print_status(body)
    else:
        print_run(body)
    if code != 200:
        return 2
    failed = body.get("counts", {}).get("failed", 0)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
