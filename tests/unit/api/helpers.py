"""Load the example manifests and edit copies of them in tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
CRDS = ROOT / "crds"
DELETE = object()
# libyaml's loader when PyYAML has it: the CRDs are large, and every xdist worker loads them at collection.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def crd_documents() -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in crds/, in file order (fresh objects: callers may edit them)."""
    return [yaml.load(path.read_text(), Loader=LOADER) for path in sorted(CRDS.glob("*.yaml"))]


def example_objects() -> list[dict[str, Any]]:
    """Every mlaiops object in examples/, in file order."""
    objects = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for document in yaml.load_all(path.read_text(), Loader=LOADER):
            if document and document["apiVersion"].startswith("mlaiops.dev/"):
                objects.append(document)
    return objects


def example(kind: str) -> dict[str, Any]:
    """A deep copy of the first example of a kind."""
    return copy.deepcopy(next(obj for obj in example_objects() if obj["kind"] == kind))


def crd_schema(kind: str) -> dict[str, Any]:
    """The openAPIV3Schema of a kind, as generated into crds/."""
    for document in crd_documents():
        if document["spec"]["names"]["kind"] == kind:
            return document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    raise LookupError(kind)


def edited(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``obj`` with the dotted ``path`` (list indexes as numbers) set to ``value`` or deleted."""
    result = copy.deepcopy(obj)
    *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
    node = result
    for part in parents:
        node = node[part]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return result
