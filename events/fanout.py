"""From one event to its alerts: who gets it (one SQL statement), the deliveries (one INSERT … SELECT),
the send-time re-check (PRODUCT.md rule 6), and the relay for events whose fan-out task was lost.

The recipients of event E (company C, case type T) are the verified contacts (user U, channel K) where
- U may use the service in C (``companies.access.memberships_with_service_access``: an active agreement,
  and unrestricted authority or *Hantera Bevaka ärenden*),
- C's active agreement includes T,
- U watches T in C by K,
- the destination is not suspended.
"""

from __future__ import annotations

import datetime
import functools
import logging
import unicodedata

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    DateTimeField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Lower
from django.template.loader import render_to_string
from django.utils import timezone, translation

from agreements.access import memberships_with_service_access
from agreements.models import Agreement
from bevaka.metrics import observe_many
from notifications.gsm import is_gsm7
from notifications.models import Channel, Delivery, DeliveryStatus, Purpose, SuspendedDestination
from notifications.sms import render_sms
from subscriptions.models import VerifiedContact, Watch

from .models import Event

log = logging.getLogger(__name__)

LANGUAGES = ("sv", "en")


def _watching(*, user, company_id, case_type_id, channel: str):
    watches = Watch.objects.filter(user=user, company_id=company_id, case_type_id=case_type_id)
    return watches.filter(by_sms=True) if channel == Channel.SMS else watches.filter(by_email=True)


def _destination_key():
    """A contact's destination as deliveries and suspensions store it (e-mail lower-cased)."""
    return Case(When(channel=Channel.EMAIL, then=Lower("destination")), default=F("destination"))


def recipients(*, company_id: int, case_type_id: int) -> QuerySet[VerifiedContact]:
    """The verified contacts an event for this company and case type goes to now, as one query."""
    return VerifiedContact.objects.annotate(destination_key=_destination_key()).filter(
        Exists(memberships_with_service_access().filter(user=OuterRef("user"), company_id=company_id)),
        Exists(
            Agreement.objects.filter(company_id=company_id, status=Agreement.Status.ACTIVE, case_types=case_type_id)
        ),
        Q(channel=Channel.SMS)
        & Exists(_watching(user=OuterRef("user"), company_id=company_id, case_type_id=case_type_id, channel="sms"))
        | Q(channel=Channel.EMAIL)
        & Exists(_watching(user=OuterRef("user"), company_id=company_id, case_type_id=case_type_id, channel="email")),
        ~Exists(
            SuspendedDestination.objects.filter(channel=OuterRef("channel"), destination=OuterRef("destination_key"))
        ),
    )


def _gsm7_name(name: str) -> str:
    """A company name an SMS can carry in GSM-7: accents outside it dropped (Ł → L), anything else "?"."""
    text = []
    for character in name:
        if is_gsm7(character):
            text.append(character)
            continue
        base = unicodedata.normalize("NFKD", character)[:1]
        text.append(base if base and is_gsm7(base) else "?")
    return "".join(text)


def alert_texts(event: Event) -> dict[tuple[str, str], dict[str, str]]:
    """The alert's subject and bodies per (language, channel): company name and kind of case only."""
    return _alert_texts(event.company.name, event.case_type.name_sv, event.case_type.name_en)


@functools.lru_cache(maxsize=2048)
def _alert_texts(company_name: str, name_sv: str, name_en: str) -> dict[tuple[str, str], dict[str, str]]:
    # Rendering six templates per event showed in the fan-out's profile; the same company and case type
    # give the same texts, so a worker renders them once (callers must not change the dict).
    texts = {}
    for language in LANGUAGES:
        case_type = name_en if language == "en" else name_sv
        context = {"company": company_name, "case_type": case_type}
        with translation.override(language):
            texts[(language, Channel.SMS)] = {
                "subject": case_type,
                "body": render_sms("alert", {**context, "company": _gsm7_name(company_name)}),
                "html_body": "",
            }
            texts[(language, Channel.EMAIL)] = {
                "subject": case_type,
                "body": render_to_string("events/email/alert.txt", context).strip() + "\n",
                "html_body": render_to_string("events/email/alert.html", context),
            }
    return texts


