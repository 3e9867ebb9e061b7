"""JSON Schema → the OpenAPI 3.0 subset Gemini's ``Schema`` accepts.

Gemini (``functionDeclarations[].parameters``, ``generationConfig.responseSchema``)
takes a select subset of OpenAPI 3.0: ``type`` (upper-case enum), ``format``,
``title``, ``description``, ``nullable``, ``enum`` (strings), ``items``,
``minItems``/``maxItems``, ``properties``, ``required``, ``minProperties``/
``maxProperties``, ``minLength``/``maxLength``, ``pattern``, ``example``,
``anyOf``, ``propertyOrdering``, ``default``, ``minimum``/``maximum``. Anything
else is refused with ``400 Invalid JSON payload received. Unknown name ...``.

So the schemas OpenAI clients send are rewritten: ``$ref`` inlined from
``$defs``/``definitions``, ``type: [T, "null"]`` and ``anyOf [.., {type: null}]``
turned into ``nullable``, ``oneOf`` into ``anyOf``, single-member ``allOf``
merged, ``const`` into a one-value ``enum``, and the rest (``additionalProperties``,
``$schema``, ``strict``, ...) dropped. Models from Gemini 2.5 on also accept plain
JSON Schema (``parametersJsonSchema`` / ``responseJsonSchema``): the provider
option ``json_schema: native`` sends the caller's schema untouched there instead.
"""

from __future__ import annotations

from typing import Any

from bastion.providers.base import JSON

_TYPES = {
    "string": "STRING",
    "number": "NUMBER",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "array": "ARRAY",
    "object": "OBJECT",
}
# Keys copied as they are (their values are scalars or lists of scalars).
_PLAIN = (
    "title",
    "description",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "example",
    "default",
    "propertyOrdering",
)
# Formats every Gemini endpoint accepts, by type (others are refused by the Gemini API).
_FORMATS = {
    "STRING": ("enum", "date-time"),
    "NUMBER": ("float", "double"),
    "INTEGER": ("int32", "int64"),
}
_MAX_DEPTH = 32  # recursive $refs are cut here


def to_gemini_schema(schema: Any) -> JSON:
    """A copy of ``schema`` that Gemini's ``Schema`` message accepts."""
    if not isinstance(schema, dict):
        return {}
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        found = schema.get(key)
        if isinstance(found, dict):
            defs.update(found)
    return _convert(schema, defs, 0)


def is_empty_object(schema: JSON) -> bool:
    """An object schema without properties: Gemini wants no ``parameters`` then."""
    return schema.get("type") == "OBJECT" and not schema.get("properties") and "anyOf" not in schema


def _resolve(node: JSON, defs: dict[str, Any]) -> JSON:
    seen = 0
    while "$ref" in node and seen < _MAX_DEPTH:
        ref = node["$ref"]
        name = ref.rsplit("/", 1)[-1] if isinstance(ref, str) else ""
        target = defs.get(name)
        rest = {k: v for k, v in node.items() if k != "$ref"}
        node = {**target, **rest} if isinstance(target, dict) else rest
        seen += 1
    return node


def _convert(node: JSON, defs: dict[str, Any], depth: int) -> JSON:
    if depth > _MAX_DEPTH:
        return {"type": "OBJECT"}
    node = _resolve(node, defs)
    all_of = node.get("allOf")
    if isinstance(all_of, list):
        merged: JSON = {}
        for member in all_of:
            if isinstance(member, dict):
                member = _resolve(member, defs)
                for key, value in member.items():
                    if key == "properties" and isinstance(merged.get(key), dict):
                        merged[key] = {**merged[key], **value}
                    elif key == "required" and isinstance(merged.get(key), list):
                        merged[key] = [*merged[key], *value]
                    else:
                        merged[key] = value
        node = {**merged, **{k: v for k, v in node.items() if k != "allOf"}}

    out: JSON = {key: node[key] for key in _PLAIN if key in node}
    nullable = node.get("nullable") is True

    variants = node.get("anyOf", node.get("oneOf"))
    raw_type = node.get("type")
    if isinstance(raw_type, list):
        if "null" in raw_type:
            nullable = True
        kinds = [t for t in raw_type if t != "null"]
        if len(kinds) == 1:
            raw_type = kinds[0]
        elif kinds and not isinstance(variants, list):
            raw_type = None
            shared = {k: v for k, v in node.items() if k not in _PLAIN and k != "type"}
            variants = [{**shared, "type": t} for t in kinds]
        else:
            raw_type = None
    elif raw_type == "null":
        nullable, raw_type = True, None

    if isinstance(variants, list):
        members = [m for m in variants if isinstance(m, dict)]
        non_null = [m for m in members if _resolve(m, defs).get("type") != "null"]
        if len(non_null) < len(members):
            nullable = True
        converted = [_convert(m, defs, depth + 1) for m in non_null]
        if len(converted) == 1:  # only "X or null": X itself, made nullable
            inner = converted[0]
            for key, value in out.items():
                inner.setdefault(key, value)
            if nullable:
                inner["nullable"] = True
            return inner
        if converted:
            out["anyOf"] = converted

    gemini_type = _TYPES.get(raw_type) if isinstance(raw_type, str) else None
    if gemini_type is None and "anyOf" not in out and "type" not in out:
        if isinstance(node.get("properties"), dict):
            gemini_type = "OBJECT"
        elif "items" in node:
            gemini_type = "ARRAY"
    if gemini_type is not None:
        out["type"] = gemini_type
    kind = out.get("type")

    if "const" in node:
        nullable = _set_enum(out, [node["const"]]) or nullable
    elif isinstance(node.get("enum"), list):
        nullable = _set_enum(out, node["enum"]) or nullable
    fmt = node.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS.get(str(kind), ()):
        out["format"] = fmt

    if kind == "OBJECT":
        props = node.get("properties")
        if isinstance(props, dict) and props:
            out["properties"] = {
                str(name): _convert(sub if isinstance(sub, dict) else {}, defs, depth + 1)
                for name, sub in props.items()
            }
            required = node.get("required")
            if isinstance(required, list):
                kept = [r for r in required if r in props]
                if kept:
                    out["required"] = kept
    elif kind == "ARRAY":
        items = node.get("items")
        if isinstance(items, list):  # tuple validation: the first position's schema
            items = items[0] if items else None
        # Gemini requires ``items`` on arrays.
        out["items"] = (
            _convert(items, defs, depth + 1) if isinstance(items, dict) else {"type": "STRING"}
        )
        if not out["items"]:
            out["items"] = {"type": "STRING"}
    if nullable:
        out["nullable"] = True
    return out


def _set_enum(out: JSON, values: list[Any]) -> bool:
    """Gemini enums are strings; other values are described in words instead.

    Returns whether ``null`` was one of the values (the schema is then nullable).
    """
    present = [v for v in values if v is not None]
    nullable = len(present) < len(values)
    if not present:
        return nullable
    if all(isinstance(v, str) for v in present):
        out["enum"] = present
        if out.get("type") in (None, "STRING"):
            out["type"] = "STRING"
        return nullable
    listed = ", ".join(_literal(v) for v in present)
    note = f"One of: {listed}."
    out["description"] = f"{out['description']} {note}" if out.get("description") else note
    return nullable


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)
