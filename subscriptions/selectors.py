"""Reads for Mina bevakningar, each a fixed number of queries whatever the number of types or rows."""

import datetime
from dataclasses import dataclass

from django.core.paginator import Paginator
from django.db.models import Q
from django.utils import timezone

from agreements.models import Agreement, CaseType
from agreements.selectors import active_agreement
from companies.models import Company, User
from notifications.masking import mask_destination
from notifications.models import Channel, Delivery, DeliveryStatus, Purpose, SuspendedDestination

from .models import ContactVerification, UserNotice, VerifiedContact, Watch
from .services import CODE_MAX_TRIES

HISTORY_DAYS = 90
HISTORY_PAGE_SIZE = 25
HISTORY_FAST_PAGES = 10_000  # a page number beyond this goes to Paginator, which counts and clamps


@dataclass
class WatchRow:
    case_type: CaseType
    by_sms: bool
    by_email: bool


_UNKNOWN = object()


def watch_rows(*, user: User, company: Company, agreement: Agreement | None = _UNKNOWN) -> list[WatchRow]:
    """One row per case type of the company's active agreement, with the user's channels (2 queries; 3
    when the caller has not already fetched the active agreement, or None for none)."""
    if agreement is _UNKNOWN:
        agreement = active_agreement(company=company)
    if agreement is None:
        return []
    # Unordered: the model's ordering would join company, user and case type for a lookup by type.
    watches = {w.case_type_id: w for w in Watch.objects.filter(user=user, company=company).order_by()}
    return [
        WatchRow(
            case_type=case_type,
            by_sms=bool(watches.get(case_type.pk) and watches[case_type.pk].by_sms),
            by_email=bool(watches.get(case_type.pk) and watches[case_type.pk].by_email),
        )
        for case_type in CaseType.objects.filter(agreements=agreement).order_by("position")
    ]


@dataclass
class ContactState:
    channel: str
    current: str  # the value on the user's profile
    verified: str | None  # the destination alerts go to, if any
    suspension: SuspendedDestination | None
    pending: ContactVerification | None

    @property
    def is_verified(self) -> bool:
        return bool(self.verified) and self.suspension is None


def contact_states(*, user: User) -> dict[str, ContactState]:
    """The user's mobile number and e-mail address: verified or not, suspended or not, a code on its way."""
    verified = {c.channel: c.destination for c in VerifiedContact.objects.filter(user=user)}
    now = timezone.now()
    pending = {}
    for verification in ContactVerification.objects.filter(user=user, used_at__isnull=True, expires_at__gt=now):
        if verification.attempts < CODE_MAX_TRIES:
            pending.setdefault(verification.channel, verification)
    destinations = {
        Channel.SMS: verified.get(Channel.SMS) or user.mobile_number,
        Channel.EMAIL: verified.get(Channel.EMAIL) or user.email,
    }
    suspensions = {
        (s.channel, s.destination): s
        for s in SuspendedDestination.objects.filter(destination__in=[d for d in destinations.values() if d])
    }
    return {
        channel: ContactState(
            channel=channel,
            current=destinations[channel] or "",
            verified=verified.get(channel),
            suspension=suspensions.get((channel, destinations[channel])),
            pending=pending.get(channel),
        )
        for channel in (Channel.SMS, Channel.EMAIL)
    }


@dataclass
class HistoryRow:
    """One sent alert as the page shows it, its labels and masked destination worked out once."""

    created_at: datetime.datetime
    subject: str
    channel: str
    masked_destination: str
    status: str


@dataclass
class HistoryPage:
    """A page of the alert history. Like Django's Page for the template (object_list, has_next, …), but
    found without counting the user's 90 days of alerts: one row more than a page tells whether there
    is an older page."""

    object_list: list[HistoryRow]
    number: int
    has_next: bool

    def has_previous(self) -> bool:
        return self.number > 1

    def has_other_pages(self) -> bool:
        return self.has_previous() or self.has_next

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1


def _history_rows(deliveries) -> list[HistoryRow]:
    channels = {value: str(label) for value, label in Channel.choices}
    statuses = {value: str(label) for value, label in DeliveryStatus.choices}
    masked: dict[str, str] = {}  # a user's alerts mostly go to one or two destinations
    rows = []
    for created_at, subject, channel, destination, status in deliveries:
        if destination not in masked:
            masked[destination] = mask_destination(destination)
        rows.append(
            HistoryRow(
                created_at=created_at,
                subject=subject,
                channel=channels.get(channel, channel),
                masked_destination=masked[destination],
                status=statuses.get(status, status),
            )
        )
    return rows


FILED_MARGIN_DAYS = 7


def alert_history(*, user: User, company: Company, page: str | int | None) -> HistoryPage:
    """The user's alerts for the company (and notices of changed contact details) over the last 90 days,
    newest first, a page at a time (1 query).

    A page number that is not a number is the first page; one past the end, or below 1, is the last page
    (as Django's ``Paginator.get_page``), which only then costs a count."""
    since = timezone.now() - datetime.timedelta(days=HISTORY_DAYS)
    # filed_at (the partition key: the event's received time, never after the alert's creation) bounds the
    # months PostgreSQL reads; the margin covers an event fanned out late.
    filed_since = since - datetime.timedelta(days=FILED_MARGIN_DAYS)
    deliveries = (
        # The alerts for the company, and the notices that a contact detail changed (for every company:
        # contact details are the user's own, issue 23).
        Delivery.objects.filter(
            Q(purpose=Purpose.ALERT, company=company) | Q(purpose=Purpose.CONTACT_CHANGE),
            user=user,
            created_at__gte=since,
            filed_at__gte=filed_since,
        )
        .order_by("-created_at", "-id")
        .values_list("created_at", "subject", "channel", "destination", "status")
    )
    try:
        number = int(page)
    except (TypeError, ValueError):
        number = 1
    if 1 <= number <= HISTORY_FAST_PAGES:
        start = (number - 1) * HISTORY_PAGE_SIZE
        found = list(deliveries[start : start + HISTORY_PAGE_SIZE + 1])
        if found or number == 1:
            rows = _history_rows(found[:HISTORY_PAGE_SIZE])
            return HistoryPage(object_list=rows, number=number, has_next=len(found) > HISTORY_PAGE_SIZE)
    last = Paginator(deliveries, HISTORY_PAGE_SIZE).get_page(page)
    return HistoryPage(object_list=_history_rows(last.object_list), number=last.number, has_next=last.has_next())


def take_notices(*, user: User, company: Company, agreement: Agreement | None = None) -> list[UserNotice]:
    """Unseen notices for the user in the company; they are marked seen as they are shown.

    A notice that the agreement ended, from before ``agreement`` (the one in force) began, no longer
    holds: it is marked seen and not shown (issue 18: a reconnected company's users were told their
    alerts had stopped)."""
    notices = list(UserNotice.objects.filter(user=user, company=company, seen_at__isnull=True).order_by("created_at"))
    if notices:
        UserNotice.objects.filter(pk__in=[n.pk for n in notices]).update(seen_at=timezone.now())
    if agreement is not None:
        notices = [
            n
            for n in notices
            if not (n.kind == UserNotice.Kind.AGREEMENT_ENDED and n.created_at <= agreement.created_at)
        ]
    return notices
