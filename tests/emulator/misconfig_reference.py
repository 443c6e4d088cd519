"""What tests/fixtures/misconfig/pinned-wire-facts.json holds, extracted from ../shared/azure-wire/misconfig.

``extract`` builds the pinned facts from the reference; a test checks that the pinned copy still equals it when
the reference is present. Regenerate with ``python tests/emulator/misconfig_reference.py`` after the reference
changes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "misconfig" / "pinned-wire-facts.json"
SURFACING_FIELDS = ("class", "status_code", "error.code", "error.innererror")
EVENTGRID = {"SystemTopics_Get": "SystemTopics_Get.2025-02-15.json",
             "SystemTopicEventSubscriptions_Get": "SystemTopicEventSubscriptions_Get.2025-02-15.json",
             "EventSubscription_AzureFunctionDestination":
                 "EventSubscriptions_GetForCustomTopic_AzureFunctionDestination.2025-02-15.json"}


def _body(path: Path) -> dict[str, Any]:
    raw = json.loads(path.read_text())
    response = raw["response"]
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()
               if k.lower().startswith(("www-authenticate", "x-ms-failure-cause"))}
    return {"status": response["status"], "body": response["body"], "headers": headers,
            "request": raw.get("request"), "note": raw["_source"].get("note", "")}


def extract(reference: Path) -> dict[str, Any]:
    """The facts the stand-in copies: every body in bodies/, how the pinned SDKs surface each (generated/),
    the Event Grid spec examples and the dead-letter example."""
    sdk = json.loads((reference / "generated" / "sdk-surfacing.json").read_text())
    mi = json.loads((reference / "generated" / "appservice-mi-surfacing.json").read_text())
    dac = json.loads((reference / "generated" / "dac-nothing-available.json").read_text())
    surfacing = {f"{plane}: {case}": {f: (entry.get("exception") or {}).get(f) for f in SURFACING_FIELDS}
                 for plane in ("arm", "keyvault") for case, entry in sdk[plane].items()}
    return {
        "_sources": "Extracted from shared/azure-wire/misconfig (README.md there lists each body's source) by "
                    "tests/emulator/misconfig_reference.py; checked against it by test_misconfig_faithfulness.py.",
        "sdk_packages": sdk["_provenance"]["packages"],
        "bodies": {p.stem: _body(p) for p in sorted((reference / "bodies").glob("*.json"))},
        "surfacing": surfacing,
        "managed_identity": {case: {"class": (e.get("exception") or {}).get("class"),
                                    "message": (e.get("exception") or {}).get("message")}
                             for case, e in mi["cases"].items()},
        "no_credential": {"exception_class": dac["exception_class"], "status_code": dac["status_code"],
                          "message": dac["message"]},
        "eventgrid": {name: json.loads((reference / "eventgrid" / file).read_text())["responses"]["200"]["body"]
                      for name, file in EVENTGRID.items()},
        "dead_letter_example": json.loads((reference / "eventgrid" /
                                           "docs-example.deadletter.eventgrid-schema.json").read_text()),
    }


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[3] / "shared" / "azure-wire" / "misconfig"
    ref = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    FIXTURE.write_text(json.dumps(extract(ref), indent=1, ensure_ascii=False) + "\n")
