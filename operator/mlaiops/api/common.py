"""Types shared by every kind: the base model, durations, references, selectors, conditions.

The models are the single source of truth for the API: the CRD schemas in ``crds/`` are
generated from them, the admission webhook validates with them and the controllers parse
specs with them. Field names are snake_case in Python and camelCase on the wire.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """Base of every API object: camelCase on the wire, unknown fields rejected, docs from docstrings."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
        validate_default=True,
    )

    def to_dict(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase keys, unset optionals left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def rule(
    expression: str,
    message: str | None = None,
    *,
    message_expression: str | None = None,
    field_path: str | None = None,
    reason: Literal["FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired"] | None = None,
) -> dict[str, str]:
    """One CEL ``x-kubernetes-validations`` rule: the API server refuses what the webhook would, even without it.

    ``self`` is the value of the node the rule is attached to. Rules must stay cheap (the API server
    refuses a CRD whose rules could cost too much): compare fields, and loop only over bounded lists.
    """
    entry = {"rule": expression}
    if message is not None:
        entry["message"] = message
    if message_expression is not None:
        entry["messageExpression"] = message_expression
    if field_path is not None:
        entry["fieldPath"] = field_path
    if reason is not None:
        entry["reason"] = reason
    return entry


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    """``json_schema_extra`` of a model or field that carries CEL rules (crdgen copies them into the CRD)."""
    return {"x-kubernetes-validations": list(rules)}


def nested(model: type[BaseModel]) -> Any:
    """A sub-object that defaults to all of its own defaults.

    In the CRD this becomes ``default: {}``; the API server then fills in the nested
    defaults, which gives exactly the object pydantic builds with ``model()``.
    """
    return Field(default_factory=model, json_schema_extra={"default": {}})


# --- durations -----------------------------------------------------------------------------

_UNITS: dict[str, float] = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
DURATION_PATTERN = r"^([0-9]+(ms|s|m|h|d|w))+$"
_DURATION_RE = re.compile(DURATION_PATTERN)
_PART_RE = re.compile(r"([0-9]+)(ms|s|m|h|d|w)")


def parse_duration(text: str) -> timedelta:
    """Parse a Prometheus-style duration (``30s``, ``5m``, ``1h30m``, ``7d``, ``250ms``)."""
    if not isinstance(text, str) or not _DURATION_RE.match(text):
        raise ValueError(
            f"invalid duration {text!r}: use a number followed by a unit (ms, s, m, h, d, w), e.g. 30s, 5m, 1h30m"
        )
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART_RE.findall(text))
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"duration {text!r} is too long") from None


def format_duration(value: timedelta | float) -> str:
    """The canonical spelling of a duration: largest units first, ``0s`` for zero."""
    millis = round((value.total_seconds() if isinstance(value, timedelta) else value) * 1000)
    if millis == 0:
        return "0s"
    parts = []
    for unit in ("w", "d", "h", "m", "s", "ms"):
        size = round(_UNITS[unit] * 1000)
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _normalise_duration(value: Any) -> str:
    if isinstance(value, timedelta):
        return format_duration(value)
    return format_duration(parse_duration(value))


Duration = Annotated[
    str,
    BeforeValidator(_normalise_duration),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN}),
]
"""A duration such as ``30s`` or ``1h30m``; stored in canonical form (``90s`` becomes ``1m30s``)."""


def seconds(duration: str) -> float:
    """Seconds in a (validated) duration string."""
    return parse_duration(duration).total_seconds()


# --- names and references --------------------------------------------------------------------

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

Name = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
"""The name of a Kubernetes object in the same namespace (an RFC 1123 subdomain)."""

LabelKey = Annotated[
    str,
    Field(
        min_length=1,
        max_length=317,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$",
    ),
]


class LocalObjectReference(ApiModel):
    """A reference to an object of a known kind in the same namespace."""

    name: Name
    """Name of the referenced object."""


class SecretKeySelector(ApiModel):
    """A key of a Secret in the same namespace."""

    name: Name
    """Name of the Secret."""
    key: str = Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")
    """Key within the Secret."""


WorkloadKind = Literal["ModelDeployment", "Deployment", "StatefulSet"]


