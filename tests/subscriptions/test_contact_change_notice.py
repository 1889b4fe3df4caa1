"""Issue 23, part 3: a mobile number or e-mail address added, changed or removed is told to the destination
the user had before (or, with none before, to the other channel), without the new one, as a delivery of its
own purpose; the change is audited with the session's address, and the history shows the notice."""

import datetime

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone, translation

from audit.models import AuditEntry
from notifications.gsm import is_gsm7, segments
from notifications.models import Delivery, Purpose
from notifications.services import suspend_destination
from notifications.sms import SAMPLE_CONTEXT, render_sms
from subscriptions import services
from subscriptions.models import ContactVerification, VerifiedContact, Watch

from .test_watches import connect, sent_code, verify

pytestmark = pytest.mark.django_db

OLD_NUMBER, NEW_NUMBER = "+46701740698", "+46701740699"
OLD_ADDRESS, NEW_ADDRESS = "bertil@example.se", "bertil.ny@example.se"


def confirm(user, channel, destination, ip_address="198.51.100.7"):
    verification = services.start_verification(user=user, channel=channel, destination=destination)
    return services.confirm_verification(
        user=user, channel=channel, code=sent_code(verification), ip_address=ip_address
    )


def notices(user):
    return list(Delivery.objects.filter(user=user, purpose=Purpose.CONTACT_CHANGE).order_by("id"))


def test_a_changed_number_is_told_to_the_old_number_without_the_new_one_and_audited(demo):
    verify(demo.bertil, "sms", OLD_NUMBER)
    verify(demo.bertil, "email", OLD_ADDRESS)
    confirm(demo.bertil, "sms", NEW_NUMBER)
    [notice] = notices(demo.bertil)
    assert (notice.channel, notice.destination) == ("sms", OLD_NUMBER)
    assert notice.body.startswith("Ditt mobilnummer för Bevaka ärenden ändrades den ")
    assert notice.body.endswith("Om det inte var du, ring banken.")
    assert "1740699" not in notice.body and is_gsm7(notice.body) and segments(notice.body) == 1
    assert notice.company is None and notice.event_id is None
    entry = AuditEntry.objects.filter(action="contact.verified").latest("seq")
    assert entry.ip_address == "198.51.100.7"
    assert entry.after == {"channel": "sms", "kind": "changed", "notice_to": ["sms"]}
    assert NEW_NUMBER not in str(entry.before) + str(entry.after)


def test_a_changed_address_is_told_to_the_old_address_by_email(demo):
    verify(demo.bertil, "sms", OLD_NUMBER)
    verify(demo.bertil, "email", OLD_ADDRESS)
    confirm(demo.bertil, "email", NEW_ADDRESS)
    [notice] = notices(demo.bertil)
    assert (notice.channel, notice.destination) == ("email", OLD_ADDRESS)
    assert "Din e-postadress för Bevaka ärenden ändrades den " in notice.body
    assert "ny@" not in notice.body and notice.subject


def test_an_added_number_is_told_to_the_verified_address(demo):
    verify(demo.bertil, "email", OLD_ADDRESS)
    confirm(demo.bertil, "sms", NEW_NUMBER)
    [notice] = notices(demo.bertil)
    assert (notice.channel, notice.destination) == ("email", OLD_ADDRESS)
    assert "Ett mobilnummer lades till för Bevaka ärenden den " in notice.body
    assert "1740699" not in notice.body


def test_an_added_address_is_told_to_the_verified_number(demo):
    verify(demo.bertil, "sms", OLD_NUMBER)
    confirm(demo.bertil, "email", NEW_ADDRESS)
    [notice] = notices(demo.bertil)
    assert (notice.channel, notice.destination) == ("sms", OLD_NUMBER)
    assert notice.body.startswith("En e-postadress lades till för Bevaka ärenden den ")


def test_the_first_contact_detail_has_nobody_to_tell_and_the_same_one_again_is_no_change(demo):
    confirm(demo.bertil, "sms", NEW_NUMBER)
    assert notices(demo.bertil) == []
    assert AuditEntry.objects.filter(action="contact.verified").latest("seq").after["notice_to"] == []
    ContactVerification.objects.filter(user=demo.bertil).update(
        created_at=timezone.now() - datetime.timedelta(minutes=2)
    )
    confirm(demo.bertil, "sms", NEW_NUMBER)  # verified again: nothing changed
    assert notices(demo.bertil) == []


