"""Issue 23, part 3 in a real browser: a new mobile number is verified with the code from the fake Twilio
server, and the notice goes to the OLD number (the fake's received messages), audited with the address."""

import re

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from tests.subscriptions.test_watches import connect, verify

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

OLD, NEW = "+46701740698", "+46701740699"


def test_changing_the_mobile_number_tells_the_old_number(page, demo, send_settings, fake_twilio):
    send_settings.CELERY_TASK_ALWAYS_EAGER = True  # sent at once, by the real twilio client, to the fake
    connect(demo, ["e_invoice"])
    verify(demo.bertil, "sms", OLD)
    page.login(demo.bertil)
    page.goto(reverse("my-watches", args=[demo.exempelbolaget.pk]))

    page.get_by_label("Nytt mobilnummer").fill("070-174 06 99")
    page.locator("form:has(#destination-sms)").get_by_role("button", name="Skicka kod").click()
    [code_sms] = [m for m in fake_twilio.messages() if m["to"] == NEW]
    code = re.search(r"\b(\d{6})\b", code_sms["body"]).group(1)
    assert [m for m in fake_twilio.messages() if m["to"] == OLD] == []  # nothing changed yet
    page.get_by_label(f"Kod som skickades till {NEW}").fill(code)
    page.get_by_role("button", name="Verifiera", exact=True).click()
    assert page.get_by_text("Uppgiften är verifierad.").is_visible()

    [notice] = [m for m in fake_twilio.messages() if m["to"] == OLD]
    assert notice["body"].startswith("Ditt mobilnummer för Bevaka ärenden ändrades den ")
    assert notice["body"].endswith("Om det inte var du, ring banken.")
    assert "1740699" not in notice["body"] and "174 06 99" not in notice["body"]
    entry = AuditEntry.objects.filter(action="contact.verified").latest("seq")
    assert entry.after["notice_to"] == ["sms"] and entry.ip_address == "127.0.0.1"

    # The history of Mina bevakningar shows the notice, to the old number (masked).
    page.reload()
    history = page.get_by_role("table", name="Aviseringar de senaste 90 dagarna")
    row = history.get_by_role("row", name=re.compile("Ändrad kontaktuppgift"))
    assert "+46 70*** **98" in row.inner_text()
