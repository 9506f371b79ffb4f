"""Which playbooks a signal wakes, and the hand-over from an announcing thread to a waiting daemon."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from mlaiops.api.remediationplaybook import RemediationPlaybookSpec
from mlaiops.remediation.wake import ALERTS_ARRIVED, Ping, Wakeups, interested

SCALE = [{"type": "scale", "scale": {"delta": 1}}]


def spec(*triggers: dict[str, Any]) -> RemediationPlaybookSpec:
    return RemediationPlaybookSpec.model_validate({"triggers": list(triggers), "actions": SCALE})


BY_NAME = spec({"rules": [{"name": "latency"}]})
BY_LABEL = spec({"selector": {"matchLabels": {"team": "ml"}}})
ALERTS = spec({"source": "Alertmanager", "matchers": ["alertname=HighLatency"]})


@pytest.mark.parametrize(
    ("playbook", "ping", "wakes"),
    [
        (BY_NAME, Ping("AnomalyRule", "shop", "latency"), True),
        (BY_NAME, Ping("AnomalyRule", "other", "latency"), False),  # names are looked up in the playbook's namespace
        (BY_NAME, Ping("AnomalyRule", "shop", "errors"), False),
        (BY_NAME, ALERTS_ARRIVED, False),
        (BY_LABEL, Ping("AnomalyRule", "other", "errors", {"team": "ml"}), True),  # selectors reach every namespace
        (BY_LABEL, Ping("AnomalyRule", "shop", "errors", {"team": "web"}), False),
        (ALERTS, ALERTS_ARRIVED, True),
        (ALERTS, Ping("AnomalyRule", "shop", "latency"), False),
        (None, Ping("AnomalyRule", "shop", "anything"), True),  # a spec not parsed yet: wake, the pass decides
    ],
)
def test_a_signal_wakes_only_the_playbooks_whose_triggers_may_match(
    playbook: RemediationPlaybookSpec | None, ping: Ping, wakes: bool
) -> None:
    assert interested(playbook, "shop", ping) is wakes


def test_a_ping_from_another_thread_wakes_the_waiting_loop_and_only_the_interested_one() -> None:
    wakeups = Wakeups()

    async def main() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        mine = wakeups.register("shop", "fix", loop)
        mine.spec = BY_NAME
        other = wakeups.register("shop", "other", loop)
        other.spec = ALERTS
        threading.Thread(target=wakeups.ping, args=(Ping("AnomalyRule", "shop", "latency"),)).start()
        await asyncio.wait_for(mine.event.wait(), timeout=5)
        await asyncio.sleep(0.05)
        return mine.event.is_set(), other.event.is_set()

    assert asyncio.run(main()) == (True, False)


def test_an_unregistered_or_closed_waiter_is_not_woken_and_never_breaks_the_announcer() -> None:
    wakeups = Wakeups()
    closed = asyncio.new_event_loop()
    closed.close()
    wakeups.register("shop", "gone", closed)  # its loop is closed: logged, skipped
    loop = asyncio.new_event_loop()
    left = wakeups.register("shop", "left", loop)
    wakeups.unregister(left)
    assert wakeups.ping(ALERTS_ARRIVED) == 0
    loop.close()
