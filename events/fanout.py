"""From one event to its alerts: who gets it (one SQL statement), the deliveries (one INSERT … SELECT),
the send-time re-check (PRODUCT.md rule 6), and the relay for events whose fan-out task was lost.

Who may receive an alert is ``events.eligibility``'s to say; this module applies it to an event's company
and case type (the fan-out) and to queued alerts (the send-time check).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    DateTimeField,
    Exists,
    Expression,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.utils import timezone

from bevaka.metrics import observe_many
from companies.models import Membership
from notifications.models import Channel, Delivery, DeliveryStatus, Purpose
from notifications.services import publish_sends
from subscriptions.models import VerifiedContact

from . import eligibility
from .models import Event, FanoutDecision
from .texts import LANGUAGES, alert_texts

log = logging.getLogger(__name__)


def recipients(*, company_id, case_type_id) -> QuerySet[VerifiedContact]:
    """The verified contacts an event for this company and case type goes to now, as one query: every
    condition of ``eligibility`` holds (the rows are the verified contacts themselves)."""
    where = eligibility.conditions(
        user=OuterRef("user"),
        company=company_id,
        case_type=case_type_id,
        channel=OuterRef("channel"),
        destination=OuterRef("destination_key"),
    )
    del where["verified"]
    return VerifiedContact.objects.annotate(destination_key=eligibility.destination_key()).filter(*where.values())


class Parameter(Expression):
    """A named parameter of the fan-out's statement, bound to a value at each run (``_bind``): the
    statement is compiled once per process with these in place of the event's values."""

    def __init__(self, name: str, output_field) -> None:
        super().__init__(output_field=output_field)
        self.name = name

    def __repr__(self) -> str:
        return f"Parameter({self.name!r})"

    def as_sql(self, compiler, connection):
        return "%s", [self]


def _text(language: str, channel: str, part: str, output_field) -> Parameter:
    return Parameter(f"{language}:{channel}:{part}", output_field)


def _by_language_and_channel(part: str, output_field):
    whens = [
        When(user__alert_language=language, channel=channel, then=_text(language, channel, part, output_field))
        for language in LANGUAGES
        if language != "sv"
        for channel in Channel.values
    ]
    default = Case(
        When(channel=Channel.SMS, then=_text("sv", Channel.SMS, part, output_field)),
        default=_text("sv", Channel.EMAIL, part, output_field),
    )
    return Case(*whens, default=default, output_field=output_field)


def _insert_statement() -> tuple[str, list]:
    """INSERT INTO delivery (…) SELECT … FROM the recipients who have no alert of this event yet RETURNING
    id, channel and event, built with the ORM: its SQL, and its parameters with a ``Parameter`` where a
    run's value goes.

    The recipients who already have one are left out by the SELECT (an anti-join on the event's rows, of
    which there are none but after an inconsistency), not by ``ON CONFLICT DO NOTHING``: its speculative
    insertion cost every row an extra check of the unique index, a fifth of the statement's time for
    20,000 rows (docs/PERFORMANCE.md, "Third round"). The unique index still refuses a duplicate, which
    the event's row lock leaves no room for."""
    event_id = Parameter("event_id", IntegerField())
    now = Parameter("now", DateTimeField())
    columns = {
        "event_id": event_id,
        "user_id": F("user_id"),
        "company_id": Parameter("company_id", IntegerField()),
        "channel": F("channel"),
        "destination": F("destination_key"),
        "purpose": Value(Purpose.ALERT, output_field=CharField()),
        "subject": _by_language_and_channel("subject", CharField()),
        "body": _by_language_and_channel("body", TextField()),
        "html_body": _by_language_and_channel("html_body", TextField()),
        "unsubscribe_url": Value("", output_field=CharField()),
        "status": Value(DeliveryStatus.QUEUED, output_field=CharField()),
        "attempts": Value(0, output_field=IntegerField()),
        "ambiguous_resends": Value(0, output_field=IntegerField()),
        "provider_id": Value("", output_field=CharField()),
        "provider_status": Value("", output_field=CharField()),
        "error_code": Value("", output_field=CharField()),
        "last_error": Value("", output_field=TextField()),
        "next_attempt_at": now,
        "relayed_at": now,
        "created_at": now,
        "updated_at": now,
    }
    aliases = {f"col_{name}": expression for name, expression in columns.items()}
    already = Delivery.objects.filter(event_id=event_id, user_id=OuterRef("user_id"), channel=OuterRef("channel"))
    select = (
        recipients(
            company_id=Parameter("company_id", IntegerField()), case_type_id=Parameter("case_type_id", IntegerField())
        )
        .exclude(Exists(already))
        .annotate(**aliases)
        .values_list(*aliases)
        .order_by()
    )
    compiler = select.query.get_compiler(connection=connection)
    select_sql, params = compiler.as_sql()
    # The SELECT list in the order the compiler emitted it, mapped back to Delivery's columns.
    emitted = [alias for _expression, _sql, alias in compiler.select]
    assert sorted(emitted) == sorted(aliases), emitted
    quote = connection.ops.quote_name
    target = ", ".join(quote(alias.removeprefix("col_")) for alias in emitted)
    table = quote(Delivery._meta.db_table)
    returning = ", ".join(quote(column) for column in ("id", "channel", "event_id"))
    return f"INSERT INTO {table} ({target}) {select_sql} RETURNING {returning}", list(params)


