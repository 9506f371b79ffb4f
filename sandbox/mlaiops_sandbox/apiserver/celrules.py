"""CEL validation rules of CRD schemas (``x-kubernetes-validations``), evaluated the way kube-apiserver does.

What apiextensions-apiserver does (``pkg/apiserver/schema/cel/validation.go``, ``compilation.go``) and this
module copies, on every create and update of a custom resource, after pruning, defaulting and the OpenAPI checks:

- every rule of a schema node runs on every non-null value of that node, with ``self`` bound to it (the root
  sees ``apiVersion``, ``kind`` and only ``metadata.name`` / ``metadata.generateName``); numbers are doubles,
  integers ints, objects maps, so ``has(self.x)`` tests presence and a missing key is an evaluation error;
- a rule that yields false is one cause at the node's path, or at the path plus the rule's ``fieldPath``:
  ``spec.x: Invalid value: "object": <detail>``, the value being the *node's schema type* (not the value);
  the detail is ``messageExpression``'s result when it evaluates to a non-empty one-line string, else
  ``message``, else ``failed rule: <rule>``; ``reason`` FieldValueForbidden / FieldValueRequired /
  FieldValueDuplicate turn it into ``Forbidden: <detail>`` / ``Required value: <detail>`` / ``Duplicate value``;
  a rule on the root without fieldPath reports at ``<nil>`` (field.Path nil);
- a rule that cannot be evaluated is ``Invalid value: "<type>": <error> evaluating rule: <message or rule>``
  (``no such key: x``, ``index out of bounds: 3``, ...), a type mismatch
  ``'no such overload': call arguments did not match a supported operator, function or macro signature ...``;
- transition rules (a rule that references ``oldSelf``) run only on update and only where the node has an old
  value: object properties and map values correlate by key, list items only in ``x-kubernetes-list-type: map``
  lists (by their keys); with ``optionalOldSelf: true`` they always run, ``oldSelf`` being an optional;
- ratcheting (CRDValidationRatcheting, on by default since 1.30): on update, a failing rule that does not use
  ``oldSelf`` on a value equal to its old value (or, for an uncorrelatable list item, whose list is unchanged)
  does not refuse the write; it comes back as a warning;
- when the OpenAPI checks already found a type, required, enum, too-long or too-many error, no rule runs and one
  more cause says so: ``<nil>: Invalid value: "null": some validation rules were not checked ...``;
- a CRD whose rules do not compile, have an empty or multi-line message, an invalid ``fieldPath`` or an
  unknown ``reason`` is refused (``crd_problems``), so a broken rule fails when the CRD is applied, not later.

Differences, by design: expressions are not type-checked against the schema before they run (a rule comparing
a string with an int compiles and then fails with 'no such overload' when it runs), and neither the
estimated cost limits nor the runtime cost budget are computed. Functions: the CEL standard library, the
Kubernetes list library (``isSorted``, ``sum``, ``min``, ``max``, ``indexOf``, ``lastIndexOf``), the regex
library (``find``, ``findAll``) and cel-go's strings and sets extensions; not the quantity, URL, IP/CIDR,
authz, format or semver libraries. The evaluator is the ``common-expression-language`` package (cel-rust).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import cel
from cel import stdlib

Schema = dict[str, Any]
Cause = dict[str, Any]

RULES = "x-kubernetes-validations"
BLOCKING = {
    "FieldValueNotSupported",
    "FieldValueRequired",
    "FieldValueTooLong",
    "FieldValueTooMany",
    "FieldValueTypeInvalid",
}
NOT_CHECKED: Cause = {
    "reason": "FieldValueInvalid",
    "message": 'Invalid value: "null": some validation rules were not checked because the object was invalid; '
    "correct the existing errors to complete validation",
    "field": "<nil>",
}
REASONS = ("FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate")
MAX_MESSAGE_EXPRESSION_BYTES = 5 * 1024

# Functions the compiled expression may call: CEL's own, and the libraries registered in _context().
_BUILTINS = {
    "size", "matches", "contains", "startsWith", "endsWith", "string", "int", "uint", "double", "bool", "bytes",
    "timestamp", "duration", "dyn", "type", "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear",
    "getFullYear", "getHours", "getMilliseconds", "getMinutes", "getMonth", "getSeconds",
    "hasValue", "value", "orValue", "or", "optional.of", "optional.none", "optional.ofNonZeroValue", "of", "none",
    "ofNonZeroValue",
}  # fmt: skip
_MACRO_VARIABLE = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")


# --- the Kubernetes function libraries the sandbox provides ---------------------------------------------


def _is_sorted(values: list[Any]) -> bool:
    return all(a <= b for a, b in itertools.pairwise(values))


def _index_of(container: Any, item: Any, start: int = 0) -> int:
    """Kubernetes' lists ``indexOf`` and cel-go's strings ``indexOf`` (with its offset) share a name."""
    if isinstance(container, str):
        return container.find(item, start)
    return next((i for i, value in enumerate(container) if value == item), -1)


def _last_index_of(container: Any, item: Any) -> int:
    if isinstance(container, str):
        return container.rfind(item)
    return next((i for i in range(len(container) - 1, -1, -1) if container[i] == item), -1)


def _find(text: str, pattern: str) -> str:
    found = re.search(pattern, text)
    return found.group(0) if found else ""


def _find_all(text: str, pattern: str, limit: int = -1) -> list[str]:
    matches = [m.group(0) for m in re.finditer(pattern, text)]
    return matches if limit < 0 else matches[:limit]


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "isSorted": _is_sorted,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "find": _find,
    "findAll": _find_all,
}
_STDLIB = ("strings", "sets")
_STDLIB_EXTRA = ("sum", "min", "max")  # the Kubernetes list library's aggregates, from the package's core
KNOWN_FUNCTIONS = (
    _BUILTINS
    | set(_FUNCTIONS)
    | set(_STDLIB_EXTRA)
    | {name for library in _STDLIB for name in stdlib.EXTENSIONS[library]}
)


# ``sets.contains(...)`` is referenced as the function ``contains`` of the variable ``sets``.
_NAMESPACED = {name.rsplit(".", 1)[1] for name in KNOWN_FUNCTIONS if "." in name}


def _context(variables: dict[str, Any]) -> cel.Context:
    context = cel.Context()
    stdlib.add_stdlib_to_context(context, list(_STDLIB))
    for name in _STDLIB_EXTRA:
        context.add_function(name, stdlib.EXTENSIONS["core"][name])
    for name, function in _FUNCTIONS.items():
        context.add_function(name, function)
    for name, value in variables.items():
        context.add_variable(name, value)
    return context


# --- compiling ------------------------------------------------------------------------------------------


class CompileError(ValueError):
    """An expression the API server would refuse when the CRD is written; the text is cel-go's style."""


