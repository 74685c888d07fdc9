"""MAX's Bot API shapes (schema.json, written down from the official OpenAPI schema) and a
small validator for them: the emulator checks every request the adapter sends against it,
and the tests check every response the emulator gives.

A validator of our own rather than a JSON Schema library: OpenAPI 3.0's ``nullable`` and
``discriminator`` are not JSON Schema, and the subset used here is a few dozen lines.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["SchemaError", "check_request", "check_response", "errors", "operation"]


class SchemaError(ValueError):
    pass


@cache
def document() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _resolve(ref: str) -> dict[str, Any]:
    name = ref.rsplit("/", 1)[-1]
    found: dict[str, Any] = document()["components"]["schemas"][name]
    return found


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def errors(value: Any, schema: dict[str, Any] | str, path: str = "$") -> list[str]:
    """What is wrong with `value` against `schema` (a schema or a component's name)."""
    if isinstance(schema, str):
        schema = _resolve(schema)
    if value is None:
        return [] if schema.get("nullable") else [f"{path}: null is not allowed"]
    if "$ref" in schema:
        return errors(value, _resolve(schema["$ref"]), path)
    found: list[str] = []
    for part in schema.get("allOf", []):
        found += errors(value, part, path)
    kind = schema.get("type")
    if kind is not None:
        ok = isinstance(value, _TYPES[kind]) and not (
            kind in ("integer", "number") and isinstance(value, bool)
        )
        if not ok:
            return found + [f"{path}: expected {kind}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            found.append(f"{path}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            found.append(f"{path}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append(f"{path}: does not match {schema['pattern']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            found.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            found.append(f"{path}: more than {schema['maxItems']} items")
        if "items" in schema:
            for i, item in enumerate(value):
                found += errors(item, schema["items"], f"{path}[{i}]")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                found.append(f"{path}: {name!r} is required")
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                found += errors(value[name], sub, f"{path}.{name}")
        disc = schema.get("discriminator")
        if disc is not None:
            tag = value.get(disc["propertyName"])
            target = disc["mapping"].get(tag)
            if target is not None:
                found += errors(value, _resolve(target), path)
    return found


def operation(method: str, path: str) -> dict[str, Any]:
    try:
        op: dict[str, Any] = document()["operations"][f"{method} {path}"]
    except KeyError:
        raise SchemaError(f"{method} {path} is not an operation of the schema") from None
    return op


def check_request(method: str, path: str, query: dict[str, Any], body: Any) -> list[str]:
    op = operation(method, path)
    found = [
        f"query: {name!r} is required" for name in op.get("required_query", []) if name not in query
    ]
    found += [
        f"query: {name!r} is not a parameter" for name in query if name not in op.get("query", [])
    ]
    if "request" in op:
        found += errors(body, op["request"], "body") if body is not None else ["body: required"]
    return found


def check_response(method: str, path: str, status: int, body: Any) -> list[str]:
    if status != 200:
        return errors(body, "Error", "error")
    return errors(body, operation(method, path)["response"], "response")
