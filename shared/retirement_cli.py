"""``python -m shared retire``: plan, apply a reviewed plan, or undo. Errors are answers, never stack traces.

    retire --plan                     every candidate version with the evidence of each check, and the plan hash
    retire --apply --plan-hash H      recompute; apply only if the plan is still H, else print what changed
    retire --undo VERSION [--key URL] re-enable a version (a versioned key URL, or a version id)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
from collections.abc import Callable

from shared.errors import ConfigurationError
from shared.keyids import InvalidKeyId, KeyRef, parse_key_id
from shared.reasons import AUTHENTICATION_REASONS, RetireResult, Trigger
from shared.requests import Requester, RunRequest, new_correlation_id
from shared.retirement import RetirementPlan
from shared.retirement_apply import RetirementReport, Retirer
from shared.retirement_observe import find_version

log = logging.getLogger(__name__)
OK, FAILED, USAGE_OR_CONFIGURATION, NOT_AUTHENTICATED = 0, 1, 2, 3


def add_parser(commands: argparse._SubParsersAction) -> None:
    retire = commands.add_parser("retire", help="retire superseded key versions of opted-in keys (docs/retirement.md)")
    what = retire.add_mutually_exclusive_group(required=True)
    what.add_argument("--plan", action="store_true", help="print each candidate with its evidence, and the hash")
    what.add_argument("--apply", action="store_true", help="apply the plan whose hash is --plan-hash")
    what.add_argument("--undo", metavar="VERSION", help="re-enable a version (versioned key URL or version id)")
    retire.add_argument("--plan-hash", metavar="H", help="with --apply: the hash --plan printed")
    retire.add_argument("--key", help="with --undo and a bare version: https://<vault host>/keys/<name>")
    retire.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace, retirer_factory: Callable[[], Retirer],
        requester: Callable[[], Requester] = lambda: Requester("cli")) -> int:
    """``requester``: who the CLI's credential signs in as (the composition root reads it from the token)."""
    if args.apply and not args.plan_hash:
        print("retire --apply needs --plan-hash (the hash retire --plan printed)")
        return USAGE_OR_CONFIGURATION
    request = RunRequest(Trigger.MANUAL, new_correlation_id())
    try:
        retirer = retirer_factory()
        request = RunRequest(Trigger.MANUAL, request.correlation_id, retirer.reads.settings.dry_run,
                             requested_by=requester())
        report = _answer(args, retirer, request)
    except (ConfigurationError, InvalidKeyId, ValueError) as exc:
        print(f"retire: {exc}")
        return USAGE_OR_CONFIGURATION
    except Exception:
        log.exception("retire %s failed", request.correlation_id)
        print(f"retire: internal error; see the logs for correlation id {request.correlation_id}")
        return FAILED
    print(json.dumps(report.to_dict(), indent=2) if args.json else render(report))
    not_signed_in = [p.detail for p in report.problems if p.reason in AUTHENTICATION_REASONS]
    if not_signed_in:  # one paragraph, as the other commands say it (the credential chain is logged at DEBUG)
        print("\n".join(textwrap.wrap(f"Could not authenticate to Azure. {not_signed_in[0]}", width=100)),
              file=sys.stderr)
    return exit_code(report)


def _answer(args: argparse.Namespace, retirer: Retirer, request: RunRequest) -> RetirementReport:
    if args.plan:
        return retirer.show_plan(request)
    if args.apply:
        return retirer.apply(request, args.plan_hash)
    key, version = resolve(args.undo, args.key, retirer)
    return retirer.undo(request, key, version)


def resolve(text: str, key_url: str | None, retirer: Retirer) -> tuple[KeyRef, str]:
    """A versioned key URL; or a version id with --key; or a version id found among the keys in use."""
    suffixes = retirer.reads.settings.endpoints.key_vault_suffixes
    if text.strip().lower().startswith("https://"):
        parsed = parse_key_id(text, suffixes)
        if parsed.version is None:
            raise ValueError("--undo needs a version: https://<vault host>/keys/<name>/<version>")
        return parsed.key, parsed.version
    version = text.strip().lower()
    if not version.isalnum():
        raise ValueError(f"{text!r} is neither a versioned key URL nor a version id")
    if key_url:
        return parse_key_id(key_url, suffixes).key, version
    found = find_version(retirer.reads, version)
    if len(found) != 1:
        raise ValueError(f"version {version} found on {len(found)} keys in use; name the key with --key")
    return found[0], version


def exit_code(report: RetirementReport) -> int:
    if {p.reason for p in report.problems} & AUTHENTICATION_REASONS:
        return NOT_AUTHENTICATED
    bad = {RetireResult.FAILED, RetireResult.REVERTED}
    if report.difference or any(o.result in bad for o in report.outcomes) \
            or any(not p.transient for p in report.problems):
        return FAILED
    return OK


def render(report: RetirementReport) -> str:
    lines = render_plan(report.plan) if report.plan is not None and report.mode == "plan" else []
    lines += [f"{o.result.value.upper():13} {o.key.uri(o.version)}  {o.detail}" for o in report.outcomes]
    if report.difference:
        lines += ["The plan changed since it was reviewed; nothing was disabled:"]
        lines += [f"  {line}" for line in report.difference]
    lines += [f"PROBLEM {p.reason.value} at {p.scope}: {p.detail}" for p in report.problems]
    if report.plan is not None:
        lines.append(f"plan hash: {report.plan.digest} ({len(report.plan.eligible)} to retire)")
    return "\n".join(lines)


def sweep_lines(report: RetirementReport) -> list[str]:
    """The sweep's retirement step, in the CLI's run output: each outcome, and the plan hash to review."""
    lines = [f"RETIREMENT {o.result.value} {o.key.uri(o.version)}: {o.detail}" for o in report.outcomes]
    if report.plan is not None:
        lines.append(f"RETIREMENT ({report.mode}) plan hash {report.plan.digest}: {len(report.plan.eligible)} "
                     "eligible; details: python -m shared retire --plan")
    return lines


def render_plan(plan: RetirementPlan) -> list[str]:
    lines = []
    for key in plan.keys:
        lines.append(f"KEY {key.uri()}")
        for candidate in (c for c in plan.candidates if c.key == key):
            verdict = "RETIRE" if candidate.eligible else "keep"
            lines.append(f"  {verdict:6} {candidate.version}")
            lines += [f"         [{'x' if e.passed else ' '}] {e.check.value}: {e.detail}" for e in candidate.evidence]
    if not plan.keys:
        lines.append("no key in scope is opted in (a valid cmk-rotation-retire-after-days tag): nothing to retire")
    return lines
