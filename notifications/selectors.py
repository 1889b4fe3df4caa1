"""Reads of deliveries for pages and staff."""

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
