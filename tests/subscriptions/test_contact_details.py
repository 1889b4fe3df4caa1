"""Issue 18, defect 8: contact details as a customer types them, and a notice that no longer holds."""

import pytest
from django.core.mail.message import sanitize_address
from django.urls import reverse

from agreements import services as agreement_services
from notifications.models import Delivery
from subscriptions import services
from subscriptions.models import ContactVerification

from .test_watches import connect, verify

pytestmark = pytest.mark.django_db


def post_contact(client, demo, channel: str, destination: str):
    return client.post(
        reverse("change-contact", args=[demo.exempelbolaget.pk]), {"channel": channel, "destination": destination}
    )


def test_a_mistyped_number_can_be_corrected_within_the_minute(demo):
    connect(demo)
    services.start_verification(user=demo.bertil, channel="sms", destination="0701740698")
    corrected = services.start_verification(user=demo.bertil, channel="sms", destination="0701740699")
    assert corrected.destination == "+46701740699"
    with pytest.raises(services.WatchError, match="Vänta en minut"):
        services.start_verification(user=demo.bertil, channel="sms", destination="0701740699")  # the same again
    assert ContactVerification.objects.filter(user=demo.bertil, used_at__isnull=True).count() == 1


def test_an_address_too_long_is_told_so(client, demo):
    connect(demo)
    client.force_login(demo.bertil)
    address = "a" * 288 + "@example.se"
    response = post_contact(client, demo, "email", address)
    html = response.content.decode()
    assert response.status_code == 400
    assert "254 tecken" in html
    assert "Ange ett mobilnummer eller en e-postadress" not in html
    assert f'value="{address}"' in html  # what was typed stays in the field


def test_an_international_address_is_shown_as_typed_and_sent_in_the_form_mail_needs(client, demo):
    connect(demo)
    client.force_login(demo.bertil)
    post_contact(client, demo, "email", "bertil@räksmörgås.example")
    html = client.get(reverse("my-watches", args=[demo.exempelbolaget.pk])).content.decode()
    assert "Kod som skickades till bertil@räksmörgås.example" in html
    assert "xn--" not in html
    delivery = Delivery.objects.get(user=demo.bertil, purpose="verification")
    assert sanitize_address(delivery.destination, "utf-8") == "bertil@xn--rksmrgs-5wao1o.example"
    # The address field of the page is not one the browser rewrites (type=email sends the xn-- form).
    assert 'id="destination-email" name="destination" value="' in html
    assert 'type="email"' not in html


def test_an_unverified_number_has_a_verifiera_action(client, demo):
    connect(demo)
    client.force_login(demo.bertil)
    page = reverse("my-watches", args=[demo.exempelbolaget.pk])
    html = client.get(page).content.decode()
    assert "inte verifierad" in html
    assert "Verifiera numret" in html  # sends a code to the number shown
    verify(demo.bertil, "sms")
    assert "Verifiera numret" not in client.get(page).content.decode()


def test_after_the_company_reconnects_the_ended_notice_is_not_shown(client, demo):
    connect(demo)
    verify(demo.bertil)
    services.save_watches(user=demo.bertil, company=demo.exempelbolaget, selections={"e_invoice": {"sms"}})
    agreement_services.end_agreement(company=demo.exempelbolaget, user=demo.anna)
    connect(demo)
    client.force_login(demo.bertil)
    html = client.get(reverse("my-watches", args=[demo.exempelbolaget.pk])).content.decode()
    assert "har avslutats" not in html and "Du får inte längre några aviseringar" not in html


def test_while_the_agreement_stays_ended_the_notice_is_shown_once(client, demo):
    connect(demo)
    verify(demo.bertil)
    services.save_watches(user=demo.bertil, company=demo.exempelbolaget, selections={"e_invoice": {"sms"}})
    agreement_services.end_agreement(company=demo.exempelbolaget, user=demo.anna)
    client.force_login(demo.bertil)
    page = reverse("my-watches", args=[demo.exempelbolaget.pk])
    assert "har avslutats" in client.get(page).content.decode()
    assert "har avslutats" not in client.get(page).content.decode()
