"""Reads for the back office: an event's fan-out summary and "why (not)?" for every user of its company."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from companies.models import Membership
from notifications.masking import mask_destination
from notifications.models import Channel, Delivery, DeliveryStatus, SuspendedDestination

from . import eligibility
from .models import Event, FanoutDecision


@dataclass
class Explanation:
    """Why one user did or did not get one event on one channel."""

    membership: Membership
    channel: str
    got_it: bool
    reason: str
    delivery: Delivery | None = None

    @property
    def channel_label(self) -> str:
        return Channel(self.channel).label


def fan_out_summary(event: Event) -> dict[str, int]:
    """How many of the event's deliveries are in each status (one query)."""
    rows = Delivery.objects.filter(event=event).values("status").annotate(n=Count("id")).order_by()
    return {row["status"]: row["n"] for row in rows}


def explain_event(event: Event) -> list[Explanation]:
    """For every member of the event's company and each channel: did they get it, and if not, why.

    A delivery, when there is one, is what happened at send time (sent, or cancelled with its reason).
    Without one, for an event fanned out: what the fan-out decided and recorded (``FanoutDecision``), not
    today's state; for one not fanned out yet: the first of ``eligibility``'s conditions that fails now.
    Four queries (three for an event fanned out).
    """
    members = Membership.objects.filter(company_id=event.company_id).select_related("user")
    decided = event.fanned_out_at is not None
    if not decided:
        members = eligibility.first_unmet_by_channel(members, company=event.company_id, case_type=event.case_type_id)
    members = list(members.order_by("user__last_name", "user__first_name"))
    suspended = {}
    if not decided:
        destinations = {getattr(m, f"{c}_destination") for m in members for c in Channel.values} - {None}
        suspended = {
            (s.channel, s.destination): s for s in SuspendedDestination.objects.filter(destination__in=destinations)
        }
    decisions = (
        {d.user_id: d for d in FanoutDecision.objects.filter(event=event, event_received_at=event.received_at)}
        if decided
        else {}
    )
    user_ids = [m.user_id for m in members]
    deliveries = {
        (d.user_id, d.channel): d
        for d in Delivery.objects.filter(event=event, filed_at=event.received_at, user_id__in=user_ids)
    }

    rows = []
    for member in members:
        for channel in (Channel.SMS, Channel.EMAIL):
            delivery = deliveries.get((member.user_id, channel))
            if delivery is not None:
                reason = _delivery_reason(delivery)
            elif decided:
                reason = _decided_reason(event, member, channel, decisions.get(member.user_id))
            else:
                suspension = suspended.get((channel, getattr(member, f"{channel}_destination")))
                reason = _unmet_reason(member, channel, getattr(member, f"{channel}_unmet"), suspension)
            rows.append(
                Explanation(
                    membership=member,
                    channel=channel,
                    delivery=delivery,
                    got_it=delivery is not None and delivery.status != DeliveryStatus.CANCELLED,
                    reason=reason,
                )
            )
    return rows


def _delivery_reason(delivery: Delivery) -> str:
    if delivery.status == DeliveryStatus.CANCELLED:
        return _("Stoppad: %(reason)s") % {"reason": delivery.last_error}
    return _("Utskick %(status)s till %(destination)s") % {
        "status": delivery.get_status_display().lower(),
        "destination": mask_destination(delivery.destination),
    }


def _decided_reason(event: Event, member, channel: str, decision: FanoutDecision | None) -> str:
    if decision is None or not decision.reason(channel):
        # Not a member then (or retention removed what was decided): nothing was decided about them.
        return _("Inte med i fördelningen: blev användare på företaget efter att händelsen fördelades.")
    return _("Vid fördelningen %(when)s: %(reason)s") % {
        "when": date_format(localtime(event.fanned_out_at), "SHORT_DATETIME_FORMAT"),
        "reason": _unmet_reason(member, channel, decision.reason(channel), None, at_fan_out=True),
    }


def _unmet_reason(member, channel, unmet: str, suspension, *, at_fan_out: bool = False) -> str:
    """The words for ``eligibility``'s condition ``unmet``; ``at_fan_out``: as recorded then, so nothing
    of today's state (an inactivated user, a suspension's reason) is added."""
    if unmet == "included":
        return _("Företagets avtal omfattar inte ärendetypen (eller är avslutat).")
    if unmet == "has_access":
        if not at_fan_out and not member.user.is_active:
            return _("Användaren är inaktiverad.")
        return _("Ingen tillgång: begränsad behörighet utan Hantera Bevaka ärenden.")
    if unmet == "watching":
        return _("Bevakar inte ärendetypen via den här kanalen.")
    if unmet == "verified":
        return _("Inget verifierat mobilnummer.") if channel == Channel.SMS else _("Ingen verifierad e-postadress.")
    if unmet == "not_suspended":
        reason = suspension.get_reason_display() if suspension else ""
        return _("Mottagaren är spärrad: %(reason)s") % {"reason": reason} if reason else _("Mottagaren var spärrad.")
    return _("Skulle få den nu: ändrades efter fördelningen, eller händelsen är inte fördelad än.")
