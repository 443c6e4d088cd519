"""docs/troubleshooting.md explains every misconfiguration the app names, and reasons.md links to real sections."""

from __future__ import annotations

import re
from pathlib import Path

from shared.reasons import AUTHENTICATION_REASONS, KEY_READ_FAILURES, Reason
from shared.troubleshooting import FIX

DOCS = Path(__file__).resolve().parents[2] / "docs"


def anchors() -> set[str]:
    text = (DOCS / "troubleshooting.md").read_text()
    return {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in re.findall(r"^## (.+)$", text, re.M)}


def anchor_of(reason: Reason) -> str:
    return reason.value.lower().replace("_", "-")


def test_every_reason_with_a_fix_has_a_section() -> None:
    found = anchors()
    assert len(found) >= len(FIX)
    assert sorted(anchor_of(r) for r in FIX if anchor_of(r) not in found) == []


def test_every_configuration_reason_has_a_fix() -> None:
    configuration = (AUTHENTICATION_REASONS | set(KEY_READ_FAILURES)) - {Reason.KEY_UNREADABLE}
    configuration |= {Reason.FORBIDDEN, Reason.SUBSCRIPTION_NOT_FOUND, Reason.PROVIDER_NOT_REGISTERED}
    assert sorted(configuration - FIX.keys()) == []


def test_links_from_the_reasons_page_land_on_a_section() -> None:
    links = re.findall(r"troubleshooting\.md#([a-z0-9-]+)", (DOCS / "reasons.md").read_text())
    assert links and sorted(set(links) - anchors()) == []


def test_every_fix_names_something_to_do() -> None:
    """One sentence, naming a role, a permission, a setting or a command."""
    names = re.compile(r"`[^`]+`|[A-Z_]{6,}|Reader|Officer|Contributor|access policy|role|DNS|sign-in|networking")
    assert [reason for reason, text in FIX.items() if not names.search(text)] == []
