"""The lanes: the Celery queues by purpose and channel, and what goes where — the one table of them.

A code the user is waiting for on screen must not wait behind a burst of alerts, and a provider that stalls
(an SMTP server that accepts connections and answers nothing) must hold only the processes of its own
channel. So sends go to a queue per lane, each with worker processes of its own (docker-compose.yml, the
bench); ``make run`` has one worker reading them all (Procfile, docs/ARCHITECTURE.md "Queues").

``LANES`` is in priority order: a worker that reads several lanes takes from the first that has work when
its broker can (Redis: ``queue_order_strategy = priority``, bevaka/settings_queues.py). Each lane says what
it carries and a suggested number of worker processes, which the bench starts (one worker group per lane).

Nothing here imports Django: the settings read this table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lane:
    carries: str
    processes: int  # suggested worker processes (prefork children) for the lane


CODES = "codes"
SMS = "sms"
EMAIL = "email"
DEFAULT = "celery"  # Celery's own default queue name: every task without a lane

LANES: dict[str, Lane] = {
    CODES: Lane("one-time verification codes (SMS and e-mail): the user waits for them on screen", 1),
    SMS: Lane("SMS alerts and service notices", 2),
    EMAIL: Lane("e-mail alerts and service notices", 2),
    DEFAULT: Lane("the fan-out of events, the relays, retention and everything else", 2),
}

# Purposes whose messages someone waits for now (``notifications.models.Purpose`` values).
_WAITED_FOR = frozenset({"verification"})
_BY_CHANNEL = {"sms": SMS, "email": EMAIL}


def lane_of(purpose: str, channel: str) -> str:
    """The queue a delivery of this purpose and channel is sent from."""
    if purpose in _WAITED_FOR:
        return CODES
    return _BY_CHANNEL[channel]


def send_lanes() -> list[str]:
    """The lanes that send (every lane but the default one), in priority order."""
    return [name for name in LANES if name != DEFAULT]
