"""Reads for the back office: an event's fan-out summary and "why (not)?" for every user of its company."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, OuterRef, Subquery, Value
from django.utils.translation import gettext as _

from companies.models import Membership
from notifications.masking import mask_destination
from notifications.models import Channel, Delivery, DeliveryStatus, SuspendedDestination
from subscriptions.models import VerifiedContact

from . import eligibility
from .models import Event


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

    A delivery, when there is one, is what happened (sent, or cancelled with its reason). Without one, the
    reason is the first of ``eligibility``'s conditions that fails now, for the member's verified
    destination on the channel — the order the fan-out applies them. Three queries.
    """
    members = Membership.objects.filter(company_id=event.company_id).select_related("user")
    names = {}
    for channel in Channel.values:
        contact = VerifiedContact.objects.annotate(key=eligibility.destination_key()).filter(
            user=OuterRef("user"), channel=channel
        )
        members = members.annotate(**{f"{channel}_destination": Subquery(contact.values("key")[:1])})
        where = eligibility.conditions(
            user=OuterRef("user"),
            company=event.company_id,
            case_type=event.case_type_id,
            channel=Value(channel),
            destination=OuterRef(f"{channel}_destination"),
        )
        names[channel] = {name: f"{channel}_{name}" for name in where}
        members = members.annotate(**{names[channel][name]: condition for name, condition in where.items()})
    members = list(members.order_by("user__last_name", "user__first_name"))
    destinations = {
        (channel, destination)
        for m in members
        for channel in Channel.values
        if (destination := getattr(m, f"{channel}_destination"))
    }
    suspended = {
        (s.channel, s.destination): s
        for s in SuspendedDestination.objects.filter(destination__in={d for _c, d in destinations})
    }
    user_ids = [m.user_id for m in members]
    deliveries = {(d.user_id, d.channel): d for d in Delivery.objects.filter(event=event, user_id__in=user_ids)}

    rows = []
    for member in members:
        for channel in (Channel.SMS, Channel.EMAIL):
            delivery = deliveries.get((member.user_id, channel))
            met = {name: getattr(member, attribute) for name, attribute in names[channel].items()}
            destination = getattr(member, f"{channel}_destination")
            rows.append(
                Explanation(
                    membership=member,
                    channel=channel,
                    delivery=delivery,
                    got_it=delivery is not None and delivery.status != DeliveryStatus.CANCELLED,
                    reason=_reason(member, channel, met, suspended.get((channel, destination)), delivery),
                )
            )
    return rows


def _reason(member, channel, met, suspension, delivery) -> str:
    if delivery is not None:
        if delivery.status == DeliveryStatus.CANCELLED:
            return _("Stoppad: %(reason)s") % {"reason": delivery.last_error}
        return _("Utskick %(status)s till %(destination)s") % {
            "status": delivery.get_status_display().lower(),
            "destination": mask_destination(delivery.destination),
        }
    unmet = eligibility.first_unmet(met)
    if unmet == "included":
        return _("Företagets avtal omfattar inte ärendetypen (eller är avslutat).")
    if unmet == "has_access":
        if not member.user.is_active:
            return _("Användaren är inaktiverad.")
        return _("Ingen tillgång: begränsad behörighet utan Hantera Bevaka ärenden.")
    if unmet == "watching":
        return _("Bevakar inte ärendetypen via den här kanalen.")
    if unmet == "verified":
        return _("Inget verifierat mobilnummer.") if channel == Channel.SMS else _("Ingen verifierad e-postadress.")
    if unmet == "not_suspended":
        reason = suspension.get_reason_display() if suspension else ""
        return _("Mottagaren är spärrad: %(reason)s") % {"reason": reason}
    return _("Skulle få den nu: ändrades efter fördelningen, eller händelsen är inte fördelad än.")
