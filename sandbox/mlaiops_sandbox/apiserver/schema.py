"""Structural OpenAPI v3 schemas as CRDs use them: pruning, defaulting and validation.

Messages and cause reasons follow apiextensions-apiserver (kube-openapi validate errors converted to
field.Error), so clients and users see the same text as on a real cluster."""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime
from typing import Any

Schema = dict[str, Any]
ROOT_META = ("apiVersion", "kind", "metadata")


def _preserves(schema: Schema) -> bool:
    return bool(schema.get("x-kubernetes-preserve-unknown-fields"))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --- pruning ----------------------------------------------------------------------------------


def prune(obj: Any, schema: Schema | None, path: str = "", root: bool = True) -> list[str]:
    """Drop fields the schema does not specify (in place); return their paths for strict/warn modes."""
    if schema is None or not isinstance(obj, (dict, list)):
        return []
    removed: list[str] = []
    if isinstance(obj, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(obj):
                removed += prune(item, items, f"{path}[{i}]", root=False)
        return removed
    props: dict[str, Schema] = schema.get("properties") or {}
    addl = schema.get("additionalProperties")
    for key in list(obj):
        if root and key in ROOT_META:
            continue
        if key in props:
            removed += prune(obj[key], props[key], _join(path, key), root=False)
        elif isinstance(addl, dict):
            removed += prune(obj[key], addl, _join(path, key), root=False)
        elif addl is True or _preserves(schema):
            continue
        else:
            del obj[key]
            removed.append(_join(path, key))
    return removed


# --- defaulting -------------------------------------------------------------------------------


def apply_defaults(obj: Any, schema: Schema | None) -> None:
    """Structural defaulting: a missing property with a `default` gets a copy of it, recursively;
    a null is defaulted too unless the field is nullable (as the real server does)."""
    if schema is None:
        return
    if isinstance(obj, dict):
        props: dict[str, Schema] = schema.get("properties") or {}
        for key, sub in props.items():
            if "default" in sub and (key not in obj or (obj[key] is None and not sub.get("nullable"))):
                obj[key] = copy.deepcopy(sub["default"])
            if key in obj:
                apply_defaults(obj[key], sub)
        addl = schema.get("additionalProperties")
        if isinstance(addl, dict):
            for key, value in obj.items():
                if key not in props:
                    apply_defaults(value, addl)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for item in obj:
            apply_defaults(item, schema["items"])


# --- validation -------------------------------------------------------------------------------


def _show(value: Any) -> str:
    """How field.Error renders a value: quoted strings, plain numbers."""
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    return json.dumps(value)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_ok(value: Any, expected: str) -> bool:
    actual = _type_name(value)
    return actual == expected or (expected == "number" and actual == "integer")


def _cause(reason: str, field: str, message: str) -> dict[str, Any]:
    return {"reason": reason, "message": message, "field": field}


def _invalid(field: str, value: Any, text: str) -> dict[str, Any]:
    return _cause("FieldValueInvalid", field, f"Invalid value: {_show(value)}: {text}")


_FORMATS = {
    "date-time": lambda s: bool(datetime.fromisoformat(s.replace("Z", "+00:00"))),
    "date": lambda s: bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", s)),
    "uuid": lambda s: bool(re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", s)),
    "email": lambda s: bool(re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", s)),
    "hostname": lambda s: bool(re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", s)) and len(s) <= 253,
    "ipv4": lambda s: bool(re.fullmatch(r"(\d{1,3}\.){3}\d{1,3}", s)) and all(int(p) < 256 for p in s.split(".")),
    "uri": lambda s: bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", s)),
}


def _format_ok(fmt: str, value: str) -> bool:
    check = _FORMATS.get(fmt)
    if check is None:
        return True
    try:
        return bool(check(value))
    except ValueError:
        return False


def validate(value: Any, schema: Schema | None, path: str = "", root: bool = True) -> list[dict[str, Any]]:
    """Return field causes (reason, message, field) for every violation, depth first."""
    if schema is None:
        return []
    causes: list[dict[str, Any]] = []
    if value is None:
        if schema.get("nullable") or root:
            return []
        if schema.get("type"):
            text = f'{path} in body must be of type {schema["type"]}: "null"'
            return [_cause("FieldValueTypeInvalid", path, f'Invalid value: "null": {text}')]
        return []
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, (int, str)) or isinstance(value, bool):
            text = f"{path} in body must be of type integer,string: {_show(_type_name(value))}"
            causes.append(_cause("FieldValueTypeInvalid", path, f"Invalid value: {_show(value)}: {text}"))
            return causes
    elif (expected := schema.get("type")) and not _type_ok(value, expected):
        text = f"{path} in body must be of type {expected}: {_show(_type_name(value))}"
        return [_cause("FieldValueTypeInvalid", path, f"Invalid value: {_show(value)}: {text}")]

    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(json.dumps(v) for v in schema["enum"])
        causes.append(
            _cause(
                "FieldValueNotSupported",
                path,
                f"Unsupported value: {_show(value)}: supported values: {supported}",
            )
        )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        causes += _numeric(value, schema, path)
    if isinstance(value, str):
        causes += _string(value, schema, path)
    if isinstance(value, list):
        causes += _array(value, schema, path)
    if isinstance(value, dict):
        causes += _object(value, schema, path, root)
    causes += _combinators(value, schema, path)
    return causes


def _combinators(value: Any, schema: Schema, path: str) -> list[dict[str, Any]]:
    """Value validation with allOf/anyOf/oneOf/not, as structural schemas allow them."""
    causes: list[dict[str, Any]] = []
    for sub in schema.get("allOf") or []:
        causes += validate(value, sub, path, root=False)
    if (any_of := schema.get("anyOf")) and not any(not validate(value, sub, path, root=False) for sub in any_of):
        causes.append(_invalid(path, value, f"{path} in body must validate at least one schema (anyOf)"))
    if one_of := schema.get("oneOf"):
        passing = sum(1 for sub in one_of if not validate(value, sub, path, root=False))
        if passing != 1:
            causes.append(_invalid(path, value, f"{path} in body must validate one and only one schema (oneOf)"))
    if "not" in schema and not validate(value, schema["not"], path, root=False):
        causes.append(_invalid(path, value, f"{path} in body must not validate the schema (not)"))
    return causes


def _numeric(value: float, schema: Schema, path: str) -> list[dict[str, Any]]:
    causes = []
    if "minimum" in schema:
        lo = schema["minimum"]
        if schema.get("exclusiveMinimum") is True and value <= lo:
            causes.append(_invalid(path, value, f"{path} in body should be greater than {lo}"))
        elif value < lo:
            causes.append(_invalid(path, value, f"{path} in body should be greater than or equal to {lo}"))
    if "maximum" in schema:
        hi = schema["maximum"]
        if schema.get("exclusiveMaximum") is True and value >= hi:
            causes.append(_invalid(path, value, f"{path} in body should be less than {hi}"))
        elif value > hi:
            causes.append(_invalid(path, value, f"{path} in body should be less than or equal to {hi}"))
    if (mult := schema.get("multipleOf")) and (value / mult) != int(value / mult):
        causes.append(_invalid(path, value, f"{path} in body should be a multiple of {mult}"))
    return causes


def _string(value: str, schema: Schema, path: str) -> list[dict[str, Any]]:
    causes = []
    if "minLength" in schema and len(value) < schema["minLength"]:
        text = f"{path} in body should be at least {schema['minLength']} chars long"
        causes.append(_invalid(path, value, text))
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        msg = f"Too long: may not be more than {schema['maxLength']} bytes"
        causes.append(_cause("FieldValueTooLong", path, msg))
    if "pattern" in schema and not re.search(schema["pattern"], value):
        causes.append(_invalid(path, value, f"{path} in body should match '{schema['pattern']}'"))
    if (fmt := schema.get("format")) and not _format_ok(fmt, value):
        causes.append(_invalid(path, value, f"{path} in body must be of type {fmt}: {json.dumps(value)}"))
    return causes


def _array(value: list[Any], schema: Schema, path: str) -> list[dict[str, Any]]:
    causes = []
    if "minItems" in schema and len(value) < schema["minItems"]:
        text = f"{path} in body should have at least {schema['minItems']} items"
        causes.append(_invalid(path, value, text))
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        msg = f"Too many: {len(value)}: must have at most {schema['maxItems']} items"
        causes.append(_cause("FieldValueTooMany", path, msg))
    if schema.get("x-kubernetes-list-type") == "set" or schema.get("uniqueItems"):
        seen: list[Any] = []
        for i, item in enumerate(value):
            if item in seen:
                causes.append(_cause("FieldValueDuplicate", f"{path}[{i}]", f"Duplicate value: {_show(item)}"))
            seen.append(item)
    if isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            causes += validate(item, schema["items"], f"{path}[{i}]", root=False)
    return causes


def _object(value: dict[str, Any], schema: Schema, path: str, root: bool) -> list[dict[str, Any]]:
    causes = []
    for key in schema.get("required") or []:
        if key not in value:
            causes.append(_cause("FieldValueRequired", _join(path, key), "Required value"))
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        text = f"{path} in body should have at least {schema['minProperties']} properties"
        causes.append(_invalid(path, value, text))
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        msg = f"Too many: {len(value)}: must have at most {schema['maxProperties']} items"
        causes.append(_cause("FieldValueTooMany", path, msg))
    props: dict[str, Schema] = schema.get("properties") or {}
    addl = schema.get("additionalProperties")
    for key, sub_value in value.items():
        if root and key in ROOT_META and key not in props:
            continue
        if key in props:
            causes += validate(sub_value, props[key], _join(path, key), root=False)
        elif isinstance(addl, dict):
            causes += validate(sub_value, addl, _join(path, key), root=False)
    return causes
