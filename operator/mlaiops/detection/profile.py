"""The reference profile: how each named feature and the prediction were distributed at training time.

Written by ``mlaiops train`` beside the model (``profile.json``), loaded by the model server to
count live values over the same bins, and read by ``mlaiops drift``. Pure (no file I/O here; the
JSON text goes in and out as a dict), so every bin rule is unit-tested once.

A numeric feature has the reference's quantile bins: ``edges`` are the inner cut points (duplicates
dropped, so a feature with few values gets fewer bins) and the outer bins are open-ended, so every
finite value falls in some bin and the bins never change with the live data. Bin ``i`` holds
``edges[i-1] <= x < edges[i]``. A categorical feature has its most frequent ``categories`` and one
last "other" bin for everything else (including categories first seen live). Non-finite numbers
are not counted.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

SCHEMA = "mlaiops.dev/profile/v1"
FILENAME = "profile.json"
PREDICTION = "__prediction__"
"""The feature name under which the model's prediction is profiled and counted."""
DEFAULT_BINS = 10
MAX_BINS = 50
MAX_CATEGORIES = 20
OTHER = "__other__"

Kind = Literal["numeric", "categorical"]


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the feature or the field."""


@dataclass(frozen=True)
class FeatureProfile:
    """One feature's reference bins and counts."""

    name: str
    kind: Kind
    counts: tuple[float, ...]
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    _edges: NDArray[np.float64] = field(init=False, repr=False, compare=False)
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        expected = len(self.edges) + 1 if self.kind == "numeric" else len(self.categories) + 1
        if len(self.counts) != expected:
            raise ProfileError(f"feature {self.name!r}: {len(self.counts)} counts for {expected} bins")
        if any(not np.isfinite(c) or c < 0 for c in self.counts):
            raise ProfileError(f"feature {self.name!r}: counts must be finite and non-negative")
        edges = np.asarray(self.edges, dtype=np.float64)
        if edges.size and (not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0)):
            raise ProfileError(f"feature {self.name!r}: edges must be finite and strictly increasing")
        object.__setattr__(self, "_edges", edges)
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(self.categories)})

    @property
    def bins(self) -> int:
        return len(self.counts)

    @property
    def categorical(self) -> bool:
        return self.kind == "categorical"

    def bin_of(self, values: ArrayLike) -> NDArray[np.intp]:
        """The bin index of each value; -1 for a non-finite number (not counted)."""
        if self.kind == "numeric":
            array = np.asarray(values, dtype=np.float64).reshape(-1)
            index = np.searchsorted(self._edges, array, side="right")
            return np.where(np.isfinite(array), index, -1)
        other = len(self.categories)
        return np.fromiter(
            (self._index.get(_category(v), other) for v in np.asarray(values, dtype=object).reshape(-1)),
            dtype=np.intp,
        )

    def count(self, values: ArrayLike) -> NDArray[np.int64]:
        """Counts of ``values`` over this feature's bins."""
        index = self.bin_of(values)
        return np.bincount(index[index >= 0], minlength=self.bins).astype(np.int64)

    def labels(self) -> list[str]:
        """A readable name per bin (an interval or a category), for the CLI and plots."""
        if self.kind == "categorical":
            return [*self.categories, OTHER]
        bounds = ["-inf", *(f"{e:g}" for e in self.edges), "+inf"]
        return [f"[{low}, {high})" for low, high in itertools.pairwise(bounds)]

    def to_dict(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"name": self.name, "kind": self.kind, "counts": list(self.counts)}
        if self.kind == "numeric":
            payload["edges"] = list(self.edges)
        else:
            payload["categories"] = list(self.categories)
        return payload

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> FeatureProfile:
        name = payload.get("name")
        if not isinstance(name, str) or not name:
            raise ProfileError("every feature needs a name")
        kind = payload.get("kind")
        if kind not in ("numeric", "categorical"):
            raise ProfileError(f"feature {name!r}: kind must be numeric or categorical, got {kind!r}")
        try:
            return cls(
                name,
                kind,
                tuple(float(c) for c in payload.get("counts") or ()),
                tuple(float(e) for e in payload.get("edges") or ()),
                tuple(str(c) for c in payload.get("categories") or ()),
            )
        except (TypeError, ValueError) as error:
            if isinstance(error, ProfileError):
                raise
            raise ProfileError(f"feature {name!r}: {error}") from None


