"""Quiet hours and the e-mail fallback as a user meets them (issue 23), in Chromium, with a real Celery worker
and beat, the fake Twilio (its status callbacks reach the live server) and a real SMTP sink.

The clock is the seam every process reads (``BEVAKA_CLOCK_FILE``, bevaka/clock.py): the test walks it to
the window's end; nothing of the pipeline is mocked.
"""

import datetime
import os
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from bevaka import clock
from events.services import clean_events, record_events
from harness import ProcessGroup
from notifications.models import Delivery, DeliveryStatus, Purpose
from tests.events.conftest import Source, event
from tests.notifications.conftest import notification_settings, start_fake_twilio, wait_for
from tests.subscriptions.test_watches import connect, verify

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

STOCKHOLM = ZoneInfo("Europe/Stockholm")


@pytest.fixture(scope="module")
def clock_file(tmp_path_factory):
    return str(tmp_path_factory.mktemp("clock") / "now")


@pytest.fixture(scope="module")
def quiet_pipeline(django_db_setup, django_db_blocker, live_server, clock_file, tmp_path_factory):
    """Worker and beat on the test database with the clock file, short release and fallback intervals, the
    module's own fake Twilio (callbacks to the live server) and SMTP sink."""
    from django.db import connection

    from bevaka.celery import app
    from notifications.fakes.smtp_sink import SmtpSink

    twilio = start_fake_twilio()
    sink = SmtpSink().start()
    with django_db_blocker.unblock():
        db = connection.settings_dict
    values = notification_settings(fake_url=twilio.url, sink_port=sink.port, public_base_url=live_server.url)
    values.update(
        {
            "BEVAKA_CLOCK_FILE": clock_file,
            "QUIET_HOURS_RELEASE_INTERVAL": 0.5,
            "SMS_FALLBACK_INTERVAL": 0.5,
            "SMS_RATE_PER_SECOND": 0,
            "EMAIL_RATE_PER_SECOND": 0,
            "NOTIFICATIONS_SENDING_TIMEOUT": 15.0,
        }
    )
    env = {
        **os.environ,
        **{key: str(value) for key, value in values.items()},
        "DJANGO_SETTINGS_MODULE": "bevaka.settings_test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/13"),
        "CELERY_BEAT_SCHEDULE_FILENAME": str(tmp_path_factory.mktemp("quiet-beat") / "schedule"),
    }
    app.control.purge()
    processes = ProcessGroup(env=env)
    try:
        processes.worker(name=f"quiet-{os.getpid()}", concurrency=2, wait=False)
        processes.beat(wait=False)
        processes.wait_ready()
        yield type("QuietPipeline", (), {"twilio": twilio, "sink": sink, "settings": values})
    finally:
        processes.close()
        app.control.purge()
        twilio.process.stop()
        sink.stop()


@pytest.fixture
def quiet(quiet_pipeline, settings):
    for key, value in quiet_pipeline.settings.items():
        setattr(settings, key, value)
    quiet_pipeline.twilio.reset()
    quiet_pipeline.sink.reset()
    return quiet_pipeline


def send(source, *payloads):
    """Events from the bank's core system: stored, their fan-out published to the worker after commit."""
    record_events(source=source.system, events=clean_events(list(payloads), batch=True))


def sms_bodies(twilio) -> list[str]:
    return [m.get("Body") or m.get("body") for m in twilio.messages()]