@functools.lru_cache(maxsize=2048)
def compile_expression(expression: str) -> tuple[cel.Program, bool]:
    """The program of one expression and whether it references ``oldSelf``; CompileError when it cannot run."""
    try:
        program = cel.compile(expression)
    except (ValueError, RuntimeError) as error:
        text = str(error)
        text = re.sub(r"^Failed to parse expression .*?: (?=ERROR:)", "", text, flags=re.DOTALL)
        raise CompileError(text) from None
    references = program.references()
    for function in references["functions"]:
        if not function[0].isalpha() or function in KNOWN_FUNCTIONS or function in _NAMESPACED:
            continue
        raise CompileError(f"ERROR: <input>: undeclared reference to '{function}' (in container '')")
    bound = set(_MACRO_VARIABLE.findall(expression)) | {name.split(".")[0] for name in KNOWN_FUNCTIONS if "." in name}
    for variable in references["variables"]:
        if variable not in ("self", "oldSelf") and variable not in bound:
            raise CompileError(f"ERROR: <input>: undeclared reference to '{variable}' (in container '')")
    return program, "oldSelf" in references["variables"]


def normalized_field_path(field_path: str, schema: Schema) -> str:
    """``.a.b['c']`` checked against the schema and written as a field path (``a.b[c]``); ValueError if invalid."""
    tokens = re.findall(r"\.([^.\[\]]+)|\['((?:[^'\\]|\\.)*)'\]|(.)", field_path)
    path = ""
    node = schema
    for name, key, stray in tokens:
        if stray:
            raise ValueError(f"expected [ or . but got: {stray}")
        value = name or key
        props, addl = node.get("properties"), node.get("additionalProperties")
        if props is not None:
            if value not in props:
                raise ValueError("does not refer to a valid field")
            node, path = props[value], f"{path}.{value}" if path else value
        elif isinstance(addl, dict):
            node, path = addl, f"{path}[{value}]"
        else:
            raise ValueError("does not refer to a valid field")
    if not tokens:
        raise ValueError("unexpected end of JSON path")
    return path


