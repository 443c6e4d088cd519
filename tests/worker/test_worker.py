"""Every function through the real Python worker: azure-functions-runtime (the worker library Azure Functions loads
for Python 3.13+ apps) with azure-functions 2.x, in a Python 3.13 environment of its own (.venv-worker, made by
`make worker-env`), against the local Azure stand-in. tests/worker/proxy_host.py plays the host and its proxy
worker: worker init, then functions metadata (the worker indexes function_app.py itself), then load, then
invocations built as the host builds them.

Where each payload shape comes from (the azure-functions 2.3.0 converters the worker decodes with):
- Event Grid: ``EventGridEventInConverter.decode`` accepts ``json`` data only; a body with ``specversion`` becomes a
  ``CloudEvent``, any other an ``EventGridEvent``. The events are the stand-in's published Key Vault events.
- Timer: ``TimerRequestConverter.decode`` accepts ``json`` with ``Schedule``, ``ScheduleStatus``, ``IsPastDue``.
- HTTP: ``HttpRequestConverter.decode`` takes ``http`` data; the worker maps a missing body to empty ``bytes``;
  ``HttpRequest`` accepts a ``bytes``, ``string`` or ``json`` body (the host sends bytes once the worker reports
  ``RawHttpBodyBytes``).
- Queue: ``QueueMessageInConverter.decode`` accepts ``string`` or ``bytes`` data and needs trigger metadata: ``Id``
  and ``PopReceipt`` (string), ``DequeueCount`` (json number), ``InsertionTime``, ``ExpirationTime`` and
  ``NextVisibleTime`` (json strings).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from emulator import seed

ROOT = Path(__file__).resolve().parents[2]
PROXY_HOST = Path(__file__).with_name("proxy_host.py")
pytestmark = pytest.mark.standin


def worker_python() -> tuple[Path, Path]:
    """The worker environment's python and the unpacked FunctionRpc classes; a clear failure when missing."""
    venv = ROOT / os.environ.get("WORKER_VENV", ".venv-worker")
    python, protos = venv / "bin" / "python", venv / "proxy"
    if not (python.exists() and (protos / "functionrpc_protos").is_dir()):
        found = subprocess.run([str(ROOT / "tools/find-python313")], capture_output=True, text=True, check=False)
        pytest.fail(found.stderr.strip() if found.returncode else
                    f"{venv} is not built: run `make worker-env` (`make test` does it)", pytrace=False)
    return python, protos


def result_status(answer: dict) -> str:
    """A response's StatusResult.status. Protobuf's JSON mapping omits an enum at its default, and Failure is 0."""
    return str(answer["result"].get("status", "Failure"))


