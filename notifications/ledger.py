"""The delivery ledger of a company (issue 23, part 4): per user of the company, the last 90 days' alerts
sent, delivered and failed per channel. Counts only, never a text or a destination.

Index-friendly and independent of how the delivery table is laid out (issue 22 partitions it): one
aggregate query per page of users, on the Delivery model's fields only — the page's users, a range on
``created_at`` (``delivery_user_history_idx`` leads with user, created_at), grouped in SQL.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from django.core.paginator import Page, Paginator
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from companies.models import Company, Membership

from .models import Channel, Delivery, DeliveryStatus, Purpose

LEDGER_DAYS = 90
LEDGER_PAGE_SIZE = 50
CSV_CHUNK = 500  # users per aggregate query of the export

# What each column counts. Sent: the provider accepted it (delivered or not yet confirmed); delivered: the
# provider confirmed it reached the phone or mail server; failed: it could not be delivered.
OUTCOMES = {
    "sent": Q(status__in=[DeliveryStatus.SENT, DeliveryStatus.DELIVERED]),
    "delivered": Q(status=DeliveryStatus.DELIVERED),
    "failed": Q(status=DeliveryStatus.FAILED),
}
COLUMNS = [(channel, outcome) for channel in Channel.values for outcome in OUTCOMES]


@dataclass
class LedgerRow:
    user_id: int
    name: str
    counts: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def cells(self) -> list[int]:
        """The counts in ``COLUMNS``' order: SMS sent, delivered, failed, then e-mail's."""
        return [self.counts.get(column, 0) for column in COLUMNS]


def _members(company: Company):
    return (
        Membership.objects.filter(company=company)
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "user_id")
    )


def _since() -> datetime.datetime:
    return timezone.now() - datetime.timedelta(days=LEDGER_DAYS)


def _rows(company: Company, members: Sequence[Membership], since: datetime.datetime) -> list[LedgerRow]:
    rows = {m.user_id: LedgerRow(user_id=m.user_id, name=m.user.get_full_name()) for m in members}
    if not rows:
        return []
    counted = (
        Delivery.objects.filter(user_id__in=list(rows), company=company, purpose=Purpose.ALERT, created_at__gte=since)
        .order_by()
        .values("user_id", "channel")
        .annotate(**{outcome: Count("pk", filter=where) for outcome, where in OUTCOMES.items()})
    )
    for found in counted:
        for outcome in OUTCOMES:
            rows[found["user_id"]].counts[(found["channel"], outcome)] = found[outcome]
    return list(rows.values())


def ledger_page(*, company: Company, page: str | int | None) -> tuple[Page, list[LedgerRow]]:
    """A page of the company's users with their counts: 3 queries (count, the page, the counts)."""
    found = Paginator(_members(company), LEDGER_PAGE_SIZE).get_page(page)
    return found, _rows(company, list(found.object_list), _since())


def safe_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: a string starting with = + - @ (or a tab or carriage
    return, OWASP) would be read as a formula, so it gets a leading apostrophe. Numbers stay numbers."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _header() -> list[str]:
    labels = {"sent": _("skickade"), "delivered": _("levererade"), "failed": _("misslyckade")}
    channels = {Channel.SMS: _("Sms"), Channel.EMAIL: _("E-post")}
    return [_("Namn")] + [f"{channels[channel]} {labels[outcome]}" for channel, outcome in COLUMNS]


def ledger_csv_lines(*, company: Company) -> Iterator[str]:
    """The whole ledger as CSV for Excel: a UTF-8 byte-order mark, a header, one line per user; every text
    cell made safe (``safe_cell``). Users are counted ``CSV_CHUNK`` at a time, one query each."""
    since = _since()
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")  # Excel with Swedish settings splits on semicolons

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow([safe_cell(cell) for cell in _header()])
    yield "\ufeff" + flush()
    for chunk in _chunks(_members(company).iterator(chunk_size=CSV_CHUNK), CSV_CHUNK):
        for row in _rows(company, chunk, since):
            writer.writerow([safe_cell(row.name), *row.cells])
        yield flush()


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def ledger_filename(company: Company) -> str:
    """The export's file name: the organisation number, never the company's name; for a sole
    proprietorship (whose number is the owner's personnummer) the company's id instead."""
    ident = f"id{company.pk}" if company.is_sole_proprietorship else company.org_number
    return f"bevaka-utskick-{ident}-{timezone.localdate():%Y-%m-%d}.csv"
