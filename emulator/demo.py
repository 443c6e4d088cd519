"""``make demo``: the whole story against the local stand-in, in seconds, with no Azure account.

A vault with an RSA key and three Premium registries (pinned, versionless, pinned but opted out);
a new key version; the Key Vault event delivered to ``on_key_event`` through the Functions webhook
protocol; the pinned registry moved and verified, the others untouched; then a near-expiry alert, and a
retirement plan for the superseded version with the evidence of every check.
Azure Monitor is configured against the stand-in's ingestion endpoint, as the CLI does with a
connection string; the demo shows what Application Insights received and writes out/status.html.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.mgmt.containerregistry import ContainerRegistryManagementClient

from emulator import entra, seed
from emulator.functions_host import FunctionsHost
from emulator.http_host import HttpHost
from emulator.scenario import RESOURCE_GROUP, Estate, seed_estate
from emulator.standin import AzureStandIn
from shared import telemetry, triggers
from shared.adapters.remote import RemoteApp
from shared.composition import configure_telemetry_for_cli
from shared.render import table
from shared.status import StatusReport
from shared.status_html import render_status_html

STATUS_PAGE = Path("out/status.html")


class Recorder(logging.Handler):
    """Keeps the outcome records the engine logs (the custom events Application Insights would get)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "microsoft.custom_event.name"):
            self.records.append(record)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [vars(r) for r in self.records if getattr(r, "microsoft.custom_event.name") == name]


def encryption_table(az: AzureStandIn, estate: Estate) -> str:
    client = ContainerRegistryManagementClient(az.admin_credential, estate.subscription_id, **seed.client_options(az))
    rows = []
    for short in estate.registries:
        r = client.registries.get(RESOURCE_GROUP, short).as_dict()
        kv = r["properties"]["encryption"]["keyVaultProperties"]
        pinned = kv["keyIdentifier"].rstrip("/").rsplit("/", 1)[-1]
        rows.append({
            "registry": short,
            "mode": "versionless" if kv.get("keyRotationEnabled") else "pinned",
            "tags": ",".join(f"{k}={v}" for k, v in (r.get("tags") or {}).items()) or "-",
            "keyIdentifier": kv["keyIdentifier"].replace(estate.vault_url.rstrip("/"), "…")
            if kv.get("keyRotationEnabled") else f"…/{estate.key_name}/{pinned[:12]}",
            "in use": kv.get("versionedKeyIdentifier", "").rsplit("/", 1)[-1],
        })
    return table(rows, [("REGISTRY", "registry"), ("MODE", "mode"), ("TAGS", "tags"),
                        ("KEY IDENTIFIER", "keyIdentifier"), ("VERSION IN USE", "in use")])


def print_telemetry(envelopes: list[dict[str, Any]]) -> None:
    """Envelopes by kind: custom events by name, dependencies (the SDK's HTTP calls), metrics by name."""
    events = Counter(e["data"]["baseData"]["name"] for e in envelopes if e["data"]["baseType"] == "EventData")
    print("   custom events: " + (", ".join(f"{n} {c}" for n, c in sorted(events.items())) or "none"))
    deps = [e for e in envelopes if e["data"]["baseType"] == "RemoteDependencyData"]
    http = [e for e in deps if e["data"]["baseData"].get("type") == "HTTP"]
    operations = {e["tags"].get("ai.operation.id") for e in deps}
    print(f"   dependencies: {len(http)} Azure SDK HTTP calls and {len(deps) - len(http)} other spans (runs, "
          f"registry updates, SDK operations) in {len(operations)} operations")
    names = sorted({m["name"] for e in envelopes if e["data"]["baseType"] == "MetricData"
                    for m in e["data"]["baseData"]["metrics"] if m["name"].startswith("cmk_")})
    print("   metrics: " + (", ".join(names) or "none"))


