"""Who would get an alert of each case type of an agreement now, by SMS and by e-mail: the conditions of
``eligibility`` over the company's watches, counted in SQL (one query). Registered in
``agreements.coverage`` by ``EventsConfig.ready()`` for the pages Bevaka ärenden and Administrera
behörigheter (issue 23, part 4)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import BooleanField, Count, ExpressionWrapper, OuterRef, Q, Subquery, Value

from agreements.models import Agreement, CaseType
from notifications.models import Channel
from subscriptions.models import VerifiedContact, Watch

from . import eligibility

CHEAP_FIRST = ("watching", "verified", "not_suspended", "included", "has_access")
# The conditions that read neither the channel nor the destination: the same for a watch on both channels, so
# they are checked once a watch, in the WHERE (where PostgreSQL joins them as semi-joins: one hashed pass over
# the company's memberships with access, not the access rule's nested EXISTS twice a watch).
PER_WATCH = ("included", "has_access")


def _cost_rank(name: str) -> int:
    """A condition's place in the AND: those of ``CHEAP_FIRST`` in its order, a new one after them."""
    return CHEAP_FIRST.index(name) if name in CHEAP_FIRST else len(CHEAP_FIRST)


def count_coverage(agreement: Agreement, case_types: Sequence[CaseType]) -> dict[int, tuple[int, int]]:
    """{case type id: (users who get it by SMS, by e-mail)} for the agreement's company: a watch counts on
    a channel when every condition of ``eligibility.conditions`` holds for it (a user watches a type once,
    so watches are users). A case type no watch of a user with access is left out (the caller counts it 0)."""
    watches = Watch.objects.filter(company_id=agreement.company_id, case_type__in=[t.pk for t in case_types])
    for position, channel in enumerate(Channel.values):
        contact = VerifiedContact.objects.annotate(key=eligibility.destination_key()).filter(
            user=OuterRef("user"), channel=channel
        )
        watches = watches.annotate(**{f"{channel}_destination": Subquery(contact.values("key")[:1])})
        where = eligibility.conditions(
            user=OuterRef("user"),
            company=OuterRef("company"),
            case_type=OuterRef("case_type"),
            channel=Value(channel),
            destination=OuterRef(f"{channel}_destination"),
        )
        if position == 0:
            watches = watches.filter(*(where[name] for name in PER_WATCH))
        # Every other condition, ANDed; the cheap per-row ones first, so that PostgreSQL (which evaluates an
        # AND from the left and stops at the first false) skips the costly ones for a watch not on this channel.
        every = Q()
        for name in sorted(set(where) - set(PER_WATCH), key=_cost_rank):
            every &= Q(where[name])
        watches = watches.annotate(**{f"{channel}_gets": ExpressionWrapper(every, output_field=BooleanField())})
    rows = (
        watches.order_by()
        .values("case_type_id")
        .annotate(
            sms=Count("pk", filter=Q(sms_gets=True)),
            email=Count("pk", filter=Q(email_gets=True)),
        )
    )
    return {row["case_type_id"]: (row["sms"], row["email"]) for row in rows}
