"""A minimal value that satisfies a JSON schema, for default structured-output answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["example_from_schema"]

_MAX_DEPTH = 32


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    if not ref.startswith("#/"):
        return {}
    node: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            return {}
        node = node[part]
    return node if isinstance(node, Mapping) else {}


def _example(schema: Any, root: Mapping[str, Any], depth: int) -> Any:
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return None
    if "$ref" in schema:
        return _example(_resolve(str(schema["$ref"]), root), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            non_null = [
                o for o in options if not (isinstance(o, Mapping) and o.get("type") == "null")
            ]
            return _example((non_null or options)[0], root, depth + 1)
    if isinstance(schema.get("allOf"), list) and schema["allOf"]:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = _example(part, root, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
            else:
                return value
        return merged
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if kinds else "null"
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties") or {}
        required = schema.get("required")
        names = list(props) if required is None else [n for n in required if n in props]
        return {name: _example(props[name], root, depth + 1) for name in names}
    if kind == "array":
        count = int(schema.get("minItems", 0))
        return [_example(schema.get("items", {}), root, depth + 1) for _ in range(count)]
    if kind == "string":
        minimum = int(schema.get("minLength", 0))
        return "fake" if minimum <= 4 else "f" * minimum
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0))
    if kind == "boolean":
        return False
    return None


def example_from_schema(schema: Mapping[str, Any]) -> Any:
    """A small deterministic value that fits ``schema`` (objects get their required fields).

    Handles ``$ref`` into ``$defs``/``definitions``, ``anyOf``/``oneOf`` (first non-null
    option), ``enum``, ``const``, ``default``, and the JSON types; strings become ``"fake"``,
    numbers their ``minimum`` or 0.

        >>> example_from_schema({"type": "object", "properties": {"score": {"type": "integer"}},
        ...                      "required": ["score"]})
        {'score': 0}
    """
    return _example(schema, schema, 0)