class Worker:
    """One worker process: init, metadata and load done; ``invoke`` sends one invocation and returns the answer."""

    def __init__(self, app_dir: Path, env: dict[str, str]) -> None:
        python, protos = worker_python()
        self.process = subprocess.Popen([str(python), str(PROXY_HOST), str(app_dir), str(protos), str(ROOT)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def send(self, command: dict[str, Any]) -> Any:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"the worker process ended (exit {self.process.poll()}); its log is on stderr"
        return json.loads(line)

    def start(self) -> dict[str, Any]:
        """Init, metadata and load, as the host sequences them; the answers, by step."""
        init = self.send({"op": "init"})
        metadata = self.send({"op": "metadata"}) if result_status(init) == "Success" else {}
        load = self.send({"op": "load"}) if metadata else {}
        return {"init": init, "metadata": metadata, "load": load}

    def invoke(self, function: str, data: dict, trigger_metadata: dict | None = None, name: str = "") -> dict:
        binding = name or {"on_key_event": "event", "sweep": "timer", "apply_rotation": "msg"}.get(function, "req")
        return dict(self.send({"op": "invoke", "function": function, "input": {binding: data},
                               "triggerMetadata": trigger_metadata or {}}))

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            if self.process.stdout:
                self.process.stdout.close()


@contextmanager
def started(app_dir: Path, env: dict[str, str]) -> Iterator[Worker]:
    worker = Worker(app_dir, env)
    try:
        steps = worker.start()
        assert result_status(steps["init"]) == "Success", steps["init"]
        assert {result_status(a) for a in steps["load"].values()} == {"Success"}, steps["load"]
        yield worker
    finally:
        worker.close()


@pytest.fixture
def worker(app_env: dict[str, str], estate) -> Iterator[Worker]:
    with started(ROOT, {**app_env, "ROTATION_QUEUE_NAME": ""}) as running:
        yield running


# -- payloads, as the host sends them (see the module docstring for each shape's source) -------------------------
def json_data(value: Any) -> dict:
    return {"json": json.dumps(value)}


def http(method: str, route: str, body: dict | None = None) -> dict:
    request = {"method": method, "url": f"http://localhost:7071/api/{route}",
               "headers": {"content-type": "application/json"}}
    return {"http": request | ({"body": body} if body is not None else {})}


BODY_FORMS = {
    "bytes": lambda text: {"bytes": base64.b64encode(text.encode()).decode()},
    "string": lambda text: {"string": text},
    "json": lambda text: {"json": text},
}


def http_answer(response: dict) -> tuple[int, dict]:
    assert result_status(response) == "Success", response["result"]
    answer = response["returnValue"]["http"]
    assert answer["headers"]["content-type"] == "application/json"
    return int(answer["statusCode"]), json.loads(base64.b64decode(answer["body"]["bytes"]))


def rotate(worker: Worker, body: dict | str, form: str = "bytes") -> tuple[int, dict]:
    text = body if isinstance(body, str) else json.dumps(body)
    return http_answer(worker.invoke("rotate", http("POST", "rotate", BODY_FORMS[form](text))))


def cloud_event(published: dict) -> dict:
    return {"specversion": "1.0", "id": published["id"], "source": published["topic"],
            "subject": published["subject"], "type": published["eventType"], "time": published["eventTime"],
            "data": published["data"]}


# -- the tests ---------------------------------------------------------------------------------------------------
def test_the_worker_indexes_every_function_with_its_bindings(app_env: dict[str, str], estate) -> None:
    env = {**app_env, "ROTATION_QUEUE_NAME": "acr-rotations", "AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    worker = Worker(ROOT, env)
    try:
        steps = worker.start()
    finally:
        worker.close()
    assert steps["init"]["workerMetadata"]["runtimeVersion"] == "3.13"
    indexed = {m["name"]: {n: b["type"] for n, b in m["bindings"].items()}
               for m in steps["metadata"]["functionMetadataResults"]}
    assert indexed == {
        "on_key_event": {"event": "eventGridTrigger"}, "sweep": {"timer": "timerTrigger"},
        "rotate": {"req": "httpTrigger", "$return": "http"}, "status": {"req": "httpTrigger", "$return": "http"},
        "doctor": {"req": "httpTrigger", "$return": "http"}, "apply_rotation": {"msg": "queueTrigger"},
    }
    assert {name: result_status(a) for name, a in steps["load"].items()} == dict.fromkeys(indexed, "Success")


@pytest.mark.parametrize("schema", ["eventgrid", "cloudevents"])
def test_a_key_event_through_the_worker_rotates_the_pinned_registry(az, estate, worker: Worker, schema: str) -> None:
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    published = az.events[-1]
    event = published if schema == "eventgrid" else cloud_event(published)
    before = len(az.requests)
    response = worker.invoke("on_key_event", json_data(event))
    assert result_status(response) == "Success", response["result"]
    patches = [r for r in az.requests[before:] if r["method"] == "PATCH" and r["status"] < 300]
    assert [p["path"].split("?")[0].rsplit("/", 1)[-1] for p in patches] == ["acrpinned"]
    status, body = rotate(worker, {"registry": estate.registries["acrpinned"], "dryRun": True})
    assert status == 200
    assert [(o["reason"], o["toVersion"]) for o in body["outcomes"]] == [("ALREADY_CURRENT", new.properties.version)]


def test_a_transient_failure_fails_the_invocation_so_event_grid_redelivers(az, estate, worker: Worker) -> None:
    seed.create_key(az, estate.vault_url, estate.key_name)
    event = json_data(az.events[-1])
    az.inject_fault(method="PATCH", path_contains="/registries/acrpinned", status=409, times=1)
    failed = worker.invoke("on_key_event", event)
    assert result_status(failed) == "Failure" and "RetryLater" in failed["result"]["exception"]["message"]
    assert result_status(worker.invoke("on_key_event", event)) == "Success"  # the redelivery converges
    assert len([r for r in az.requests if r["method"] == "PATCH" and r["status"] < 300]) == 1


def test_an_event_that_is_not_about_keys_is_acknowledged_and_changes_nothing(az, estate, worker: Worker) -> None:
    event = dict(az.events[0], eventType="Microsoft.KeyVault.SecretNewVersionCreated")
    response = worker.invoke("on_key_event", json_data(event))
    assert result_status(response) == "Success"
    assert not [r for r in az.requests if r["method"] == "PATCH"]


def test_the_timer_sweep_through_the_worker_converges(az, estate, worker: Worker) -> None:
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    timer = {"Schedule": {"AdjustForDST": True}, "ScheduleStatus": {"Last": "2026-11-30T18:00:00+00:00",
             "Next": "2026-11-30T20:00:00+00:00", "LastUpdated": "2026-11-30T18:00:00+00:00"}, "IsPastDue": False}
    assert result_status(worker.invoke("sweep", json_data(timer))) == "Success"
    _, body = rotate(worker, {"registry": estate.registries["acrpinned"], "dryRun": True})
    assert [(o["reason"], o["toVersion"]) for o in body["outcomes"]] == [("ALREADY_CURRENT", new.properties.version)]


@pytest.mark.parametrize("form", sorted(BODY_FORMS))
def test_rotate_over_http_answers_200_with_the_outcomes(az, estate, worker: Worker, form: str) -> None:
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    status, body = rotate(worker, {"registry": estate.registries["acrpinned"]}, form)
    assert status == 200
    assert [(o["name"], o["result"], o["toVersion"]) for o in body["outcomes"]] == [
        ("acrpinned", "rotated", new.properties.version)]


@pytest.mark.parametrize(("body", "field"), [("not json", "body"), ({"dryRun": "yes"}, "dryRun"),
                                             ({"surprise": 1}, "surprise")])
def test_bad_rotate_input_is_a_json_400_naming_the_field(worker: Worker, body: Any, field: str) -> None:
    status, answer = rotate(worker, body)
    assert status == 400 and answer["error"]["field"] == field and answer["error"]["message"]


def test_rotate_without_a_body_is_a_run_over_everything(az, estate, worker: Worker) -> None:
    status, body = http_answer(worker.invoke("rotate", http("POST", "rotate")))
    assert status == 200 and {o["name"] for o in body["outcomes"]} >= {"acrpinned"}


def test_a_bad_setting_is_a_json_500_naming_it_not_a_stack_trace(app_env: dict[str, str], estate) -> None:
    with started(ROOT, {**app_env, "ROTATION_QUEUE_NAME": "", "ROTATION_NEAR_EXPIRY_DAYS": "soon"}) as worker:
        status, body = rotate(worker, {})
    assert status == 500 and "ROTATION_NEAR_EXPIRY_DAYS" in body["error"]["message"]
    assert "Traceback" not in json.dumps(body)


def test_status_over_http_answers_200_with_registries_and_keys(az, estate, worker: Worker) -> None:
    status, body = http_answer(worker.invoke("status", http("GET", "status")))
    assert status == 200
    rows = {r["name"]: r for r in body["registries"]}
    assert set(rows) >= {"acrpinned", "acrversionless", "acroptedout"}
    assert rows["acrpinned"]["versionInUse"] == estate.first_version
    [key] = body["keys"]
    assert estate.first_version in key["versionsInUse"]


def test_doctor_over_http_checks_as_the_apps_own_identity(az, estate, worker: Worker) -> None:
    status, body = http_answer(worker.invoke("doctor", http("GET", "doctor")))
    assert status == 200
    checks = {c["check"]: c for c in body["checks"]}
    assert checks["credential"]["status"] == "PASS" and az.principal_id in checks["credential"]["detail"]
    # The demo estate has no Event Grid subscription to this app: that check fails, with its fix.
    grid = checks["vault kv-acr-demo: Event Grid delivers key events to on_key_event"]
    assert (grid["status"], grid["reason"]) == ("FAIL", "EVENT_SUBSCRIPTION_MISSING") and grid["fix"]


def test_the_queue_trigger_applies_one_registry(az, estate, app_env: dict[str, str]) -> None:
    new = seed.create_key(az, estate.vault_url, estate.key_name)
    message = json.dumps({"registry": estate.registries["acrpinned"], "toVersion": new.properties.version,
                          "trigger": "sweep"})
    metadata = {"Id": {"string": "7c0e8c7e-0000-4000-8000-000000000001"}, "PopReceipt": {"string": "AgAAAAMAAAA"},
                "DequeueCount": {"json": "1"}, "InsertionTime": json_data("2026-11-30T19:00:00+00:00"),
                "ExpirationTime": json_data("2026-12-07T19:00:00+00:00"),
                "NextVisibleTime": json_data("2026-11-30T19:00:30+00:00")}
    env = {**app_env, "ROTATION_QUEUE_NAME": "acr-rotations", "AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    for form, data in (("string", {"string": message}), ("bytes", BODY_FORMS["bytes"](message))):
        with started(ROOT, env) as worker:
            response = worker.invoke("apply_rotation", data, metadata)
            assert result_status(response) == "Success", (form, response["result"])
    patches = [r for r in az.requests if r["method"] == "PATCH" and r["status"] < 300]
    assert len(patches) == 1, "the second delivery of the same message converges without a write"


def broken_app(tmp_path: Path) -> Path:
    """function_app.py with one binding broken: the Event Grid arg_name no longer names the parameter."""
    text = (ROOT / "function_app.py").read_text()
    assert '@app.event_grid_trigger(arg_name="event")' in text
    (tmp_path / "function_app.py").write_text(text.replace('arg_name="event"', 'arg_name="evt"'))
    (tmp_path / "host.json").write_text((ROOT / "host.json").read_text())
    return tmp_path


def test_a_broken_binding_fails_in_the_worker_though_the_decorators_accept_it(app_env, estate, tmp_path) -> None:
    # The test of this test: app.get_functions() alone accepts the broken binding; the real worker refuses it.
    app_dir = broken_app(tmp_path)
    spec = importlib.util.spec_from_file_location("broken_function_app", app_dir / "function_app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert "on_key_event" in [f.get_function_name() for f in module.app.get_functions()]
    worker = Worker(app_dir, {**app_env, "ROTATION_QUEUE_NAME": ""})
    try:
        init = worker.start()["init"]
    finally:
        worker.close()
    assert result_status(init) == "Failure"
    message = init["result"]["exception"]["message"]
    assert "cannot load the on_key_event function" in message and "{'event'}" in message, message
