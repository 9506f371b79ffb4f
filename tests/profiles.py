"""Hypothesis profiles: ``full`` (default, CI) and ``quick`` (``HYPOTHESIS_PROFILE=quick``, make test-quick)."""

from __future__ import annotations

import os

from hypothesis import settings

QUICK_EXAMPLES = 15
settings.register_profile("full", deadline=None)
settings.register_profile("quick", max_examples=QUICK_EXAMPLES, deadline=None)


def examples(full: int) -> int:
    """A test's own example count, cut to the quick profile's when that profile is asked for
    (an explicit ``max_examples`` in ``@settings`` would otherwise override the profile)."""
    return min(full, QUICK_EXAMPLES) if os.environ.get("HYPOTHESIS_PROFILE") == "quick" else full
