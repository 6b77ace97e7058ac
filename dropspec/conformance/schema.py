"""The report's published JSON schema (``report.schema.json`` beside this module) and a small
validator for the part of JSON Schema it uses.

The schema is versioned: every report carries ``schema_version``, and a reader refuses a report
of another version. The validator understands ``type``, ``required``, ``properties``,
``items``, ``enum``, ``const``, ``minimum``, ``exclusiveMinimum``, ``exclusiveMaximum`` and
local ``$ref`` (``#/$defs/...``): what the schema file uses, and nothing else, so that dropspec
needs no JSON Schema library. Any full validator (``jsonschema``, ``check-jsonschema``) reads
the same file.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The version of the report schema that this dropspec writes and reads.
SCHEMA_VERSION = 1
#: Where the schema is published: in the package, beside this module.
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


@functools.cache
def schema() -> dict[str, Any]:
    """The published report schema."""
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


def _is_type(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name not in ("boolean",):
        return False  # JSON's true is not a number
    return isinstance(value, _TYPES[name])


def _where(path: str) -> str:
    return path or "the top level"


def _check(value: Any, node: Mapping[str, Any], path: str, errors: list[str]) -> None:
    if "$ref" in node:
        ref = node["$ref"]
        target: Any = schema()
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        _check(value, target, path, errors)
        return
    if "const" in node and value != node["const"]:
        errors.append(f"{_where(path)}: {value!r}, expected {node['const']!r}")
        return
    if "enum" in node and value not in node["enum"]:
        choices = ", ".join(map(repr, node["enum"]))
        errors.append(f"{_where(path)}: {value!r} is not one of {choices}")
        return
    if "type" in node:
        names = [node["type"]] if isinstance(node["type"], str) else list(node["type"])
        if not any(_is_type(value, n) for n in names):
            got = f"{type(value).__name__} {value!r:.40}"
            errors.append(f"{_where(path)}: {got}, expected {' or '.join(names)}")
            return
    if _is_type(value, "number"):
        if "minimum" in node and value < node["minimum"]:
            errors.append(f"{_where(path)}: {value!r} is below {node['minimum']}")
        if "exclusiveMinimum" in node and value <= node["exclusiveMinimum"]:
            errors.append(f"{_where(path)}: {value!r}, expected > {node['exclusiveMinimum']}")
        if "exclusiveMaximum" in node and value >= node["exclusiveMaximum"]:
            errors.append(f"{_where(path)}: {value!r}, expected < {node['exclusiveMaximum']}")
    if isinstance(value, dict):
        for key in node.get("required", ()):
            if key not in value:
                errors.append(f"{_where(path)}: missing field {(path + '.' if path else '') + key}")
        for key, sub in node.get("properties", {}).items():
            if key in value:
                _check(value[key], sub, f"{path}.{key}" if path else key, errors)
    if isinstance(value, list) and "items" in node:
        for i, item in enumerate(value):
            _check(item, node["items"], f"{path}[{i}]", errors)


def validate(report: Any) -> list[str]:
    """What is wrong with ``report`` against the schema, one line each ([] when it is valid).

    A report of another schema version is reported as that alone: its other fields are read
    by another schema.
    """
    if isinstance(report, dict) and report.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        return [
            f"schema_version: {report['schema_version']!r}; this dropspec reads version "
            f"{SCHEMA_VERSION} (merge reports written by the same dropspec)"
        ]
    errors: list[str] = []
    _check(report, schema(), "", errors)
    return errors
