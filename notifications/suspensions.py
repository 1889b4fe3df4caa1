"""Destinations nothing may be sent to: a permanent failure (an invalid number, an opt-out, a mailbox
that does not exist) suspends a channel's destination until ``clear_suspension``.

The rule is one lookup, ``suspended(channel, destination)``: the sending engine applies it to every
delivery whatever its purpose, and the alert domain's eligibility (``events.eligibility``) builds on the
same expression.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, Q

from .models import Channel, SuspendedDestination, SuspensionReason


def normalise(channel: str, destination: str) -> str:
    """A destination as deliveries and suspensions store it: trimmed, an e-mail address lower-cased."""
    destination = (destination or "").strip()
    return destination.lower() if channel == Channel.EMAIL else destination


def suspended(*, channel, destination) -> Exists:
    """Is this destination suspended on this channel? As SQL: ``channel`` and ``destination`` are
    expressions of the caller's query (``OuterRef("channel")``, a value), the destination normalised."""
    return Exists(SuspendedDestination.objects.filter(channel=channel, destination=destination))


def suspension_of(channel: str, destination: str) -> SuspendedDestination | None:
    """The suspension of this normalised destination, or None."""
    return SuspendedDestination.objects.filter(channel=channel, destination=destination).first()


def suspensions_of(pairs) -> dict[tuple[str, str], SuspendedDestination]:
    """The suspensions of these (channel, normalised destination) pairs, in one query."""
    wanted = Q(pk__in=[])
    for channel in {channel for channel, _ in pairs}:
        wanted |= Q(channel=channel, destination__in=[d for c, d in pairs if c == channel])
    return {(s.channel, s.destination): s for s in SuspendedDestination.objects.filter(wanted)}


def is_suspended(*, channel: str, destination: str) -> bool:
    """Must nothing be sent to this destination on this channel (a permanent failure suspended it)?"""
    return SuspendedDestination.objects.filter(channel=channel, destination=normalise(channel, destination)).exists()


def suspend_destination(
    *, channel: str, destination: str, reason: str, error_code: str = "", detail: str = "", delivery=None
) -> SuspendedDestination:
    """Stop every send to this destination until ``clear_suspension``; idempotent (first reason kept)."""
    suspension, _ = SuspendedDestination.objects.get_or_create(
        channel=channel,
        destination=normalise(channel, destination),
        defaults={
            "reason": reason,
            "error_code": error_code,
            "detail": detail,
            "delivery": delivery,
            "user": getattr(delivery, "user", None),
        },
    )
    return suspension


@transaction.atomic
def clear_suspension(*, channel: str, destination: str, opted_in: bool = False) -> bool:
    """Lift a suspension, e.g. when the user verifies the destination again. Returns whether one was lifted.

    A number that opted out (Twilio 21610, the recipient sent STOP) is lifted only with ``opted_in=True``:
    the recipient must have opted in again (sent START), or Twilio keeps refusing it.
    """
    suspensions = SuspendedDestination.objects.filter(channel=channel, destination=normalise(channel, destination))
    if not opted_in:
        suspensions = suspensions.exclude(reason=SuspensionReason.OPTED_OUT)
    deleted, _ = suspensions.delete()
    return deleted > 0
