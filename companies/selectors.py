"""Reads that carry the rule "a user sees only the companies they belong to" (PRODUCT.md rule 10)."""

from django.db.models import QuerySet
from django.http import Http404

from .models import Membership, User


def memberships_of(*, user: User) -> QuerySet[Membership]:
    """The user's memberships with their companies, for the company picker and the header."""
    return Membership.objects.filter(user=user, user__is_active=True).select_related("company")


def get_membership_or_404(*, user: User, company_id: int) -> Membership:
    """The user's membership in that company, or 404 — never 403, so others' companies can't be probed."""
    try:
        return memberships_of(user=user).get(company_id=company_id)
    except Membership.DoesNotExist:
        raise Http404("no such company for this user") from None
