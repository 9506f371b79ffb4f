"""Validation errors as people and the Kubernetes API read them: one line per problem, naming the field."""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import ErrorDetails


def field_path(location: tuple[str | int, ...], prefix: str = "spec") -> str:
    """``("rollout", "canary", "steps", 1, "weight")`` -> ``spec.rollout.canary.steps[1].weight``."""
    path = prefix
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part:
            path = f"{path}.{part}" if path else str(part)
    return path


def _message(error: ErrorDetails) -> str:
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "required field is missing"
    return message


def field_errors(error: ValidationError, prefix: str = "spec") -> list[tuple[str, str]]:
    """(field path, message) for every problem in a pydantic error, in the order pydantic found them."""
    problems = []
    for detail in error.errors():
        # Drop union/tagged-branch markers pydantic puts in locations (e.g. 'int', 'str').
        location = tuple(part for part in detail["loc"] if not (isinstance(part, str) and "[" in part))
        problems.append((field_path(location, prefix), _message(detail)))
    return problems


def describe(error: ValidationError, prefix: str = "spec") -> str:
    """All problems as ``path: message`` joined by ``; `` (fits a condition message or an admission reply)."""
    return "; ".join(f"{path}: {message}" for path, message in field_errors(error, prefix))
