"""Shared fixtures: ``az`` starts the local Azure stand-in and points the environment at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator import AzureStandIn

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
