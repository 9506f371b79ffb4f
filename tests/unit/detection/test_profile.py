"""The reference profile: quantile bins, categories with an "other" bin, JSON round trip, mismatch messages."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlaiops.detection import profile
from mlaiops.detection.profile import PREDICTION, FeatureProfile, Profile, ProfileError

RNG = np.random.default_rng(3)


def test_numeric_bins_are_reference_quantiles_with_open_ends() -> None:
    values = RNG.normal(10, 2, 10_000)
    feature = profile.numeric_feature("amount", values, bins=10)
    assert feature.bins == 10 and len(feature.edges) == 9
    assert np.allclose(feature.edges, np.quantile(values, np.linspace(0.1, 0.9, 9)), atol=0.01)
    assert sum(feature.counts) == 10_000
    assert max(feature.counts) - min(feature.counts) <= 2  # quantile bins hold equal shares
    # Values far outside the training range still land in the outer bins; NaN is not counted.
    assert feature.bin_of([-1e9, 1e9, float("nan")]).tolist() == [0, 9, -1]
    assert feature.count([-1e9, 1e9, float("nan")]).sum() == 2


def test_a_feature_with_few_values_gets_fewer_bins() -> None:
    feature = profile.numeric_feature("flag", np.r_[np.zeros(700), np.ones(300)], bins=10)
    assert feature.edges == (0.0, 1.0)
    assert feature.counts == (0.0, 700.0, 300.0)


def test_categories_keep_the_most_frequent_and_an_other_bin() -> None:
    values = ["a"] * 50 + ["b"] * 30 + ["c"] * 15 + ["d"] * 5
    feature = profile.categorical_feature("country", values, max_categories=2)
    assert feature.categories == ("a", "b")
    assert feature.counts == (50.0, 30.0, 20.0)
    assert feature.count(["a", "zz", "b", "a"]).tolist() == [2, 1, 1]  # an unseen category is "other"
    assert feature.labels() == ["a", "b", profile.OTHER]


def test_text_columns_become_categorical_and_numbers_numeric() -> None:
    built = profile.build({"n": RNG.normal(size=100), "s": np.asarray(["x", "y"] * 50, dtype=object)})
    assert [f.kind for f in built.features] == ["numeric", "categorical"]


def test_prediction_is_profiled_as_numbers_or_classes() -> None:
    built = profile.build({"x": RNG.normal(size=200)}, RNG.uniform(size=200), "probability")
    assert built.prediction is not None and built.prediction.kind == "numeric" and built.prediction.name == PREDICTION
    classes = profile.build({"x": RNG.normal(size=6)}, np.asarray([0, 1, 2, 2, 1, 0]), "class")
    assert classes.prediction is not None and classes.prediction.categories == ("0", "1", "2")
    assert classes.get(PREDICTION).count(np.asarray([2.0, 2.0])).tolist() == [0, 0, 2, 0]


def test_json_round_trip_is_canonical() -> None:
    built = profile.build({"a": RNG.normal(size=300), "b": RNG.exponential(size=300)}, RNG.uniform(size=300), "value")
    text = built.to_json()
    again = Profile.from_json(text)
    assert again == built and again.to_json() == text
    assert json.loads(text)["schema"] == profile.SCHEMA
    assert profile.sha256_text(text) == profile.sha256_text(again.to_json())


def test_mismatch_names_the_feature() -> None:
    built = profile.build({"amount": RNG.normal(size=50), "age": RNG.normal(size=50)})
    assert built.mismatch(["amount", "age"]) is None
    assert "'merchant_risk' is not in the profile" in (built.mismatch(["amount", "age", "merchant_risk"]) or "")
    assert "profile has feature 'age'" in (built.mismatch(["amount"]) or "")
    assert "lists the features as amount, age" in (built.mismatch(["age", "amount"]) or "")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"schema": "v0", "features": []}, "schema must be"),
        ({"schema": profile.SCHEMA, "features": {}}, "features must be a list"),
        (
            {"schema": profile.SCHEMA, "features": [{"name": "a", "kind": "numeric", "counts": [1], "edges": [0]}]},
            "feature 'a': 1 counts for 2 bins",
        ),
        (
            {
                "schema": profile.SCHEMA,
                "features": [{"name": "a", "kind": "numeric", "counts": [1, 1, 1], "edges": [2, 1]}],
            },
            "feature 'a': edges must be finite and strictly increasing",
        ),
        ({"schema": profile.SCHEMA, "features": [{"name": "a", "kind": "text", "counts": [1]}]}, "feature 'a': kind"),
        ({"schema": profile.SCHEMA, "features": [{"kind": "numeric"}]}, "needs a name"),
        (
            {"schema": profile.SCHEMA, "features": [{"name": "a", "kind": "numeric", "counts": ["x"]}]},
            "feature 'a':",
        ),
    ],
)
def test_bad_profiles_are_refused_naming_the_field(payload: dict, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        Profile.from_dict(payload)


def test_reserved_and_duplicate_names_are_refused() -> None:
    one = FeatureProfile("a", "numeric", (1.0,))
    with pytest.raises(ProfileError, match="appear more than once"):
        Profile((one, one))
    with pytest.raises(ProfileError, match="reserved"):
        Profile((FeatureProfile(PREDICTION, "numeric", (1.0,)),))
    with pytest.raises(ProfileError, match="bins must be between 2 and 50"):
        profile.numeric_feature("a", [1.0], bins=1)


def test_binary_or_malformed_text_is_not_json() -> None:
    for text in (b"\x80\x04\x95 pickle", "{not json", b""):
        with pytest.raises(ProfileError, match="the profile is not JSON"):
            Profile.from_json(text)
