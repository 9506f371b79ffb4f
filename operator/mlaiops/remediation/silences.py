"""Silences (maintenance windows), pure: whether one is active now, and how to say so."""

from __future__ import annotations

from datetime import datetime

from mlaiops.api.remediationplaybook import Silence


def active(silences: list[Silence] | None, now: datetime) -> str | None:
    """What the first silence active at ``now`` says (name, end, comment), or None when none is."""
    for silence in silences or []:
        if silence.start <= now < silence.end:
            comment = f": {silence.comment}" if silence.comment else ""
            return f"silence {silence.name} (until {silence.end.isoformat()}){comment}"
    return None
