"""Reads of deliveries for pages and staff."""

import datetime

from django.db.models import QuerySet

from .models import Delivery


def deliveries_for_user(*, user, company=None) -> QuerySet[Delivery]:
    """A user's deliveries, newest first (for a history page), optionally within one company."""
    deliveries = Delivery.objects.filter(user=user).select_related("company")
    if company is not None:
        deliveries = deliveries.filter(company=company)
    return deliveries.order_by("-created_at", "-id")


def suspended_destinations_for_user(*, user):
    """Suspensions of the user's mobile number and e-mail address (with reasons), for *Mina bevakningar*."""
    from .models import Channel, SuspendedDestination

    destinations = []
    if user.mobile_number:
        destinations.append((Channel.SMS, user.mobile_number))
    if user.email:
        destinations.append((Channel.EMAIL, user.email.lower()))
    if not destinations:
        return SuspendedDestination.objects.none()
    from django.db.models import Q

    condition = Q()
    for channel, destination in destinations:
        condition |= Q(channel=channel, destination=destination)
    return SuspendedDestination.objects.filter(condition)


def alerts_per_hour(*, since, statuses=None) -> dict:
    """Alert deliveries created since ``since``, counted per hour (in Europe/Stockholm) and status:
    ``{(hour, status): count}``. One aggregate query, whatever the number of deliveries."""
    from zoneinfo import ZoneInfo

    from django.db.models import Count
    from django.db.models.functions import TruncHour

    from .models import Purpose

    rows = (
        # filed_at (the partition key, the event's received time) prunes the older months.
        Delivery.objects.filter(
            purpose=Purpose.ALERT, created_at__gte=since, filed_at__gte=since - datetime.timedelta(days=7)
        )
        .annotate(hour=TruncHour("created_at", tzinfo=ZoneInfo("Europe/Stockholm")))
        .values("hour", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(row["hour"], row["status"]): row["n"] for row in rows}
