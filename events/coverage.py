"""Who would get an alert of each case type of an agreement now, by SMS and by e-mail: the conditions of
``eligibility`` over the company's watches, counted in SQL (one query). Registered in
``agreements.coverage`` by ``EventsConfig.ready()`` for the pages Bevaka ärenden and Administrera
behörigheter (issue 23, part 4)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Count, F, OuterRef

from agreements.models import Agreement, CaseType
from notifications.models import Channel
from subscriptions.models import VerifiedContact

from . import eligibility


def count_coverage(agreement: Agreement, case_types: Sequence[CaseType]) -> dict[int, tuple[int, int]]:
    """{case type id: (users who get it by SMS, by e-mail)} for the agreement's company: a watch counts on
    a channel when every condition of ``eligibility.conditions`` holds for it at the user's verified
    destination on that channel (a user watches a type once and has one verified contact a channel, so
    the pairs counted are users). A case type nobody gets is left out (the caller counts it 0)."""
    # The rows are the pairs (verified contact, watch of its user), as the fan-out's rows are verified
    # contacts: the channel and the destination are columns, not a subquery evaluated again in each
    # condition that reads them. Every condition is in the WHERE, where PostgreSQL evaluates each once a
    # row and joins the ones that read neither (included, has_access: the access rule) as semi-joins.
    pairs = (
        VerifiedContact.objects.filter(
            channel__in=Channel.values,
            user__watches__company_id=agreement.company_id,
            user__watches__case_type__in=[t.pk for t in case_types],
        )
        .annotate(
            key=eligibility.destination_key(),
            watch_company=F("user__watches__company"),
            watch_case_type=F("user__watches__case_type"),
        )
        .order_by()
    )
    where = eligibility.conditions(
        user=OuterRef("user"),
        company=OuterRef("watch_company"),
        case_type=OuterRef("watch_case_type"),
        channel=OuterRef("channel"),
        destination=OuterRef("key"),
    )
    rows = pairs.filter(*where.values()).values("watch_case_type", "channel").annotate(users=Count("pk"))
    counts: dict[int, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(row["watch_case_type"], {})[row["channel"]] = row["users"]
    return {
        case_type: (by_channel.get(Channel.SMS, 0), by_channel.get(Channel.EMAIL, 0))
        for case_type, by_channel in counts.items()
    }
