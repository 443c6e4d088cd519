"""Start-up and sampling rules, and nothing secret in what an end-to-end run emits."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from azure.monitor.opentelemetry.exporter import AzureMonitorLogExporter
from azure.monitor.opentelemetry.exporter.export.logs._processor import _AzureBatchLogRecordProcessor
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from telemetry_support import assert_no_secrets, envelope_contents, events

from emulator import seed
from shared import triggers
from shared.composition import build_engine, configure_telemetry_for_cli
from shared.requests import RunRequest

CS = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://x.in.applicationinsights.azure.com/"


@pytest.fixture
def configure_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    import azure.monitor.opentelemetry as distro

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(distro, "configure_azure_monitor", lambda **kw: calls.append(kw))
    monkeypatch.setattr(logging.getLogger("shared"), "level", logging.getLogger("shared").level)
    return calls


@pytest.mark.parametrize("env", [
    {},
    {"APPLICATIONINSIGHTS_CONNECTION_STRING": CS, "FUNCTIONS_WORKER_RUNTIME": "python"},
    {"APPLICATIONINSIGHTS_CONNECTION_STRING": CS, "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true"},
], ids=["no connection string", "inside the Functions worker", "worker telemetry enabled"])
def test_azure_monitor_is_not_configured_by_the_app_when(env, configure_calls) -> None:
    assert configure_telemetry_for_cli(env) is False
    assert configure_calls == []


def test_the_cli_configures_azure_monitor_so_that_events_are_never_sampled_away(configure_calls) -> None:
    assert configure_telemetry_for_cli({"APPLICATIONINSIGHTS_CONNECTION_STRING": CS}) is True
    [kwargs] = configure_calls
    assert kwargs["enable_trace_based_sampling_for_logs"] is False
    assert kwargs["logger_name"] == "shared" and kwargs["connection_string"] == CS
    assert kwargs["enable_live_metrics"] is False and kwargs["disable_offline_storage"] is True
    assert kwargs["sampling_ratio"] == 1.0
    assert logging.getLogger("azure").getEffectiveLevel() >= logging.WARNING


def test_an_operators_sampler_choice_is_kept(configure_calls) -> None:
    configure_telemetry_for_cli({"APPLICATIONINSIGHTS_CONNECTION_STRING": CS, "OTEL_TRACES_SAMPLER": "always_off"})
    assert "sampling_ratio" not in configure_calls[0]


@pytest.mark.standin
def test_events_logged_inside_an_unsampled_trace_still_arrive(az, estate, app_env) -> None:
    """The distro's log processor drops records of unsampled traces only when trace-based sampling for logs
    is on; configure_for_cli turns it off, which is this processor's configuration."""
    exporter = AzureMonitorLogExporter(connection_string=az.env["APPLICATIONINSIGHTS_CONNECTION_STRING"],
                                       disable_offline_storage=True)
    provider = LoggerProvider()
    provider.add_log_record_processor(_AzureBatchLogRecordProcessor(
        exporter, {"enable_trace_based_sampling_for_logs": False}))
    handler = LoggingHandler(logger_provider=provider)
    shared_logger = logging.getLogger("shared")
    shared_logger.addHandler(handler)
    level, shared_logger.level = shared_logger.level, logging.INFO
    try:
        with TracerProvider(sampler=ALWAYS_OFF).get_tracer("t").start_as_current_span("unsampled") as span:
            assert span.get_span_context().is_valid and not span.get_span_context().trace_flags.sampled
            build_engine(app_env).run(RunRequest.sweep(dry_run=True))
        assert provider.force_flush()
    finally:
        shared_logger.removeHandler(handler)
        shared_logger.level = level
        provider.shutdown()
    assert len(events(az.telemetry, "RegistryKeyRotation")) == 3
    assert len(events(az.telemetry, "RotationRun")) == 1


class Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # The formatted line and every attribute (custom event properties included).
        self.lines.append(self.format(record) + " " + repr(vars(record)))


@pytest.mark.standin
def test_nothing_secret_in_logs_events_or_http_answers_of_an_end_to_end_run(az, estate, app_env, exported,
                                                                           monkeypatch) -> None:
    everything = Everything()
    root = logging.getLogger()
    monkeypatch.setattr(root, "level", logging.DEBUG)
    root.addHandler(everything)
    monkeypatch.setattr(logging.getLogger("azure"), "level", logging.DEBUG)  # the SDK's own lines too
    try:
        seed.create_key(az, estate.vault_url, estate.key_name)
        engine = build_engine(app_env, sink=exported.sink)
        answers = [engine.run(RunRequest.sweep()).to_dict(), triggers.rotate(b'{"dryRun": true}', lambda: engine).body,
                   triggers.status(lambda: engine).body, triggers.rotate(b'{"registry": "nope"}', lambda: engine).body]
        exported.flush()
    finally:
        root.removeHandler(everything)
    assert events(az.telemetry, "RegistryKeyRotation")
    assert any("http_logging_policy" in line for line in everything.lines)  # the SDK's request logs were seen
    assert_no_secrets("\n".join(everything.lines) + json.dumps(answers) + envelope_contents(az.telemetry), az)