def _by_language_and_channel(texts, part: str, output_field):
    whens = [
        When(user__language=language, channel=channel, then=Value(value[part], output_field=output_field))
        for (language, channel), value in texts.items()
        if language != "sv"
    ]
    default = Case(
        When(channel=Channel.SMS, then=Value(texts[("sv", Channel.SMS)][part], output_field=output_field)),
        default=Value(texts[("sv", Channel.EMAIL)][part], output_field=output_field),
    )
    return Case(*whens, default=default, output_field=output_field)


def _insert_statement(
    *, event_id: int, company_id: int, case_type_id: int, texts, now: datetime.datetime
) -> tuple[str, list]:
    """INSERT INTO delivery (…) SELECT … FROM the recipients who have no alert of this event yet RETURNING
    id, built with the ORM (the access rule stays ``companies.access``'s): the SQL and its parameters.

    The recipients who already have one are left out by the SELECT (an anti-join on the event's rows, of
    which there are none but after an inconsistency), not by ``ON CONFLICT DO NOTHING``: its speculative
    insertion cost every row an extra check of the unique index, a fifth of the statement's time for
    20,000 rows (docs/PERFORMANCE.md, "Third round"). The unique index still refuses a duplicate, which
    the event's row lock leaves no room for."""
    columns = {
        "event_id": Value(event_id, output_field=IntegerField()),
        "user_id": F("user_id"),
        "company_id": Value(company_id, output_field=IntegerField()),
        "channel": F("channel"),
        "destination": F("destination_key"),
        "purpose": Value(Purpose.ALERT, output_field=CharField()),
        "subject": _by_language_and_channel(texts, "subject", CharField()),
        "body": _by_language_and_channel(texts, "body", TextField()),
        "html_body": _by_language_and_channel(texts, "html_body", TextField()),
        "unsubscribe_url": Value("", output_field=CharField()),
        "status": Value(DeliveryStatus.QUEUED, output_field=CharField()),
        "attempts": Value(0, output_field=IntegerField()),
        "ambiguous_resends": Value(0, output_field=IntegerField()),
        "provider_id": Value("", output_field=CharField()),
        "provider_status": Value("", output_field=CharField()),
        "error_code": Value("", output_field=CharField()),
        "last_error": Value("", output_field=TextField()),
        "next_attempt_at": Value(now, output_field=DateTimeField()),
        "relayed_at": Value(now, output_field=DateTimeField()),
        "created_at": Value(now, output_field=DateTimeField()),
        "updated_at": Value(now, output_field=DateTimeField()),
    }
    aliases = {f"col_{name}": expression for name, expression in columns.items()}
    already = Delivery.objects.filter(event_id=event_id, user_id=OuterRef("user_id"), channel=OuterRef("channel"))
    select = (
        recipients(company_id=company_id, case_type_id=case_type_id)
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
    sql = f"INSERT INTO {table} ({target}) {select_sql} RETURNING {quote('id')}"
    return sql, list(params)


# Building and compiling that statement with the ORM costs more CPU than PostgreSQL spends running it
# for a small event (the profile in docs/PERFORMANCE.md). Its shape never changes, only its values: build
# it once per process with placeholder values that cannot occur, then put each event's values in.
_EVENT_ID, _COMPANY_ID, _CASE_TYPE_ID = -7_000_000_001, -7_000_000_002, -7_000_000_003
_NOW = datetime.datetime(1901, 2, 3, 4, 5, 6, 789, tzinfo=datetime.UTC)
_statement_template: tuple[str, list] | None = None


def _placeholder(language: str, channel: str, part: str) -> str:
    return f"\x00bevaka-fanout:{language}:{channel}:{part}"


def _prepared_statement(event: Event, now: datetime.datetime, texts) -> tuple[str, list]:
    global _statement_template
    if _statement_template is None:
        placeholders = {key: {part: _placeholder(*key, part) for part in value} for key, value in texts.items()}
        _statement_template = _insert_statement(
            event_id=_EVENT_ID, company_id=_COMPANY_ID, case_type_id=_CASE_TYPE_ID, texts=placeholders, now=_NOW
        )
    sql, template_params = _statement_template
    values = {_EVENT_ID: event.pk, _COMPANY_ID: event.company_id, _CASE_TYPE_ID: event.case_type_id, _NOW: now}
    for key, value in texts.items():
        for part, text in value.items():
            values[_placeholder(*key, part)] = text
    params = []
    for param in template_params:
        # Only our placeholders are replaced; every other parameter (constants of the rule) stays.
        if isinstance(param, int | str | datetime.datetime) and not isinstance(param, bool) and param in values:
            param = values[param]
        params.append(param)
    return sql, params


def _insert_deliveries(event: Event, now: datetime.datetime) -> list[int]:
    """Insert the event's deliveries in one statement, whatever the number of recipients; a second run
    inserts nothing. Returns the new ids."""
    sql, params = _prepared_statement(event, now, alert_texts(event))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _publish_sends(delivery_ids: list[int]) -> None:
    """Hand the new deliveries to the channel layer in batches (ids only). A lost publish is not lost
    work: the notifications relay publishes queued rows again after its lease."""
    from notifications import tasks

    size = settings.NOTIFICATIONS_BATCH_SIZE
    try:
        for start in range(0, len(delivery_ids), size):
            tasks.send_batch.delay(delivery_ids=delivery_ids[start : start + size])
    except Exception:
        log.warning("could not publish %d alert deliveries; the relay will", len(delivery_ids))


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
        if not events:
            return []
        now = timezone.now()
        created = {event.pk: _insert_deliveries(event, now) for event in events}
        Event.objects.filter(pk__in=list(created)).update(
            fanned_out_at=now,
            recipient_count=Case(
                *[When(pk=pk, then=Value(len(ids))) for pk, ids in created.items()], output_field=IntegerField()
            ),
        )
        delivery_ids = [delivery_id for ids in created.values() for delivery_id in ids]
        if delivery_ids:
            transaction.on_commit(lambda: _publish_sends(delivery_ids))
    log.info("%d events fanned out to %d deliveries", len(events), len(delivery_ids))
    observe_many("bevaka_fanout_latency_seconds", [((now - e.received_at).total_seconds(), {}) for e in events])
    return delivery_ids


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


def alert_stop_reasons(deliveries) -> dict[int, str]:
    """Why each of these event alerts must not be sent now (only those that must not), as one query for
    the whole batch: the access rule, the agreement (active, including the type), the watch on the
    delivery's channel and the verified destination, as they are now."""
    if not deliveries:
        return {}
    watch = Watch.objects.filter(
        user=OuterRef("user"), company=OuterRef("company"), case_type=OuterRef("event__case_type")
    )
    contact = VerifiedContact.objects.annotate(destination_key=_destination_key()).filter(
        user=OuterRef("user"), channel=OuterRef("channel"), destination_key=OuterRef("destination")
    )
    rows = (
        Delivery.objects.filter(pk__in=[d.pk for d in deliveries])
        .annotate(
            has_access=Exists(
                memberships_with_service_access().filter(user=OuterRef("user"), company=OuterRef("company"))
            ),
            included=Exists(
                Agreement.objects.filter(
                    company=OuterRef("company"), status=Agreement.Status.ACTIVE, case_types=OuterRef("event__case_type")
                )
            ),
            watching_sms=Exists(watch.filter(by_sms=True)),
            watching_email=Exists(watch.filter(by_email=True)),
            verified=Exists(contact),
        )
        .values_list("pk", "channel", "has_access", "included", "watching_sms", "watching_email", "verified")
        .order_by()
    )
    reasons = {}
    for pk, channel, has_access, included, watching_sms, watching_email, verified in rows:
        watching = watching_sms if channel == Channel.SMS else watching_email
        if not included:
            reasons[pk] = STOP_NOT_INCLUDED
        elif not has_access:
            reasons[pk] = STOP_NO_ACCESS
        elif not watching:
            reasons[pk] = STOP_NO_WATCH
        elif not verified:
            reasons[pk] = STOP_DESTINATION
    return reasons


def alert_stop_reason(delivery: Delivery) -> str | None:
    """Why this event alert must not be sent now, or None (``alert_stop_reasons`` for one; one query)."""
    return alert_stop_reasons([delivery]).get(delivery.pk)
