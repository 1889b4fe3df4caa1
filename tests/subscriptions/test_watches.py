import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from agreements import services as agreement_services
from agreements.access import users_with_service_access
from audit.models import AuditEntry
from notifications.models import Delivery, Purpose
from subscriptions import services
from subscriptions.models import ContactVerification, UserNotice, VerifiedContact, Watch
from tests.agreements.conftest import make_evidence

pytestmark = pytest.mark.django_db

ALL = ["e_invoice", "personal_message", "rejected_payment"]


def connect(demo, codes=ALL):
    proposal = agreement_services.propose_connect(company=demo.exempelbolaget, signer=demo.anna, case_type_codes=codes)
    return agreement_services.apply_signed_proposal(
        proposal=proposal, signer=demo.anna, evidence=make_evidence(demo.anna, proposal.content)
    ).version


def change(demo, codes):
    proposal = agreement_services.propose_change(company=demo.exempelbolaget, signer=demo.anna, case_type_codes=codes)
    agreement_services.apply_signed_proposal(
        proposal=proposal, signer=demo.anna, evidence=make_evidence(demo.anna, proposal.content)
    )


def verify(user, channel="sms", destination=None):
    destination = destination or (user.mobile_number if channel == "sms" else user.email)
    VerifiedContact.objects.update_or_create(
        user=user, channel=channel, defaults={"destination": destination, "verified_at": timezone.now()}
    )


def sent_code(verification: ContactVerification) -> str:
    body = Delivery.objects.get(pk=verification.delivery_id).body
    return re.search(r"\b(\d{6})\b", body).group(1)


def test_a_user_with_access_saves_watches_for_the_agreements_types_and_it_is_audited(demo):
    connect(demo)
    verify(demo.bertil, "sms")
    verify(demo.bertil, "email")
    assert services.save_watches(
        user=demo.bertil,
        company=demo.exempelbolaget,
        selections={"e_invoice": {"sms", "email"}, "rejected_payment": {"sms"}},
    )
    watches = {w.case_type.code: (w.by_sms, w.by_email) for w in Watch.objects.filter(user=demo.bertil)}
    assert watches == {"e_invoice": (True, True), "rejected_payment": (True, False)}
    entry = AuditEntry.objects.get(action="watch.change")
    assert entry.before == {} and entry.after == {"e_invoice": ["email", "sms"], "rejected_payment": ["sms"]}
    assert not services.save_watches(
        user=demo.bertil,
        company=demo.exempelbolaget,
        selections={"e_invoice": {"sms", "email"}, "rejected_payment": {"sms"}},
    )
    assert AuditEntry.objects.filter(action="watch.change").count() == 1


def test_a_type_outside_the_agreement_is_refused_by_the_service(demo):
    connect(demo, ["e_invoice"])
    verify(demo.bertil)
    with pytest.raises(services.WatchError, match="Avtalet omfattar inte rejected_payment"):
        services.save_watches(user=demo.bertil, company=demo.exempelbolaget, selections={"rejected_payment": {"sms"}})
    assert not Watch.objects.exists()


def test_a_type_outside_the_agreement_is_not_offered_or_stored_by_the_form(client, demo):
    connect(demo, ["e_invoice"])
    verify(demo.bertil)
    client.force_login(demo.bertil)
    url = reverse("edit-watches", args=[demo.exempelbolaget.pk])
    html = client.get(url).content.decode()
    assert "Inkommen e-faktura" in html and "Avvisad betalning" not in html
    response = client.post(url, {"e_invoice__sms": "on", "rejected_payment__sms": "on"})
    assert response.status_code == 302
    assert list(Watch.objects.values_list("case_type__code", flat=True)) == ["e_invoice"]


