"""Type checks of the Bicep templates against Azure's generated resource type definitions (Azure/bicep-types-az, the
files the Bicep compiler checks against; ../shared/azure-wire/bicep-types). The compiler itself is not reachable
from here, so this does its checks on the parts of a template that are literal, read with tree-sitter-bicep:

- every resource's ``type@apiVersion`` exists (child resources inherit the parent's type and version);
- every property set in a literal object exists, case-insensitively (the compiler's BCP037), and is not read-only
  (BCP073);
- a literal string given to a closed enum is one of its values, and a literal of the wrong primitive kind is refused
  (BCP036);
- the required properties of a literal object are present (BCP035);
- a local module's ``params`` are parameters the module declares, and every parameter it requires is given.

Registry modules (``br/public:...``) cannot be resolved offline: :func:`registry_modules` lists them, unchecked.
Anything that is not literal (a variable, a function call, a condition) is left unchecked, as the compiler would
check it by type inference, which this does not do.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import tree_sitter as ts
import tree_sitter_bicep

Json = dict[str, Any]
REQUIRED, READ_ONLY = 1, 2
RESOURCE_KEYWORDS = {"parent", "scope", "dependsOn"}  # Bicep's own keys in a resource body, not the type's
REGISTRY_PREFIXES = ("br/", "br:", "ts/", "ts:")


class Types:
    """One generated ``types.json`` file: a list of types that refer to each other by ``#/N``."""

    def __init__(self, items: list[Json]) -> None:
        self.items = items

    def get(self, ref: Json) -> Json:
        return self.items[int(ref["$ref"].rsplit("/", 1)[1])]


@functools.cache
def resource_index(root: Path) -> dict[str, tuple[Types, Json]]:
    """``type@apiversion`` (lower case) -> (its file's types, the ResourceType)."""
    index: dict[str, tuple[Types, Json]] = {}
    for path in sorted(root.rglob("types.json")):
        types = Types(json.loads(path.read_text()))
        for item in types.items:
            if item.get("$type") == "ResourceType":
                index[item["name"].lower()] = (types, item)
    return index


@functools.cache
def _parser() -> ts.Parser:
    return ts.Parser(ts.Language(tree_sitter_bicep.language()))


def _text(node: ts.Node) -> str:
    return (node.text or b"").decode()


def _string_value(node: ts.Node) -> str | None:
    """A string node's value when it is a plain literal (no interpolation), else None."""
    if node.type != "string" or any(c.type == "interpolation" for c in node.children):
        return None
    return "".join(_text(c) for c in node.children if c.type in ("string_content", "escape_sequence"))


def _key(prop: ts.Node) -> str | None:
    first = prop.named_children[0]
    return _text(first) if first.type == "identifier" else _string_value(first)


def _value(prop: ts.Node) -> ts.Node:
    return prop.named_children[-1]


def _body(node: ts.Node) -> ts.Node | None:
    """The object a resource or module declares, through ``[for ...: ...]`` and ``if (...)``."""
    if node.type == "object":
        return node
    if node.type in ("for_statement", "if_statement"):
        inner = node.child_by_field_name("body") or node.named_children[-1]
        return _body(inner)
    return None


def _line(node: ts.Node) -> int:
    return node.start_point[0] + 1


