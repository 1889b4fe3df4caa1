"""Issue 18, defect 9: what bank staff read in the admin, and the login form's accessible description."""

import re

import pytest
from django.urls import reverse

from companies import demo as demo_world
from companies.models import User
from tests.subscriptions.test_watches import connect


def _staff(group: str) -> User:
    member = next(s for s in demo_world.STAFF if s.group == group)
    return User.objects.get(personnummer=member.personnummer)


def test_the_user_list_names_its_name_column(client, demo):
    client.force_login(_staff(demo_world.SUPPORT_GROUP))
    html = client.get(reverse("admin:companies_user_changelist")).content.decode()
    thead = html.split('<table id="result_list">')[1].split("</thead>")[0]
    headers = [re.sub(r"<[^>]+>|\s+", " ", h).strip() for h in re.findall(r'<th scope="col".*?</th>', thead, re.S)]
    assert "Namn" in headers, headers
    assert not [h for h in headers if "full" in h.lower()]


def test_an_agreement_version_shows_its_case_types_by_name(client, demo):
    version = connect(demo, ["e_invoice", "rejected_payment"])
    client.force_login(_staff(demo_world.SUPPORT_GROUP))
    for url in [
        reverse("admin:agreements_agreementversion_change", args=[version.pk]),
        reverse("admin:agreements_agreement_change", args=[version.agreement.pk]),
    ]:
        html = client.get(url).content.decode()
        assert "Inkommen e-faktura, Avvisad betalning" in html, url
        # The field as stored (a JSON list); the signed content's compact JSON may show, as signed.
        assert "[&quot;e_invoice&quot;, &quot;rejected_payment&quot;]" not in html


def test_the_bank_side_end_page_has_its_heading_once(client, demo):
    version = connect(demo, ["e_invoice"])
    client.force_login(_staff(demo_world.OPERATIONS_GROUP))
    html = client.get(reverse("admin:agreements_agreement_end_by_bank", args=[version.agreement.pk])).content.decode()
    assert html.count("Avsluta avtal från banken</h1>") == 1
    assert len(re.findall(r"<h1\b", html)) == 1


@pytest.mark.parametrize("url", ["login", "admin:login"])
def test_every_aria_describedby_of_the_login_forms_points_to_an_element(client, settings, db, url):
    settings.DEBUG = True  # the development login form, with its help text
    html = client.get(reverse(url)).content.decode()
    described = [i for ids in re.findall(r'aria-describedby="([^"]+)"', html) for i in ids.split()]
    assert described or url == "admin:login"
    for ident in described:
        assert f'id="{ident}"' in html, ident
