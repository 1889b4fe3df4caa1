"""Issue 23, part 4 in a real browser: the coverage warning appears and disappears as a user watches the
type; the delivery ledger's counts and its CSV export match the deliveries."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from notifications.ledger import COLUMNS
from tests.notifications.test_ledger import expected, world
from tests.subscriptions.test_watches import connect, verify

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_warning_goes_when_someone_watches_the_type_and_comes_back_when_they_stop(page, browser, demo, live_server):
    connect(demo, ["e_invoice", "rejected_payment"])
    verify(demo.bertil, "sms")
    page.login(demo.anna)
    service = reverse("service", args=[demo.exempelbolaget.pk])
    page.goto(service)
    warnings = page.get_by_role("heading", name="Varning: ärenden som ingen bevakar")
    assert warnings.is_visible()
    assert page.get_by_role("listitem").filter(has_text="Ingen bevakar Avvisad betalning").is_visible()

    # Bertil, in his own browser, watches Avvisad betalning by SMS.
    bertil = browser.new_context(base_url=live_server.url, locale="sv-SE").new_page()
    client = Client()
    client.force_login(demo.bertil)
    cookie = client.cookies["bevaka-session"]
    bertil.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    bertil.goto(reverse("edit-watches", args=[demo.exempelbolaget.pk]))
    bertil.get_by_label("Avvisad betalning: Sms").check()
    bertil.get_by_role("button", name="Spara").click()
    bertil.get_by_text("Dina bevakningar är sparade.").wait_for()

    page.reload()
    assert page.get_by_text("Ingen bevakar Avvisad betalning").count() == 0
    assert page.get_by_text("Ingen bevakar Inkommen e-faktura").is_visible()
    row = page.get_by_role("table", name=re.compile("får en avisering")).get_by_role(
        "row", name=re.compile("Avvisad betalning")
    )
    assert row.get_by_role("cell").all_inner_texts() == ["1", "0"]

    bertil.goto(reverse("edit-watches", args=[demo.exempelbolaget.pk]))
    bertil.get_by_label("Avvisad betalning: Sms").uncheck()
    bertil.get_by_role("button", name="Spara").click()
    bertil.get_by_text("Dina bevakningar är sparade.").wait_for()
    bertil.context.close()
    page.reload()
    assert page.get_by_text("Ingen bevakar Avvisad betalning").is_visible()


def test_the_ledgers_counts_and_its_csv_match_the_deliveries(page, demo):
    world(demo)
    page.login(demo.anna)
    page.goto(reverse("permissions", args=[demo.exempelbolaget.pk]))
    page.get_by_role("link", name="Utskick per användare de senaste 90 dagarna").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Utskick per användare"
    table = page.get_by_role("table", name=re.compile("Aviseringar per användare och kanal"))
    for user in (demo.bertil, demo.eva, demo.anna):
        row = table.get_by_role("row", name=re.compile(user.get_full_name()))
        cells = [int(n) for n in row.get_by_role("cell").all_inner_texts()]
        assert cells == expected(user, demo.exempelbolaget), user

    with page.expect_download() as download:
        page.get_by_role("link", name="Exportera alla användare som CSV-fil").click()
    data = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = {row[0]: [int(n) for n in row[1:]] for row in list(csv.reader(io.StringIO(data), delimiter=";"))[1:]}
    for user in (demo.bertil, demo.eva, demo.anna):
        assert rows[user.get_full_name()] == expected(user, demo.exempelbolaget)
    assert len(next(iter(rows.values()))) == len(COLUMNS)