def _category(value: Any) -> str:
    """Categories compare as text; a float that is a whole number reads like an int (1.0 -> "1")."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


def numeric_feature(name: str, values: ArrayLike, bins: int = DEFAULT_BINS) -> FeatureProfile:
    """Quantile bins of ``values`` (``bins`` at most; fewer when quantiles coincide) and their counts."""
    if not 2 <= bins <= MAX_BINS:
        raise ProfileError(f"bins must be between 2 and {MAX_BINS}, got {bins}")
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        raise ProfileError(f"feature {name!r} has no finite value to profile")
    inner = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1], method="inverted_cdf"))
    empty = FeatureProfile(name, "numeric", (0.0,) * (inner.size + 1), tuple(float(e) for e in inner))
    return FeatureProfile(name, "numeric", tuple(float(c) for c in empty.count(finite)), empty.edges)


def categorical_feature(name: str, values: ArrayLike, max_categories: int = MAX_CATEGORIES) -> FeatureProfile:
    """The ``max_categories`` most frequent categories (ties by name) and an "other" bin."""
    texts = [_category(v) for v in np.asarray(values, dtype=object).reshape(-1)]
    if not texts:
        raise ProfileError(f"feature {name!r} has no value to profile")
    unique, counts = np.unique(np.asarray(texts, dtype=object), return_counts=True)
    order = sorted(range(len(unique)), key=lambda i: (-counts[i], str(unique[i])))[:max_categories]
    kept = tuple(str(unique[i]) for i in order)
    empty = FeatureProfile(name, "categorical", (0.0,) * (len(kept) + 1), categories=kept)
    return FeatureProfile(name, "categorical", tuple(float(c) for c in empty.count(texts)), categories=kept)


def feature_profile(name: str, values: ArrayLike, bins: int = DEFAULT_BINS) -> FeatureProfile:
    """Numeric bins for numbers, categories for anything else (strings, objects)."""
    array = np.asarray(values)
    if array.dtype.kind in "biuf":
        return numeric_feature(name, array, bins)
    try:
        return numeric_feature(name, array.astype(np.float64), bins)
    except (TypeError, ValueError):
        return categorical_feature(name, array)


@dataclass(frozen=True)
class Profile:
    """Every named feature's reference, in the model's feature order, and the prediction's."""

    features: tuple[FeatureProfile, ...]
    prediction: FeatureProfile | None = None
    prediction_output: str | None = None
    """What the prediction bins count: ``probability`` (of the positive class), ``class`` or ``value``."""
    rows: int = 0

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ProfileError(f"feature(s) {', '.join(duplicated)} appear more than once")
        if PREDICTION in names:
            raise ProfileError(f"{PREDICTION!r} is reserved for the prediction; rename that feature")

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def get(self, name: str) -> FeatureProfile:
        """A feature's profile by name (``PREDICTION`` for the prediction)."""
        if name == PREDICTION and self.prediction is not None:
            return self.prediction
        for feature in self.features:
            if feature.name == name:
                return feature
        raise ProfileError(f"the profile has no feature {name!r}; it has {', '.join(self.all_names())}")

    def all_names(self) -> list[str]:
        return [*self.names, *([PREDICTION] if self.prediction is not None else [])]

    def mismatch(self, model_features: Sequence[str]) -> str | None:
        """Why this profile does not describe a model with ``model_features`` (None when it does)."""
        model = list(model_features)
        extra = [n for n in self.names if n not in model]
        if extra:
            return f"the profile has feature {extra[0]!r}, which the model does not take (it takes {', '.join(model)})"
        missing = [n for n in model if n not in self.names]
        if missing:
            return f"the model's feature {missing[0]!r} is not in the profile (it has {', '.join(self.names)})"
        if self.names != model:
            return f"the profile lists the features as {', '.join(self.names)}; the model takes {', '.join(model)}"
        return None

    def to_dict(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "schema": SCHEMA,
            "rows": self.rows,
            "features": [f.to_dict() for f in self.features],
        }
        if self.prediction is not None:
            payload["prediction"] = {**self.prediction.to_dict(), "output": self.prediction_output}
        return payload

    def to_json(self) -> str:
        """Canonical JSON text (sorted keys): the same profile always has the same sha256."""
        return json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, payload: Any) -> Profile:
        if not isinstance(payload, Mapping):
            raise ProfileError("a profile is a JSON object")
        if payload.get("schema") != SCHEMA:
            raise ProfileError(f"schema must be {SCHEMA!r}, got {payload.get('schema')!r}")
        features = payload.get("features")
        if not isinstance(features, list):
            raise ProfileError("features must be a list")
        prediction = payload.get("prediction")
        return cls(
            tuple(FeatureProfile.from_dict(f) for f in features),
            FeatureProfile.from_dict({**prediction, "name": PREDICTION}) if isinstance(prediction, Mapping) else None,
            str(prediction.get("output")) if isinstance(prediction, Mapping) else None,
            int(payload.get("rows") or 0),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Profile:
        try:
            payload = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ProfileError(f"the profile is not JSON: {error}") from None
        return cls.from_dict(payload)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def build(
    columns: Mapping[str, ArrayLike],
    prediction: ArrayLike | None = None,
    prediction_output: str | None = None,
    bins: int = DEFAULT_BINS,
) -> Profile:
    """A profile of ``columns`` (name -> values, in order) and optionally of the model's predictions.

    ``prediction_output`` ``class`` profiles the prediction as categories, anything else as numbers.
    """
    features = tuple(feature_profile(name, values, bins) for name, values in columns.items())
    rows = len(np.asarray(next(iter(columns.values())))) if columns else 0
    predicted = None
    if prediction is not None:
        predicted = (
            categorical_feature(PREDICTION, prediction)
            if prediction_output == "class"
            else numeric_feature(PREDICTION, prediction, bins)
        )
    return Profile(features, predicted, prediction_output if predicted is not None else None, rows)
