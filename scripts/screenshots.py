"""Screenshots of the main pages for the README, taken from the running app so they stay current.

    make screenshots        # writes docs/screenshots/*.png
    python scripts/screenshots.py --out DIR

Runs on the embedded defaults of `make run` in a private folder (its own SQLite file and broker, free
ports, DEBUG on), seeds the demo, starts the web app, and drives it with Playwright and Debian's Chromium
the way a user would: the development login, Anslut with the säkerhetsdosa, Mina bevakningar, English.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from harness import commands, free_port, start_process

BASE_DIR = Path(__file__).resolve().parent.parent
OUT = BASE_DIR / "docs" / "screenshots"
VIEWPORT = {"width": 1200, "height": 800}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def main() -> None:
    global OUT
    if "--out" in sys.argv:
        OUT = Path(sys.argv[sys.argv.index("--out") + 1]).resolve()
    var_dir = Path(tempfile.mkdtemp(prefix="bevaka-screenshots-"))
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS"):
        os.environ.pop(name, None)
    port = free_port()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="bevaka.settings",
        DEBUG="true",
        BEVAKA_VAR_DIR=str(var_dir),
        SECURE_COOKIES="false",
        SECURE_SSL_REDIRECT="false",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        DJANGO_ALLOW_ASYNC_UNSAFE="true",  # the ORM between sync Playwright calls, in this one script
    )
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("seed_demo", verbosity=0)

    base = f"http://127.0.0.1:{port}"
    server = start_process(commands.runserver(port=port), wait_url=f"{base}/logga-in/", timeout=60)
    try:
        OUT.mkdir(parents=True, exist_ok=True)
        _drive(base)
    finally:
        server.stop()
        shutil.rmtree(var_dir, ignore_errors=True)
    print(f"screenshots in {OUT}: {', '.join(sorted(p.name for p in OUT.glob('*.png')))}")


def _drive(base: str) -> None:
    from django.utils import timezone
    from playwright.sync_api import sync_playwright

    from companies import demo as demo_world
    from companies.models import Company, User
    from signing.ocra import ocra
    from signing.tokens import SUITE, demo_secret, demo_serial
    from subscriptions.models import VerifiedContact

    company = Company.objects.get(org_number=demo_world.EXEMPELBOLAGET)
    anna = User.objects.get(first_name="Anna")
    bertil = User.objects.get(first_name="Bertil")
    olof = next(s for s in demo_world.STAFF if s.group == demo_world.OPERATIONS_GROUP)

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)

        def tab():
            return chromium.new_context(base_url=base, viewport=VIEWPORT, locale="sv-SE").new_page()

        def login(page, personnummer: str) -> None:
            page.goto("/logga-in/")
            page.get_by_label("Personnummer").fill(personnummer)
            page.locator("main form:not([action]) button[type=submit]").click()
            page.wait_for_url("**/foretag/**")

        def shot(page, name: str) -> None:
            page.screenshot(path=str(OUT / f"{name}.png"))

        page = tab()
        page.goto("/logga-in/")
        shot(page, "01-login")

        login(page, anna.personnummer)
        page.goto(f"/foretag/{company.pk}/bevaka-arenden/")
        page.get_by_label("Inkommen e-faktura").check()
        page.get_by_label("Avvisad betalning").check()
        shot(page, "02-bevaka-arenden-anslut")
        page.get_by_role("button", name="Anslut").click()
        page.get_by_label("Säkerhetsdosa").check()
        page.get_by_role("button", name="Signera").click()
        challenge = "".join(c for c in page.locator("#challenge").inner_text() if c.isdigit())
        page.get_by_label("Svarskod från dosan").fill(
            ocra(SUITE, demo_secret(demo_serial(anna.personnummer)), challenge)
        )
        shot(page, "03-signera-sakerhetsdosa")
        page.get_by_role("button", name="Signera").click()
        page.wait_for_url("**/kvittens/**")
        shot(page, "04-bekraftelse")
        page.context.close()

        VerifiedContact.objects.create(
            user=bertil, channel="sms", destination="+46701740606", verified_at=timezone.now()
        )
        page = tab()
        login(page, bertil.personnummer)
        page.goto(f"/foretag/{company.pk}/mina-bevakningar/andra/")
        page.get_by_label("Inkommen e-faktura: Sms").check()
        page.get_by_role("button", name="Spara").click()
        page.get_by_text("Dina bevakningar är sparade.").wait_for()
        shot(page, "05-mina-bevakningar")
        page.context.close()

        page = tab()
        login(page, anna.personnummer)
        page.goto(f"/foretag/{company.pk}/bevaka-arenden/")
        page.get_by_label("Språk", exact=True).select_option("en")  # the header's language switch
        page.get_by_role("button", name="Byt språk").click()
        page.get_by_role("heading", name="Watch cases", exact=True).wait_for()
        shot(page, "06-watch-cases-in-english")
        page.context.close()

        page = tab()
        login(page, olof.personnummer)
        page.goto("/admin/")
        shot(page, "07-admin")
        page.context.close()
        chromium.close()


if __name__ == "__main__":
    main()
