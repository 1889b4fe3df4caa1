"""Reads of agreements: the agreement in force, and the rows of the permission page."""

from django.db.models import Count, Q

from companies.models import Company, User

from .models import Agreement


def active_agreement(*, company: Company) -> Agreement | None:
    """The company's agreement in force, or None (at most one: a constraint)."""
    return Agreement.objects.active().filter(company=company).first()


def watch_counts(*, company: Company, user_ids: list[int]) -> dict[int, int]:
    """How many case types each of these users watches in the company, in one query.

    Mina bevakningar's number, read through the users' reverse relation to its watches, so that agreements
    (below subscriptions) imports nothing from it."""
    users = User.objects.filter(pk__in=user_ids).order_by()
    return dict(users.annotate(n=Count("watches", filter=Q(watches__company=company))).values_list("pk", "n"))
