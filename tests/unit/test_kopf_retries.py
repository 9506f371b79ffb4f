"""kopf retries every failing handler after 60 s, forever, unless told otherwise: a permanent error
(a busy port, a bad setting) would then stall the operator for minutes in silence. Every handler the
operator registers must state a short backoff, and the one-off ones (startup, cleanup) a retry limit."""

from __future__ import annotations

import kopf

from mlaiops import controllers
from mlaiops.settings import Settings

ONE_OFF = ("startup", "cleanup")


def registered() -> list[object]:
    controllers.configure(Settings())
    registry = kopf.get_default_registry()
    # Indexers are left out: pure functions of the object with no I/O, nothing transient to retry.
    groups = (registry._activities, registry._spawning, registry._changing, registry._watching)
    handlers = [h for group in groups for h in group.get_all_handlers()]
    return [h for h in handlers if getattr(h, "fn", None) and h.fn.__module__.startswith("mlaiops.")]


def test_every_handler_backs_off_quickly() -> None:
    handlers = registered()
    assert len(handlers) >= 6
    slow = [f"{h.id}: backoff {h.backoff}" for h in handlers if h.backoff is None or h.backoff > 10]
    assert slow == []


def test_one_off_handlers_give_up() -> None:
    one_off = [h for h in registered() if getattr(h, "activity", None) and h.activity.value in ONE_OFF]
    assert one_off
    unbounded = [h.id for h in one_off if h.retries is None or h.retries > 5]
    assert unbounded == []