def step(text: str) -> None:
    print(f"\n== {text}")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="   log %(levelname)s %(name)s: %(message)s")
    recorder = Recorder()
    logging.getLogger("shared").addHandler(recorder)
    logging.getLogger("shared").setLevel(logging.INFO)
    logging.getLogger("shared").propagate = False
    started = time.monotonic()
    with AzureStandIn() as az:
        os.environ.update(az.env)
        os.environ.update({"ROTATION_POLL_INTERVAL_SECONDS": "0.05", "ROTATION_SWEEP_SCHEDULE": "0 0 * * * *"})
        tenant = entra.tenant(az.world)
        os.environ.update(tenant.settings())  # entra mode, the stand-in's tenant and app registration
        exporting = configure_telemetry_for_cli()  # APPLICATIONINSIGHTS_CONNECTION_STRING points at the stand-in
        step("A local Azure stand-in: one vault, one RSA key, three Premium registries (seeded through the SDKs)")
        estate = seed_estate(az)
        print(encryption_table(az, estate))

        with FunctionsHost(composition_app()) as host:
            az.subscribe_webhook(host.url("on_key_event"))
            step("A new version of the key is created in Key Vault")
            new = seed.create_key(az, estate.vault_url, estate.key_name)
            new_version = str(new.properties.version)
            print(f"   new version {new_version[:12]} of {estate.key_url}")
            az.wait_for_deliveries(timeout=30)
            event = az.events[-1]
            print(f"   Event Grid published {event['eventType']} ({event['id'][:8]}) "
                  f"and delivered it to on_key_event: {host.invocations[-1]['outcome']}")
            for o in recorder.named("RegistryKeyRotation"):
                print(f"   outcome: {o['registryName']:<15} {o['result']:<9} {o['reason']:<24} "
                      f"{(o['fromVersion'] or '-')[:12]} -> {(o['toVersion'] or '-')[:12]}")

            step("After the event: the pinned registry moved and was verified; the others were left alone")
            print(encryption_table(az, estate))
            print("   (the versionless registry follows new versions by itself: in Azure within about an hour, here at")
            print("   once; the opted-out one keeps its version)")

            step("The same event delivered again changes nothing (level-triggered, idempotent)")
            before = len([r for r in az.requests if r["method"] == "PATCH"])
            host.deliver("on_key_event", [event])
            after = len([r for r in az.requests if r["method"] == "PATCH"])
            print(f"   registry updates sent by the redelivery: {after - before}")

            step("The new version nears expiry: Key Vault publishes KeyNearExpiry")
            expires = datetime.now(UTC) + timedelta(days=12)
            seed.update_key(az, estate.vault_url, estate.key_name, new_version, expires_on=expires)
            for published in az.tick():
                print(f"   {published['eventType']} for version {published['data']['Version'][:12]}")
            az.wait_for_deliveries(timeout=30)
            for alert in recorder.named("KeyExpiryAlert"):
                users = [u.rsplit("/", 1)[-1] for u in str(alert["affectedRegistries"]).split(",") if u]
                print(f"   ALERT {alert['severity']}: {alert['key']} version {alert['version'][:12]} expires "
                      f"{alert['expiresOn'][:10]} ({alert['daysLeft']} days left); used by {', '.join(users)}")

            page = operator_calls(az, estate, tenant, recorder)

            show_retirement_plan(az, estate)

        step("What Application Insights received, and a picture of the estate")
        if exporting:
            telemetry.shutdown()  # flushes; the stand-in's ingestion endpoint is gone after this block
        print_telemetry(az.telemetry)
        STATUS_PAGE.parent.mkdir(parents=True, exist_ok=True)
        STATUS_PAGE.write_text(render_status_html(page), encoding="utf-8")
        print(f"   wrote {STATUS_PAGE} (inventory and key expiry timeline; open it in a browser)")
        egress = ", ".join(az.unexpected_egress) or "none"
    print(f"\nDone in {time.monotonic() - started:.1f} s. Unexpected egress: {egress}.")