def test_a_suspended_old_number_is_not_told_the_verified_address_is(demo):
    verify(demo.bertil, "sms", OLD_NUMBER)
    verify(demo.bertil, "email", OLD_ADDRESS)
    suspend_destination(channel="sms", destination=OLD_NUMBER, reason="invalid")
    confirm(demo.bertil, "sms", NEW_NUMBER)
    [notice] = notices(demo.bertil)
    assert (notice.channel, notice.destination) == ("email", OLD_ADDRESS)


@pytest.mark.parametrize(
    ("channel", "old", "text"),
    [
        ("sms", OLD_NUMBER, "Ditt mobilnummer för Bevaka ärenden togs bort den "),
        ("email", OLD_ADDRESS, "Din e-postadress för Bevaka ärenden togs bort den "),
    ],
)
def test_a_removed_contact_detail_is_told_to_it_taken_off_the_watches_and_audited(client, demo, channel, old, text):
    connect(demo)
    verify(demo.bertil, "sms", OLD_NUMBER)
    verify(demo.bertil, "email", OLD_ADDRESS)
    services.save_watches(
        user=demo.bertil,
        company=demo.exempelbolaget,
        selections={"e_invoice": {"sms"}, "rejected_payment": {"sms", "email"}, "personal_message": {"email"}},
    )
    client.force_login(demo.bertil)
    response = client.post(
        reverse("remove-contact", args=[demo.exempelbolaget.pk]), {"channel": channel}, REMOTE_ADDR="203.0.113.9"
    )
    assert response.status_code == 302
    [notice] = notices(demo.bertil)
    assert (notice.channel, notice.destination) == (channel, old)
    assert text in notice.body
    assert not VerifiedContact.objects.filter(user=demo.bertil, channel=channel).exists()
    demo.bertil.refresh_from_db()
    assert (demo.bertil.mobile_number if channel == "sms" else demo.bertil.email) == ""
    flag = "by_sms" if channel == "sms" else "by_email"
    assert not Watch.objects.filter(user=demo.bertil, **{flag: True}).exists()
    assert Watch.objects.filter(user=demo.bertil).count() == 2  # the one with only this channel is gone
    entry = AuditEntry.objects.filter(action="contact.removed").latest("seq")
    assert entry.ip_address == "203.0.113.9"
    assert entry.after["notice_to"] == [channel] and entry.after["watches_removed"] == 1
    # The history of Mina bevakningar shows the notice.
    html = client.get(reverse("my-watches", args=[demo.exempelbolaget.pk])).content.decode()
    assert notice.subject in html


def test_removing_what_is_not_there_is_refused_and_changes_nothing(client, demo):
    connect(demo)
    client.force_login(demo.bertil)
    response = client.post(reverse("remove-contact", args=[demo.exempelbolaget.pk]), {"channel": "sms"}, follow=True)
    assert "Du har inget verifierat mobilnummer att ta bort." in response.content.decode()
    assert not AuditEntry.objects.filter(action="contact.removed").exists()
    assert client.post(reverse("remove-contact", args=[demo.exempelbolaget.pk]), {"channel": "fax"}).status_code == 302


def test_removing_needs_the_service_and_a_post(client, demo):
    connect(demo)
    verify(demo.cecilia, "sms")
    client.force_login(demo.cecilia)  # restricted, without Hantera Bevaka ärenden
    url = reverse("remove-contact", args=[demo.exempelbolaget.pk])
    assert client.post(url, {"channel": "sms"}).status_code == 404
    assert VerifiedContact.objects.filter(user=demo.cecilia).exists()
    client.force_login(demo.bertil)
    assert client.get(url).status_code == 405


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"], BEHIND_TLS_PROXY=True)
def test_the_audit_names_the_customers_address_behind_a_trusted_proxy(client, demo):
    connect(demo)
    verify(demo.bertil, "sms", OLD_NUMBER)
    client.force_login(demo.bertil)
    client.post(
        reverse("remove-contact", args=[demo.exempelbolaget.pk]),
        {"channel": "sms"},
        REMOTE_ADDR="10.1.2.3",
        HTTP_X_FORWARDED_FOR="192.0.2.44",
        secure=True,
    )
    assert AuditEntry.objects.filter(action="contact.removed").latest("seq").ip_address == "192.0.2.44"


@pytest.mark.parametrize("language", ["sv", "en"])
@pytest.mark.parametrize("what", ["sms", "email"])
@pytest.mark.parametrize("kind", ["added", "changed", "removed"])
def test_every_notice_is_one_gsm7_segment(language, what, kind):
    with translation.override(language):
        text = render_sms("contact_changed", {**SAMPLE_CONTEXT, "what": what, "kind": kind})
    assert is_gsm7(text) and segments(text) == 1, text
    assert text.endswith("Om det inte var du, ring banken." if language == "sv" else "call the bank.")
