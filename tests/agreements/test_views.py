import pytest
from django.test import Client
from django.urls import reverse

from agreements import services
from agreements.models import Agreement, PendingAgreementChange
from audit.models import AuditEntry
from companies import demo as demo_world
from companies.models import Authority, Membership
from tests.agreements.conftest import make_evidence
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

ALL = ["e_invoice", "personal_message", "rejected_payment"]


def _connect(demo, codes=ALL):
    proposal = services.propose_connect(company=demo.exempelbolaget, signer=demo.anna, case_type_codes=codes)
    return services.apply_signed_proposal(
        proposal=proposal, signer=demo.anna, evidence=make_evidence(demo.anna, proposal.content)
    ).version


def _finish_signing(client, company_id, user):
    """Sign what the signing step started, as the signing app would, and come back to our return URL."""
    from signing.models import SignatureOrder

    order = SignatureOrder.objects.filter(user=user).latest("created_at")
    from agreements.proposals import Proposal

    proposal_id, entry = _latest_proposal(client, company_id)
    proposal = Proposal.from_session(entry["proposal"])
    assert order.content_sha256 == proposal.content_sha256
    assert order.visible_text == proposal.visible_text()
    evidence = make_evidence(user, proposal.content)
    _point_session_at(client, company_id, evidence.order_id)
    return client.get(reverse("agreements:signed", args=[company_id, proposal_id]))


def _latest_proposal(client, company_id) -> tuple[str, dict]:
    """The id and session entry of the proposal made last (each proposal has its own, issue 18)."""
    return list(client.session[f"agreement-proposals:{company_id}"].items())[-1]


def _signing_step(company_id) -> str:
    return reverse("agreements:sign", args=[company_id, "x"]).removesuffix("x/")


def _point_session_at(client, company_id, order_id):
    """Stand in for the signing app: the signature just made is the one the session is waiting for."""
    session = client.session
    proposal_id, entry = _latest_proposal(client, company_id)
    session[f"agreement-proposals:{company_id}"][proposal_id] = {**entry, "order": str(order_id)}
    session.save()


def test_anslut_goes_to_a_signing_step_that_shows_exactly_what_is_agreed(client, demo):
    client.force_login(demo.anna)
    page = client.get(reverse("service", args=[demo.exempelbolaget.pk])).content.decode()
    assert 'value="e_invoice"' in page and ">Anslut</button>" in page

    response = client.post(reverse("agreements:connect", args=[demo.exempelbolaget.pk]), {"case_types": ["e_invoice"]})
    assert response.status_code == 302
    assert response["Location"].startswith(_signing_step(demo.exempelbolaget.pk))
    html = client.get(response["Location"]).content.decode()
    for text in [
        "Exempelbolaget i Sverige AB (559999-0107)",
        "Bevaka ärenden",
        "Inkommen e-faktura",
        "version 2026:1",
    ]:
        assert text in html
    assert "Avvisad betalning" not in html
    for method in ["Säkerhetsdosa", "BankID på kort", "BankID i mobil"]:
        assert method in html


def test_anslut_without_any_case_type_says_what_is_wrong(client, demo):
    client.force_login(demo.anna)
    response = client.post(reverse("agreements:connect", args=[demo.exempelbolaget.pk]), {})
    assert response.status_code == 400
    assert "Välj minst ett ärende som ska ingå i avtalet." in response.content.decode()
    assert not Agreement.objects.exists()


def test_signing_step_starts_an_order_and_the_return_completes_the_connect(client, demo):
    client.force_login(demo.anna)
    client.post(reverse("agreements:connect", args=[demo.exempelbolaget.pk]), {"case_types": ALL})
    sign_url = reverse(
        "agreements:sign", args=[demo.exempelbolaget.pk, _latest_proposal(client, demo.exempelbolaget.pk)[0]]
    )
    response = client.post(sign_url, {"method": "security_token"})
    assert response.status_code == 302 and "/signera/" in response["Location"]

    receipt = _finish_signing(client, demo.exempelbolaget.pk, demo.anna)
    assert receipt.status_code == 302
    again = client.get(receipt.wsgi_request.path)
    assert again["Location"] == receipt["Location"]  # a second visit shows the same receipt, changes nothing
    html = client.get(receipt["Location"]).content.decode()
    assert "Företaget är anslutet till tjänsten Bevaka ärenden" in html
    assert "Till administrera behörigheter" in html
    assert "Mina bevakningar" in html and "Skriv ut" in html
    assert Agreement.objects.get(company=demo.exempelbolaget).is_active


def test_a_signature_over_other_content_completes_nothing(client, demo):
    client.force_login(demo.anna)
    started = client.post(reverse("agreements:connect", args=[demo.exempelbolaget.pk]), {"case_types": ALL})
    client.post(started["Location"], {"method": "security_token"})
    other = services.propose_connect(company=demo.exempelbolaget, signer=demo.anna, case_type_codes=["e_invoice"])
    evidence = make_evidence(demo.anna, other.content)
    _point_session_at(client, demo.exempelbolaget.pk, evidence.order_id)
    proposal_id = _latest_proposal(client, demo.exempelbolaget.pk)[0]
    response = client.get(reverse("agreements:signed", args=[demo.exempelbolaget.pk, proposal_id]))
    assert response.status_code == 302
    assert not Agreement.objects.exists()


def test_the_help_pages_change_steps(client, demo):
    _connect(demo)
    client.force_login(demo.anna)
    service = client.get(reverse("service", args=[demo.exempelbolaget.pk])).content.decode()
    assert "Ändra avtal</a>" in service and "Avsluta</a>" in service
    page = client.get(reverse("agreements:change", args=[demo.exempelbolaget.pk])).content.decode()
    assert ">Ändra</button>" in page
    assert page.count("checked") == 3
    same = client.post(reverse("agreements:change", args=[demo.exempelbolaget.pk]), {"case_types": ALL})
    assert same.status_code == 400 and "innehåller redan" in same.content.decode()
    response = client.post(reverse("agreements:change", args=[demo.exempelbolaget.pk]), {"case_types": ["e_invoice"]})
    assert response["Location"].startswith(_signing_step(demo.exempelbolaget.pk))
    client.post(response["Location"], {"method": "bankid_mobile"})


def test_avsluta_asks_then_ends_then_confirms(client, demo):
    _connect(demo)
    client.force_login(demo.anna)
    page = client.get(reverse("agreements:end", args=[demo.exempelbolaget.pk])).content.decode()
    assert ">Avsluta</button>" in page
    assert Agreement.objects.get(company=demo.exempelbolaget).is_active
    response = client.post(reverse("agreements:end", args=[demo.exempelbolaget.pk]))
    assert response.status_code == 302
    html = client.get(response["Location"]).content.decode()
    assert "Tjänsten Bevaka ärenden är avslutad" in html
    assert not Agreement.objects.filter(company=demo.exempelbolaget, status="active").exists()


@pytest.mark.parametrize("person", ["bertil", "cecilia"])
def test_a_user_without_mandate_is_refused_on_pages_and_direct_posts(client, demo, person):
    client.force_login(getattr(demo, person))
    company = demo.exempelbolaget.pk
    page = client.get(reverse("service", args=[company])).content.decode()
    assert ">Anslut</button>" not in page
    assert "fullmakt att teckna avtal" in page
    assert client.post(reverse("agreements:connect", args=[company]), {"case_types": ALL}).status_code == 403
    assert not Agreement.objects.exists()

    _connect(demo)
    page = client.get(reverse("service", args=[company])).content.decode()
    assert "Ändra avtal</a>" not in page and "Avsluta</a>" not in page
    assert client.post(reverse("agreements:change", args=[company]), {"case_types": ["e_invoice"]}).status_code == 403
    assert client.post(reverse("agreements:end", args=[company])).status_code == 403
    assert Agreement.objects.get(company=demo.exempelbolaget).case_types.count() == 3
    assert Agreement.objects.get(company=demo.exempelbolaget).is_active


def test_a_second_signatory_sees_the_pending_connect_and_signs_it(client, demo):
    proposal = services.propose_connect(company=demo.exempelbolaget, signer=demo.eva, case_type_codes=ALL)
    pending = services.apply_signed_proposal(
        proposal=proposal, signer=demo.eva, evidence=make_evidence(demo.eva, proposal.content)
    ).pending
    client.force_login(demo.fredrik)
    page = client.get(reverse("service", args=[demo.exempelbolaget.pk])).content.decode()
    assert "Anslutning som väntar på signatur" in page and "Eva Ek" in page
    response = client.post(reverse("agreements:cosign", args=[demo.exempelbolaget.pk, pending.pk]))
    assert response["Location"].startswith(_signing_step(demo.exempelbolaget.pk))
    client.post(response["Location"], {"method": "security_token"})
    receipt = _finish_signing(client, demo.exempelbolaget.pk, demo.fredrik)
    assert "kvittens" in receipt["Location"]
    assert Agreement.objects.get(company=demo.exempelbolaget).is_active
    assert PendingAgreementChange.objects.get().status == "completed"


def test_a_user_of_another_company_gets_404_for_every_agreement_and_permission_url(client, demo):
    version = _connect(demo)
    agreement = version.agreement
    client.force_login(demo.gustav)
    Membership.objects.filter(user=demo.gustav, company=demo.exempelbolaget).delete()
    c = demo.exempelbolaget.pk
    urls = [
        ("get", reverse("service", args=[c])),
        ("get", reverse("permissions", args=[c])),
        ("post", reverse("permissions", args=[c])),
        ("post", reverse("agreements:connect", args=[c])),
        ("get", reverse("agreements:change", args=[c])),
        ("post", reverse("agreements:change", args=[c])),
        ("get", reverse("agreements:sign", args=[c, "x"])),
        ("post", reverse("agreements:sign", args=[c, "x"])),
        ("get", reverse("agreements:signed", args=[c, "x"])),
        ("post", reverse("agreements:cosign", args=[c, 1])),
        ("post", reverse("agreements:withdraw", args=[c, 1])),
        ("get", reverse("agreements:pending-receipt", args=[c, 1])),
        ("get", reverse("agreements:receipt", args=[c, version.pk])),
        ("get", reverse("agreements:end", args=[c])),
        ("post", reverse("agreements:end", args=[c])),
        ("get", reverse("agreements:end-receipt", args=[c, agreement.pk])),
    ]
    for method, url in urls:
        response = getattr(client, method)(url, {"case_types": ALL, "user": demo.cecilia.pk, "action": "grant"})
        assert response.status_code == 404, (method, url)
    assert Agreement.objects.get().is_active
    assert not AuditEntry.objects.filter(action__startswith="permission").exists()


def test_receipts_of_one_company_are_not_shown_under_another(client, demo):
    version = _connect(demo)
    client.force_login(demo.gustav)  # member of both companies
    response = client.get(reverse("agreements:receipt", args=[demo.svenssons.pk, version.pk]))
    assert response.status_code == 404


def test_the_permission_admin_grants_a_restricted_user_who_then_has_access(client, demo):
    _connect(demo)
    client.force_login(demo.anna)
    url = reverse("permissions", args=[demo.exempelbolaget.pk])
    page = client.get(url).content.decode()
    assert "Har tillgång genom obegränsad behörighet" in page
    response = client.post(url, {"user": demo.cecilia.pk, "action": "grant"})
    assert response.status_code == 302
    client.force_login(demo.cecilia)
    html = client.get(reverse("my-watches", args=[demo.exempelbolaget.pk])).content.decode()
    assert "Ärenden som bevakas" in html


def test_the_permission_page_searches_by_name(client, demo):
    client.force_login(demo.anna)
    html = client.get(reverse("permissions", args=[demo.exempelbolaget.pk]), {"q": "cecilia"}).content.decode()
    assert "Cecilia Carlsson" in html and "David Dahl" not in html


@pytest.mark.parametrize("extra_users", [5, 60])
def test_the_permission_pages_query_count_does_not_grow_with_the_number_of_users(
    client, demo, extra_users, django_assert_max_num_queries
):
    _connect(demo)
    MembershipFactory.create_batch(extra_users, company=demo.exempelbolaget, authority=Authority.RESTRICTED)
    client.force_login(demo.anna)
    with django_assert_max_num_queries(14):
        response = client.get(reverse("permissions", args=[demo.exempelbolaget.pk]))
    assert response.status_code == 200
    rows = response.content.decode().count('<th scope="row">')
    members = sum(1 for person in demo_world.PEOPLE if demo_world.EXEMPELBOLAGET in person.roles)
    assert rows == min(50, members + extra_users)


def test_the_permission_page_pages_with_the_total_and_a_page_past_the_end_is_the_last(client, demo):
    _connect(demo)
    MembershipFactory.create_batch(60, company=demo.exempelbolaget, authority=Authority.RESTRICTED)
    members = Membership.objects.filter(company=demo.exempelbolaget, user__is_active=True).count()
    assert 50 < members <= 100
    client.force_login(demo.anna)
    url = reverse("permissions", args=[demo.exempelbolaget.pk])

    first = client.get(url).content.decode()
    assert "sida 1 av 2" in first and first.count('<th scope="row">') == 50
    assert "sida=2" in first and "Föregående" not in first
    for page in ("2", "3", "99", "0", "-1", "9" * 30):  # past the end, or below 1: the last page, as get_page
        last = client.get(url, {"sida": page}).content.decode()
        assert "sida 2 av 2" in last and last.count('<th scope="row">') == members - 50, page
        assert "Föregående" in last and "Nästa" not in last, page
    assert "sida 1 av 2" in client.get(url, {"sida": "x"}).content.decode()
    one = client.get(url, {"q": "cecilia", "sida": "2"}).content.decode()  # one match: its only page
    assert "Cecilia Carlsson" in one and "sida" not in one.split("<caption>")[1].split("</caption>")[0]
    none = client.get(url, {"q": "ingen-sådan"}).content.decode()
    assert "Inga användare matchar sökningen." in none


def test_forms_on_the_agreement_pages_need_a_csrf_token(demo):
    client = Client(enforce_csrf_checks=True)
    client.force_login(demo.anna)
    response = client.post(reverse("agreements:connect", args=[demo.exempelbolaget.pk]), {"case_types": ALL})
    assert response.status_code == 403
    assert not Agreement.objects.exists()
