"""Wake a playbook's pass at once when a signal it may act on arrives; its timer stays the safety net.

A rule's transition is written to the rule's status first, then announced here (``Wakeups.ping``),
so the pass it wakes reads the Firing it was woken for. An Alertmanager notification is announced
once the alert store holds it. The wake carries no facts: the pass reads everything it acts on from
the API and the alert store as the timer's pass does, so a lost wake only costs time (the next
timer pass acts), and a wake after a restart is never needed.

Which playbooks wake is decided by ``interested``, pure, from the playbook's triggers: the rules
it names in its namespace or selects by label anywhere, and any alert for Alertmanager triggers.
Announcers are evaluation threads and the receiver's loop; waiters are the playbooks' daemons on
the operator's loop, so a wake is handed over with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Literal

from mlaiops.api.remediationplaybook import RemediationPlaybookSpec
from mlaiops.remediation.matching import selector_matches

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ping:
    """A signal arrived: a rule's series changed state (its namespace, name, labels), or Alertmanager alerts."""

    source: Literal["AnomalyRule", "Alertmanager"]
    namespace: str = ""
    name: str = ""
    labels: dict[str, str] = field(default_factory=dict)


ALERTS_ARRIVED = Ping("Alertmanager")


def interested(spec: RemediationPlaybookSpec | None, playbook_namespace: str, ping: Ping) -> bool:
    """Whether a playbook with ``spec`` may act on ``ping`` (None: a spec not parsed yet wakes on anything)."""
    if spec is None:
        return True
    for trigger in spec.triggers:
        if trigger.source != ping.source:
            continue
        if ping.source == "Alertmanager":
            return True
        named = ping.namespace == playbook_namespace and any(ref.name == ping.name for ref in trigger.rules or [])
        if named or (trigger.selector is not None and selector_matches(trigger.selector, ping.labels)):
            return True
    return False


@dataclass(eq=False)
class Waiter:
    """One playbook's daemon: the event it waits on, on its loop, and the spec its interest follows."""

    namespace: str
    name: str
    loop: asyncio.AbstractEventLoop
    event: asyncio.Event = field(default_factory=asyncio.Event)
    spec: RemediationPlaybookSpec | None = None


class Wakeups:
    """The playbooks waiting for a signal, and the announcements that wake them."""

    def __init__(self) -> None:
        self._waiters: list[Waiter] = []
        self._lock = threading.Lock()

    def register(self, namespace: str, name: str, loop: asyncio.AbstractEventLoop) -> Waiter:
        waiter = Waiter(namespace, name, loop)
        with self._lock:
            self._waiters.append(waiter)
        return waiter

    def unregister(self, waiter: Waiter) -> None:
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def ping(self, ping: Ping) -> int:
        """Wake every interested playbook (from any thread); returns how many. Never raises."""
        with self._lock:
            waiters = list(self._waiters)
        woken = 0
        for waiter in waiters:
            try:
                if interested(waiter.spec, waiter.namespace, ping):
                    waiter.loop.call_soon_threadsafe(waiter.event.set)
                    woken += 1
            except Exception:  # a closed loop or a bad spec must not stop the announcer
                log.exception("waking playbook %s/%s failed", waiter.namespace, waiter.name)
        return woken


WAKEUPS = Wakeups()
"""The operator's wake-ups (one process, one loop)."""
