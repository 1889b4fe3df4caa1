"""What a purpose of delivery adds to the sending engine, registered by the app that owns it.

The engine (claim, rate limit, channels, outcome, retries, callbacks) knows nothing of why a message is
sent. A purpose whose messages must be checked again just before the provider request — an alert, whose
recipient may have lost access since it was queued (PRODUCT.md rule 6) — registers a check here, from
its app's ``AppConfig.ready()``; so does one that observes what was sent (a latency metric):

- ``stop_reasons(deliveries) -> {delivery id: reason}``: those that must not be sent now, with the reason
  stored on the cancelled delivery; one query for the whole batch, whatever its size;
- ``on_sent([(delivery, accepted at)])``: after the batch's sends are recorded.

A purpose with nothing registered is sent as it was queued (a verification code).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Delivery

log = logging.getLogger(__name__)

StopReasons = Callable[[Sequence["Delivery"]], dict[int, str]]
OnSent = Callable[[Sequence[tuple["Delivery", datetime.datetime]]], None]


@dataclass(frozen=True)
class PurposeHooks:
    stop_reasons: StopReasons | None = None
    on_sent: OnSent | None = None


_registry: dict[str, PurposeHooks] = {}


def register(purpose: str, *, stop_reasons: StopReasons | None = None, on_sent: OnSent | None = None) -> None:
    """Register what the engine must do for deliveries of ``purpose`` (a ``models.Purpose`` value); a
    second registration of a purpose replaces the first (``ready()`` may run twice in tests)."""
    _registry[purpose] = PurposeHooks(stop_reasons=stop_reasons, on_sent=on_sent)


def has_stop_check(purpose: str) -> bool:
    """Is a delivery of ``purpose`` checked again before it is sent?"""
    hooks = _registry.get(purpose)
    return hooks is not None and hooks.stop_reasons is not None


def stop_reasons(deliveries: Sequence[Delivery]) -> dict[int, str]:
    """Why each of these deliveries must not be sent now (only those that must not): one call of each
    purpose's check for its deliveries."""
    reasons: dict[int, str] = {}
    for purpose in {d.purpose for d in deliveries}:
        if has_stop_check(purpose):
            reasons.update(_registry[purpose].stop_reasons([d for d in deliveries if d.purpose == purpose]))
    return reasons


def sent(accepted: Sequence[tuple[Delivery, datetime.datetime]]) -> None:
    """Tell each purpose's observer which of its deliveries the provider accepted, and when. An observer's
    error is logged, never raised: the sends are recorded already."""
    for purpose in {d.purpose for d, _ in accepted}:
        hooks = _registry.get(purpose)
        if hooks is None or hooks.on_sent is None:
            continue
        try:
            hooks.on_sent([(d, at) for d, at in accepted if d.purpose == purpose])
        except Exception:
            log.exception("the %s observer of %d sends failed", purpose, len(accepted))
