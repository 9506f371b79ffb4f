"""What every controller shares: spec parsing and status writing (clients come from kopf's memo).

Handlers are synchronous on purpose: kopf runs them in worker threads, so the blocking
kubernetes and prometheus-api-client calls never stall the operator's event loop.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mlaiops.api.common import ApiModel, Condition
from mlaiops.api.errors import describe

M = TypeVar("M", bound=BaseModel)


class InvalidSpec(Exception):
    """A spec the models reject; the message names every offending field."""

    reason = "InvalidSpec"  # the Ready condition's reason
    phase = "Invalid"  # what the printer column shows meanwhile


class DanglingReference(InvalidSpec):
    """A spec naming an object that does not exist, which the pass cannot go on without."""

    reason = "DanglingReference"
    phase = "Pending"


def parse_spec(model: type[M], spec: Any) -> M:
    """Validate a spec with its model, turning pydantic's error into one line per field."""
    try:
        return model.model_validate(dict(spec))
    except ValidationError as error:
        raise InvalidSpec(describe(error)) from error


def parse_status(model: type[M], status: Any) -> M:
    """The previous status; fields it does not know (e.g. written by an older version) are dropped."""
    data = {key: value for key, value in dict(status or {}).items() if not isinstance(value, dict) or key != "kopf"}
    try:
        return model.model_validate(data)
    except ValidationError:
        known = {field.alias or name for name, field in model.model_fields.items()}
        return model.model_validate({key: value for key, value in data.items() if key in known})


def status_patch(status: ApiModel) -> dict[str, Any]:
    """The whole status as a merge patch: unset fields become null, which removes them on the server.

    Inside lists a null is not a deletion (lists are replaced whole) but a value the schema
    rejects, so list items carry no nulls.
    """
    return {
        key: without_none(value) if isinstance(value, list) else _nulls_delete(value)
        for key, value in status.model_dump(mode="json", by_alias=True, exclude_none=False).items()
    }


def _nulls_delete(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: without_none(item) if isinstance(item, list) else _nulls_delete(item) for key, item in value.items()
        }
    return value


def without_none(value: Any) -> Any:
    """A JSON value with every null removed, as the server stores a merge patch."""
    if isinstance(value, dict):
        return {key: without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_none(item) for item in value]
    return value


def status_changed(new: dict[str, Any], current: Any) -> bool:
    """Whether writing ``new`` would change the stored status (writes are watch events for every client)."""
    return without_none(new) != without_none(dict(current or {}))


def invalid_spec_status(
    error: InvalidSpec | str, generation: int, now: Any, phase_field: str = "phase", current: Any = None
) -> dict[str, Any]:
    """Status fields that report a refused spec, kstatus-style, without touching anything else.

    Ready=False with the error's reason (InvalidSpec, DanglingReference) and every problem in its
    message; a dangling reference also sets ResolvedRefs=False. ``phase_field`` is the field the
    kind's STATE/PHASE printer column reads, so that the column is never blank. A condition already
    stored (``current``: the status on the server) as False keeps its lastTransitionTime, so
    that a pass that finds the same problems writes nothing.
    """
    refused = error if isinstance(error, InvalidSpec) else InvalidSpec(error)
    stored = {c.get("type"): c for c in dict(current or {}).get("conditions") or [] if isinstance(c, dict)}

    def condition(kind: str, reason: str) -> dict[str, Any]:
        old = stored.get(kind) or {}
        since = old.get("lastTransitionTime") if old.get("status") == "False" else None
        return Condition(
            type=kind,
            status="False",
            reason=reason,
            message=str(refused),
            last_transition_time=since or now,
            observed_generation=generation,
        ).to_dict()

    conditions = [condition("Ready", refused.reason)]
    if isinstance(refused, DanglingReference):
        conditions.append(condition("ResolvedRefs", "RefNotFound"))
    return {"observedGeneration": generation, "conditions": conditions, phase_field: refused.phase}
