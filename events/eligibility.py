"""May this person receive this alert? The one definition, for the fan-out, the send-time check and the
back office's "why (not)?".

An alert of an event (company C, case type T) may go to user U on channel K at destination D exactly when,
in this order (the first that fails is the reason):

1. ``included``: C's active agreement includes T;
2. ``has_access``: U may use the service in C (the access rule, ``agreements.access``);
3. ``watching``: U watches T in C by K;
4. ``verified``: D is U's verified destination on K;
5. ``not_suspended``: D is not suspended on K (``notifications.suspensions``).

``conditions`` writes them as SQL expressions over the caller's rows, and each consumer takes them all:
the fan-out inserts the rows where every one holds (its rows are the verified contacts, so it has no use
for 4), the send-time check stops an alert at the first that fails (5 is the sending engine's own check,
for every purpose), and "why (not)?" names it in words. A new condition is one expression here and one
reason in each consumer.

Quiet hours are not a condition: they say *when*, not *whether*. ``held_until`` is the one expression of it
(the end of the recipient's quiet period the alert falls in, unless its case type is *Skicka alltid
direkt*); the fan-out stores it on each delivery it creates, and a held alert is checked against every
condition here again when it is released (``events.quiet_release``).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import Case, CharField, DateTimeField, Exists, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Lower
from django.db.models.lookups import Exact

from agreements.access import memberships_with_service_access
from agreements.models import Agreement
from notifications.models import Channel
from notifications.suspensions import suspended
from subscriptions.models import AlertPreferences, QuietWindow, VerifiedContact, Watch

CONDITIONS = ("included", "has_access", "watching", "verified", "not_suspended")


def destination_key():
    """A verified contact's destination as deliveries and suspensions store it (e-mail lower-cased)."""
    return Case(When(channel=Channel.EMAIL, then=Lower("destination")), default=F("destination"))


def conditions(*, user, company, case_type, channel, destination, watch_channel=None) -> dict[str, Exists]:
    """The conditions of an alert, by name in ``CONDITIONS``' order, as boolean SQL expressions to annotate
    or filter the caller's rows with. Each argument is an expression as seen from inside a subquery of
    the caller's query — ``OuterRef("user")`` for a column of its rows — or a value; ``destination`` in the
    stored form (``destination_key``). ``watch_channel``: the channel the watch must name, when not
    ``channel`` (an e-mail sent because the watched SMS failed is watched by SMS)."""
    watch_channel = channel if watch_channel is None else watch_channel
    watch_by_channel = Q(Exact(watch_channel, Channel.SMS), by_sms=True) | Q(
        Exact(watch_channel, Channel.EMAIL), by_email=True
    )
    return {
        "included": Exists(Agreement.objects.active().filter(company=company, case_types=case_type)),
        "has_access": Exists(memberships_with_service_access().filter(user=user, company=company)),
        "watching": Exists(Watch.objects.filter(watch_by_channel, user=user, company=company, case_type=case_type)),
        "verified": Exists(
            VerifiedContact.objects.annotate(key=destination_key()).filter(user=user, channel=channel, key=destination)
        ),
        "not_suspended": ~suspended(channel=channel, destination=destination),
    }


def first_unmet(row: Mapping[str, bool], names=CONDITIONS) -> str | None:
    """The first of ``names`` (in ``CONDITIONS``' order) that ``row`` says is false, or None."""
    return next((name for name in names if not row[name]), None)


def first_unmet_by_channel(members: QuerySet, *, company, case_type) -> QuerySet:
    """``members`` (``Membership`` rows) annotated, per channel K, with the member's verified destination on
    K (``K_destination``) and the name of the first condition that fails for it (``K_unmet``; "" when
    all hold: the member gets the alert on K). ``company`` and ``case_type`` are values or expressions of
    the members' query. Used by "why (not)?" for now, and by the fan-out to record why, as it decides."""
    for channel in Channel.values:
        contact = VerifiedContact.objects.annotate(key=destination_key()).filter(user=OuterRef("user"), channel=channel)
        members = members.annotate(**{f"{channel}_destination": Subquery(contact.values("key")[:1])})
        where = conditions(
            user=OuterRef("user"),
            company=company,
            case_type=case_type,
            channel=Value(channel),
            destination=OuterRef(f"{channel}_destination"),
        )
        unmet = Case(
            *[When(~condition, then=Value(name)) for name, condition in where.items()],
            default=Value(""),
            output_field=CharField(),
        )
        members = members.annotate(**{f"{channel}_unmet": unmet})
    return members


def for_deliveries() -> dict[str, Exists]:
    """``conditions`` for alert deliveries as they are now (a ``Delivery`` queryset's rows, annotated with
    ``watch_channel``: ``watched_channel()``)."""
    return conditions(
        user=OuterRef("user"),
        company=OuterRef("company"),
        case_type=OuterRef("event__case_type"),
        channel=OuterRef("channel"),
        destination=OuterRef("destination"),
        watch_channel=OuterRef("watch_channel"),
    )


def watched_channel():
    """The channel a delivery's watch must name: SMS for an e-mail sent because the SMS failed."""
    return Case(
        When(fallback_of__isnull=False, then=Value(Channel.SMS)), default=F("channel"), output_field=CharField()
    )


def held_until(*, user, case_type, now):
    """Quiet hours: when an alert for ``user`` of ``case_type`` created at ``now`` is released — the end of
    the user's stored quiet period that holds ``now`` — or NULL (it goes at once: no quiet hours then, or
    the type is *Skicka alltid direkt*). Arguments as for ``conditions``. One index lookup a recipient."""
    # The type's bypass is looked up only for a recipient in a quiet period (a correlated NOT EXISTS inside
    # the window's lookup): most recipients have no window, and cost the fan-out one index probe each.
    direct = AlertPreferences.always_direct.through.objects.filter(
        alertpreferences_id=OuterRef("user_id"), casetype_id=case_type
    )
    window = (
        QuietWindow.objects.filter(user=user, starts_at__lte=now, ends_at__gt=now)
        .exclude(Exists(direct))
        .order_by("ends_at")
    )
    return Subquery(window.values("ends_at")[:1], output_field=DateTimeField())