def test_an_unverified_channel_cannot_be_chosen(client, demo):
    connect(demo)
    client.force_login(demo.bertil)
    url = reverse("edit-watches", args=[demo.exempelbolaget.pk])
    assert 'name="e_invoice__sms" disabled' in client.get(url).content.decode().replace('id="id_e_invoice__sms" ', "")
    client.post(url, {"e_invoice__sms": "on"})
    assert not Watch.objects.exists()
    with pytest.raises(services.WatchError, match="Verifiera ditt mobilnummer"):
        services.save_watches(user=demo.bertil, company=demo.exempelbolaget, selections={"e_invoice": {"sms"}})


def test_the_help_page_steps_andra_then_spara_show_the_change_in_the_read_view(client, demo):
    connect(demo)
    verify(demo.bertil, "email")
    client.force_login(demo.bertil)
    read = client.get(reverse("my-watches", args=[demo.exempelbolaget.pk])).content.decode()
    assert f'href="{reverse("edit-watches", args=[demo.exempelbolaget.pk])}">Ändra</a>' in read
    response = client.post(reverse("edit-watches", args=[demo.exempelbolaget.pk]), {"personal_message__email": "on"})
    assert response["Location"] == reverse("my-watches", args=[demo.exempelbolaget.pk])
    read = client.get(response["Location"]).content.decode()
    assert "Dina bevakningar är sparade." in read
    row = re.search(r"<th scope=\"row\">Mottaget personligt meddelande</th>\s*<td>(\w+)</td>\s*<td>(\w+)</td>", read)
    assert row.groups() == ("Nej", "Ja")


@pytest.mark.parametrize("person", ["cecilia", "david"])
def test_a_restricted_user_without_the_permission_cannot_reach_or_post_the_form(client, demo, person):
    connect(demo)
    user = getattr(demo, person)
    verify(user)
    client.force_login(user)
    url = reverse("edit-watches", args=[demo.exempelbolaget.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"e_invoice__sms": "on"}).status_code == 404
    assert not Watch.objects.exists()
    html = client.get(reverse("my-watches", args=[demo.exempelbolaget.pk])).content.decode()
    assert "Hantera Bevaka ärenden" in html and "Anna Andersson" in html


def test_a_user_cannot_see_or_change_another_companys_watches(client, demo):
    connect(demo)
    client.force_login(demo.anna)
    for name in ["my-watches", "edit-watches", "change-contact", "confirm-contact"]:
        method = client.get if name in ("my-watches", "edit-watches") else client.post
        assert method(reverse(name, args=[demo.svenssons.pk])).status_code == 404, name


def test_removing_a_type_clears_its_watches_and_tells_the_user(client, demo):
    connect(demo)
    verify(demo.bertil)
    services.save_watches(
        user=demo.bertil,
        company=demo.exempelbolaget,
        selections={"e_invoice": {"sms"}, "rejected_payment": {"sms"}},
    )
    change(demo, ["e_invoice", "personal_message"])
    assert list(Watch.objects.values_list("case_type__code", flat=True)) == ["e_invoice"]
    notice = UserNotice.objects.get(user=demo.bertil)
    assert notice.kind == "types_removed" and notice.case_type_codes == ["rejected_payment"]
    assert not Delivery.objects.filter(purpose="notice").exists()  # no verified e-mail: told on the page only
    client.force_login(demo.bertil)
    html = client.get(reverse("my-watches", args=[demo.exempelbolaget.pk])).content.decode()
    assert "inte längre ingår i avtalet" in html
    html = client.get(reverse("my-watches", args=[demo.exempelbolaget.pk])).content.decode()
    assert "inte längre ingår i avtalet" not in html  # told once


