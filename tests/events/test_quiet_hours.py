"""Quiet hours and the fallback to e-mail in process (issue 23): the fan-out holds an alert in its one
INSERT, the release sends one summary per user, channel and company after checking every rule again, a
bypassed type goes at once, an SMS that failed is followed by one e-mail, and "why (not)?" says so. The
clock is the seam every process reads (``BEVAKA_CLOCK_FILE``), walked by the test."""

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from bevaka import clock
from events import fallback, fanout, quiet_release
from events.selectors import explain_event
from notifications.models import Delivery, DeliveryStatus, Purpose
from notifications.services import record_sms_status
from subscriptions.preferences import save_quiet_hours, set_sms_fallback

from .conftest import Source, connect, event, watch
from .test_fanout import record

pytestmark = pytest.mark.django_db

STOCKHOLM = ZoneInfo("Europe/Stockholm")
NIGHT = datetime.datetime(2026, 12, 8, 23, 30, tzinfo=STOCKHOLM)  # a Tuesday
MORNING = datetime.datetime(2026, 12, 9, 7, 0, tzinfo=STOCKHOLM)


@pytest.fixture
def walk(settings, tmp_path):
    settings.BEVAKA_CLOCK_FILE = str(tmp_path / "clock")

    def to(at):
        clock.set_now(settings.BEVAKA_CLOCK_FILE, at)

    to(NIGHT - datetime.timedelta(hours=2))
    return to


@pytest.fixture
def anna(demo, walk, published_sends):
    company = demo.exempelbolaget
    connect(company, demo.anna, ["e_invoice", "personal_message", "rejected_payment"])
    watch(
        demo.anna,
        company,
        {"e_invoice": {"sms", "email"}, "personal_message": {"sms"}, "rejected_payment": {"sms"}},
    )
    save_quiet_hours(
        user=demo.anna,
        company=company,
        enabled=True,
        start=datetime.time(22),
        end=datetime.time(7),
        days_off=False,
        always_direct=["rejected_payment"],
    )
    return demo.anna


@pytest.fixture
def published_sends(monkeypatch):
    from notifications import tasks

    sent = []
    monkeypatch.setattr(tasks.send_batch, "delay", lambda **kw: sent.append(kw["delivery_ids"]))
    return sent


def fan_out(source, *payloads):
    rows = record(source, *payloads)
    for row in rows:
        fanout.fan_out(event_id=row.pk)
    return rows


def test_held_in_the_window_bypassed_at_once_and_one_summary_per_channel_at_its_end(anna, walk, demo):
    source = Source()
    walk(NIGHT)
    invoice, message, rejected = fan_out(
        source, event("a", type="e_invoice"), event("b", type="personal_message"), event("c", type="rejected_payment")
    )
    held = Delivery.objects.filter(user=anna, status=DeliveryStatus.HELD)
    assert sorted(held.values_list("event__case_type__code", "channel")) == [
        ("e_invoice", "email"),
        ("e_invoice", "sms"),
        ("personal_message", "sms"),
    ]
    assert {d.held_until for d in held} == {MORNING}
    [direct] = Delivery.objects.filter(event=rejected)
    assert direct.status == DeliveryStatus.QUEUED and direct.held_until is None

    walk(MORNING - datetime.timedelta(minutes=1))
    assert quiet_release.release_held_alerts() == []
    walk(MORNING)
    summaries = Delivery.objects.filter(pk__in=quiet_release.release_held_alerts())
    assert sorted(summaries.values_list("channel", flat=True)) == ["email", "sms"]
    sms = summaries.get(channel="sms")
    assert sms.purpose == Purpose.SUMMARY and len(sms.body) <= 160
    assert "1 Inkommen e-faktura" in sms.body and "Logga in i internetbanken" in sms.body
    assert set(Delivery.objects.filter(summary=sms).values_list("event_id", flat=True)) == {invoice.pk, message.pk}
    assert not Delivery.objects.filter(status=DeliveryStatus.HELD).exists()
    assert quiet_release.release_held_alerts() == []  # once

    why = {(e.membership.user_id, e.channel): e.reason for e in explain_event(invoice)}
    assert "tysta timmar till" in why[(anna.pk, "sms")] and "sammanfattningen" in why[(anna.pk, "sms")]


