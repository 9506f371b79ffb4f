"""Every spec field of every kind is read somewhere outside ``api/``: a field nobody reads is a lie.

The models in ``mlaiops.api`` are walked recursively (nested models, lists, dicts and unions of
them). A field counts as read when the operator's source outside ``api/`` loads it as an
attribute (``.<python name>``; assignments do not count) or names its CRD alias as a string literal (for code that reads the
raw object, e.g. ``spec["keepFiringFor"]``). Both are taken from the syntax tree, so comments and
docstrings do not count. Exceptions are listed in ``ALLOWED`` with the reason they are not read.
"""

from __future__ import annotations

import ast
import functools
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from mlaiops.api import KINDS

SOURCE = Path(__file__).resolve().parents[2] / "operator" / "mlaiops"

ALLOWED: dict[str, str] = {
    "Validation.greater_is_better": "read by Validation.higher_is_better() in api/, which retrain/gate.py calls",
}
"""``Model.field`` -> why no code outside ``api/`` reads it."""


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models inside a field's annotation (``X | None``, ``list[X]``, ``dict[str, X]``...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    if get_origin(annotation) in (Union, types.UnionType) or get_args(annotation):
        for arg in get_args(annotation):
            yield from _models(arg)


def spec_fields() -> list[tuple[str, str, str]]:
    """(``Model.field``, python name, alias) for every field reachable from a kind's spec."""
    seen: set[type[BaseModel]] = set()
    fields: list[tuple[str, str, str]] = []

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, info in model.model_fields.items():
            fields.append((f"{model.__name__}.{name}", name, info.alias or name))
            for nested in _models(info.annotation):
                walk(nested)

    for kind in KINDS:
        walk(kind.spec)
    return fields


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (the first statement of a module, class, def)."""
    ids = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                ids.add(id(value))
    return ids


@functools.cache
def reads(root: Path = SOURCE) -> tuple[set[str], set[str]]:
    """(attribute names accessed, string literals used) in the source outside ``api/``: parsed when a
    test first asks, not at collection (every xdist worker collects every module)."""
    attributes: set[str] = set()
    strings: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        if "api" in path.relative_to(root).parts[:1]:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                attributes.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                strings.add(node.value)
    return attributes, strings


FIELDS = spec_fields()


@pytest.mark.parametrize(("qualified", "name", "alias"), FIELDS, ids=[f[0] for f in FIELDS])
def test_every_spec_field_is_read(qualified: str, name: str, alias: str) -> None:
    if qualified in ALLOWED:
        pytest.skip(ALLOWED[qualified])
    attributes, strings = reads()
    read = name in attributes or alias in strings
    assert read, (
        f"{qualified} (CRD {alias}) is read by no controller, builder, planner or detector: "
        "use it, refuse it in the model, or allow it here with a reason"
    )


def test_allowlist_names_real_fields_that_are_really_unread() -> None:
    known = {qualified: (name, alias) for qualified, name, alias in FIELDS}
    attributes, strings = reads()
    for qualified in ALLOWED:
        assert qualified in known, f"{qualified} is no spec field"
        name, alias = known[qualified]
        assert name not in attributes and alias not in strings, f"{qualified} is read now: drop it from ALLOWED"


def test_the_walk_reaches_nested_models() -> None:
    qualified = {f[0] for f in FIELDS}
    assert "MinDeviation.absolute" in qualified  # AnomalyRuleSpec.detector.minDeviation
    assert len(FIELDS) > 100
