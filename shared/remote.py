"""The operator CLI against a deployed app: ``python -m shared.remote status|rotate --remote https://<app>
[--audience api://<client id>] [--registry ID | --key URL] [--dry-run] [--to-version V --allow-downgrade
--reason TEXT] [--json]``.

The token is for the app's audience (``--audience``, else ROTATION_AUTH_APP_ID_URI, else
api://ROTATION_AUTH_CLIENT_ID), from DefaultAzureCredential: ``az login`` is enough. The app decides what
the caller may do from their app roles; a refusal prints the role needed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from shared.adapters.remote import RemoteApp, RemoteError


def audience(explicit: str | None, env: Mapping[str, str]) -> str:
    if explicit:
        return explicit
    uri = env.get("ROTATION_AUTH_APP_ID_URI", "").strip()
    client = env.get("ROTATION_AUTH_CLIENT_ID", "").strip()
    if uri or client:
        return uri or f"api://{client}"
    raise RemoteError("name the app's audience: --audience api://<client id> (or set ROTATION_AUTH_APP_ID_URI "
                      "or ROTATION_AUTH_CLIENT_ID); `azd env get-value ROTATION_AUTH_CLIENT_ID` prints it")


def rotate_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for flag, field in (("registry", "registry"), ("key", "key"), ("to_version", "toVersion"), ("reason", "reason")):
        if getattr(args, flag):
            body[field] = getattr(args, flag)
    if args.dry_run:
        body["dryRun"] = True
    if args.allow_downgrade:
        body["allowDowngrade"] = True
    return body


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m shared.remote", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["status", "rotate"])
    p.add_argument("--remote", required=True, metavar="URL", help="the app, like https://<app>.azurewebsites.net")
    p.add_argument("--audience", help="the app registration's application ID URI (api://<client id>)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--registry", help="registry resource id")
    target.add_argument("--key", help="https://<vault host>/keys/<name>")
    p.add_argument("--dry-run", action="store_true", help="plan only (Rotation.Read is enough)")
    p.add_argument("--to-version", help="break-glass: this key version (with --registry)")
    p.add_argument("--allow-downgrade", action="store_true", help="break-glass: allow an older version")
    p.add_argument("--reason", help="why (required for a downgrade; recorded verbatim)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def run(args: argparse.Namespace, credential: Any = None, env: Mapping[str, str] = os.environ) -> tuple[int, dict]:
    if credential is None:
        from shared.composition import operator_credential

        credential = operator_credential(env)
    app = RemoteApp(args.remote, audience(args.audience, env), credential)
    if args.command == "status":
        return app.call("GET", "/api/status")
    return app.call("POST", "/api/rotate", rotate_body(args))


def main(argv: Sequence[str] | None = None, credential: Any = None) -> int:
    from shared.__main__ import print_run, print_status

    args = parser().parse_args(argv)
    if args.command == "status" and (args.registry or args.key or args.dry_run or args.to_version):
        parser().error("status takes no --registry, --key, --dry-run or --to-version")
    try:
        code, body = run(args, credential)
    except RemoteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json or code != 200:
        print(json.dumps(body, indent=2))
    else:
        (print_status if args.command == "status" else print_run)(body)
    if code != 200:
        return 2
    return 1 if body.get("counts", {}).get("failed", 0) else 0


if __name__ == "__main__":
    sys.exit(main())