def test_a_held_alert_whose_access_ended_meanwhile_is_not_sent(anna, walk, demo):
    walk(NIGHT)
    [row] = fan_out(Source(), event("a", type="personal_message"))
    [held] = Delivery.objects.filter(event=row)
    assert held.status == DeliveryStatus.HELD
    why = {(e.membership.user_id, e.channel): e.reason for e in explain_event(row)}
    assert why[(anna.pk, "sms")].startswith("Väntar på grund av tysta timmar till")
    from subscriptions.models import Watch

    Watch.objects.filter(user=anna, case_type__code="personal_message").delete()
    walk(MORNING)
    assert quiet_release.release_held_alerts() == []
    held.refresh_from_db()
    assert held.status == DeliveryStatus.CANCELLED and "no longer watches" in held.last_error


def test_only_the_user_with_quiet_hours_is_held(anna, walk, demo):
    watch(demo.eva, demo.exempelbolaget, {"e_invoice": {"sms"}})  # no quiet hours
    walk(NIGHT)
    [row] = fan_out(Source(), event("a", type="e_invoice"))
    held = dict(Delivery.objects.filter(event=row, channel="sms").values_list("user_id", "status"))
    assert held == {anna.pk: DeliveryStatus.HELD, demo.eva.pk: DeliveryStatus.QUEUED}


def test_outside_the_window_nothing_is_held(anna, walk):
    walk(MORNING + datetime.timedelta(hours=3))
    fan_out(Source(), event("a", type="e_invoice"))
    assert not Delivery.objects.filter(status=DeliveryStatus.HELD).exists()


def test_an_undelivered_sms_is_followed_by_one_email_saying_so(demo, walk, published_sends, settings):
    company = demo.exempelbolaget
    connect(company, demo.anna, ["e_invoice"])
    watch(demo.anna, company, {"e_invoice": {"sms"}})
    from .conftest import verify

    verify(demo.anna, "email")
    walk(timezone.now())  # the provider's callback is stamped by the real clock
    [row] = fan_out(Source(), event("a"))
    [sms] = Delivery.objects.filter(event=row)
    Delivery.objects.filter(pk=sms.pk).update(status=DeliveryStatus.SENT, provider_id="SM" + "1" * 32)
    assert fallback.fall_back_to_email() == []  # sent, not failed, within SMS_FALLBACK_AFTER
    assert record_sms_status(delivery_id=sms.pk, message_sid="SM" + "1" * 32, status="undelivered", error_code="30003")
    [email_id] = fallback.fall_back_to_email()
    assert fallback.fall_back_to_email() == []  # once
    email = Delivery.objects.get(pk=email_id)
    assert email.channel == "email" and email.fallback_of_id == sms.pk and email.event_id == row.pk
    assert "kunde inte levereras" in email.body
    # The send-time check holds the e-mail to the SMS's watch: she watches by SMS only, and it may go.
    assert fanout.alert_stop_reason(email) is None
    why = {(e.membership.user_id, e.channel): e.reason for e in explain_event(row)}
    assert why[(demo.anna.pk, "email")].startswith("Skickad med e-post eftersom sms:et inte gick fram")


def test_no_final_status_in_time_is_ambiguous_and_the_setting_turns_it_off(demo, walk, published_sends, settings):
    company = demo.exempelbolaget
    connect(company, demo.anna, ["e_invoice"])
    watch(demo.anna, company, {"e_invoice": {"sms"}})
    from .conftest import verify

    verify(demo.anna, "email")
    [row2] = fan_out(Source(), event("b"))
    [sms] = Delivery.objects.filter(event=row2)
    sent_at = NIGHT
    Delivery.objects.filter(pk=sms.pk).update(status=DeliveryStatus.SENT, sent_at=sent_at)
    set_sms_fallback(user=demo.anna, company=company, enabled=False)
    walk(sent_at + datetime.timedelta(seconds=settings.SMS_FALLBACK_AFTER + 1))
    assert fallback.fall_back_to_email() == []
    set_sms_fallback(user=demo.anna, company=company, enabled=True)
    [email_id] = fallback.fall_back_to_email()
    assert "Vi vet inte om sms-aviseringen nådde" in Delivery.objects.get(pk=email_id).body
    why = {(e.membership.user_id, e.channel): e.reason for e in explain_event(row2)}
    assert "utfall var okänt" in why[(demo.anna.pk, "email")]
