"""Normal -> Pending -> Firing -> Normal, vectorised over series (Prometheus ``for``/``keep_firing_for``).

Pure: the controller keeps one :class:`Hysteresis` per rule and feeds it the per-series anomalous
flags of each evaluation; the CLI uses the same object to turn scores into ``is_anomaly``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mlaiops.detection.config import HysteresisConfig


class AlertState(IntEnum):
    NORMAL = 0
    PENDING = 1
    FIRING = 2


class Hysteresis:
    """Per-series alert state.

    * ``for_`` consecutive anomalous evaluations turn Normal into Firing (through Pending when
      ``for_`` > 1); a normal evaluation while Pending goes back to Normal.
    * A Firing series resolves after ``keep_firing_for`` + 1 consecutive normal evaluations (with
      ``keep_firing_for`` = 0 it resolves on the first normal one, as Prometheus does).
    """

    def __init__(self, config: HysteresisConfig | None = None, n_series: int = 1) -> None:
        self.config = config or HysteresisConfig()
        self.n_series = n_series
        self.state = np.zeros(n_series, dtype=np.int8)
        self.active = np.zeros(n_series, dtype=np.int64)  # consecutive anomalous evaluations
        self.quiet = np.zeros(n_series, dtype=np.int64)  # consecutive normal evaluations while firing

    def step(self, anomalous: ArrayLike) -> NDArray[np.int8]:
        """Advance one evaluation; returns the new state per series."""
        anom = np.broadcast_to(np.asarray(anomalous, dtype=bool), (self.n_series,))
        cfg = self.config
        self.active = np.where(anom, self.active + 1, 0)
        firing = self.state == AlertState.FIRING
        self.quiet = np.where(firing & ~anom, self.quiet + 1, 0)
        fire = self.active >= cfg.for_
        stay = firing & (anom | (self.quiet <= cfg.keep_firing_for))
        state = np.where(fire | stay, AlertState.FIRING, np.where(anom, AlertState.PENDING, AlertState.NORMAL))
        self.quiet = np.where(state == AlertState.FIRING, self.quiet, 0)
        self.state = state.astype(np.int8)
        return self.state

    def run(self, anomalous: ArrayLike) -> NDArray[np.int8]:
        """States for a (n_series, n_points) block of anomalous flags."""
        flags = np.asarray(anomalous, dtype=bool).reshape(self.n_series, -1)
        out = np.empty(flags.shape, dtype=np.int8)
        for i in range(flags.shape[1]):
            out[:, i] = self.step(flags[:, i])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.model_dump(by_alias=True),
            "state": self.state.tolist(),
            "active": self.active.tolist(),
            "quiet": self.quiet.tolist(),
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> Hysteresis:
        hyst = cls(HysteresisConfig.model_validate(payload["config"]), len(payload["state"]))
        hyst.state = np.asarray(payload["state"], dtype=np.int8)
        hyst.active = np.asarray(payload["active"], dtype=np.int64)
        hyst.quiet = np.asarray(payload["quiet"], dtype=np.int64)
        return hyst
