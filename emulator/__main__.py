"""``python -m emulator serve``: run the stand-in in the foreground and print its environment."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import threading

from emulator import AzureStandIn
from emulator.scenario import seed_estate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the stand-in until interrupted")
    serve.add_argument("--lro-seconds", type=float, default=0.2)
    serve.add_argument("--latency-ms", type=float, default=0)
    serve.add_argument("--throttling", action="store_true")
    serve.add_argument("--versionless-lag-s", type=float, default=0)
    serve.add_argument("--seed", action="store_true",
                       help="seed what the demo starts from: a vault, a key, an identity and three registries")
    args = parser.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with AzureStandIn(lro_seconds=args.lro_seconds, latency_ms=args.latency_ms, throttling=args.throttling,
                      versionless_lag_s=args.versionless_lag_s) as az:
        for key, value in az.env.items():
            print(f"export {key}={shlex.quote(value)}")
        print(f"# principal_id={az.principal_id} subscriptions={','.join(az.subscription_ids)}", flush=True)
        if args.seed:
            estate = seed_estate(az)
            print(f"# key: {estate.key_url}")
            for short, registry_id in estate.registries.items():
                print(f"# registry {short}: {registry_id}")
            print("# seeded", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
