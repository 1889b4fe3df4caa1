"""The access rule for Bevaka ärenden (PRODUCT.md rule 4), defined once.

User U may use the service in company C exactly when C has an active agreement, U is an active member
of C, and U either has unrestricted authority in C or holds *Hantera Bevaka ärenden* on C.

``memberships_with_service_access`` is that definition, as SQL. Every other question — may this user
use it, which users may, which of this user's companies — is a filter on it, so the web pages, the
fan-out and the admin cannot disagree. It lives here, not in companies, because it reads the agreement:
companies sits below agreements and imports nothing from it.
"""

from functools import cache

from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet
from django.http import Http404

from companies.models import MANAGE_CASE_WATCH, Authority, Company, CompanyUserObjectPermission, Membership, User
from companies.selectors import memberships_of

from .models import Agreement


def manage_case_watch_grants() -> QuerySet[CompanyUserObjectPermission]:
    """Every grant of *Hantera Bevaka ärenden*: guardian's direct rows from a user to a Company.

    The one reading of the grant (the access rule, the permission page and the grant and revoke services
    all filter this): a group, a global permission or being a superuser never gives it.
    """
    return CompanyUserObjectPermission.objects.filter(
        permission__codename=MANAGE_CASE_WATCH, permission__content_type__app_label="companies"
    )


def holds_manage_case_watch(*, user: User, company: Company) -> bool:
    """Has ``user`` been granted *Hantera Bevaka ärenden* on ``company``? (Access takes more: see
    has_service_access.)"""
    return manage_case_watch_grants().filter(user=user, content_object=company).exists()


def _holds_manage_case_watch() -> Exists:
    """The grant, for the membership of the query it is put in."""
    return Exists(manage_case_watch_grants().filter(user=OuterRef("user"), content_object=OuterRef("company")))


def _unrestricted_authority() -> Q:
    """Unrestricted authority in the company: access with no grant."""
    return Q(authority=Authority.UNRESTRICTED)


def with_ways_in(memberships: QuerySet[Membership]) -> QuerySet[Membership]:
    """``memberships`` annotated with the rule's two ways in, as the rule itself reads them: ``unrestricted``
    (the member's authority) and ``granted`` (holds *Hantera Bevaka ärenden*), for a page that shows why."""
    return memberships.annotate(
        unrestricted=ExpressionWrapper(_unrestricted_authority(), output_field=BooleanField()),
        granted=_holds_manage_case_watch(),
    )


def _has_active_agreement() -> Exists:
    return Exists(Agreement.objects.active().filter(company=OuterRef("company")))


@cache
def _service_access_queryset() -> QuerySet[Membership]:
    # Built once per process: putting the two subqueries together costs more than running the query.
    # It is never evaluated itself; each caller gets a clone.
    return Membership.objects.filter(
        _has_active_agreement(),
        _unrestricted_authority() | _holds_manage_case_watch(),
        user__is_active=True,
    )


def memberships_with_service_access() -> QuerySet[Membership]:
    """Every membership whose user may use Bevaka ärenden in its company, as one SQL query."""
    return _service_access_queryset().all()


def has_service_access(*, user: User, company: Company) -> bool:
    """May ``user`` use Bevaka ärenden in ``company`` now?"""
    if not user.is_authenticated:
        return False
    return memberships_with_service_access().filter(user=user, company=company).exists()


def users_with_service_access(*, company: Company) -> QuerySet[User]:
    """The users who may use Bevaka ärenden in ``company`` now (the fan-out joins this)."""
    return User.objects.filter(Exists(memberships_with_service_access().filter(user=OuterRef("pk"), company=company)))


# The gates of the views (as Zulip's access_* helpers): each returns the user's membership, with its
# company, or raises Http404 — never 403, so that neither others' companies nor others' access can be probed.


def access_service(*, user: User, company_id: int) -> Membership:
    """The user's membership in the company if they may use Bevaka ärenden there (the rule, one query)."""
    if not user.is_authenticated:
        raise Http404("no access to Bevaka ärenden in this company")
    try:
        return memberships_with_service_access().select_related("company").get(user=user, company_id=company_id)
    except Membership.DoesNotExist:
        raise Http404("no access to Bevaka ärenden in this company") from None


def access_permission_admin(*, user: User, company_id: int) -> Membership:
    """The user's membership in the company if they are its permission administrator (who grants and revokes
    *Hantera Bevaka ärenden*)."""
    try:
        return memberships_of(user=user).get(company_id=company_id, is_permission_admin=True)
    except Membership.DoesNotExist:
        raise Http404("only the company's permission administrators see this page") from None
