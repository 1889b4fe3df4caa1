"""Privacy: no personal data in logs (tests/privacy.py checks every test of the suite), no links in SMS,
no amounts or account numbers in alerts, and Celery messages that carry ids, not personal data."""

import json
import logging
import re
from pathlib import Path

import pytest
from celery.signals import before_task_publish
from django.conf import settings
from django.utils import translation

from events import fanout
from events import services as event_services
from events.models import Event, SourceSystem
from notifications.models import Delivery
from notifications.sms import SAMPLE_CONTEXT, render_sms
from subscriptions import services as subscription_services
from tests.events.conftest import build_world
from tests.privacy import HANDLER, find_personal_data, mask

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("login by 197804129802 refused", ["personnummer"]),
        ("user 19780412-9802", ["personnummer"]),
        ("user 780412-9802", ["personnummer"]),
        ("sms to +46701740605 sent", ["phone"]),
        ("sms to 070-174 06 05", ["phone"]),
        ("mail to anna.andersson@exempelbolaget.example", ["e-mail"]),
        ("body: Bevaka ärenden: E-faktura för X. Logga in i internetbanken för att se ärendet.", ["alert text"]),
        ("Your code for Bevaka ärenden is 123456", ["alert text"]),
    ],
)
def test_the_check_finds_each_kind_of_personal_data(text, kinds):
    assert find_personal_data(text) == kinds
    assert "<masked>" in mask(text) or kinds == ["alert text"]


@pytest.mark.parametrize(
    "text",
    [
        "delivery 1234 to +46 70*** **05 sent",  # masked, as notifications.masking writes it
        "delivery 1234 to a***@exempelbolaget.example sent",
        "source core-banking: 1000 events, 998 new",
        "event 5599990107 company",  # an organisationsnummer (month 99) is not a person
        "Task notifications.send_batch[3b0e2a4c-1f67-4a0e-9b0a-2d1f4c5e6a7b] succeeded in 0.0123s: None",
        "celery@worker-1.internal ready.",
        "Task x[5889402c-ab46-44b7-879a-8f2367759524] succeeded in 0.0046701740605s: 0",
        "POST /mock/v1/orders/0046701740-6050-4b7f-879a-070174060599/complete",
        "From: Bevaka ärenden <no-reply@bevaka.localhost>",
    ],
)
def test_the_check_leaves_ids_masked_destinations_and_our_own_names_alone(text):
    assert find_personal_data(text) == []


@pytest.mark.logs_personal_data_on_purpose
def test_every_log_record_reaches_the_check():
    before = len(HANDLER.records)
    logging.getLogger("bevaka.anything").warning("looked up %s", "197804129802")
    [record] = HANDLER.records[before:]
    assert find_personal_data(record.text) == ["personnummer"]


SMS_TEMPLATES = sorted((Path(settings.BASE_DIR) / "templates" / "notifications" / "sms").glob("*.txt"))
LINK = re.compile(r"https?:|www\.|://|\b[\w-]+\.(?:se|com|nu|net|org|io|example|localhost)\b", re.IGNORECASE)


@pytest.mark.parametrize("path", SMS_TEMPLATES, ids=lambda path: path.name)
@pytest.mark.parametrize("language", ["sv", "en"])
def test_no_sms_template_holds_a_link(path, language):
    with translation.override(language):
        text = render_sms(path.stem, SAMPLE_CONTEXT)
    assert not LINK.search(text), text


AMOUNT = re.compile(r"\d[\d\s.]*,\d{2}\b|\b\d+\s?(?:kr|sek)\b|\bSEK\b", re.IGNORECASE)
ACCOUNT = re.compile(r"\b\d{4}[-\s]?\d{2}[-\s]?\d{3}[-\s]?\d{2}\b|\b\d{3,4}-\d{4}\b|\bSE\d{2}\s?\d{4}")
REFERENCE = "Faktura 4711: 12 345,67 kr från konto 8327-9 123 456 78"


@pytest.fixture
def published(settings):
    """Every Celery message published during the test: (task name, args, kwargs); purged afterwards."""
    from bevaka.celery import app

    messages = []

    def capture(sender=None, body=None, headers=None, **kwargs):
        args, task_kwargs, _embed = body
        messages.append((sender, args, task_kwargs, json.dumps(body)))

    before_task_publish.connect(capture, weak=False)
    yield messages
    before_task_publish.disconnect(capture)
    app.control.purge()


def test_alerts_and_their_celery_messages_carry_no_amounts_account_numbers_or_personal_data(
    demo, published, django_capture_on_commit_callbacks
):
    build_world(demo)
    source = SourceSystem.objects.create(name="privacy-core")
    item = {
        "id": "inv-privacy-1",
        "type": "e_invoice",
        "company": demo.exempelbolaget.org_number,
        "occurred_at": "2026-03-02T09:15:00+01:00",
        "reference": REFERENCE[:64],
    }
    from events.coalesce import FLAG
    from notifications.ratelimit import redis_connection

    redis_connection().delete(FLAG)  # no coalesced fan-out pending from an earlier test
    with django_capture_on_commit_callbacks(execute=True):
        [recorded] = event_services.record_events(
            source=source, events=event_services.clean_events([item], batch=False)
        )
    with django_capture_on_commit_callbacks(execute=True):
        delivery_ids = fanout.fan_out(event_id=recorded.event.pk)
    alerts = Delivery.objects.filter(pk__in=delivery_ids)
    assert {d.channel for d in alerts} == {"sms", "email"}  # the world's watchers got both kinds
    for alert in alerts:
        for text in (alert.subject, alert.body, alert.html_body):
            assert "4711" not in text and "Faktura" not in text, text
            assert not AMOUNT.search(text), text
            assert not ACCOUNT.search(text), text
        if alert.channel == "sms":
            assert not LINK.search(alert.body), alert.body
    assert Event.objects.get().reference == REFERENCE[:64]  # kept for the bank, never shown

    names = [name for name, *_ in published]
    # A single event's coalesced fan-out (events/coalesce.py) carries no arguments at all.
    assert names.count("events.fan_out_pending") == 1 and "notifications.send_batch" in names
    for name, args, kwargs, serialized in published:
        assert args in ([], ())
        for value in kwargs.values():
            ids = value if isinstance(value, list) else [value]
            assert all(isinstance(i, int) for i in ids), (name, kwargs)
        assert find_personal_data(serialized) == [], (name, mask(serialized))


def test_a_verification_code_travels_as_an_id(demo, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        verification = subscription_services.start_verification(
            user=demo.bertil, channel="sms", destination="0701740699"
        )
    [(name, _args, kwargs, serialized)] = published
    assert (name, kwargs) == ("notifications.send_batch", {"delivery_ids": [verification.delivery_id]})
    code_sms = Delivery.objects.get(pk=verification.delivery_id).body
    code = re.search(r"\d{6}", code_sms).group(0)
    assert code not in serialized and "0701740699" not in serialized and "+46701740699" not in serialized


def test_http_client_request_lines_are_not_logged():
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING
