"""Which host names the stand-in serves, per Azure cloud (public, China, US Government)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Cloud:
    management: str
    vault_suffix: str
    hsm_suffix: str
    acr_suffix: str
    appinsights_suffix: str


CLOUDS = (
    Cloud("management.azure.com", "vault.azure.net", "managedhsm.azure.net", "azurecr.io",
          "applicationinsights.azure.com"),
    Cloud("management.chinacloudapi.cn", "vault.azure.cn", "managedhsm.azure.cn", "azurecr.cn",
          "applicationinsights.azure.cn"),
    Cloud("management.usgovcloudapi.net", "vault.usgovcloudapi.net", "managedhsm.usgovcloudapi.net",
          "azurecr.us", "applicationinsights.azure.us"),
)

MANAGEMENT_HOSTS = {c.management: c for c in CLOUDS}
LOGIN_HOSTS = ("login.microsoftonline.com", "login.chinacloudapi.cn", "login.microsoftonline.us")  # entra.py
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_VAULT_RE = re.compile(
    rf"^{_LABEL}\.(?:" + "|".join(re.escape(s) for c in CLOUDS for s in (c.vault_suffix, c.hsm_suffix)) + r")$")
# Ingestion hosts such as westeurope-5.in.applicationinsights.azure.com (one or two labels deep).
_APPINSIGHTS_RE = re.compile(
    rf"^(?:{_LABEL}\.)?{_LABEL}\.(?:" + "|".join(re.escape(c.appinsights_suffix) for c in CLOUDS) + r")$")


def service_of(host: str) -> str | None:
    """'arm', 'vault' (Key Vault or Managed HSM), 'appinsights', 'login' (Entra ID), or None when not served."""
    host = host.lower()
    if host in LOGIN_HOSTS:
        return "login"
    if host in MANAGEMENT_HOSTS:
        return "arm"
    if _VAULT_RE.match(host):
        return "vault"
    if _APPINSIGHTS_RE.match(host):
        return "appinsights"
    return None


def cloud_for_management(host: str) -> Cloud:
    return MANAGEMENT_HOSTS.get(host.lower(), CLOUDS[0])


def certificate_names() -> list[str]:
    """SANs for the one certificate that covers every served host (wildcards match one label)."""
    names: list[str] = []
    for c in CLOUDS:
        names += [c.management, f"*.{c.vault_suffix}", f"*.{c.hsm_suffix}",
                  f"*.{c.appinsights_suffix}", f"*.in.{c.appinsights_suffix}"]
    return names + list(LOGIN_HOSTS)
