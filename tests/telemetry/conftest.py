"""Telemetry fixtures (``az``, ``estate`` and ``app_env`` come from tests/conftest.py): the real Azure Monitor
exporters on providers built here (never the global ones), pointed at the stand-in's ingestion endpoint and
flushed, not waited for."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from azure.monitor.opentelemetry.exporter import AzureMonitorLogExporter, AzureMonitorMetricExporter
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from emulator import AzureStandIn
from shared.metrics import RotationMetrics
from shared.telemetry import TelemetrySink

RESOURCE = Resource.create({"service.name": "acr-cmk-rotation", "service.instance.id": "test-1"})


@dataclass
class Exported:
    sink: TelemetrySink
    logger_provider: LoggerProvider
    meter_provider: MeterProvider

    def flush(self) -> None:
        assert self.logger_provider.force_flush()
        assert self.meter_provider.force_flush()


@pytest.fixture
def exported(az: AzureStandIn) -> Iterator[Exported]:
    """A TelemetrySink whose events (the ``shared`` logger) and metrics go through the real exporters."""
    connection_string = az.env["APPLICATIONINSIGHTS_CONNECTION_STRING"]
    logger_provider = LoggerProvider(resource=RESOURCE)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(
        AzureMonitorLogExporter(connection_string=connection_string, disable_offline_storage=True)))
    reader = PeriodicExportingMetricReader(
        AzureMonitorMetricExporter(connection_string=connection_string, disable_offline_storage=True),
        export_interval_millis=3_600_000)  # exported on flush only
    meter_provider = MeterProvider(metric_readers=[reader], resource=RESOURCE)
    handler = LoggingHandler(logger_provider=logger_provider)
    shared_logger = logging.getLogger("shared")
    level = shared_logger.level
    shared_logger.setLevel(logging.INFO)
    shared_logger.addHandler(handler)
    try:
        yield Exported(TelemetrySink(RotationMetrics(meter_provider.get_meter("test"))), logger_provider,
                       meter_provider)
    finally:
        shared_logger.removeHandler(handler)
        shared_logger.setLevel(level)
        logger_provider.shutdown()
        meter_provider.shutdown()
