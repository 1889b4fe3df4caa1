"""Reads of agreements: the agreement in force, and the rows of the permission page."""

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet, Window
from django.utils.translation import gettext as _

from companies.models import Authority, Company, Membership, User

from .access import with_ways_in
from .models import Agreement, AgreementVersion, PendingAgreementChange
from .proposals import Proposal

PERMISSION_PAGE_SIZE = 50


def active_agreement(*, company: Company) -> Agreement | None:
    """The company's agreement in force, or None (at most one: a constraint)."""
    return Agreement.objects.active().filter(company=company).first()


def bank_ended_agreement(*, company: Company) -> Agreement | None:
    """The company's latest agreement if the bank ended it (the company has not connected again since)."""
    latest = Agreement.objects.filter(company=company).order_by("-created_at", "-pk").first()
    return latest if latest and latest.ended_how == Agreement.EndedBy.BACK_OFFICE else None


def stale_proposal_reason(proposal: Proposal) -> str | None:
    """Why ``proposal`` can no longer be signed (the agreement or the pending change moved on since it was
    made), in the customer's language; None while it still applies. Signing would be refused anyway; this
    says so before the signer signs."""
    if proposal.pending_id:
        pending = PendingAgreementChange.objects.filter(pk=proposal.pending_id).first()
        return None if pending and pending.is_open else _("Ändringen väntar inte längre på signatur.")
    agreement = Agreement.objects.active().filter(company_id=proposal.company_id).first()
    if proposal.action == AgreementVersion.Action.CONNECT:
        return _("Företaget är redan anslutet till tjänsten Bevaka ärenden.") if agreement else None
    if agreement is None:
        return _("Företaget är inte anslutet till tjänsten Bevaka ärenden.")
    current = agreement.versions.order_by("-number").values_list("number", flat=True).first()
    if current != proposal.base_version:
        return _("Avtalet har ändrats sedan ändringen gjordes. Gör om ändringen utifrån avtalet som gäller nu.")
    return None


def watch_counts(*, company: Company, user_ids: list[int]) -> dict[int, int]:
    """How many case types each of these users watches in the company, in one query.

    Mina bevakningar's number, read through the users' reverse relation to its watches, so that agreements
    (below subscriptions) imports nothing from it."""
    users = User.objects.filter(pk__in=user_ids).order_by()
    return dict(users.annotate(n=Count("watches", filter=Q(watches__company=company))).values_list("pk", "n"))


@dataclass(frozen=True)
class PermissionRow:
    """One member on Administrera behörigheter, in plain values for the template."""

    user_id: str  # an identifier for the form, never a localised number
    name: str
    authority: str
    unrestricted: bool  # access through their authority: nothing to grant
    granted: bool  # holds Hantera Bevaka ärenden
    watch_count: int


def permission_rows(*, company: Company, query: str = "", page: str | int | None = None) -> Page:
    """A page of the company's active members, by last and first name, each word of ``query`` matching a
    first or last name. Its ``object_list`` is PermissionRows: how the access rule lets each member in
    (agreements.access.with_ways_in) and how many case types they watch. Three queries however many
    members (a page past the end: one more, to count).
    """
    members = (
        Membership.objects.filter(company=company, user__is_active=True)
        .select_related("user")
        .only("user_id", "company_id", "authority", "user__first_name", "user__last_name")
    )
    for word in query.split():
        members = members.filter(Q(user__first_name__icontains=word) | Q(user__last_name__icontains=word))
    found = _members_page(members.order_by("user__last_name", "user__first_name", "pk"), page)
    page_members = found.object_list
    # The rule's own reading of the two ways in, for this page's members only.
    ways_in = {
        pk: (unrestricted, granted)
        for pk, unrestricted, granted in with_ways_in(
            Membership.objects.filter(pk__in=[m.pk for m in page_members]).order_by()
        ).values_list("pk", "unrestricted", "granted")
    }
    counts = watch_counts(company=company, user_ids=[m.user_id for m in page_members])
    # Each label looked up once per page rather than once per row.
    authorities = {value: str(label) for value, label in Authority.choices}
    found.object_list = [
        PermissionRow(
            user_id=str(m.user_id),
            name=m.user.get_full_name(),
            authority=authorities.get(m.authority, m.authority),
            unrestricted=ways_in[m.pk][0],
            granted=ways_in[m.pk][1],
            watch_count=counts.get(m.user_id, 0),
        )
        for m in page_members
    ]
    return found


def _members_page(members: QuerySet[Membership], page_number: str | int | None) -> Page:
    """A page of ``members`` as Paginator.get_page gives it, with the total counted by the same query
    (COUNT(*) OVER ()) instead of a second join of the company's members with their users. A page
    number past the end, or below 1, is the last page, through Paginator (which then counts apart)."""
    paginator = Paginator(members, PERMISSION_PAGE_SIZE)
    try:
        number = int(page_number)
    except (TypeError, ValueError):
        number = 1
    if 1 <= number <= 10_000:  # beyond that, Paginator counts and clamps (no absurd OFFSET)
        start = (number - 1) * PERMISSION_PAGE_SIZE
        rows = list(members.annotate(total=Window(Count("pk")))[start : start + PERMISSION_PAGE_SIZE])
        if rows or number == 1:
            paginator.count = rows[0].total if rows else 0
            return Page(rows, number, paginator)
    return paginator.get_page(page_number)
