"""English: every catalogue is complete and compiled, and every page in English is free of Swedish words.

The Swedish words are taken from the catalogues themselves: every word of a Swedish source string (msgid)
that no English translation (msgstr) uses. So a new {% translate %} string left untranslated, or a Swedish
text that bypasses gettext but shares a word with one, fails here.
"""

import datetime
import gettext
import re
import shutil
import subprocess
from pathlib import Path

import polib
import pytest
from django.urls import reverse
from django.utils import timezone, translation

from tests.site_pages import bankid_pages, customer_pages, staff_pages, visible_text

BASE_DIR = Path(__file__).resolve().parents[2]
CATALOGUES = sorted(p for p in BASE_DIR.glob("**/locale/en/LC_MESSAGES/django.po") if ".venv" not in p.parts)
WORD = re.compile(r"[A-Za-zÅÄÖåäöÉé]+(?:-[A-Za-zÅÄÖåäö]+)*")


def _words(text: str) -> set[str]:
    text = re.sub(r"%\(\w+\)[sd]|\{\{.*?\}\}", " ", text)
    text = re.sub(r"\b\w+(?:[._]\w+)+\b", " ", text)  # codes such as bevaka_arenden.agreement
    return {w.lower() for w in WORD.findall(text)}


def _swedish_words() -> set[str]:
    source, english = set(), set()
    for path in CATALOGUES:
        for entry in polib.pofile(str(path)):
            source |= _words(entry.msgid + " " + (entry.msgid_plural or ""))
            english |= _words(entry.msgstr + " " + " ".join(entry.msgstr_plural.values()))
    return source - english


def test_there_is_a_catalogue_for_the_project_and_for_the_apps_that_keep_their_own():
    names = {str(p.relative_to(BASE_DIR)) for p in CATALOGUES}
    assert {"locale/en/LC_MESSAGES/django.po", "signing/locale/en/LC_MESSAGES/django.po"} <= names


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: str(p.relative_to(BASE_DIR)))
def test_every_string_of_the_catalogue_is_translated_and_none_is_fuzzy(path):
    catalogue = polib.pofile(str(path))
    assert [e.msgid for e in catalogue.untranslated_entries()] == []
    assert [e.msgid for e in catalogue.fuzzy_entries()] == []
    assert [e.msgid for e in catalogue.obsolete_entries()] == []


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: str(p.relative_to(BASE_DIR)))
def test_the_committed_mo_file_is_compiled_from_the_po_file(path, tmp_path):
    fresh = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check-format", "-o", str(fresh), str(path)], check=True)
    with open(path.with_suffix(".mo"), "rb") as committed, open(fresh, "rb") as compiled:
        assert gettext.GNUTranslations(committed)._catalog == gettext.GNUTranslations(compiled)._catalog, (
            f"{path.with_suffix('.mo')} is stale: run `make messages`"
        )


@pytest.mark.slow
def test_the_catalogues_hold_every_string_of_the_source(tmp_path):
    """makemessages, run on a copy of the tree, finds no msgid that the committed catalogues lack."""
    copy = tmp_path / "tree"
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in tracked:
        source = BASE_DIR / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    import os
    import sys

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bevaka.settings",
        "DEBUG": "true",
        "BEVAKA_VAR_DIR": str(tmp_path / "var"),
    }
    makefile = (BASE_DIR / "Makefile").read_text()
    ignore = re.search(r"^MAKEMESSAGES_IGNORE := (.*)$", makefile, re.MULTILINE).group(1).split()
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "en", "--no-wrap", "--add-location=file", *ignore],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
    )
    for path in CATALOGUES:
        relative = path.relative_to(BASE_DIR)
        regenerated = polib.pofile(str(copy / relative))
        new = [e.msgid for e in regenerated if not e.obsolete and not e.translated()]
        assert new == [], f"{relative}: strings without a translation; run `make messages` and translate them"
        gone = [e.msgid for e in regenerated.obsolete_entries()]
        assert gone == [], f"{relative}: strings no longer in the source; run `make messages`"


def test_the_swedish_word_list_is_real():
    words = _swedish_words()
    assert {"bevakningar", "avtal", "signera", "spara", "och"} <= words
    assert not {"bankid", "sms", "status", "version"} & words


HEX_DIGEST = re.compile(r"\b[0-9a-f]{32,}\b|\b[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\b")