class WorkloadReference(ApiModel):
    """A workload that mlaiops may observe or act on, in the same namespace."""

    kind: WorkloadKind = "ModelDeployment"
    """Kind of the workload: ModelDeployment (mlaiops.dev), Deployment or StatefulSet (apps)."""
    name: Name
    """Name of the workload."""


# --- selectors and matchers --------------------------------------------------------------------


class LabelSelectorRequirement(ApiModel):
    """One requirement of a label selector, as in Kubernetes."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "!(self.operator in ['In', 'NotIn']) || (has(self.values) && size(self.values) > 0)",
                "must be specified when operator is In or NotIn",
                message_expression="'must be specified when operator is ' + self.operator",
                field_path=".values",
            ),
            rule(
                "!(self.operator in ['Exists', 'DoesNotExist']) || !has(self.values) || size(self.values) == 0",
                "must be empty when operator is Exists or DoesNotExist",
                message_expression="'must be empty when operator is ' + self.operator",
                field_path=".values",
            ),
        )
    )

    key: LabelKey
    """The label key the requirement applies to."""
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    """How the key relates to the values."""
    values: list[str] | None = None
    """Values for In and NotIn; must be empty for Exists and DoesNotExist."""


class LabelSelector(ApiModel):
    """A Kubernetes label selector; an empty selector selects everything."""

    match_labels: dict[str, str] | None = None
    """Labels that must all be present with these values."""
    match_expressions: list[LabelSelectorRequirement] | None = None
    """Requirements that must all hold."""


MATCHER_PATTERN = r"^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=~|!~|!=|=)\s*(\"(?:[^\"\\]|\\.)*\"|[^\s\"]*)\s*$"

Matcher = Annotated[str, Field(pattern=MATCHER_PATTERN, max_length=1024)]
"""An Alertmanager matcher: ``label="value"``, ``label!=value``, ``label=~"regex"``, ``label!~"regex"``."""

Severity = Literal["info", "warning", "critical"]


# --- status ------------------------------------------------------------------------------------


class Condition(ApiModel):
    """A condition in the Kubernetes API conventions (what kstatus, Argo CD and Flux read)."""

    type: str = Field(min_length=1, max_length=316)
    """Type of condition in CamelCase, e.g. Ready."""
    status: Literal["True", "False", "Unknown"]
    """Whether the condition holds."""
    reason: str = Field(default="", max_length=1024)
    """A CamelCase, machine-readable reason for the last transition."""
    message: str = Field(default="", max_length=32768)
    """A human-readable message about the transition."""
    last_transition_time: datetime | None = None
    """When the status last changed."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The generation of the spec this condition was computed from."""


def kept_condition(
    kind: str, value: bool, reason: str, message: str, stored: list[Condition], now: datetime, generation: int
) -> Condition:
    """A condition that keeps its stored lastTransitionTime while its status does not change."""
    text: Literal["True", "False"] = "True" if value else "False"
    old = next((c for c in stored if c.type == kind), None)
    since = old.last_transition_time if old is not None and old.status == text and old.last_transition_time else now
    return Condition(
        type=kind,
        status=text,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )


Conditions = Annotated[list[Condition], Field(max_length=16)]


def _percent_or_int(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(r"[0-9]+%", value):
        raise ValueError(f"invalid value {value!r}: use an integer or a percentage like '25%'")
    return value


IntOrPercent = Annotated[
    int | str,
    AfterValidator(_percent_or_int),
    WithJsonSchema({"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}),
]
"""An absolute number or a percentage (``25%``), like a Deployment's ``maxSurge``."""

QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def _quantity(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(QUANTITY_PATTERN, value):
        raise ValueError(f"invalid quantity {value!r}: use a number with an optional suffix, e.g. 500m, 2, 1Gi")
    return value


Quantity = Annotated[
    int | str,
    AfterValidator(_quantity),
    WithJsonSchema(
        {
            "x-kubernetes-int-or-string": True,
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
        }
    ),
]
"""A Kubernetes resource quantity such as ``500m``, ``2`` or ``1Gi``."""

FreeForm = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]
"""A free-form object (for example a pod template), kept exactly as given."""
