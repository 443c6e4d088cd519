"""``python -m shared status|rotate --remote https://<app>``: the operator endpoints of a deployed app.

The token is for the app's audience (``--audience``, else ROTATION_AUTH_APP_ID_URI, else
api://ROTATION_AUTH_CLIENT_ID), from DefaultAzureCredential (the composition root's): ``az login`` is enough.
The app decides what the caller may do from their app roles; a refusal prints the role needed.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from shared.adapters.remote import NoToken, RemoteApp, RemoteError
from shared.render import table
from shared.triggers import Answer


def audience(explicit: str | None, env: Mapping[str, str]) -> str:
    if explicit:
        return explicit
    uri = env.get("ROTATION_AUTH_APP_ID_URI", "").strip()
    client = env.get("ROTATION_AUTH_CLIENT_ID", "").strip()
    if uri or client:
        return uri or f"api://{client}"
    raise RemoteError("name the app's audience: --audience api://<client id> (or set ROTATION_AUTH_APP_ID_URI "
                      "or ROTATION_AUTH_CLIENT_ID); `azd env get-value ROTATION_AUTH_CLIENT_ID` prints the client id")


def rotate_body(args: argparse.Namespace) -> dict[str, Any]:
    """The CLI's flags as the JSON body of POST /api/rotate (the app validates it), with the operator's reason."""
    from shared.manual import cli_fields

    return {**cli_fields(args), **({"reason": args.reason} if args.reason is not None else {})}


def answer(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> Answer:
    """The app's answer. No token is answered as a 401 would be, not reaching the app as a 502, both with the
    reason (never a token)."""
    from shared.composition import operator_credential

    try:
        app = RemoteApp(args.remote, audience(args.audience, env), operator_credential(env))
        if args.command == "status":
            return Answer(*app.call("GET", "/api/status"))
        return Answer(*app.call("POST", "/api/rotate", rotate_body(args)))
    except NoToken as exc:
        return Answer(401, {"error": {"code": "NoToken", "message": str(exc)}})
    except RemoteError as exc:
        return Answer(502, {"error": {"message": str(exc)}})


def exit_code(result: Answer) -> int:
    """The CLI's exit codes (README, "Exit codes") for a deployed app's answer: 3 for no token, a bad token or a
    missing role; 2 for bad input, bad settings or an unreachable app; else 1 if a registry failed or a run problem
    is permanent, 0 otherwise."""
    if result.status in (401, 403):
        return 3
    if result.status != 200:
        return 2
    failed = (result.body.get("counts") or {}).get("failed", 0)
    permanent = any(not p.get("transient") for p in result.body.get("problems") or [])
    return 1 if failed or permanent else 0


def print_answer(command: str, body: Mapping[str, Any]) -> None:
    """A deployed app's 200 answer as tables (the app's JSON; ``--json`` prints it whole)."""
    if command == "status":
        print(table(body.get("registries", []), [
            ("REGISTRY", "name"), ("MODE", "mode"), ("KEY", "key"), ("IN USE", "versionInUse"),
            ("NEWEST USABLE", "newestUsableVersion"), ("DAYS LEFT", "daysUntilExpiry"), ("PROBLEMS", "problems")]))
        return
    print(table(body.get("outcomes", []), [
        ("REGISTRY", "name"), ("RESULT", "result"), ("REASON", "reason"), ("FROM", "fromVersion"),
        ("TO", "toVersion"), ("DETAIL", "detail")]))
    who = body.get("requestedBy") or {}
    counts = ", ".join(f"{n} {r}" for r, n in (body.get("counts") or {}).items() if n)
    print(f"{body.get('trigger')} run {body.get('correlationId')}{' (dry run)' if body.get('dryRun') else ''} "
          f"requested by {who.get('name') or who.get('kind')} ({who.get('role') or 'no role'}): {counts}")
