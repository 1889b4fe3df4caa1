"""Issue 18, defect 2: *Språk för aviseringar* and the header's *Språk* are two settings."""

import pytest
from django.urls import reverse

from subscriptions import services

from .test_watches import connect

pytestmark = pytest.mark.django_db


def test_saving_the_alert_language_leaves_the_screen_in_its_language(client, demo):
    connect(demo)
    client.force_login(demo.bertil)
    company = demo.exempelbolaget.pk
    response = client.post(reverse("alert-language", args=[company]), {"language": "en"})
    assert response.status_code == 302 and response["Location"] == reverse("my-watches", args=[company])
    assert "bevaka-language" not in response.cookies
    demo.bertil.refresh_from_db()
    assert (demo.bertil.alert_language, demo.bertil.language) == ("en", "sv")
    page = client.get(response["Location"]).content.decode()
    assert "<h1>Mina bevakningar</h1>" in page
    assert '<option value="en" selected>' in page.split('id="alert-language"')[1].split("</select>")[0]


def test_the_screen_language_leaves_the_alert_language_as_it_was(client, demo):
    client.force_login(demo.bertil)
    response = client.post(reverse("switch-language"), {"language": "en", "next": "/"})
    assert response.cookies["bevaka-language"].value == "en"
    demo.bertil.refresh_from_db()
    assert (demo.bertil.alert_language, demo.bertil.language) == ("sv", "en")


def test_a_verification_code_comes_in_the_alert_language(demo):
    connect(demo)
    demo.bertil.language, demo.bertil.alert_language = "sv", "en"
    demo.bertil.save(update_fields=["language", "alert_language"])
    verification = services.start_verification(user=demo.bertil, channel="sms", destination="0701740698")
    from notifications.models import Delivery

    assert "code" in Delivery.objects.get(pk=verification.delivery_id).body.lower()


def test_an_unknown_alert_language_is_refused_and_nothing_changes(client, demo):
    connect(demo)
    client.force_login(demo.bertil)
    client.post(reverse("alert-language", args=[demo.exempelbolaget.pk]), {"language": "xx"})
    demo.bertil.refresh_from_db()
    assert demo.bertil.alert_language == "sv"
