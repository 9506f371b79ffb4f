"""The fault runs' supervisor plays the Deployment's restartPolicy until the faults can no longer cost the
operator its lease: an operator that exits after the run's acts, or as the supervisor stops, is started
again, so the next test of the group never meets a dead operator (it once waited 240 s for a rule the
exited operator would never evaluate)."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from typing import Any, cast

from mlaiops_sandbox.testing.faults import Supervisor


@dataclass
class Operator:
    """An operator process stand-in: a real child process that exits after ``lives`` seconds."""

    lives: float
    restarts: int = 0
    process: subprocess.Popen[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.process = subprocess.Popen(["sleep", str(self.lives)])

    def restart(self, kill: bool = True) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.restarts += 1
        self.process = subprocess.Popen(["sleep", "60"])

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


@dataclass
class Env:
    operator: Operator


def supervising(operator: Operator) -> Supervisor:
    supervisor = Supervisor(cast(Any, Env(operator)))
    supervisor.start()
    return supervisor


def test_an_operator_that_exits_before_the_aftermath_ends_is_started_again() -> None:
    operator = Operator(lives=0.2)
    try:
        supervising(operator).stop(not_before=time.monotonic() + 1.5)
        assert operator.restarts == 1
        assert operator.process.poll() is None
    finally:
        operator.close()


def test_an_operator_found_dead_as_the_supervisor_stops_is_started_again() -> None:
    operator = Operator(lives=0)
    operator.process.wait()
    try:
        supervisor = Supervisor(cast(Any, Env(operator)))  # never polled: only stop() can see the exit
        supervisor.start()
        supervisor.done.set()
        supervisor.stop()
        assert (operator.restarts, supervisor.exits) == (1, 1)
        assert operator.process.poll() is None
    finally:
        operator.close()


def test_a_running_operator_is_left_alone() -> None:
    operator = Operator(lives=60)
    try:
        supervising(operator).stop(not_before=time.monotonic() + 0.6)
        assert operator.restarts == 0
    finally:
        operator.close()
