"""Reads for the back office: an event's fan-out summary and "why (not)?" for every user of its company."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef
from django.utils.translation import gettext as _

from agreements.access import memberships_with_service_access
from agreements.models import Agreement
from companies.models import Membership
from notifications.masking import mask_destination
from notifications.models import Channel, Delivery, DeliveryStatus, SuspendedDestination
from subscriptions.models import VerifiedContact, Watch

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
    reason is read from the state now — agreement, access rule, watch, verified and suspended
    destination — in that order, which is the order the fan-out applies them. Five queries.
    """
    company_id, case_type_id = event.company_id, event.case_type_id
    included = Agreement.objects.filter(
        company_id=company_id, status=Agreement.Status.ACTIVE, case_types=case_type_id
    ).exists()
    watch = Watch.objects.filter(user=OuterRef("user"), company_id=company_id, case_type_id=case_type_id)
    members = list(
        Membership.objects.filter(company_id=company_id)
        .select_related("user")
        .annotate(
            has_access=Exists(memberships_with_service_access().filter(pk=OuterRef("pk"))),
            watches_sms=Exists(watch.filter(by_sms=True)),
            watches_email=Exists(watch.filter(by_email=True)),
        )
        .order_by("user__last_name", "user__first_name")
    )
    user_ids = [m.user_id for m in members]
    contacts = {(c.user_id, c.channel): c.destination for c in VerifiedContact.objects.filter(user_id__in=user_ids)}
    suspended = {
        (s.channel, s.destination): s
        for s in SuspendedDestination.objects.filter(
            destination__in=[d.lower() if ch == Channel.EMAIL else d for (_u, ch), d in contacts.items()]
        )
    }
    deliveries = {(d.user_id, d.channel): d for d in Delivery.objects.filter(event=event, user_id__in=user_ids)}

    rows = []
    for member in members:
        for channel in (Channel.SMS, Channel.EMAIL):
            delivery = deliveries.get((member.user_id, channel))
            rows.append(
                Explanation(
                    membership=member,
                    channel=channel,
                    delivery=delivery,
                    got_it=delivery is not None and delivery.status != DeliveryStatus.CANCELLED,
                    reason=_reason(member, channel, included, contacts, suspended, delivery),
                )
            )
    return rows


def _reason(member, channel, included, contacts, suspended, delivery) -> str:
    if delivery is not None:
        if delivery.status == DeliveryStatus.CANCELLED:
            return _("Stoppad: %(reason)s") % {"reason": delivery.last_error}
        return _("Utskick %(status)s till %(destination)s") % {
            "status": delivery.get_status_display().lower(),
            "destination": mask_destination(delivery.destination),
        }
    if not included:
        return _("Företagets avtal omfattar inte ärendetypen (eller är avslutat).")
    if not member.has_access:
        if not member.user.is_active:
            return _("Användaren är inaktiverad.")
        return _("Ingen tillgång: begränsad behörighet utan Hantera Bevaka ärenden.")
    if not (member.watches_sms if channel == Channel.SMS else member.watches_email):
        return _("Bevakar inte ärendetypen via den här kanalen.")
    destination = contacts.get((member.user_id, channel))
    if destination is None:
        return _("Inget verifierat mobilnummer.") if channel == Channel.SMS else _("Ingen verifierad e-postadress.")
    key = destination.lower() if channel == Channel.EMAIL else destination
    if (channel, key) in suspended:
        return _("Mottagaren är spärrad: %(reason)s") % {"reason": suspended[(channel, key)].get_reason_display()}
    return _("Skulle få den nu: ändrades efter fördelningen, eller händelsen är inte fördelad än.")
