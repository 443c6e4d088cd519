"""requirements.txt (hash-locked: what is tested and what Azure's remote build installs) stays in step with the
ranges in requirements.in, for every Python version the app supports. One universal lock serves them all, so a
package may be pinned more than once, each line under an environment marker: pins are keyed by name and marker."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import pytest
from packaging.markers import Marker, default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[2]
SUPPORTED = ("3.11", "3.12", "3.13")  # the README's list; 3.13 is the deployment target


class Pin(NamedTuple):
    name: str
    version: str
    marker: Marker | None
    hashes: list[str]


def parse_lock(text: str) -> list[Pin]:
    pins = []
    for line in text.replace("\\\n", " ").splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;]+)\s*(?:;\s*(.*?))?\s*((?:--hash=\S+\s*)*)$", line.strip())
        if match:
            marker = Marker(match[3]) if match[3] else None
            hashes = re.findall(r"sha256:([0-9a-f]{64})", match[4])
            pins.append(Pin(canonicalize_name(match[1]), match[2], marker, hashes))
    return pins


def environment(python: str) -> dict[str, str]:
    return {**default_environment(), "python_version": python, "python_full_version": f"{python}.0",
            "implementation_name": "cpython", "platform_python_implementation": "CPython", "sys_platform": "linux"}


def applies(marker: Marker | None, python: str) -> bool:
    return marker is None or marker.evaluate(environment(python))


def pins_for(pins: list[Pin], python: str) -> dict[str, list[Pin]]:
    chosen: dict[str, list[Pin]] = {}
    for pin in pins:
        if applies(pin.marker, python):
            chosen.setdefault(pin.name, []).append(pin)
    return chosen


def runtime_requirements() -> list[Requirement]:
    lines = (ROOT / "requirements.in").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def check_lock(pins: list[Pin], requirements: list[Requirement], python: str) -> list[str]:
    """Every way the lock can be wrong for one Python version, worded; empty when it serves that version."""
    chosen = pins_for(pins, python)
    problems = [f"{name} pinned {len(lines)} times" for name, lines in chosen.items() if len(lines) > 1]
    for requirement in requirements:
        if not applies(requirement.marker, python):
            continue
        name = canonicalize_name(requirement.name)
        if name not in chosen:
            problems.append(f"{name} is not in requirements.txt: run make lock")
        elif not requirement.specifier.contains(chosen[name][0].version, prereleases=True):
            problems.append(f"{name}=={chosen[name][0].version} outside {requirement}")
    problems += [f"{pin.name} has no hashes" for pin in pins if not pin.hashes]
    return problems


@pytest.mark.parametrize("python", SUPPORTED)
def test_every_runtime_requirement_is_pinned_once_within_its_bounds_with_hashes(python: str) -> None:
    pins = parse_lock((ROOT / "requirements.txt").read_text())
    assert pins, "no pins parsed from requirements.txt"
    assert check_lock(pins, runtime_requirements(), python) == []


def test_the_two_azure_functions_majors_are_both_kept_under_their_markers() -> None:
    # Keyed by name alone (as this test once was), the second azure-functions line overwrote the first.
    pins = parse_lock((ROOT / "requirements.txt").read_text())
    assert pins_for(pins, "3.11")["azure-functions"][0].version.startswith("1.")
    assert pins_for(pins, "3.13")["azure-functions"][0].version.startswith("2.")
    assert "azure-functions-runtime" in pins_for(pins, "3.13")
    assert "azure-functions-runtime" not in pins_for(pins, "3.11")


SAMPLE = """\
azure-functions==1.26.0 ; python_full_version < '3.13' \\
    --hash=sha256:{a}
azure-functions==2.3.0 ; python_full_version >= '3.12' \\
    --hash=sha256:{b}
""".format(a="a" * 64, b="b" * 64)


def test_the_check_catches_overlapping_markers_a_missing_pin_and_a_pin_out_of_range() -> None:
    pins = parse_lock(SAMPLE)
    requirements = [Requirement('azure-functions>=1.26,<1.27 ; python_version < "3.13"'),
                    Requirement('azure-functions>=2.3,<3 ; python_version >= "3.13"'),
                    Requirement('azure-functions-runtime>=1.3 ; python_version >= "3.13"')]
    assert check_lock(pins, requirements, "3.11") == []
    assert "azure-functions pinned 2 times" in check_lock(pins, requirements, "3.12")
    assert "azure-functions-runtime is not in requirements.txt: run make lock" in check_lock(pins, requirements, "3.13")
    wrong = [Requirement('azure-functions>=2.4 ; python_version >= "3.13"')]
    expected = 'azure-functions==2.3.0 outside azure-functions>=2.4; python_version >= "3.13"'
    assert check_lock(pins, wrong, "3.13") == [expected]


def test_the_lock_names_no_machine_specific_index() -> None:
    text = (ROOT / "requirements.txt").read_text()
    assert "--index-url" not in text and "--extra-index-url" not in text and "--find-links" not in text
