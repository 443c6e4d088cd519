"""Adapters: the only modules that call the Azure SDKs. They return ``shared.model`` data and raise
``shared.errors`` exceptions."""
