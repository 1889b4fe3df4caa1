"""Reads for the back office: an event's fan-out summary and "why (not)?" for the users of its company, a page
of them at a time."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from companies.identity import parse_personnummer
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


def why_members(event: Event, *, search: str = "") -> QuerySet[Membership]:
    """The members of the event's company in "why (not)?"'s order (last name, first name, id: stable for
    paging), those matching ``search`` when given: a personnummer in any accepted form (exact), or else
    words that each begin the first or last name."""
    members = Membership.objects.filter(company_id=event.company_id)
    search = search.strip()
    if search:
        try:
            members = members.filter(user__personnummer=parse_personnummer(search))
        except ValidationError:
            for word in search.split():
                members = members.filter(Q(user__first_name__istartswith=word) | Q(user__last_name__istartswith=word))
    return members.order_by("user__last_name", "user__first_name", "user_id")


def explain_event(event: Event, members: QuerySet[Membership] | None = None) -> list[Explanation]:
    """For each of ``members`` (a queryset of the event's company's memberships, sliced to a page, in the
    order to show; by default all of them in ``why_members``' order) and each channel: did they get it,
    and if not, why.

    A delivery, when there is one, is what happened at send time (sent, or cancelled with its reason).
    Without one, for an event fanned out: what the fan-out decided and recorded (``FanoutDecision``), not
    today's state; for one not fanned out yet: the first of ``eligibility``'s conditions that fails now.
    Three queries, whatever the size of the company or the page: the members (with their users), the
    deliveries of those users (in the event's partition), and the fan-out's decisions about them for an
    event fanned out or else the suspensions of their destinations (none when they have no destination).
    """
    if members is None:
        members = why_members(event)
    ordering = members.query.order_by or ("user__last_name", "user__first_name", "user_id")
    # The page as a subquery: its LIMIT/OFFSET stays in the database, and the annotations below are only
    # computed for the page's rows.
    page = Membership.objects.filter(company_id=event.company_id, pk__in=members.values("pk")).select_related("user")
    decided = event.fanned_out_at is not None
    if not decided:
        page = eligibility.first_unmet_by_channel(page, company=event.company_id, case_type=event.case_type_id)
    members = list(page.order_by(*ordering))
    user_ids = [m.user_id for m in members]
    suspended = {}
    if not decided:
        destinations = {getattr(m, f"{c}_destination") for m in members for c in Channel.values} - {None}
        suspended = {
            (s.channel, s.destination): s for s in SuspendedDestination.objects.filter(destination__in=destinations)
        }
    decisions = (
        {
            d.user_id: d
            for d in FanoutDecision.objects.filter(
                event=event, event_received_at=event.received_at, user_id__in=user_ids
            )
        }
        if decided
        else {}
    )
    deliveries = {
        (d.user_id, d.channel): d
        for d in Delivery.objects.filter(event=event, filed_at=event.received_at, user_id__in=user_ids).select_related(
            "summary", "fallback_of"
        )
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
                    got_it=delivery is not None
                    and delivery.status not in (DeliveryStatus.CANCELLED, DeliveryStatus.HELD),
                    reason=reason,
                )
            )
    return rows


def _when(at) -> str:
    return date_format(localtime(at), "SHORT_DATETIME_FORMAT")


def _delivery_reason(delivery: Delivery) -> str:
    if delivery.status == DeliveryStatus.HELD:
        return _("Väntar på grund av tysta timmar till %(when)s.") % {"when": _when(delivery.held_until)}
    if delivery.status == DeliveryStatus.SUMMARISED:
        summary = delivery.summary
        return _(
            "Väntade på grund av tysta timmar till %(when)s; skickad i sammanfattningen %(sent)s (%(status)s)."
        ) % {
            "when": _when(delivery.held_until),
            "sent": _when(summary.sent_at or summary.created_at) if summary else "",
            "status": summary.get_status_display().lower() if summary else "",
        }
    if delivery.status == DeliveryStatus.CANCELLED:
        reason = _("Stoppad: %(reason)s") % {"reason": delivery.last_error}
        if delivery.held_until:
            reason += " " + _("(Väntade på grund av tysta timmar till %(when)s.)") % {
                "when": _when(delivery.held_until)
            }
        return reason
    if delivery.fallback_of_id is not None:
        sms = delivery.fallback_of
        ambiguous = sms is not None and sms.status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)
        text = (
            _(
                "Skickad med e-post eftersom sms:ets utfall var okänt (det kan också ha kommit fram): "
                "%(status)s till %(destination)s"
            )
            if ambiguous
            else _("Skickad med e-post eftersom sms:et inte gick fram: %(status)s till %(destination)s")
        )
        return text % {
            "status": delivery.get_status_display().lower(),
            "destination": mask_destination(delivery.destination),
        }
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
