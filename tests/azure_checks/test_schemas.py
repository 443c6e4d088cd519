"""host.json, local.settings.json, the workbook and the function metadata the decorators emit, against the schemas
Microsoft and SchemaStore publish (tests/azure_checks/schemas.py); each check also fails on a wrong input."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from tests.azure_checks.schemas import ROOT, app_functions, binding_problems, problems, schema
from tests.reference import needs_reference

WORKBOOK = ROOT / "infra/workbook/rotation-workbook.json"


def load(path: Path) -> dict:
    loaded: dict = json.loads(path.read_text())
    return loaded


@needs_reference
@pytest.mark.parametrize(("name", "schema_name"), [("host.json", "host.schema.json"),
                                                   ("local.settings.json", "local.settings.schema.json")])
def test_the_app_settings_files_match_their_schemas(name: str, schema_name: str) -> None:
    assert problems(load(ROOT / name), schema(schema_name)) == []


@needs_reference
@pytest.mark.parametrize("wrong", [{"functionTimeout": "ten minutes"}, {"version": "3.0"},
                                   {"extensions": {"queues": {"maxDequeueCount": "five"}}}])
def test_a_wrong_host_json_is_refused(wrong: dict) -> None:
    assert problems(load(ROOT / "host.json") | wrong, schema("host.schema.json"))


@needs_reference
def test_a_wrong_local_settings_is_refused() -> None:
    settings = load(ROOT / "local.settings.json") | {"IsEncrypted": "no"}
    assert problems(settings, schema("local.settings.schema.json"))


@needs_reference
def test_the_workbook_matches_the_workbook_schema() -> None:
    assert problems(load(WORKBOOK), schema("workbook.schema.json")) == []


@needs_reference
def test_a_wrong_workbook_is_refused() -> None:
    workbook = copy.deepcopy(load(WORKBOOK))
    workbook["items"][-1]["content"]["size"] = "large"
    assert problems(workbook, schema("workbook.schema.json"))
    workbook = copy.deepcopy(load(WORKBOOK))
    workbook["items"][0]["type"] = "markdown"
    assert problems(workbook, schema("workbook.schema.json"))


def test_every_free_text_numeric_parameter_has_a_validation_rule() -> None:
    parameters = [p for i in load(WORKBOOK)["items"] if i["type"] == 9 for p in i["content"]["parameters"]]
    numeric_text = [p for p in parameters if p["type"] == 1 and re.fullmatch(r"\d+", str(p.get("value", "")))]
    assert numeric_text, "the workbook has a numeric text parameter (ThresholdDays)"
    for parameter in numeric_text:
        rules = parameter.get("typeSettings", {}).get("paramValidationRules", [])
        assert rules, f"{parameter['name']} accepts any text"
        for rule in rules:
            accepts = bool(re.search(rule["regExp"], str(parameter["value"]))) == rule["match"]
            refuses = bool(re.search(rule["regExp"], "thirty")) != rule["match"]
            assert accepts and refuses and rule["message"], rule


@pytest.fixture(scope="module")
def functions() -> list:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ROTATION_QUEUE_NAME", "acr-rotations")  # the opt-in queue trigger is registered only then
        return app_functions()


@needs_reference
def test_every_function_s_bindings_match_their_binding_type_s_definition(functions: list) -> None:
    function_schema = schema("function.schema.json")
    names = {f.get_function_name() for f in functions}
    assert names == {"on_key_event", "sweep", "rotate", "status", "doctor", "apply_rotation"}
    for function in functions:
        for raw in function.get_raw_bindings():
            assert binding_problems(function_schema, json.loads(raw)) == [], (function.get_function_name(), raw)


@pytest.mark.parametrize(("binding", "wrong"), [
    ({"type": "timerTrigger", "direction": "IN", "name": "timer", "schedule": "0 0 * * * *"}, {"runOnStartup": "no"}),
    ({"type": "httpTrigger", "direction": "IN", "name": "req", "methods": ["POST"]}, {"authLevel": "everyone"}),
    ({"type": "queueTrigger", "direction": "IN", "name": "msg", "queueName": "q"}, {"direction": "OUT"}),
    ({"type": "eventGridTrigger", "direction": "IN", "name": "event"}, {"direction": "sideways"}),
    ({"type": "eventGridTrigger", "direction": "IN", "name": "event"}, {"name": None}),
])
@needs_reference
def test_a_wrong_binding_is_refused_by_its_own_definition(binding: dict, wrong: dict) -> None:
    function_schema = schema("function.schema.json")
    assert binding_problems(function_schema, binding) == []
    broken = {k: v for k, v in (binding | wrong).items() if v is not None}
    assert binding_problems(function_schema, broken)
