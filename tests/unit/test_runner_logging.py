"""kopf's routine success lines are DEBUG: not printed at INFO, not posted as Events; failures stay."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from mlaiops.runner import QuietSuccess, quiet_routine_successes


class Collect(logging.Handler):
    """Stands for kopf's handlers on its object logger (the stream and the Event poster)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def objects() -> Iterator[tuple[logging.Logger, Collect]]:
    logger = logging.getLogger("kopf.objects")
    collect = Collect()
    logger.addHandler(collect)
    root_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.INFO)
    quiet_routine_successes()
    quiet_routine_successes()  # twice: still one filter
    try:
        yield logger, collect
    finally:
        logger.removeHandler(collect)
        logger.filters[:] = [f for f in logger.filters if not isinstance(f, QuietSuccess)]
        logging.getLogger().setLevel(root_level)


def test_routine_successes_are_dropped_at_info(objects: tuple[logging.Logger, Collect]) -> None:
    logger, collect = objects
    assert sum(isinstance(f, QuietSuccess) for f in logger.filters) == 1
    logger.info("Timer 'reconcile' succeeded.")
    logger.info("Handler 'modeldeployment_create' succeeded.")
    logger.info("Creation is processed: 1 succeeded; 0 failed.")
    logger.info("Daemon 'run_rule' succeeded.")
    assert collect.records == []


def test_decisions_and_failures_stay(objects: tuple[logging.Logger, Collect]) -> None:
    logger, collect = objects
    logger.info("scaled deployment shop/model to 6 replicas")
    logger.info("Updating is processed: 0 succeeded; 1 failed.")
    logger.error("Timer 'reconcile' failed with an exception. Will retry.")
    logger.info("Timer 'reconcile' succeeded. Then something else")  # not the exact routine line
    assert [r.levelno for r in collect.records] == [logging.INFO, logging.INFO, logging.ERROR, logging.INFO]


def test_verbose_shows_them_at_debug(objects: tuple[logging.Logger, Collect]) -> None:
    logger, collect = objects
    logging.getLogger().setLevel(logging.DEBUG)
    logger.info("Timer 'reconcile' succeeded.")
    assert [(r.levelname, r.getMessage()) for r in collect.records] == [("DEBUG", "Timer 'reconcile' succeeded.")]