class Checker:
    def __init__(self, name: str, index: dict[str, tuple[Types, Json]]) -> None:
        self.name, self.index = name, index
        self.problems: list[str] = []
        self.resolved: list[str] = []  # each resource type@apiVersion found, so a test can see what was checked

    def report(self, node: ts.Node, message: str) -> None:
        self.problems.append(f"{self.name}:{_line(node)}: {message}")

    # -- resources ------------------------------------------------------------------------------------------------
    def resource(self, node: ts.Node, parent: str | None = None) -> None:
        type_node = next(c for c in node.named_children if c.type == "string")
        declared = _string_value(type_node) or ""
        if "@" in declared or parent is None:
            full = declared
        else:  # a child resource declared inside its parent: the parent's type and api version
            parent_type, api_version = parent.split("@")
            full = f"{parent_type}/{declared}@{api_version}"
        found = self.index.get(full.lower())
        if found is None:
            self.report(type_node, f"resource type {full} is not in the bicep-types definitions")
            return
        types, resource_type = found
        self.resolved.append(full)
        existing = any(c.type == "existing" for c in node.children)
        body = _body(node.named_children[-1])
        if body is None:
            return
        self.object(body, types, types.get(resource_type["body"]), full, top=True, existing=existing)
        for prop in body.named_children:
            inner = prop.named_children[0] if prop.named_children else None
            if prop.type == "object_property" and inner is not None and inner.type == "resource_declaration":
                self.resource(inner, parent=full)

    # -- values ---------------------------------------------------------------------------------------------------
    def object(self, node: ts.Node, types: Types, type_: Json, where: str, top: bool = False,
               existing: bool = False) -> None:
        properties, open_ = self._properties(node, types, type_, where)
        given: set[str] = set()
        for prop in node.named_children:
            if prop.type != "object_property" or len(prop.named_children) < 2:
                continue
            key = _key(prop)
            if key is None or (top and key in RESOURCE_KEYWORDS):
                continue
            given.add(key.lower())
            spec = properties.get(key.lower())
            if spec is None:
                if not open_:
                    self.report(prop, f"{where}: {key} is not a property of {type_.get('name', 'this object')}")
                continue
            if spec["flags"] & READ_ONLY and not existing:
                self.report(prop, f"{where}: {key} is read-only")
            self.value(_value(prop), types, types.get(spec["type"]), f"{where}.{key}")
        if existing or open_:
            return
        for name, spec in properties.items():
            if spec["flags"] & REQUIRED and not spec["flags"] & READ_ONLY and name not in given:
                self.report(node, f"{where}: required property {spec['original']} is missing")

    def _properties(self, node: ts.Node, types: Types, type_: Json, where: str) -> tuple[dict[str, Json], bool]:
        """The object's properties by lower-case name, and whether it accepts keys it does not list."""
        if type_["$type"] == "DiscriminatedObjectType":
            props = dict(type_.get("baseProperties", {}))
            literal = {(_key(p) or "").lower(): _value(p) for p in node.named_children if p.type == "object_property"}
            chosen = _string_value(literal[type_["discriminator"].lower()]) \
                if type_["discriminator"].lower() in literal else None
            if chosen is None:
                return self._named(props), True  # which variant depends on a value this cannot read
            elements = {k.lower(): v for k, v in type_["elements"].items()}
            if chosen.lower() not in elements:
                allowed = sorted(type_["elements"])
                self.report(node, f"{where}: {type_['discriminator']} '{chosen}' is not one of {allowed}")
                return self._named(props), True
            props.update(types.get(elements[chosen.lower()]).get("properties", {}))
            return self._named(props), False
        if type_["$type"] != "ObjectType":
            return {}, True
        return self._named(type_.get("properties", {})), "additionalProperties" in type_

    @staticmethod
    def _named(props: Json) -> dict[str, Json]:
        return {name.lower(): {**spec, "original": name} for name, spec in props.items()}

    def value(self, node: ts.Node, types: Types, type_: Json, where: str) -> None:
        kind = type_["$type"]
        if node.type == "object" and kind in ("ObjectType", "DiscriminatedObjectType"):
            self.object(node, types, type_, where)
        elif node.type == "array" and kind == "ArrayType":
            for item in node.named_children:
                self.value(item, types, types.get(type_["itemType"]), f"{where}[]")
        elif node.type == "for_statement" and kind == "ArrayType":
            body = _body(node)
            if body is not None:
                self.value(body, types, types.get(type_["itemType"]), f"{where}[]")
        elif node.type == "string":
            self.string(node, types, type_, where)
        elif node.type in ("number", "boolean") and kind in ("StringType", "StringLiteralType", "ObjectType"):
            self.report(node, f"{where}: {_text(node)} is not a {kind.removesuffix('Type').lower()}")

    def string(self, node: ts.Node, types: Types, type_: Json, where: str) -> None:
        literal = _string_value(node)
        if literal is None:
            return
        kind = type_["$type"]
        if kind in ("IntegerType", "BooleanType", "ObjectType", "ArrayType"):
            self.report(node, f"{where}: '{literal}' is a string, not {kind.removesuffix('Type').lower()}")
            return
        members = [types.get(e) for e in type_["elements"]] if kind == "UnionType" else [type_]
        if kind not in ("UnionType", "StringLiteralType") or any(m["$type"] != "StringLiteralType" for m in members):
            return  # a plain or extensible string: any value
        allowed = [m["value"] for m in members]
        if literal not in allowed:
            self.report(node, f"{where}: '{literal}' is not one of {allowed}")

    # -- modules --------------------------------------------------------------------------------------------------
    def module(self, node: ts.Node, folder: Path) -> None:
        path_node = next(c for c in node.named_children if c.type == "string")
        target = _string_value(path_node) or ""
        if target.startswith(REGISTRY_PREFIXES):
            return
        declared = module_parameters((folder / target).read_text())
        body = _body(node.named_children[-1])
        params = next((_value(p) for p in body.named_children
                       if p.type == "object_property" and _key(p) == "params"), None) if body else None
        if params is None or params.type != "object":
            given: set[str] = set() if params is None else set(declared)  # not literal: assume complete
        else:
            given = {k for p in params.named_children if p.type == "object_property" and (k := _key(p))}
            for name in sorted(given - set(declared)):
                self.report(params, f"module {target}: it declares no parameter {name}")
        for name, required in declared.items():
            if required and name not in given:
                self.report(node, f"module {target}: required parameter {name} is not given")


def module_parameters(text: str) -> dict[str, bool]:
    """A template's parameters: name -> required (no default and not nullable)."""
    tree = _parser().parse(text.encode())
    declared = {}
    for node in tree.root_node.named_children:
        if node.type == "parameter_declaration":
            name = _text(node.named_children[0])
            has_default = any(c.type == "=" for c in node.children)
            nullable = any(c.type == "nullable_type" for c in node.named_children) or "?" in _text(node).split("=")[0]
            declared[name] = not has_default and not nullable
    return declared


def check(text: str, name: str, folder: Path, index: dict[str, tuple[Types, Json]]) -> Checker:
    """Type-check one template's text: the checker's ``problems`` are empty when there is none."""
    checker = Checker(name, index)
    for node in _parser().parse(text.encode()).root_node.named_children:
        if node.type == "resource_declaration":
            checker.resource(node)
        elif node.type == "module_declaration":
            checker.module(node, folder)
    return checker


def registry_modules(text: str) -> list[str]:
    """The registry modules a template uses (``br/public:...``), which no offline check can resolve."""
    found = []
    for node in _parser().parse(text.encode()).root_node.named_children:
        if node.type == "module_declaration":
            target = _string_value(next(c for c in node.named_children if c.type == "string")) or ""
            if target.startswith(REGISTRY_PREFIXES):
                found.append(target)
    return found