def test_ending_the_agreement_deletes_every_watch_and_tells_by_email(demo):
    connect(demo)
    verify(demo.bertil)
    verify(demo.bertil, "email")
    services.save_watches(user=demo.bertil, company=demo.exempelbolaget, selections={"e_invoice": {"sms"}})
    agreement_services.end_agreement(company=demo.exempelbolaget, user=demo.anna)
    assert not Watch.objects.exists()
    assert UserNotice.objects.get(user=demo.bertil).kind == "agreement_ended"
    mail = Delivery.objects.get(purpose="notice")
    assert mail.channel == "email" and mail.destination == demo.bertil.email
    assert "Exempelbolaget i Sverige AB" in mail.body and "avslutats" in mail.body
    assert "559999" not in mail.body and demo.bertil.personnummer not in mail.body


def test_revoking_stops_the_watches_and_re_granting_restores_them(demo):
    connect(demo)
    verify(demo.cecilia)
    agreement_services.grant_case_watch_permission(
        company=demo.exempelbolaget, admin=demo.anna, user_id=demo.cecilia.pk
    )
    services.save_watches(user=demo.cecilia, company=demo.exempelbolaget, selections={"e_invoice": {"sms"}})
    agreement_services.revoke_case_watch_permission(
        company=demo.exempelbolaget, admin=demo.anna, user_id=demo.cecilia.pk
    )
    assert Watch.objects.filter(user=demo.cecilia).exists()
    assert demo.cecilia not in users_with_service_access(company=demo.exempelbolaget)
    assert UserNotice.objects.filter(user=demo.cecilia, kind="access_lost").exists()
    agreement_services.grant_case_watch_permission(
        company=demo.exempelbolaget, admin=demo.anna, user_id=demo.cecilia.pk
    )
    assert demo.cecilia in users_with_service_access(company=demo.exempelbolaget)
    assert UserNotice.objects.filter(user=demo.cecilia, kind="access_restored").exists()


def test_a_verification_code_goes_out_through_the_channel_layer_and_verifies_once(demo):
    verification = services.start_verification(user=demo.bertil, channel="sms", destination="070-174 06 99")
    delivery = Delivery.objects.get(pk=verification.delivery_id)
    assert delivery.purpose == Purpose.VERIFICATION and delivery.destination == "+46701740699"
    code = sent_code(verification)
    assert code not in verification.code_hash
    with pytest.raises(services.WatchError, match=r"Fel kod\. Du har 4 försök kvar\."):
        services.confirm_verification(user=demo.bertil, channel="sms", code="000000" if code != "000000" else "111111")
    services.confirm_verification(user=demo.bertil, channel="sms", code=code)
    demo.bertil.refresh_from_db()
    assert demo.bertil.mobile_number == "+46701740699"
    assert VerifiedContact.objects.get(user=demo.bertil, channel="sms").destination == "+46701740699"
    with pytest.raises(services.WatchError, match="ingen kod"):
        services.confirm_verification(user=demo.bertil, channel="sms", code=code)


def test_a_code_expires_after_ten_minutes(demo):
    verification = services.start_verification(user=demo.bertil, channel="email", destination="Bertil@Example.se")
    code = sent_code(verification)
    ContactVerification.objects.filter(pk=verification.pk).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    with pytest.raises(services.WatchError, match="gått ut"):
        services.confirm_verification(user=demo.bertil, channel="email", code=code)
    assert not VerifiedContact.objects.exists()


def test_a_code_locks_after_five_wrong_tries(demo):
    verification = services.start_verification(user=demo.bertil, channel="sms", destination="0701740699")
    code = sent_code(verification)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        with pytest.raises(services.WatchError):
            services.confirm_verification(user=demo.bertil, channel="sms", code=wrong)
    with pytest.raises(services.WatchError, match=r"För många (felaktiga|misslyckade) försök"):
        services.confirm_verification(user=demo.bertil, channel="sms", code=code)
    assert not VerifiedContact.objects.exists()


