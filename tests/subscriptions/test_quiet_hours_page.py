"""The *Tysta timmar* page of Mina bevakningar (issue 23): membership (404), CSRF-protected form that keeps
what was typed with its errors announced, audited changes, quiet periods laid out for the fan-out."""

import datetime

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from subscriptions.models import AlertPreferences, QuietWindow
from tests.subscriptions.test_watches import connect

pytestmark = pytest.mark.django_db


def url(demo, company=None):
    return reverse("alert-preferences", args=[(company or demo.exempelbolaget).pk])


def test_quiet_hours_are_off_by_default_and_shown_on_mina_bevakningar(client, demo):
    connect(demo)
    client.force_login(demo.bertil)
    page = client.get(reverse("my-watches", args=[demo.exempelbolaget.pk])).content.decode()
    assert "Inga tysta timmar" in page and url(demo) in page
    form = client.get(url(demo)).content.decode()
    assert 'value="22:00"' in form and 'value="07:00"' in form and "Skicka alltid direkt" in form


def test_saving_quiet_hours_lays_them_out_and_is_audited(client, demo):
    connect(demo)
    client.force_login(demo.bertil)
    response = client.post(
        url(demo),
        {"quiet_hours": "on", "quiet_start": "22:00", "quiet_end": "07:00", "always_direct": ["rejected_payment"]},
    )
    assert response.status_code == 302
    preferences = AlertPreferences.objects.get(user=demo.bertil)
    assert preferences.quiet_hours and not preferences.sms_fallback  # the box was left unticked
    assert list(preferences.always_direct.values_list("code", flat=True)) == ["rejected_payment"]
    windows = list(QuietWindow.objects.filter(user=demo.bertil).order_by("starts_at"))
    assert len(windows) >= 14 and all(w.ends_at - w.starts_at == datetime.timedelta(hours=9) for w in windows)
    actions = set(AuditEntry.objects.filter(actor=demo.bertil).values_list("action", flat=True))
    assert {"alerts.quiet_hours", "alerts.sms_fallback"} <= actions
    page = client.get(reverse("my-watches", args=[demo.exempelbolaget.pk])).content.decode()
    assert "Aviseringar väntar mellan 22:00 och 07:00" in page
    # Turned off: no periods left for the fan-out.
    client.post(url(demo), {"quiet_start": "22:00", "quiet_end": "07:00", "sms_fallback": "on"})
    assert not QuietWindow.objects.filter(user=demo.bertil).exists()


def test_a_refused_form_keeps_what_was_typed_and_announces_the_errors(client, demo):
    connect(demo)
    client.force_login(demo.bertil)
    response = client.post(url(demo), {"quiet_hours": "on", "quiet_start": "25:99", "quiet_end": "07:00"})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'role="alert"' in page and "Ange tiden som tt:mm" in page
    assert 'value="25:99"' in page and 'aria-invalid="true"' in page
    assert not AlertPreferences.objects.filter(user=demo.bertil).exists()  # nothing half-stored
    same = client.post(url(demo), {"quiet_hours": "on", "quiet_start": "07:00", "quiet_end": "07:00"})
    assert same.status_code == 400 and "annan tid än de börjar" in same.content.decode()


def test_the_page_is_only_for_users_of_the_company_with_access(client, demo):
    connect(demo)
    client.force_login(demo.gustav)  # not a member of Exempelbolaget
    assert client.get(url(demo)).status_code == 404
    assert client.post(url(demo), {"quiet_start": "22:00", "quiet_end": "07:00"}).status_code == 404


def test_the_form_needs_the_csrf_token(demo):
    from django.test import Client

    connect(demo)
    client = Client(enforce_csrf_checks=True)
    client.force_login(demo.bertil)
    assert client.post(url(demo), {"quiet_start": "22:00", "quiet_end": "07:00"}).status_code == 403
