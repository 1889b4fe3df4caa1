"""Reads for Mina bevakningar, each a fixed number of queries whatever the number of types or rows."""

import datetime
from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.utils import timezone

from agreements.models import Agreement, CaseType
from companies.models import Company, User
from notifications.models import Channel, Delivery, Purpose, SuspendedDestination

from .models import ContactVerification, UserNotice, VerifiedContact, Watch
from .services import CODE_MAX_TRIES

HISTORY_DAYS = 90
HISTORY_PAGE_SIZE = 25


@dataclass
class WatchRow:
    case_type: CaseType
    by_sms: bool
    by_email: bool


def watch_rows(*, user: User, company: Company) -> list[WatchRow]:
    """One row per case type of the company's active agreement, with the user's channels (2 queries)."""
    agreement = Agreement.objects.filter(company=company, status=Agreement.Status.ACTIVE).first()
    if agreement is None:
        return []
    watches = {w.case_type_id: w for w in Watch.objects.filter(user=user, company=company)}
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


def alert_history(*, user: User, company: Company, page: str | int | None) -> Page:
    """The user's alerts for the company over the last 90 days, newest first, paginated."""
    since = timezone.now() - datetime.timedelta(days=HISTORY_DAYS)
    deliveries = Delivery.objects.filter(
        user=user, company=company, purpose=Purpose.ALERT, created_at__gte=since
    ).order_by("-created_at", "-id")
    return Paginator(deliveries, HISTORY_PAGE_SIZE).get_page(page)


def take_notices(*, user: User, company: Company) -> list[UserNotice]:
    """Unseen notices for the user in the company; they are marked seen as they are shown."""
    notices = list(UserNotice.objects.filter(user=user, company=company, seen_at__isnull=True).order_by("created_at"))
    if notices:
        UserNotice.objects.filter(pk__in=[n.pk for n in notices]).update(seen_at=timezone.now())
    return notices