# Building and compiling that statement with the ORM costs more CPU than PostgreSQL spends running it for
# a small event (the profile in docs/PERFORMANCE.md), and only its values change: it is compiled once per
# process and database vendor, and each run binds its values to the ``Parameter``s.
_statements: dict[str, tuple[str, list]] = {}


def _bind(params: Sequence, values: dict[str, object]) -> list:
    """The statement's parameters with each ``Parameter`` replaced by its value (found by what it is, never
    by what it looks like: a constant of the rule is left as it is)."""
    return [values[param.name] if isinstance(param, Parameter) else param for param in params]


def _insert_sql(size: int) -> tuple[str, list]:
    """The deliveries' INSERT for ``size`` events: the one event's SELECT ``size`` times, joined by UNION
    ALL (without parentheses, which SQLite refuses around a compound's parts), each with its own run's
    parameters. Only the compiled strings are joined: no ORM work per size."""
    if connection.vendor not in _statements:
        _statements[connection.vendor] = _insert_statement()
    key = f"{connection.vendor}:{size}"
    if key not in _statements:
        sql, params = _statements[connection.vendor]
        head, select = sql.split(" SELECT ", 1)
        select, returning = select.rsplit(" RETURNING ", 1)
        _statements[key] = (f"{head} {' UNION ALL '.join(['SELECT ' + select] * size)} RETURNING {returning}", params)
    return _statements[key]


def _insert_deliveries(events: Sequence[Event], now: datetime.datetime) -> dict[int, list[tuple[int, str]]]:
    """Insert these events' deliveries, whatever the number of recipients, in one statement for up to
    ``_DECISION_BATCH`` events (the same query count for one event as for 32); a second run inserts
    nothing. Returns each event's new delivery ids, each with its channel (the lane it is sent from)."""
    created: dict[int, list[tuple[int, str]]] = {event.pk: [] for event in events}
    # As the backend stores a datetime (SQLite: naive UTC text), as the ORM would have adapted it.
    stamp = connection.ops.adapt_datetimefield_value(now)
    for start in range(0, len(events), _DECISION_BATCH):
        chunk = events[start : start + _DECISION_BATCH]
        sql, params = _insert_sql(len(chunk))
        bound = []
        for event in chunk:
            values = {
                "event_id": event.pk,
                "company_id": event.company_id,
                "case_type_id": event.case_type_id,
                "now": stamp,
            }
            for (language, channel), texts in alert_texts(event).items():
                values.update({f"{language}:{channel}:{part}": text for part, text in texts.items()})
            bound += _bind(params, values)
        with connection.cursor() as cursor:
            cursor.execute(sql, bound)
            for pk, channel, event_id in cursor.fetchall():
                created[event_id].append((pk, channel))
    return created


def _decision_statement(size: int) -> tuple[str, list]:
    """INSERT INTO FanoutDecision … SELECT, for the members of the companies of ``size`` events (each event id
    a ``Parameter``): why each member who misses an event's alert on a channel misses it, the first unmet
    condition's name per channel, from ``eligibility``'s conditions. Members who get it on both channels get
    no row."""
    event_ids = [Parameter(f"event:{n}", IntegerField()) for n in range(size)]
    members = Membership.objects.filter(company__events__pk__in=event_ids).annotate(
        decided_event=F("company__events__pk"),
        decided_case_type=F("company__events__case_type"),
        decided_user=F("user"),
    )
    # A second run (after an inconsistency; the event lock leaves no other) keeps what was decided first.
    recorded = FanoutDecision.objects.filter(event=OuterRef("decided_event"), user=OuterRef("user"))
    members = members.exclude(Exists(recorded))
    members = eligibility.first_unmet_by_channel(
        members, company=OuterRef("company"), case_type=OuterRef("decided_case_type")
    )
    select_sql, params = members.values("decided_event", "decided_user", *_UNMET).order_by().query.sql_with_params()
    quote = connection.ops.quote_name
    missed = " OR ".join(f"{quote(column)} <> ''" for column in _UNMET)
    # Only quoted identifiers and the ORM's compiled SELECT are formatted in; every value is a parameter.
    sql = (
        f"INSERT INTO {quote(FanoutDecision._meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(column) for column in _DECISION_COLUMNS)}) "
        f"SELECT {', '.join(quote(column) for column in ('decided_event', 'decided_user', *_UNMET))} "
        f"FROM ({select_sql}) {quote('decided')} WHERE {missed}"
    )
    return sql, list(params)


