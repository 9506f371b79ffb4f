"""The alert state machine's stored form and input handling, stated exactly.

Mutation testing (benchmarks/mutation.py) showed the behaviour tests did not pin: the compact dtypes
of the state that is persisted per rule, the CRD spelling of the stored config, that a Normal series
stores no leftover quiet count, and that integer flags count as anomalous/normal like booleans.
"""

from __future__ import annotations

import numpy as np

from mlaiops.detection.config import HysteresisConfig
from mlaiops.detection.hysteresis import AlertState, Hysteresis

N, P, F = AlertState.NORMAL, AlertState.PENDING, AlertState.FIRING


def test_state_is_int8_and_counters_int64_whichever_way_it_was_made() -> None:
    """New, stepped, run and restored objects keep int8 states and int64 counters (small and exact)."""
    fresh = Hysteresis(HysteresisConfig(), n_series=3)
    stepped = Hysteresis(HysteresisConfig(), n_series=3)
    stepped.step([True, False, True])
    restored = Hysteresis.from_dict(stepped.to_dict())
    for hyst in (fresh, stepped, restored):
        assert (hyst.state.dtype, hyst.active.dtype, hyst.quiet.dtype) == (np.int8, np.int64, np.int64)
    assert Hysteresis(HysteresisConfig(), n_series=2).run([[1, 0, 1], [0, 0, 1]]).dtype == np.int8


def test_the_stored_config_uses_the_crd_field_names() -> None:
    """to_dict stores the config as the CRD spells it (``for``, ``keepFiringFor``)."""
    stored = Hysteresis(HysteresisConfig.model_validate({"for": 2, "keepFiringFor": 3})).to_dict()
    assert stored["config"] == {"for": 2, "keepFiringFor": 3}


def test_a_resolved_series_stores_no_quiet_count() -> None:
    """After a Firing series resolves, its stored quiet counter is back to 0."""
    hyst = Hysteresis(HysteresisConfig.model_validate({"keepFiringFor": 1}))
    hyst.run([[1, 0, 0]])
    assert hyst.state.tolist() == [N]
    assert hyst.to_dict()["quiet"] == [0]


def test_integer_flags_mean_the_same_as_booleans() -> None:
    """A Firing series fed 1 stays Firing and one fed 0 resolves, for integer as for boolean flags."""
    hyst = Hysteresis(HysteresisConfig(), n_series=2)
    hyst.step(np.array([1, 1]))
    assert hyst.step(np.array([1, 0])).tolist() == [F, N]
    hyst = Hysteresis(HysteresisConfig.model_validate({"for": 3, "keepFiringFor": 1}))
    assert [hyst.step(np.array([flag])).tolist()[0] for flag in (1, 1, 1, 0, 2)] == [P, P, F, F, F]
