"""End-to-end fixtures: a seeded estate on the stand-in and an engine built as in production."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from emulator.scenario import Estate, seed_estate
from emulator.standin import AzureStandIn
from shared import composition
from shared.composition import build_engine
from shared.engine import RotationEngine

# Small, deliberate settings for speed: the stand-in finishes updates in 0.2 s.
TEST_SETTINGS = {"ROTATION_POLL_INTERVAL_SECONDS": "0.05"}


@pytest.fixture
def estate(az: AzureStandIn) -> Estate:
    return seed_estate(az)


@pytest.fixture
def app_env(az: AzureStandIn, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in TEST_SETTINGS.items():
        monkeypatch.setenv(name, value)
    return dict(os.environ)


@pytest.fixture
def engine(app_env: dict[str, str]) -> RotationEngine:
    return build_engine(app_env)


@pytest.fixture
def function_app_engine(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The worker-wide engine built afresh from this test's environment (and dropped after it)."""
    monkeypatch.setattr(composition, "_engine", None)
    yield
    monkeypatch.setattr(composition, "_engine", None)
