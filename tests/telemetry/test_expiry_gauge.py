"""The days-to-expiry gauge: what each kind of run may forget of the versions in use."""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from shared.armids import parse_registry_id
from shared.composition import assemble
from shared.locks import KeyedLocks
from shared.manual import ManualRequest
from shared.metrics import DAYS_UNTIL_EXPIRY, RotationMetrics
from shared.requests import RunRequest
from shared.settings import Settings
from shared.telemetry import TelemetrySink
from tests.builders import KEY, NOW, days, registry, version
from tests.fakes import FakeKeyVault, FakeRegistries


def gauge(reader: InMemoryMetricReader) -> dict[str, float]:
    found = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == DAYS_UNTIL_EXPIRY:
                    found.update({str(p.attributes["version"]): p.value for p in metric.data.data_points})
    return found


def test_one_registrys_run_does_not_forget_the_version_the_others_on_its_key_use() -> None:
    reader = InMemoryMetricReader()
    metrics = RotationMetrics(MeterProvider(metric_readers=[reader]).get_meter("test"), clock=lambda: NOW)
    kv = FakeKeyVault(lambda: NOW)
    kv.add(KEY, version("v1", 30))
    kv.add(KEY, version("v2", 1, exp=NOW + days(12)))
    arm = FakeRegistries()
    arm.add(registry("pinned1", version="v2"), registry("pinned2", version="v2"))
    engine = assemble(Settings(), kv, arm, clock=lambda: NOW, sink=TelemetrySink(metrics), locks=KeyedLocks())
    engine.run(RunRequest.sweep())
    assert gauge(reader) == {"v2": 12.0}
    # Break glass: pinned1 back to v1 (no expiry). pinned2 still uses v2, which expires in 12 days.
    manual = ManualRequest(parse_registry_id(registry("pinned1").id), to_version="v1", allow_downgrade=True)
    engine.run(manual.request("break-glass"))
    assert gauge(reader) == {"v2": 12.0}
    engine.run(RunRequest.sweep())  # the sweep sees every registry: still v2 for pinned2
    assert gauge(reader) == {"v2": 12.0}
