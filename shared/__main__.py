"""Operator CLI on the same engine:

    python -m shared status [--json] [--html FILE]
    python -m shared sweep [--dry-run] [--json]
    python -m shared rotate [--registry ID [--to-version V [--allow-downgrade]] | --key URL] [--dry-run] [--json]
    python -m shared retire (--plan | --apply --plan-hash H | --undo VERSION [--key URL]) [--json]
    python -m shared doctor [--json] [--app NAME]
    python -m shared status|rotate ... --remote https://<app> [--audience api://<client id>] [--reason TEXT]

Works against Azure after ``az login`` (DefaultAzureCredential), and against the stand-in when its environment is
exported. With ``--remote``, status and rotate go to a deployed app's /api/status and /api/rotate instead, with an
Entra ID token for the app's audience (shared.remote); the app checks the caller's app role and records who asked.
With APPLICATIONINSIGHTS_CONNECTION_STRING set, outcomes, metrics and traces go to Application Insights too.
``rotate`` takes the same fields as ``POST /api/rotate`` and validates them the same way."""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import textwrap
from collections.abc import Sequence

from shared import doctor, retirement_cli, telemetry, triggers
from shared.manual import cli_fields
from shared.outcomes import RunReport
from shared.reasons import AUTHENTICATION_REASONS, Result
from shared.render import table
from shared.status import StatusReport
from shared.status_html import render_status_html


def print_status(report: StatusReport) -> None:
    print(table([r.to_dict() for r in report.registries], [
        ("REGISTRY", "name"), ("MODE", "mode"), ("OPTED OUT", "optedOut"), ("KEY", "key"),
        ("IN USE", "versionInUse"), ("NEWEST USABLE", "newestUsableVersion"), ("DAYS LEFT", "daysUntilExpiry"),
        ("PROBLEMS", "problems"),
    ]))
    if report.keys:
        print()
        print(table([k.to_dict() for k in report.keys], [
            ("KEY", "key"), ("NEWEST USABLE", "newestUsableVersion"), ("IN USE", "versionsInUse"),
            ("CANDIDATES TO DISABLE", "candidatesToDisable")]))
    for problem in report.problems:
        print(f"PROBLEM {problem.reason.value} at {problem.scope}: {problem.detail}")


def print_run(report: RunReport) -> None:
    print(table([o.to_dict() for o in report.outcomes], [
        ("REGISTRY", "name"), ("RESULT", "result"), ("REASON", "reason"), ("FROM", "fromVersion"),
        ("TO", "toVersion"), ("DETAIL", "detail"),
    ]))
    for alert in report.alerts:
        print(f"ALERT {alert.severity}: {alert.key.uri()} version {alert.version[:12]} expires "
              f"{alert.expires_on.isoformat()} ({alert.days_left} days); used by {len(alert.affected_registries)} "
              "registries")
    for problem in report.problems:
        print(f"PROBLEM {problem.reason.value} at {problem.scope}: {problem.detail}")
    if report.retirement is not None:  # the sweep's retirement step (docs/retirement.md)
        print("\n".join(retirement_cli.sweep_lines(report.retirement)))
    print(f"{report.trigger.value} run {report.correlation_id}{' (dry run)' if report.dry_run else ''}: "
          + ", ".join(f"{n} {r}" for r, n in report.counts().items() if n))


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m shared", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = root.add_subparsers(dest="command", required=True, metavar="{status,sweep,rotate,doctor,retire}")
    status = commands.add_parser("status", help="every CMK registry in scope, its key and its problems")
    status.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page")
    sweep = commands.add_parser("sweep", help="converge everything in scope, as the timer does")
    rotate = commands.add_parser("rotate", help="converge one registry, or the registries on one key")
    target = rotate.add_mutually_exclusive_group()
    target.add_argument("--registry", help="registry resource id")
    target.add_argument("--key", help="https://<vault host>/keys/<name>")
    rotate.add_argument("--to-version", help="break-glass: move the registry to this version (with --registry)")
    rotate.add_argument("--allow-downgrade", action="store_true", help="with --to-version: even to an older one")
    for command in (sweep, rotate):
        command.add_argument("--dry-run", action="store_true", help="plan only; write nothing")
    checkup = commands.add_parser("doctor", help="check the deployment end to end, writing nothing")
    checkup.add_argument("--app", default="", metavar="NAME",
                         help="the function app whose on_key_event Event Grid must deliver to")
    for command in (status, sweep, rotate, checkup):
        command.add_argument("--json", action="store_true", help="machine-readable output")
    for command in (status, rotate):
        command.add_argument("--remote", metavar="URL", help="a deployed app, like https://<app>.azurewebsites.net")
        command.add_argument("--audience", help="with --remote: the app's application ID URI (api://<client id>); "
                                                "default ROTATION_AUTH_APP_ID_URI or api://ROTATION_AUTH_CLIENT_ID")
    rotate.add_argument("--reason", help="why (recorded verbatim; required for a downgrade with --remote)")
    retirement_cli.add_parser(commands)
    return root