# Like the deliveries' INSERT, the decisions' statement is compiled once per process (building it with the
# ORM cost ~0.1 s of CPU, four times what PostgreSQL spends running it for 20 small events: make bench-quick's
# many-events scenario lost a third of its rate to it), for batches of 1, 2, 4, … up to this many events; a
# smaller batch repeats its first id to fill the statement (an id twice in IN selects its event once).
_DECISION_BATCH = 32
_decision_statements: dict[tuple[str, int], tuple[str, list]] = {}


def _record_decisions(event_ids: list[int]) -> None:
    """Record why each member of these events' companies who misses an event's alert on a channel misses it
    (``FanoutDecision``), in the transaction of the deliveries, so that "why (not)?" explains a past event as
    it was decided (issue 18): one statement per ``_DECISION_BATCH`` events."""
    for start in range(0, len(event_ids), _DECISION_BATCH):
        chunk = event_ids[start : start + _DECISION_BATCH]
        size = 1 << (len(chunk) - 1).bit_length()  # the next power of two
        key = (connection.vendor, size)
        if key not in _decision_statements:
            _decision_statements[key] = _decision_statement(size)
        sql, params = _decision_statements[key]
        padded = chunk + [chunk[0]] * (size - len(chunk))
        with connection.cursor() as cursor:
            cursor.execute(sql, _bind(params, {f"event:{n}": event_id for n, event_id in enumerate(padded)}))


_UNMET = [f"{channel}_unmet" for channel in Channel.values]
_DECISION_COLUMNS = ["event_id", "user_id", *(f"{channel}_reason" for channel in Channel.values)]


def fan_out(*, event_id: int) -> list[int]:
    """Create the event's deliveries and publish their sends after commit; returns the new delivery ids.

    Runs once per event: the event row is locked and ``fanned_out_at`` set in the same transaction as the
    insert, so a second run (a redelivered task, the relay) finds it done and does nothing; and a second
    insert leaves out the recipients who have the alert (unique per event, user and channel). Three
    queries, for any number of recipients. An event that is gone returns quietly.
    """
    return fan_out_events(event_ids=[event_id])


def fan_out_events(*, event_ids: list[int]) -> list[int]:
    """``fan_out`` for several events in one transaction, with the sends of all of them published
    together in full batches afterwards: a batch of small events becomes a few send tasks instead of
    one per event, and costs one INSERT per event plus two statements (the lock and one UPDATE marking
    them all fanned out) instead of three statements and a commit per event (docs/PERFORMANCE.md).

    As for one event: the events are locked (in id order, so two tasks cannot deadlock) and marked in
    the transaction of their inserts, so a redelivered task or the relay does nothing twice. An error in
    one event rolls the whole task back; the relay then publishes each of them again on its own.
    The sends are published after the commit; one lost there is found by the notifications relay."""
    with transaction.atomic():
        events = list(
            Event.objects.select_for_update(of=("self",))
            .select_related("company", "case_type")
            .filter(pk__in=event_ids, fanned_out_at__isnull=True)
            .order_by("pk")
        )
        return fan_out_locked(events)


def fan_out_locked(events: Sequence[Event]) -> list[int]:
    """Fan out these events, locked by the caller's transaction (with their company and case type): one
    INSERT of the deliveries and one of the decisions per ``_DECISION_BATCH`` events, one UPDATE marking
    them fanned out, and their sends published after the commit. Returns the new delivery ids."""
    if not events:
        return []
    now = timezone.now()
    created = _insert_deliveries(events, now)
    _record_decisions(list(created))
    Event.objects.filter(pk__in=list(created)).update(
        fanned_out_at=now,
        recipient_count=Case(
            *[When(pk=pk, then=Value(len(rows))) for pk, rows in created.items()], output_field=IntegerField()
        ),
    )
    sends = [(pk, Purpose.ALERT, channel) for rows in created.values() for pk, channel in rows]
    if sends:
        transaction.on_commit(lambda: publish_sends(sends))
    log.info("%d events fanned out to %d deliveries", len(events), len(sends))
    observe_many("bevaka_fanout_latency_seconds", [((now - e.received_at).total_seconds(), {}) for e in events])
    return [pk for pk, _purpose, _channel in sends]