def test_codes_are_throttled_per_user(demo):
    services.start_verification(user=demo.bertil, channel="sms", destination="0701740699")
    with pytest.raises(services.WatchError, match="Vänta en minut"):
        services.start_verification(user=demo.bertil, channel="sms", destination="0701740699")
    ContactVerification.objects.update(created_at=timezone.now() - datetime.timedelta(minutes=2))
    for _ in range(4):
        services.start_verification(user=demo.bertil, channel="sms", destination="0701740699")
        ContactVerification.objects.update(created_at=timezone.now() - datetime.timedelta(minutes=2))
    with pytest.raises(services.WatchError, match="för många koder"):
        services.start_verification(user=demo.bertil, channel="sms", destination="0701740699")
    services.start_verification(user=demo.anna, channel="sms", destination="0701740605")  # others unaffected


def test_a_bad_destination_gets_a_clear_message_and_no_code(client, demo):
    connect(demo)
    client.force_login(demo.bertil)
    response = client.post(
        reverse("change-contact", args=[demo.exempelbolaget.pk]),
        {"channel": "sms", "destination": "08-123 456 78"},
        follow=True,
    )
    assert "Numret är inget mobilnummer" in response.content.decode()
    assert not ContactVerification.objects.exists()


@pytest.mark.parametrize("size", [1, 30])
def test_the_page_renders_with_a_constant_number_of_queries(client, demo, size, django_assert_max_num_queries):
    connect(demo)
    verify(demo.bertil)
    services.save_watches(user=demo.bertil, company=demo.exempelbolaget, selections={c: {"sms"} for c in ALL})
    Delivery.objects.bulk_create(
        Delivery(
            user=demo.bertil,
            company=demo.exempelbolaget,
            channel="sms",
            destination="+46701740606",
            purpose="alert",
            body="x",
            subject="Inkommen e-faktura",
        )
        for _ in range(size)
    )
    client.force_login(demo.bertil)
    with django_assert_max_num_queries(20):
        html = client.get(reverse("my-watches", args=[demo.exempelbolaget.pk])).content.decode()
    assert html.count("+46 70*** **06") == min(size, 25)


def test_the_alert_history_pages_newer_and_older_and_a_page_past_the_end_is_the_last(client, demo):
    connect(demo)
    now = timezone.now()
    Delivery.objects.bulk_create(
        Delivery(
            user=demo.bertil,
            company=demo.exempelbolaget,
            channel="sms" if n % 2 else "email",
            destination="+46701740606" if n % 2 else "bertil@example.se",
            purpose="alert",
            body="x",
            subject=f"Ärende {n:02d}",
            status="delivered",
            created_at=now - datetime.timedelta(hours=n),
        )
        for n in range(30)  # 25 on the first page, 5 on the second
    )
    client.force_login(demo.bertil)
    url = reverse("my-watches", args=[demo.exempelbolaget.pk])

    first = client.get(url).content.decode()
    assert "Ärende 00" in first and "Ärende 24" in first and "Ärende 25" not in first
    assert '<a href="?sida=2">Äldre</a>' in first and "Nyare" not in first
    assert "+46 70*** **06" in first and "b***@example.se" in first and "Levererad" in first and "E-post" in first

    for page in ("2", "3", "99", "0", "-1", "9" * 30):  # past the end, or below 1: the last page, as get_page
        last = client.get(url, {"sida": page}).content.decode()
        assert "Ärende 25" in last and "Ärende 29" in last and "Ärende 24" not in last, page
        assert '<a href="?sida=1">Nyare</a>' in last and "Äldre" not in last, page
    assert "Ärende 00" in client.get(url, {"sida": "x"}).content.decode()


def test_a_suspended_number_is_shown_with_what_to_do(client, demo):
    from notifications.services import suspend_destination

    connect(demo)
    verify(demo.bertil)
    suspend_destination(channel="sms", destination=demo.bertil.mobile_number, reason="opted_out", error_code="21610")
    client.force_login(demo.bertil)
    html = client.get(reverse("my-watches", args=[demo.exempelbolaget.pk])).content.decode()
    assert "<strong>spärrad</strong>" in html
    assert "Skicka START" in html
