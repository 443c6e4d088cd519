"""requirements.txt (hash-locked: what is tested and what Azure's remote build installs) stays in step with the
ranges in requirements.in."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[2]


def locked() -> dict[str, tuple[str, list[str]]]:
    text = (ROOT / "requirements.txt").read_text().replace("\\\n", " ")
    pins = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)(.*)$", line.strip())
        if match:
            pins[canonicalize_name(match[1])] = (match[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", match[3]))
    return pins


def test_every_runtime_requirement_is_pinned_within_its_bounds_with_hashes() -> None:
    pins = locked()
    for line in (ROOT / "requirements.in").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.txt: run make lock"
        version, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), f"{name}=={version} outside {line}"
    assert all(hashes for _, hashes in pins.values()), "every locked package carries its hashes"


def test_the_lock_names_no_machine_specific_index() -> None:
    text = (ROOT / "requirements.txt").read_text()
    assert "--index-url" not in text and "--extra-index-url" not in text and "--find-links" not in text