def relay_unfanned_events(*, limit: int = 500) -> list[int]:
    """Publish the fan-out again for events not fanned out within ``EVENTS_FANOUT_LEASE_SECONDS`` of their
    last publish (a lost task, a lost on_commit, a worker killed mid-fan-out). Rows are taken with
    ``SKIP LOCKED`` so that two relays never take the same event. Returns the event ids published."""
    from . import tasks

    now = timezone.now()
    lease = now - datetime.timedelta(seconds=settings.EVENTS_FANOUT_LEASE_SECONDS)
    with transaction.atomic():
        due = list(
            Event.objects.select_for_update(skip_locked=True)
            .filter(fanned_out_at__isnull=True)
            .filter(Q(fanout_published_at__isnull=True) | Q(fanout_published_at__lt=lease))
            .order_by("received_at")
            .values_list("pk", flat=True)[:limit]
        )
        if due:
            Event.objects.filter(pk__in=due).update(fanout_published_at=now)

            def publish() -> None:
                try:
                    for event_id in due:
                        tasks.fan_out.delay(event_id=event_id)
                except Exception:
                    log.warning("could not publish %d fan-outs; the next relay will", len(due))

            transaction.on_commit(publish)
    if due:
        log.info("fan-out relay: %d events published again", len(due))
    return due


# --- At send time (PRODUCT.md rule 6) -------------------------------------------------------------------

STOP_NO_ACCESS = "cancelled at send time: the user no longer has access to Bevaka ärenden in the company"
STOP_NOT_INCLUDED = "cancelled at send time: the company's agreement has ended or no longer includes the case type"
STOP_NO_WATCH = "cancelled at send time: the user no longer watches the case type by this channel"
STOP_DESTINATION = "cancelled at send time: the destination is no longer the user's verified one"
_STOPS = {
    "included": STOP_NOT_INCLUDED,
    "has_access": STOP_NO_ACCESS,
    "watching": STOP_NO_WATCH,
    "verified": STOP_DESTINATION,
}


def alert_stop_reasons(deliveries: Sequence[Delivery]) -> dict[int, str]:
    """Why each of these event alerts must not be sent now (only those that must not), as one query for
    the whole batch: ``eligibility``'s conditions as they are now, the first that fails. A suspended
    destination is left to the sending engine, which stops every purpose's sends to it with the
    suspension's own reason and error code. Registered as the alerts' send-time check (``apps.py``)."""
    alerts = [d.pk for d in deliveries if d.event_id is not None]
    if not alerts:
        return {}
    rows = (
        Delivery.objects.filter(pk__in=alerts)
        .annotate(**eligibility.for_deliveries())
        .values("pk", "event__received_at", *_STOPS)
        .order_by()
    )
    reasons, received = {}, {}
    for row in rows:
        received[row["pk"]] = row["event__received_at"]
        if unmet := eligibility.first_unmet(row, _STOPS):
            reasons[row["pk"]] = _STOPS[unmet]
    for delivery in deliveries:
        # For the latency metric once it is sent (``observe_alerts_sent``), as an annotation would be.
        delivery.event_received_at = received.get(delivery.pk)
    return reasons


def alert_stop_reason(delivery: Delivery) -> str | None:
    """Why this event alert must not be sent now, or None (``alert_stop_reasons`` for one; one query)."""
    return alert_stop_reasons([delivery]).get(delivery.pk)


def observe_alerts_sent(sent: Sequence[tuple[Delivery, datetime.datetime]]) -> None:
    """The event → provider latency of these accepted alerts, per channel. The send-time check read their
    events' times (``alert_stop_reasons``); an alert it did not see costs one query for all of them.
    Registered as the alerts' observer of sends (``apps.py``)."""
    sent = [(delivery, at) for delivery, at in sent if delivery.event_id is not None]
    unseen = {d.event_id for d, _ in sent if getattr(d, "event_received_at", None) is None}
    received = dict(Event.objects.filter(pk__in=unseen).values_list("pk", "received_at")) if unseen else {}
    latencies = []
    for delivery, at in sent:
        event_at = getattr(delivery, "event_received_at", None) or received.get(delivery.event_id)
        if event_at is not None:
            latencies.append(((at - event_at).total_seconds(), {"channel": delivery.channel}))
    if latencies:
        observe_many("bevaka_event_to_provider_seconds", latencies)