def answer(args: argparse.Namespace) -> triggers.Answer:
    if getattr(args, "remote", None):
        from shared import remote

        return remote.answer(args)
    if getattr(args, "audience", None):
        raise SystemExit("--audience goes with --remote")
    if args.command == "status":
        return triggers.status()
    if args.command == "doctor":
        return triggers.doctor(args.app)
    # A local run writes as the operator's own credential: attributed to the identity it signs in as.
    from shared.composition import cli_requester

    if args.command == "sweep":
        return triggers.cli_sweep(args.dry_run, requested_by=cli_requester())
    return triggers.rotate_fields(cli_fields(args), requested_by=cli_requester(), reason=args.reason or "")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)
    # Custom events (outcomes, alerts, problems) are exported to Application Insights, and printed by the CLI itself.
    console.addFilter(lambda record: not hasattr(record, telemetry.CUSTOM_EVENT))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", handlers=[console])
    # azure-identity warns with its whole credential chain; the CLI says it in one paragraph (the chain: DEBUG).
    logging.getLogger("azure.identity").setLevel(logging.ERROR)
    from shared.composition import configure_telemetry_for_cli

    exporting = configure_telemetry_for_cli()
    try:
        if args.command == "retire":
            from shared.composition import cli_requester, retirer

            return retirement_cli.run(args, retirer, cli_requester)
        return show(args, answer(args))
    finally:
        if exporting:
            telemetry.flush()


# Exit codes (README, "Exit codes"): argparse's own 2 for usage stays 2.
OK, FAILED, USAGE_OR_CONFIGURATION, NOT_AUTHENTICATED = 0, 1, 2, 3


def exit_code(result: triggers.Answer) -> int:
    report = result.report
    if report is None:  # a 400 (bad input) or a 500 (configuration) answer
        return USAGE_OR_CONFIGURATION
    if isinstance(report, doctor.DoctorReport):
        return doctor.exit_code(report)
    reasons = {p.reason for p in report.problems}
    if isinstance(report, RunReport):
        reasons |= {o.reason for o in report.outcomes if o.result == Result.FAILED}
    if reasons & AUTHENTICATION_REASONS:
        return NOT_AUTHENTICATED
    failed = isinstance(report, RunReport) and report.counts()["failed"] > 0
    return FAILED if failed or any(not p.transient for p in report.problems) else OK


def authentication_paragraph(report: RunReport | StatusReport) -> str | None:
    """Cause, what was tried, and the fix, in one short paragraph (the credential chain is logged at DEBUG)."""
    details = [p.detail for p in report.problems if p.reason in AUTHENTICATION_REASONS]
    if isinstance(report, RunReport):
        details += [o.detail for o in report.outcomes if o.reason in AUTHENTICATION_REASONS]
    if not details:
        return None
    # Wrapped for a terminal, never inside a `command`.
    text = re.sub(r"`[^`]*`", lambda m: m.group(0).replace(" ", "\u00a0"),
                  f"Could not authenticate to Azure. {details[0]}")
    return "\n".join(textwrap.wrap(text, width=100, break_on_hyphens=False)).replace("\u00a0", " ")


def print_doctor(report: doctor.DoctorReport) -> None:
    print(f"doctor, run from {report.ran_from}")
    for check in report.checks:
        print(f"{check.status.value}  {check.name}: {check.detail}"
              + (f" [{check.reason.value}]" if check.reason else ""))
        if check.fix:
            print("\n".join(textwrap.wrap(f"fix: {check.fix}", width=110, initial_indent="      ",
                                          subsequent_indent="        ")))
    print(", ".join(f"{n} {status}" for status, n in report.counts().items()))


def show_doctor(args: argparse.Namespace, report: doctor.DoctorReport) -> int:
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print_doctor(report)
    return doctor.exit_code(report)


def show(args: argparse.Namespace, result: triggers.Answer) -> int:
    report = result.report
    if isinstance(report, doctor.DoctorReport):
        return show_doctor(args, report)
    if isinstance(report, StatusReport) and getattr(args, "html", None):
        with open(args.html, "w", encoding="utf-8") as page:
            page.write(render_status_html(report))
    if not args.json and report is None and result.status == 200 and getattr(args, "remote", None):
        from shared import remote

        remote.print_answer(args.command, result.body)
    elif args.json or report is None:
        print(json.dumps(result.body, indent=2))
    elif isinstance(report, StatusReport):
        print_status(report)
    else:
        print_run(report)
    paragraph = authentication_paragraph(report) if report is not None else None
    if paragraph:
        print(paragraph, file=sys.stderr)
    if getattr(args, "remote", None):
        from shared import remote

        return remote.exit_code(result)
    return exit_code(result)


if __name__ == "__main__":
    sys.exit(main())
