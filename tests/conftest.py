"""Shared fixtures: ``az`` starts the local Azure stand-in and points the environment at it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from emulator import AzureStandIn
from emulator.scenario import Estate, seed_estate
from shared import composition
from shared.composition import build_engine
from shared.engine import RotationEngine

# Anything that could steer azure-identity or the HTTP stack away from the stand-in.
CLEARED_ENV = (
    "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "AZURE_USERNAME",
    "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST", "AZURE_TOKEN_CREDENTIALS",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST", "AZURE_REGIONAL_AUTHORITY_NAME", "MSI_ENDPOINT", "MSI_SECRET",
    "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "AZURE_SUBSCRIPTION_ID", "HTTP_PROXY", "http_proxy",
    "ALL_PROXY", "all_proxy", "CURL_CA_BUNDLE",
)


@pytest.fixture
def az(monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureStandIn]:
    for name in CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    with AzureStandIn() as standin:
        for key, value in standin.env.items():
            monkeypatch.setenv(key, value)
        yield standin
        failure = standin.egress_failure()  # checked before the stand-in stops
    if failure:
        pytest.fail(failure, pytrace=False)


# Small, deliberate settings for speed: the stand-in finishes updates in 0.2 s. The operator endpoints run in
# functionkey mode here (the host's key check is not part of these tests); tests/auth runs them in entra mode.
TEST_SETTINGS = {"ROTATION_POLL_INTERVAL_SECONDS": "0.05", "ROTATION_HTTP_AUTH": "functionkey"}


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
