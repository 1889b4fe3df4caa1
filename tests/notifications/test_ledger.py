"""Issue 23, part 4: the delivery ledger of Administrera behörigheter — its counts are the deliveries', only
permission administrators see it, and its CSV export is safe in a spreadsheet."""

import csv
import datetime
import io
import itertools

import pytest
from django.urls import reverse
from django.utils import timezone

from companies.models import User
from notifications.ledger import COLUMNS, LEDGER_PAGE_SIZE, ledger_filename, safe_cell
from notifications.models import Delivery, DeliveryStatus
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

STATUSES = [s.value for s in DeliveryStatus]


def deliver(user, company, *, channel, status, days=1, purpose="alert"):
    return Delivery.objects.create(
        user=user,
        company=company,
        channel=channel,
        destination="+46701740698" if channel == "sms" else "x@example.se",
        purpose=purpose,
        subject="Avvisad betalning",
        body="x",
        status=status,
        created_at=timezone.now() - datetime.timedelta(days=days),
    )


def expected(user, company) -> list[int]:
    """The ledger's cells for ``user``, counted from the deliveries in Python."""
    since = timezone.now() - datetime.timedelta(days=90)
    rows = [
        d
        for d in Delivery.objects.filter(user=user)
        if d.company_id == company.pk and d.purpose == "alert" and d.created_at >= since
    ]
    outcome = {
        "sent": {"sent", "delivered"},
        "delivered": {"delivered"},
        "failed": {"failed"},
    }
    return [sum(1 for d in rows if d.channel == ch and d.status in outcome[o]) for ch, o in COLUMNS]


def world(demo):
    """Every status on both channels for Bertil and Eva, and what must not count: older than 90 days,
    another company's alerts, a verification code, a contact-change notice."""
    company = demo.exempelbolaget
    for n, (user, channel, status) in enumerate(itertools.product([demo.bertil, demo.eva], ["sms", "email"], STATUSES)):
        for _ in range(1 + n % 3):
            deliver(user, company, channel=channel, status=status, days=n % 80)
    deliver(demo.bertil, company, channel="sms", status="delivered", days=91)
    deliver(demo.bertil, demo.svenssons, channel="sms", status="delivered")
    deliver(demo.bertil, None, channel="sms", status="delivered", purpose="verification")
    deliver(demo.bertil, None, channel="sms", status="delivered", purpose="contact_change")


def ledger_cells(html: str, name: str) -> list[int]:
    import re

    row = re.search(rf'<th scope="row">{re.escape(name)}</th>(.*?)</tr>', html, re.S).group(1)
    return [int(n) for n in re.findall(r'<td class="number">(\d+)</td>', row)]


def test_the_ledger_counts_are_the_deliveries(client, demo):
    world(demo)
    client.force_login(demo.anna)
    html = client.get(reverse("delivery-ledger", args=[demo.exempelbolaget.pk])).content.decode()
    for user in (demo.bertil, demo.eva, demo.anna):
        assert ledger_cells(html, user.get_full_name()) == expected(user, demo.exempelbolaget)
    assert ledger_cells(html, "Bertil Berg") != [0] * 6
    assert "Avvisad betalning" not in html and "+4670" not in html  # counts only, no content


def test_the_csv_rows_are_the_pages_rows_and_the_file_is_for_excel(client, demo):
    world(demo)
    client.force_login(demo.anna)
    response = client.get(reverse("delivery-ledger-csv", args=[demo.exempelbolaget.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    org = demo.exempelbolaget.org_number
    assert f'filename="bevaka-utskick-{org}-' in response["Content-Disposition"]
    assert "Exempelbolaget" not in response["Content-Disposition"]
    data = b"".join(response.streaming_content)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][0] == "Namn" and len(rows[0]) == 7
    by_name = {row[0]: [int(n) for n in row[1:]] for row in rows[1:]}
    members = demo.exempelbolaget.memberships.count()
    assert len(by_name) == members
    for user in (demo.bertil, demo.eva, demo.anna):
        assert by_name[user.get_full_name()] == expected(user, demo.exempelbolaget)


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+46 70", "'+46 70"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTab", "'\tTab"),
        ("Anna Andersson", "Anna Andersson"),
        ("", ""),
        (3, 3),
    ],
)
def test_a_cell_that_a_spreadsheet_would_read_as_a_formula_is_made_text(value, safe):
    assert safe_cell(value) == safe


def test_a_name_that_is_a_formula_is_exported_as_text(client, demo):
    evil = User.objects.create_user(personnummer="198112189876", first_name="=cmd|' /C calc'!A0", last_name="X")
    MembershipFactory(company=demo.exempelbolaget, user=evil)
    client.force_login(demo.anna)
    data = b"".join(client.get(reverse("delivery-ledger-csv", args=[demo.exempelbolaget.pk])).streaming_content)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    [row] = [r for r in rows if "calc" in r[0]]
    assert row[0].startswith("'=")


def test_a_sole_proprietorships_file_is_named_by_its_id_not_the_owners_personnummer(demo):
    assert demo.svenssons.is_sole_proprietorship
    name = ledger_filename(demo.svenssons)
    assert demo.svenssons.org_number not in name and f"id{demo.svenssons.pk}" in name


@pytest.mark.parametrize("name", ["delivery-ledger", "delivery-ledger-csv"])
def test_only_the_companys_permission_administrators_see_the_ledger(client, demo, name):
    url = reverse(name, args=[demo.exempelbolaget.pk])
    client.force_login(demo.bertil)  # a member, not a permission administrator
    assert client.get(url).status_code == 404
    client.force_login(demo.gustav)  # the permission administrator of another company
    assert client.get(url).status_code == 404
    assert client.get(reverse(name, args=[demo.svenssons.pk])).status_code == 200
    client.force_login(demo.anna)
    assert client.get(url).status_code == 200
    assert client.post(url).status_code == 405


def test_the_ledger_pages_the_users(client, demo):
    MembershipFactory.create_batch(LEDGER_PAGE_SIZE + 5, company=demo.exempelbolaget)
    client.force_login(demo.anna)
    url = reverse("delivery-ledger", args=[demo.exempelbolaget.pk])
    first = client.get(url).content.decode()
    assert first.count('<th scope="row">') == LEDGER_PAGE_SIZE and "sida 1 av 2" in first
    last = client.get(url + "?sida=99").content.decode()
    total = demo.exempelbolaget.memberships.count()
    assert last.count('<th scope="row">') == total - LEDGER_PAGE_SIZE
    assert client.get(url + "?sida=x").status_code == 200