def test_held_alerts_arrive_as_one_summary_at_the_windows_end_and_a_bypassed_one_at_once(page, demo, quiet):
    night = datetime.datetime(2026, 12, 8, 23, 30, tzinfo=STOCKHOLM)
    clock.set_now(quiet.settings["BEVAKA_CLOCK_FILE"], night)
    connect(demo)
    verify(demo.anna, "sms")
    from subscriptions import services as subscription_services

    subscription_services.save_watches(
        user=demo.anna,
        company=demo.exempelbolaget,
        selections={"e_invoice": {"sms"}, "personal_message": {"sms"}, "rejected_payment": {"sms"}},
    )

    page.login(demo.anna)
    page.goto(reverse("my-watches", args=[demo.exempelbolaget.pk]))
    page.get_by_role("link", name="Ändra tysta timmar och e-post").click()
    page.get_by_label("Använd tysta timmar").check()
    page.get_by_label("Tyst från (tt:mm)").fill("22:00")
    page.get_by_label("Tyst till (tt:mm)").fill("07:00")
    page.get_by_label("Avvisad betalning").check()  # Skicka alltid direkt
    page.get_by_role("button", name="Spara").click()
    page.get_by_text("Inställningarna är sparade.").wait_for()
    assert "Aviseringar väntar mellan 22:00 och 07:00" in page.content()

    source = Source()
    send(source, event("n-1", type="e_invoice"), event("n-2", type="e_invoice"), event("n-3", type="personal_message"))
    send(source, event("n-4", type="rejected_payment"))
    wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.HELD).count() == 3, message="three held")
    direct = wait_for(
        lambda: [b for b in sms_bodies(quiet.twilio) if "Avvisad betalning" in (b or "")], message="the bypassed one"
    )
    assert len(sms_bodies(quiet.twilio)) == 1, direct

    clock.set_now(quiet.settings["BEVAKA_CLOCK_FILE"], night.replace(day=9, hour=7, minute=0))
    summary = wait_for(
        lambda: [b for b in sms_bodies(quiet.twilio) if "tysta timmar" in (b or "")], message="the summary SMS"
    )
    assert len(summary) == 1 and len(summary[0]) <= 160
    assert "2 Inkommen e-faktura" in summary[0] and "1 Mottaget personligt meddelande" in summary[0]
    assert "Logga in i internetbanken" in summary[0]
    assert len(sms_bodies(quiet.twilio)) == 2  # the direct one and the summary, nothing else
    assert Delivery.objects.filter(status=DeliveryStatus.SUMMARISED).count() == 3
    assert Delivery.objects.filter(purpose=Purpose.SUMMARY).count() == 1

    page.goto(reverse("my-watches", args=[demo.exempelbolaget.pk]))
    assert "Skickad i sammanfattning" in page.locator("table.history").inner_text()


def test_an_undelivered_sms_is_followed_by_exactly_one_email(page, demo, quiet):
    from django.utils import timezone

    clock.set_now(quiet.settings["BEVAKA_CLOCK_FILE"], timezone.now())
    connect(demo)
    verify(demo.anna, "sms")
    verify(demo.anna, "email")
    from subscriptions import services as subscription_services

    subscription_services.save_watches(user=demo.anna, company=demo.exempelbolaget, selections={"e_invoice": {"sms"}})
    quiet.twilio.fault("undelivered", count=1, error_code="30003")
    send(Source(), event("u-1", type="e_invoice"))
    wait_for(lambda: len(quiet.sink.messages) >= 1, timeout=30, message="the fallback e-mail")
    wait_for(
        lambda: Delivery.objects.filter(channel="email", status__in=["sent", "delivered"]).exists(), message="sent"
    )
    [mail] = quiet.sink.messages
    assert mail["To"] == demo.anna.email
    text = mail.get_body(("plain",)).get_content()
    assert "kunde inte levereras" in text
    [sms] = Delivery.objects.filter(channel="sms", event__isnull=False)
    assert sms.status == DeliveryStatus.FAILED and sms.provider_status == "undelivered"
    # Once: the scan runs again and again, nothing more.
    clock.set_now(quiet.settings["BEVAKA_CLOCK_FILE"], timezone.now() + datetime.timedelta(hours=1))
    wait_for(lambda: Delivery.objects.filter(channel="email").count() == 1, message="one e-mail")
    assert len(quiet.sink.messages) == 1
