"""Reads that carry the rule "a user sees only the companies they belong to" (PRODUCT.md rule 10)."""

from django.db.models import QuerySet
from django.http import Http404

from .models import Membership, SigningMandate, User


def memberships_of(*, user: User) -> QuerySet[Membership]:
    """The user's memberships with their companies, for the company picker and the header."""
    return Membership.objects.filter(user=user, user__is_active=True).select_related("company")


def signatories_of(*, company_id: int) -> QuerySet[Membership]:
    """The company's active users with a mandate to sign agreements (who can connect it)."""
    return memberships_of_company(company_id=company_id).exclude(signing_mandate=SigningMandate.NONE)


def permission_admins_of(*, company_id: int) -> QuerySet[Membership]:
    """The company's active permission administrators (who can grant Hantera Bevaka ärenden)."""
    return memberships_of_company(company_id=company_id).filter(is_permission_admin=True)


def memberships_of_company(*, company_id: int) -> QuerySet[Membership]:
    return Membership.objects.filter(company_id=company_id, user__is_active=True).select_related("user")


def access_membership(*, user: User, company_id: int) -> Membership:
    """The user's membership in that company, or 404 — never 403, so others' companies can't be probed.

    The gate of every company page (rule 10); agreements.access adds the gates of the service itself."""
    try:
        return memberships_of(user=user).get(company_id=company_id)
    except Membership.DoesNotExist:
        raise Http404("no such company for this user") from None