def operator_calls(az: AzureStandIn, estate: Estate, tenant: entra.EntraTenant, recorder: Recorder) -> StatusReport:
    """Operators over HTTP with Entra ID tokens from the stand-in's tenant: a dry run, the status, a refusal and
    a break-glass downgrade attributed to a named person."""
    with HttpHost(composition_app()) as http:
        step("An auditor (Rotation.Read) dry-runs POST /api/rotate and reads GET /api/status, with Entra ID tokens")
        auditor = RemoteApp(http.url, tenant.app_id_uri, tenant.credential(["Rotation.Read"],
                                                                           name="auditor@contoso.example"))
        code, answered = auditor.call("POST", "/api/rotate", {"dryRun": True})
        print(f"   HTTP {code}: " + ", ".join(f"{n} {r}" for r, n in answered["counts"].items() if n))
        for o in answered["outcomes"]:
            print(f"   dry run: {o['name']:<15} {o['result']:<9} {o['reason']}")
        code, status = auditor.call("GET", "/api/status")
        print(table(status["registries"], [("REGISTRY", "name"), ("MODE", "mode"), ("IN USE", "versionInUse"),
                                           ("NEWEST USABLE", "newestUsableVersion"),
                                           ("DAYS LEFT", "daysUntilExpiry"), ("PROBLEMS", "problems")]))
        print("   (acroptedout is reported BEHIND_NEWEST_VERSION and never moved: it is tagged cmk-rotation: off;")
        print("   every reason and problem is explained in docs/reasons.md)")
        page = triggers.status().report  # the report GET /api/status answers, typed, for the HTML page
        assert isinstance(page, StatusReport)

        step("Break glass: roll acrpinned back to the first key version")
        downgrade = {"registry": estate.registries["acrpinned"], "toVersion": estate.first_version,
                     "allowDowngrade": True}
        code, refused = auditor.call("POST", "/api/rotate", {**downgrade, "reason": "just looking"})
        print(f"   as auditor@contoso.example: HTTP {code} {refused['error']['message']}")
        forged = RemoteApp(http.url, tenant.app_id_uri, tenant.credential(["Rotation.BreakGlass"], forged=True))
        code, refused = forged.call("POST", "/api/rotate", {**downgrade, "reason": "trust me"})
        print(f"   with a token signed by another key: HTTP {code} {refused['error']['message']}")
        oncall = RemoteApp(http.url, tenant.app_id_uri, tenant.credential(
            ["Rotation.Operate", "Rotation.BreakGlass"], name="oncall@contoso.example"))
        code, forced = oncall.call("POST", "/api/rotate", {**downgrade, "reason": "INC-4711: pulls fail since the "
                                                                                   "new key version"})
        who = forced["requestedBy"]
        for o in forced["outcomes"]:
            print(f"   as {who['name']} ({who['role']}): HTTP {code} {o['name']} {o['result']} {o['reason']} "
                  f"{o['fromVersion'][:12]} -> {o['toVersion'][:12]}, reason \"{forced['requestReason']}\"")
        for event in recorder.named("RegistryKeyRotation")[-1:]:
            print(f"   RegistryKeyRotation event: {event['reason']} requestedBy={event.get('requestedBy', '?')} "
                  f"role={event.get('requestedByRole', '?')} requestReason=\"{event.get('requestReason', '')}\"")
    return page


def show_retirement_plan(az: AzureStandIn, estate: Estate) -> None:
    """The key owner opts the key in to retirement; ``python -m shared retire --plan`` shows every check's evidence.
    The superseded version is kept: it was superseded minutes ago, a registry still uses it, and the stand-in's
    administrator holds Key Vault Administrator, which can unwrap with the key."""
    from shared.composition import retirer
    from shared.retirement import RETIRE_TAG
    from shared.retirement_cli import render_plan

    step(f"Retiring superseded versions: the key owner tags the key {RETIRE_TAG}: 14; retire --plan")
    seed.update_key(az, estate.vault_url, estate.key_name, tags={RETIRE_TAG: "14"})
    plan, _, _ = retirer().plan()
    old = estate.first_version
    lines = render_plan(plan)
    start = next(i for i, line in enumerate(lines) if line.strip().endswith(old))
    for line in [lines[0], *lines[start:start + 13]]:
        print(f"   {line}")
    print(f"   plan hash {plan.digest}: {len(plan.eligible)} to retire. The version is kept until every")
    print("   check passes in one run ([x]); then retire --apply --plan-hash H disables it, and --undo re-enables it")
    print("   (docs/retirement.md). With ROTATION_RETIRE=auto the sweep does it; the default only reports.")


def composition_app() -> func.FunctionApp:
    """The production app, imported after the stand-in's environment is in place."""
    import function_app

    return function_app.app


if __name__ == "__main__":
    main()