# --- CRD creation: every rule must compile -----------------------------------------------------------------


def _rule_struct(rule: dict[str, Any]) -> str:
    """How the real server prints a ValidationRule as a bad value (Go's %#v)."""
    reason = rule.get("reason")
    optional = rule.get("optionalOldSelf")
    return (
        f'apiextensions.ValidationRule{{Rule:"{rule.get("rule", "")}", Message:"{rule.get("message", "")}", '
        f'MessageExpression:"{rule.get("messageExpression", "")}", '
        f"Reason:{'(*apiextensions.FieldValueErrorReason)(nil)' if reason is None else repr(reason)}, "
        f'FieldPath:"{rule.get("fieldPath", "")}", '
        f"OptionalOldSelf:{'(*bool)(nil)' if optional is None else str(optional).lower()}}}"
    )


def _schema_nodes(
    schema: Any, path: str, data_path: str = "", uncorrelatable: str | None = None
) -> Iterator[tuple[str, Schema, str | None]]:
    """Every node with its schema path and, under a list that is not a map list, that list's data path."""
    if not isinstance(schema, dict):
        return
    yield path, schema, uncorrelatable
    for name, sub in (schema.get("properties") or {}).items():
        child = f"{data_path}.{name}" if data_path else name
        yield from _schema_nodes(sub, f"{path}.properties[{name}]", child, uncorrelatable)
    if isinstance(schema.get("items"), dict):
        correlated = schema.get("x-kubernetes-list-type") == "map"
        inner = uncorrelatable if correlated or uncorrelatable else f"{data_path}[*]"
        yield from _schema_nodes(schema["items"], f"{path}.items", f"{data_path}[*]", inner)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _schema_nodes(
            schema["additionalProperties"], f"{path}.additionalProperties", f"{data_path}[*]", uncorrelatable
        )


def crd_problems(crd: dict[str, Any]) -> list[Cause]:
    """Causes for every rule in the CRD's schemas that the real server refuses when the CRD is written."""
    causes: list[Cause] = []
    for v, version in enumerate((crd.get("spec") or {}).get("versions") or []):
        root = ((version or {}).get("schema") or {}).get("openAPIV3Schema")
        for path, node, uncorrelatable in _schema_nodes(root, f"spec.versions[{v}].schema.openAPIV3Schema"):
            for i, rule in enumerate(node.get(RULES) or []):
                causes += _rule_problems(rule, node, f"{path}.{RULES}[{i}]", uncorrelatable)
    return causes


def _rule_problems(rule: Any, node: Schema, path: str, uncorrelatable: str | None) -> list[Cause]:
    if not isinstance(rule, dict):
        return [{"reason": "FieldValueTypeInvalid", "message": "Invalid value: must be an object", "field": path}]
    expression, message = str(rule.get("rule") or ""), rule.get("message")
    shown = _rule_struct(rule)

    def invalid(field: str, detail: str, value: str = shown) -> Cause:
        return {
            "reason": "FieldValueInvalid",
            "message": f"Invalid value: {value}: {detail}",
            "field": f"{path}.{field}",
        }

    if not expression.strip():
        return [
            {
                "reason": "FieldValueRequired",
                "message": "Required value: rule is not specified",
                "field": f"{path}.rule",
            }
        ]
    causes: list[Cause] = []
    if message is not None and not str(message).strip():
        causes.append(invalid("message", "message must be non-empty if specified", f'"{message}"'))
    elif message is not None and "\n" in str(message).strip():
        causes.append(invalid("message", "message must not contain line breaks", f'"{message}"'))
    elif "\n" in expression.strip() and not message:
        causes.append(
            {
                "reason": "FieldValueRequired",
                "message": "Required value: message must be specified if rule contains line breaks",
                "field": f"{path}.message",
            }
        )
    try:
        _, uses_old_self = compile_expression(expression)
    except CompileError as error:
        causes.append(invalid("rule", f"compilation failed: {error}"))
    else:
        if uses_old_self and uncorrelatable is not None:
            detail = f"oldSelf cannot be used on the uncorrelatable portion of the schema within {uncorrelatable}"
            causes.append(invalid("rule", detail, f'"{expression}"'))
    if rule.get("messageExpression"):
        try:
            compile_expression(str(rule["messageExpression"]))
        except CompileError as error:
            causes.append(invalid("messageExpression", f"messageExpression compilation failed: {error}"))
    if rule.get("fieldPath"):
        try:
            normalized_field_path(str(rule["fieldPath"]), node)
        except ValueError as error:
            causes.append(invalid("fieldPath", f"fieldPath must be a valid path: {error}", f'"{rule["fieldPath"]}"'))
    if rule.get("reason") is not None and rule["reason"] not in REASONS:
        supported = ", ".join(f'"{reason}"' for reason in REASONS)
        causes.append(
            {
                "reason": "FieldValueNotSupported",
                "message": f'Unsupported value: "{rule["reason"]}": supported values: {supported}',
                "field": f"{path}.reason",
            }
        )
    return causes