def _english_pages(client, pages):
    swedish = _swedish_words()
    found, seen = {}, 0
    for site_page in pages:
        seen += 1
        if site_page.client is not None:
            browser = site_page.client
        else:
            client.logout()
            if site_page.user is not None:
                client.force_login(site_page.user)
            browser = client
        response = browser.get(site_page.url, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 200, f"{site_page.name}: {site_page.url} answered {response.status_code}"
        html = response.content.decode()
        assert '<html lang="en"' in html, site_page.name
        # A checksum is no language: the hex of the signed content's SHA-256 once held "…1de6f…", whose
        # letters read as the Swedish "de" (the content, and so the checksum, changes with the date); a BankID
        # orderRef (a random UUID, on the signing admin's pages) read as "de" in "…-4de1-…" one run in a few.
        text = HEX_DIGEST.sub(" ", visible_text(html))
        leftovers = sorted(_words(text) & swedish)
        if leftovers:
            found[site_page.name] = leftovers
    return found, seen


@pytest.mark.django_db
def test_every_customer_page_in_english_has_no_swedish_word(client, demo):
    client.cookies["bevaka-language"] = "en"
    found, seen = _english_pages(client, customer_pages(demo, language="en"))
    assert seen >= 20
    assert found == {}, "\n".join(f"{name}: {words}" for name, words in found.items())


@pytest.mark.django_db
@pytest.mark.slow
def test_the_pages_that_wait_for_bankid_in_english_have_no_swedish_word(client, demo, mock_bankid):
    found, seen = _english_pages(client, bankid_pages(demo, language="en"))
    assert seen == 3
    assert found == {}, "\n".join(f"{name}: {words}" for name, words in found.items())


@pytest.mark.django_db
def test_every_staff_page_in_english_has_no_swedish_word(client, demo):
    client.cookies["bevaka-language"] = "en"
    found, seen = _english_pages(client, staff_pages(demo))
    assert seen >= 10
    assert found == {}, "\n".join(f"{name}: {words}" for name, words in found.items())


@pytest.mark.django_db
def test_the_english_help_page_is_the_banks_english_help_text(client, demo):
    client.cookies["bevaka-language"] = "en"
    client.force_login(demo.anna)
    html = client.get(reverse("help")).content.decode()
    text = visible_text(html)
    for sentence in [
        "Connect to the service Watch cases",
        "You can choose to get it by SMS or by e-mail.",
        "Choose which cases the agreement includes and click Connect.",
        "Click End. You get a confirmation that the service has ended.",
    ]:
        assert sentence in text


@pytest.mark.django_db
def test_dates_are_written_in_the_users_language_and_stockholm_time(client, demo):
    from zoneinfo import ZoneInfo

    from notifications.models import Delivery
    from subscriptions.models import VerifiedContact
    from tests.site_pages import _connect

    _connect(demo)
    # 23:30 UTC is 00:30 or 01:30 the next day in Stockholm: the day itself changes.
    moment = (timezone.now() - datetime.timedelta(days=10)).replace(hour=23, minute=30, second=0, microsecond=0)
    moment = moment.astimezone(datetime.UTC)
    local = moment.astimezone(ZoneInfo("Europe/Stockholm"))
    assert local.date() != moment.date()
    VerifiedContact.objects.create(user=demo.bertil, channel="sms", destination="+46701740698", verified_at=moment)
    Delivery.objects.create(
        user=demo.bertil,
        company=demo.exempelbolaget,
        channel="sms",
        destination="+46701740698",
        purpose="alert",
        body="alert",
        status="delivered",
        created_at=moment,
    )
    client.force_login(demo.bertil)
    url = reverse("my-watches", args=[demo.exempelbolaget.pk])
    assert local.strftime("%Y-%m-%d %H:%M") in client.get(url).content.decode()
    client.cookies["bevaka-language"] = "en"
    assert f"{local.day} {local.strftime('%b %Y, %H:%M')}" in client.get(url).content.decode()

    client.force_login(demo.anna)
    today = timezone.localtime()
    service = client.get(reverse("service", args=[demo.exempelbolaget.pk])).content.decode()
    assert f"since {today.day} {today.strftime('%B %Y')}." in service
    client.cookies["bevaka-language"] = "sv"
    service = client.get(reverse("service", args=[demo.exempelbolaget.pk])).content.decode()
    months = [
        "januari",
        "februari",
        "mars",
        "april",
        "maj",
        "juni",
        "juli",
        "augusti",
        "september",
        "oktober",
        "november",
        "december",
    ]
    assert f"sedan {today.day} {months[today.month - 1]} {today.year}." in service


MESSAGE_TEMPLATES = sorted(
    str(p.relative_to(BASE_DIR / "templates"))
    for folder in ("notifications/sms", "events/email", "subscriptions/email")
    for p in (BASE_DIR / "templates" / folder).glob("*.*")
)


@pytest.mark.parametrize("name", MESSAGE_TEMPLATES)
def test_every_sms_and_email_text_in_english_has_no_swedish_word(name):
    """What an English-speaking user receives: every alert, code and notice, in each of its variants."""
    from django.template.loader import render_to_string

    company = type("Company", (), {"name": "Acme Ltd", "__str__": lambda self: "Acme Ltd"})()
    swedish = _swedish_words()
    for kind in ("types_removed", "agreement_ended", "access_lost"):
        with translation.override("en"):
            text = render_to_string(
                name,
                {
                    "company": company,
                    "case_type": "E-invoice received",
                    "case_types": ["E-invoice received"],
                    "code": "123456",
                    "kind": kind,
                    "unsubscribe_url": "https://bank.example/u",
                },
            )
        assert text.strip()
        assert sorted(_words(visible_text(text)) & swedish) == [], f"{name} ({kind})"


@pytest.mark.django_db
def test_a_pending_change_names_its_cases_in_the_readers_language(client, demo):
    pages = customer_pages(demo, language="en")
    pending = next(p for p in pages if p.name == "service, change pending joint signature")
    client.force_login(pending.user)
    assert "Cases: E-invoice received" in visible_text(
        client.get(pending.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    )
    client.cookies["bevaka-language"] = "en"
    assert "e_invoice" not in visible_text(client.get(pending.url).content.decode())
