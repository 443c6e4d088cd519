"""A local Azure stand-in reached by the official SDKs over real HTTPS (see standin.AzureStandIn)."""

from emulator.standin import AzureStandIn

__all__ = ["AzureStandIn"]