# --- evaluating ------------------------------------------------------------------------------------------


def has_rules(schema: Any) -> bool:
    """Whether any node of the schema carries CEL rules (only then does the API server run them)."""
    return any(node.get(RULES) for _, node, _ in _schema_nodes(schema, ""))


def to_cel(value: Any, schema: Schema | None) -> Any:
    """The value as CEL sees it under this schema: ``number`` fields are doubles, nulls are absent."""
    schema = schema or {}
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        addl = schema.get("additionalProperties")
        return {
            key: to_cel(item, props.get(key, addl if isinstance(addl, dict) else None))
            for key, item in value.items()
            if item is not None
        }
    if isinstance(value, list):
        items = schema.get("items")
        return [to_cel(item, items if isinstance(items, dict) else None) for item in value if item is not None]
    if schema.get("type") == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _root_view(obj: dict[str, Any]) -> dict[str, Any]:
    """What a rule on the resource root sees: apiVersion, kind, metadata.name and metadata.generateName."""
    view = dict(obj)
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    view["metadata"] = {key: metadata[key] for key in ("name", "generateName") if key in metadata}
    return view


def _error_text(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"no such key: {error.args[0] if error.args else ''}"
    if isinstance(error, ZeroDivisionError):
        return "division by zero"
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    if text.lower().startswith("no such overload"):
        return "no such overload"
    return text


@dataclass
class _Outcome:
    errors: list[Cause]
    warnings: list[str]


def _cause(field: str, type_name: str, detail: str, reason: str | None) -> Cause:
    if reason == "FieldValueForbidden":
        return {"reason": reason, "message": f"Forbidden: {detail}", "field": field}
    if reason == "FieldValueRequired":
        return {"reason": reason, "message": f"Required value: {detail}", "field": field}
    if reason == "FieldValueDuplicate":
        return {"reason": reason, "message": f'Duplicate value: "{type_name}"', "field": field}
    return {"reason": "FieldValueInvalid", "message": f'Invalid value: "{type_name}": {detail}', "field": field}


def _message(rule: dict[str, Any], variables: dict[str, Any]) -> str:
    """messageExpression when it gives a usable string, else message, else ``failed rule: <rule>``."""
    if rule.get("messageExpression"):
        try:
            program, _ = compile_expression(str(rule["messageExpression"]))
            text = program.execute(_context(variables))
        except Exception:  # the real server logs it and falls back, as here
            text = None
        if isinstance(text, str):
            text = text.strip()
            if text and "\n" not in text and len(text.encode()) <= MAX_MESSAGE_EXPRESSION_BYTES:
                return text
    if rule.get("message"):
        return str(rule["message"]).strip()
    return f"failed rule: {str(rule.get('rule', '')).strip()}"


def _rule_label(rule: dict[str, Any]) -> str:
    return str(rule.get("message") or rule.get("rule", "")).strip()


def _run_rules(node: Schema, value: Any, old: Any, path: str, root: bool, unchanged: bool, outcome: _Outcome) -> None:
    type_name = node.get("type") or "object"
    self_value = to_cel(_root_view(value) if root else value, node)
    old_value = None if old is None else to_cel(_root_view(old) if root else old, node)
    for rule in node.get(RULES) or []:
        expression = str(rule.get("rule") or "")
        if not expression.strip():
            continue
        optional = bool(rule.get("optionalOldSelf"))
        try:
            program, uses_old_self = compile_expression(expression)
        except CompileError as error:
            outcome.errors.append(
                _cause(path or "<nil>", type_name, f"rule compile error: compilation failed: {error}", None)
            )
            continue
        if uses_old_self and old_value is None and not optional:
            continue  # a transition rule needs an old value
        variables: dict[str, Any] = {"self": self_value}
        if uses_old_self:
            if optional:
                variables["oldSelf"] = (
                    cel.OptionalValue.none() if old_value is None else cel.OptionalValue.of(old_value)
                )
            else:
                variables["oldSelf"] = old_value
        try:
            result = program.execute(_context(variables))
        except Exception as error:
            text = _error_text(error)
            if text == "no such overload":
                detail = (
                    "'no such overload': call arguments did not match a supported operator, function or macro "
                    f"signature for rule: {_rule_label(rule)}"
                )
            else:
                detail = f"{text} evaluating rule: {_rule_label(rule)}"
            outcome.errors.append(_cause(path or "<nil>", type_name, detail, None))
            continue
        if result is True:
            continue
        if result is not False:
            detail = f"cel expression must evaluate to a bool, got {type(result).__name__} evaluating rule: {_rule_label(rule)}"
            outcome.errors.append(_cause(path or "<nil>", type_name, detail, None))
            continue
        field = path
        if rule.get("fieldPath"):
            try:
                suffix = normalized_field_path(str(rule["fieldPath"]), node)
            except ValueError:
                suffix = ""
            if suffix:
                field = f"{path}.{suffix}" if path and not suffix.startswith("[") else f"{path}{suffix}"
        cause = _cause(field or "<nil>", type_name, _message(rule, variables), rule.get("reason"))
        if not uses_old_self and unchanged:
            outcome.warnings.append(f"{cause['field']}: {cause['message']}")
        else:
            outcome.errors.append(cause)


def _map_keys(item: Any, keys: list[str]) -> tuple[Any, ...] | None:
    return tuple(item.get(key) for key in keys) if isinstance(item, dict) else None


def _walk(node: Any, value: Any, old: Any, path: str, root: bool, unchanged: bool, outcome: _Outcome) -> None:
    """Rules of this node, then of its properties, map values and list items, each with its old value."""
    if value is None or not isinstance(node, dict):
        return
    if node.get(RULES):
        _run_rules(node, value, old, path, root, unchanged, outcome)
    if isinstance(value, dict):
        props = node.get("properties") or {}
        addl = node.get("additionalProperties")
        for key, item in value.items():
            child = props.get(key) if key in props else (addl if isinstance(addl, dict) else None)
            if child is None or (root and key == "metadata"):
                continue
            old_item = old.get(key) if isinstance(old, dict) else None
            child_path = (f"{path}.{key}" if path else key) if key in props else f"{path}[{key}]"
            same = old_item is not None and old_item == item
            _walk(child, item, old_item, child_path, False, same, outcome)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        keys = node.get("x-kubernetes-list-map-keys") or []
        by_keys: dict[Any, Any] = {}
        if node.get("x-kubernetes-list-type") == "map" and keys and isinstance(old, list):
            by_keys = {_map_keys(item, keys): item for item in old}
        for index, item in enumerate(value):
            if by_keys:
                old_item = by_keys.get(_map_keys(item, keys))
                item_unchanged = old_item is not None and old_item == item
            else:
                old_item, item_unchanged = None, unchanged  # uncorrelatable: the list decides
            _walk(node["items"], item, old_item, f"{path}[{index}]", False, item_unchanged, outcome)


def validate(obj: dict[str, Any], schema: Schema, old: dict[str, Any] | None = None) -> tuple[list[Cause], list[str]]:
    """Causes of every failing rule, and the warnings of failures ratcheted on unchanged values (updates only)."""
    outcome = _Outcome([], [])
    _walk(schema, obj, old, "", True, old is not None and old == obj, outcome)
    return outcome.errors, outcome.warnings
