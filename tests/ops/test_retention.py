"""Data retention: old deliveries and events are anonymised in bulk, idempotently; the audit log is kept."""

import datetime
import os

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit import services as audit
from audit.models import AuditEntry
from events.retention import anonymise_old_records
from harness import MANAGE, run_command
from notifications.models import Delivery, DeliveryStatus

pytestmark = pytest.mark.django_db

OLD = datetime.timedelta(days=181)
RECENT = datetime.timedelta(days=179)


def test_it_anonymises_finished_deliveries_older_than_the_retention_period(make_delivery, make_event):
    event = make_event(age=OLD)
    old = make_delivery(age=OLD, event=event)
    old_failed = make_delivery(age=OLD, status=DeliveryStatus.FAILED, channel="email", destination="anna@example.se")
    recent = make_delivery(age=RECENT)

    result = anonymise_old_records()

    assert result.deliveries == 2
    for delivery in (old, old_failed):
        delivery.refresh_from_db()
        assert delivery.destination == delivery.body == delivery.subject == delivery.html_body == ""
        assert delivery.unsubscribe_url == delivery.provider_id == delivery.last_error == ""
        assert delivery.user_id is None
    # What statistics need stays: channel, status, error code, times, the event and company.
    old_failed.refresh_from_db()
    assert (old_failed.channel, old_failed.status, old_failed.error_code) == ("email", "failed", "30003")
    old.refresh_from_db()
    assert old.event_id == event.pk and old.company_id == event.company_id
    recent.refresh_from_db()
    assert recent.destination == "+46701234567" and recent.body and recent.user_id


def test_it_clears_the_reference_of_old_events_only(make_event):
    old, recent = make_event(age=OLD), make_event(age=RECENT)
    result = anonymise_old_records()
    assert result.events == 1
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.reference == "" and old.external_id  # the source's id stays: it answers a repeated POST
    assert recent.reference == "faktura 4711"


def test_a_delivery_still_on_its_way_is_left_alone_however_old(make_delivery):
    queued = make_delivery(age=OLD, status=DeliveryStatus.QUEUED)
    sending = make_delivery(age=OLD, status=DeliveryStatus.SENDING)
    assert anonymise_old_records().deliveries == 0
    for delivery in (queued, sending):
        delivery.refresh_from_db()
        assert delivery.destination == "+46701234567"


def test_a_second_run_changes_nothing(make_delivery, make_event):
    make_delivery(age=OLD, event=make_event(age=OLD))
    anonymise_old_records()
    before = list(Delivery.objects.values())
    again = anonymise_old_records()
    assert (again.deliveries, again.events) == (0, 0)
    assert list(Delivery.objects.values()) == before


def test_it_updates_in_bulk_batches_not_row_by_row(make_delivery, settings):
    settings.RETENTION_BATCH_SIZE = 10
    for _ in range(25):
        make_delivery(age=OLD)
    with CaptureQueriesContext(connection) as queries:
        result = anonymise_old_records()
    assert result.deliveries == 25
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('UPDATE "notifications_delivery"')]
    assert len(updates) == 3  # 10 + 10 + 5, whatever the number of rows per batch


def test_audit_entries_are_kept_untouched(make_delivery):
    audit.record(action="agreement.connected", actor=None, company=None)
    make_delivery(age=OLD)
    before = list(AuditEntry.objects.values())
    with CaptureQueriesContext(connection) as queries:
        anonymise_old_records(older_than_days=90)
    assert list(AuditEntry.objects.values()) == before
    assert not [q for q in queries.captured_queries if "audit_" in q["sql"]]


def test_it_refuses_a_period_shorter_than_the_alert_history(make_delivery):
    with pytest.raises(ValueError, match="90 days"):
        anonymise_old_records(older_than_days=30)
    with pytest.raises(CommandError, match="90 days"):
        call_command("anonymise_old_records", "--days", "30")


def test_the_command_reports_what_it_did(make_delivery, capsys):
    make_delivery(age=OLD)
    call_command("anonymise_old_records")
    assert "anonymised 1 deliveries and 0 events" in capsys.readouterr().out


def test_beat_runs_it_daily_by_its_task_name(settings):
    """events.retention: partitions dropped on PostgreSQL, rows anonymised on SQLite (events.retention);
    partitions made ahead daily, short-lived rows purged hourly."""
    from bevaka.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["retention-anonymise"]
    assert entry["task"] == "events.retention"
    assert entry["schedule"] == 24 * 60 * 60
    assert settings.CELERY_BEAT_SCHEDULE["partitions-ensure"]["task"] == "events.ensure_partitions"
    assert settings.CELERY_BEAT_SCHEDULE["purge-short-lived"]["task"] == "events.purge_short_lived"
    app.loader.import_default_modules()
    for name in ("retention-anonymise", "partitions-ensure", "purge-short-lived"):
        assert settings.CELERY_BEAT_SCHEDULE[name]["task"] in app.tasks


def test_the_settings_refuse_a_retention_period_below_90_days():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bevaka.settings", "RETENTION_DAYS": "30"}
    result = run_command([*MANAGE, "check"], env=env)
    assert result.returncode != 0
    assert "RETENTION_DAYS must be at least 90" in result.stdout


def test_the_purge_deletes_expired_codes_and_old_orders_without_evidence_and_keeps_evidence(demo):
    import uuid

    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from events.retention import purge_short_lived
    from signing.models import SignatureOrder
    from subscriptions.models import ContactVerification
    from tests.agreements.conftest import make_evidence

    now = timezone.now()
    long_ago = now - datetime.timedelta(days=30)

    def code(expires_at):
        return ContactVerification.objects.create(
            user=demo.bertil, channel="sms", destination="+46701234567", code_hash="x", expires_at=expires_at
        )

    expired, live = code(now - datetime.timedelta(days=2)), code(now + datetime.timedelta(minutes=5))
    evidence = make_evidence(demo.anna, "innehåll")
    SignatureOrder.objects.filter(pk=evidence.order_id).update(expires_at=long_ago, finished_at=long_ago)
    old_order = SignatureOrder.objects.create(
        user=demo.anna,
        method="security_token",
        purpose="p",
        visible_text="t",
        content_sha256="0" * 64,
        return_url="/",
        end_user_ip="127.0.0.1",
        nonce=uuid.uuid4().hex,
        expires_at=long_ago,
        status=SignatureOrder.Status.FAILED,
        finished_at=long_ago,
    )
    Session.objects.create(session_key="old", session_data="", expire_date=now - datetime.timedelta(days=1))

    assert purge_short_lived() == {"verification_codes": 1, "signing_orders": 1}
    assert not ContactVerification.objects.filter(pk=expired.pk).exists()
    assert ContactVerification.objects.filter(pk=live.pk).exists()
    assert not SignatureOrder.objects.filter(pk=old_order.pk).exists()
    assert SignatureOrder.objects.filter(pk=evidence.order_id).exists()  # evidence is kept, and its order
    assert not Session.objects.filter(session_key="old").exists()
