"""The published JSON schemas in ../shared/azure-wire/schemas (SchemaStore's host.json, local.settings.json and
function.json; the workbook schema from microsoft/Application-Insights-Workbooks), and the function metadata the
app's decorators emit."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import jsonschema

from tests.reference import AZURE_WIRE

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = AZURE_WIRE / "schemas"
Json = dict[str, Any]

# The v2 programming model emits these in upper case ("IN", "FUNCTION", "POST"); the host reads them
# case-insensitively and the schema lists lower case (schemas/README.md): normalise before validating.
CASE_INSENSITIVE = ("direction", "authLevel")


def schema(name: str) -> Json:
    loaded: Json = json.loads((SCHEMAS / name).read_text())
    return loaded


def problems(instance: Any, schema_: Json) -> list[str]:
    validator = jsonschema.validators.validator_for(schema_)(schema_)
    errors = validator.iter_errors(instance)
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors)


def app_functions() -> list[Any]:
    """function_app's functions as the decorators declare them, imported afresh (under the current environment)."""
    spec = importlib.util.spec_from_file_location("function_app_for_schema", ROOT / "function_app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.app.get_functions())


def normalised(binding: Json) -> Json:
    out = dict(binding)
    for key in CASE_INSENSITIVE:
        if isinstance(out.get(key), str):
            out[key] = out[key].lower()
    if isinstance(out.get("methods"), list):
        out["methods"] = [m.lower() for m in out["methods"]]
    return out


def _types_of(definition: Json) -> set[str]:
    branches = [definition, *definition.get("oneOf", [])]
    return {t for b in branches for t in b.get("properties", {}).get("type", {}).get("enum", [])}


def binding_schema(function_schema: Json, binding_type: str) -> Json:
    """The function.json schema's definition for this binding type (its ``dynamicBinding`` for types it does not
    enumerate), with the base every binding shares. Validating against the top-level ``oneOf`` would accept
    anything: one SQL definition uses ``const``, which Draft 4 ignores (schemas/README.md)."""
    definitions = function_schema["definitions"]
    named = [name for name, d in definitions.items() if name != "bindingBase" and binding_type in _types_of(d)]
    assert len(named) <= 1, f"{binding_type} is in several definitions: {named}"
    chosen = named[0] if named else "dynamicBinding"
    return {"$schema": function_schema["$schema"], "definitions": definitions,
            "allOf": [{"$ref": "#/definitions/bindingBase"}, {"$ref": f"#/definitions/{chosen}"}]}


def binding_problems(function_schema: Json, binding: Json) -> list[str]:
    return problems(normalised(binding), binding_schema(function_schema, str(binding.get("type"))))
