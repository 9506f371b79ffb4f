"""Shared test settings: where the project lives, the test tiers, and Hypothesis profiles.

Tiers (pytest markers, set here from the folder so no file can forget its own):
- ``unit``: pure logic, no servers (``tests/unit``, except tests marked ``integration`` there);
- ``integration``: the sandbox, a real Prometheus or a real server process (``tests/integration``);
- ``e2e``: the closed loop with the operator running (``tests/e2e``);
- ``slow``: e2e tests that take more than about half a minute on 2 cores (marked in their files).
``make test-quick`` runs unit + integration; ``make test`` runs everything (the CI contract).

Hypothesis: the ``quick`` profile (``HYPOTHESIS_PROFILE=quick``, set by ``make test-quick``) runs
fewer examples; the default profile is the full one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

import tests.profiles  # noqa: F401 - registers the Hypothesis profiles

ROOT = Path(__file__).resolve().parent.parent
TIERS = {"unit": "unit", "integration": "integration", "e2e": "e2e"}

settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "full"))


def pytest_itemcollected(item: pytest.Item) -> None:
    """Tier markers from the folder, and (as each item is collected, before pytest-xdist reads them in
    its own collection hook) the xdist group: under ``pytest -n N --dist loadgroup`` a module's tests
    stay together, in order, on one worker, since some build on what an earlier test of their module
    created in a module-scoped cluster or server."""
    path = Path(str(item.fspath)).relative_to(ROOT)
    parts = path.parts
    tier = TIERS.get(parts[1]) if len(parts) > 2 and parts[0] == "tests" else None
    if tier == "e2e":
        item.add_marker(pytest.mark.e2e)  # its xdist groups: tests/e2e/conftest.py
        return
    if tier == "integration" or item.get_closest_marker("integration"):
        item.add_marker(pytest.mark.integration)
    elif tier == "unit":
        item.add_marker(pytest.mark.unit)
    item.add_marker(pytest.mark.xdist_group(str(path)))


ORDER = {"e2e": 0, "integration": 1, "unit": 2}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """e2e, then integration, then unit (stable within each): pytest-xdist hands modules out in this order
    (``--no-loadscope-reorder``), so the modules that wait on real servers and real time start first and the
    many short unit modules fill the workers at the end, instead of one long server test starting last."""
    items.sort(key=lambda item: min((ORDER[m.name] for m in item.iter_markers() if m.name in ORDER), default=2))


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT
