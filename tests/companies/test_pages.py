import re
from pathlib import Path

import pytest
from django.test import override_settings
from django.urls import reverse

from tests.factories import AgreementFactory

pytestmark = pytest.mark.django_db

COMPANY_PAGES = ["company-home", "service", "my-watches", "permissions", "delivery-ledger", "delivery-ledger-csv"]


def test_a_user_with_one_company_goes_straight_to_it(client, demo):
    client.force_login(demo.anna)
    response = client.get(reverse("company-picker"))
    assert response.status_code == 302
    assert response["Location"] == reverse("service", args=[demo.exempelbolaget.pk])


def test_a_user_with_two_companies_picks_one_and_can_switch(client, demo):
    client.force_login(demo.gustav)
    picker = client.get(reverse("company-picker"))
    assert picker.status_code == 200
    html = picker.content.decode()
    assert "Exempelbolaget i Sverige AB" in html and "Svenssons Bygg" in html
    assert "559999-0107" in html and "580227-9892" in html

    page = client.get(reverse("service", args=[demo.svenssons.pk])).content.decode()
    assert "Svenssons Bygg" in re.search(r"<header.*?</header>", page, re.S).group(0)
    assert "Byt företag" in page
    assert client.session["current_company_id"] == demo.svenssons.pk

    page = client.get(reverse("service", args=[demo.exempelbolaget.pk])).content.decode()
    assert "Exempelbolaget i Sverige AB" in re.search(r"<header.*?</header>", page, re.S).group(0)
    assert client.session["current_company_id"] == demo.exempelbolaget.pk


@pytest.mark.parametrize("name", COMPANY_PAGES)
def test_a_user_never_sees_a_company_they_do_not_belong_to(client, demo, name):
    client.force_login(demo.anna)  # Exempelbolaget only
    response = client.get(reverse(name, args=[demo.svenssons.pk]))
    assert response.status_code == 404
    assert b"Svenssons" not in response.content
    missing = client.get(reverse(name, args=[987654]))
    assert missing.status_code == 404


def test_the_picker_lists_only_the_users_own_companies(client, demo):
    client.force_login(demo.anna)
    response = client.get(reverse("company-picker") + "?byt=1")
    assert b"Exempelbolaget" in response.content
    assert b"Svenssons" not in response.content


@pytest.mark.parametrize("name", COMPANY_PAGES)
def test_company_pages_ask_for_login(client, demo, name):
    response = client.get(reverse(name, args=[demo.exempelbolaget.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_only_permission_admins_see_administrera_behorigheter(client, demo):
    client.force_login(demo.bertil)
    assert client.get(reverse("permissions", args=[demo.exempelbolaget.pk])).status_code == 404
    assert (
        "Administrera behörigheter"
        not in client.get(reverse("service", args=[demo.exempelbolaget.pk])).content.decode()
    )

    client.force_login(demo.anna)
    response = client.get(reverse("permissions", args=[demo.exempelbolaget.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    for name in ["Anna Andersson", "Bertil Berg", "Cecilia Carlsson", "Gustav Svensson"]:
        assert name in html
    assert "Administrera behörigheter" in client.get(reverse("service", args=[demo.exempelbolaget.pk])).content.decode()


def test_mina_bevakningar_explains_why_there_is_no_access_and_who_can_fix_it(client, demo):
    client.force_login(demo.cecilia)
    html = client.get(reverse("my-watches", args=[demo.exempelbolaget.pk])).content.decode()
    assert "inte anslutet" in html
    assert "Anna Andersson" in html and "Eva Ek" in html  # the signatories

    AgreementFactory(company=demo.exempelbolaget)
    html = client.get(reverse("my-watches", args=[demo.exempelbolaget.pk])).content.decode()
    assert "Hantera Bevaka ärenden" in html
    assert "Anna Andersson" in html  # the permission administrator

    client.force_login(demo.bertil)
    html = client.get(reverse("my-watches", args=[demo.exempelbolaget.pk])).content.decode()
    assert "Ärenden som bevakas" in html


def test_every_page_has_the_skip_link_pointing_at_the_main_content(client, demo):
    client.force_login(demo.anna)
    for url in [reverse("service", args=[demo.exempelbolaget.pk]), reverse("help"), reverse("login")]:
        html = client.get(url).content.decode()
        link = re.search(r'<a class="skip-link" href="#(?P<target>[\w-]+)" accesskey="s">(?P<text>[^<]+)</a>', html)
        assert link, url
        assert link["text"] == "Till textinnehållet på sidan. Tryck Alt+S"
        assert re.search(rf'<main id="{link["target"]}" tabindex="-1">', html)
        assert html.index("skip-link") < html.index("<header")
        assert len(re.findall(r"<h1[ >]", html)) == 1


def test_every_control_on_the_pages_has_a_label(client, demo):
    client.force_login(demo.gustav)
    for url in [reverse("service", args=[demo.svenssons.pk]), reverse("company-picker"), reverse("help")]:
        html = client.get(url).content.decode()
        for control in re.finditer(r'<(?:select|input(?![^>]*type="(?:hidden|submit)"))[^>]*\bid="([^"]+)"', html):
            assert f'for="{control.group(1)}"' in html, control.group(0)


def test_the_help_page_has_the_banks_text_with_print_and_close(client):
    response = client.get(reverse("help") + "?tillbaka=/foretag/")
    html = response.content.decode()
    # The bank's text as given: a copy of ../shared/docs/bevaka-arenden-hjalp.sv.txt kept in docs/.
    with open(Path(__file__).resolve().parents[2] / "docs" / "bevaka-arenden-hjalp.sv.txt", encoding="utf-8") as f:
        source = f.read()
    headings = [
        "Ansluta till tjänsten Bevaka ärenden",
        "Visa/ändra Mina bevakningar",
        "Ändra avtal för tjänsten Bevaka ärenden",
        "Avsluta avtal för tjänsten Bevaka ärenden",
    ]
    for heading in headings:
        assert heading in source
        assert f"<h2>{heading}</h2>" in html
    for sentence in ["Klicka på Avsluta. Du får en bekräftelse på att tjänsten är avslutad.", "Gör så här:"]:
        assert sentence in source and sentence in html
    assert '<a class="button" href="/foretag/" data-action="close">Stäng</a>' in html
    assert '<button type="button" data-action="print">Skriv ut</button>' in html
    assert 'media="print"' in html


def test_the_help_page_never_links_back_off_site(client):
    html = client.get(reverse("help") + "?tillbaka=https://evil.example/").content.decode()
    close = re.search(r'<a class="button" href="([^"]*)" data-action="close">', html).group(1)
    assert close == "/"


def test_the_personnummer_login_does_not_exist_without_debug(client, demo):
    response = client.post(reverse("login"), {"personnummer": "19780412-9802"})
    assert response.status_code == 404
    assert "_auth_user_id" not in client.session


@override_settings(DEBUG=True)
def test_the_debug_login_logs_in_by_personnummer_and_rotates_the_session(client, demo):
    client.get(reverse("login"))
    client.session.save()
    before = client.session.session_key
    response = client.post(reverse("login"), {"personnummer": "780412-9802"})
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == demo.anna.pk
    assert client.session.session_key != before


@override_settings(DEBUG=True)
def test_the_debug_login_says_what_is_wrong_in_swedish(client, demo):
    html = client.post(reverse("login"), {"personnummer": "19780412-9803"}).content.decode()
    assert "Personnumret har fel kontrollsiffra." in html
    html = client.post(reverse("login"), {"personnummer": "19800101-9804"}).content.decode()
    assert "Det finns ingen användare med det personnumret." in html
    assert "_auth_user_id" not in client.session


def test_the_language_switch_changes_the_language_and_remembers_it(client, demo):
    client.force_login(demo.anna)
    url = reverse("service", args=[demo.exempelbolaget.pk])
    response = client.post(reverse("switch-language"), {"language": "en", "next": url})
    assert response.status_code == 302 and response["Location"] == url
    demo.anna.refresh_from_db()
    assert demo.anna.language == "en"
    assert '<html lang="en">' in client.get(url).content.decode()


def test_the_language_switch_refuses_to_redirect_off_site(client):
    response = client.post(reverse("switch-language"), {"language": "sv", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_logout_ends_the_session(client, demo):
    client.force_login(demo.anna)
    assert client.get(reverse("logout")).status_code == 405
    client.post(reverse("logout"))
    assert "_auth_user_id" not in client.session
