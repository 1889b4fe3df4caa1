import os

import pytest

from harness import ProcessGroup


def pytest_configure(config):
    """SIGTERM (a CI time-out, a parent stopping the run) and SIGHUP unwind the run like Ctrl-C, so every
    fixture stops the processes it started; harness stops whatever is left at exit."""
    from harness.processes import raise_interrupted

    raise_interrupted()


@pytest.fixture
def project_process():
    """Start project processes (harness.ProcessGroup.start: args, env, ready, wait_url, timeout …); every
    one is stopped after the test."""
    with ProcessGroup() as group:
        yield group.start


@pytest.fixture
def embedded_env(tmp_path) -> dict[str, str]:
    """The environment of `make run`: DEBUG on, SQLite and the filesystem broker in a private folder."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}}
    env.update(
        DJANGO_SETTINGS_MODULE="bevaka.settings",
        DEBUG="true",
        BEVAKA_VAR_DIR=str(tmp_path / "var"),
        SECURE_COOKIES="false",
        SECURE_SSL_REDIRECT="false",
    )
    for key in ("ALLOWED_HOSTS",):
        env.pop(key, None)
    return env


def _seed_demo() -> None:
    from django.core.management import call_command

    with open(os.devnull, "w") as quiet:
        call_command("seed_demo", stdout=quiet)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database with the personas of DEMO.md, seeded once rather than for each of the ~250 tests
    that use ``demo``: each test's transaction is rolled back to them. Every test sees them, as every
    database seeded by ``make run`` has them; a test making people of its own takes other personnummer."""
    with django_db_blocker.unblock():
        _seed_demo()


@pytest.fixture
def demo(db):
    """The demo world of DEMO.md, as seed_demo builds it: people by first name, companies by short name.

    Seeded once per test database (``django_db_setup``); a transactional test (``transactional_db``,
    ``live_server``) may find it flushed by the one before, and then seeds it again."""
    from companies import demo as demo_world
    from companies.models import Company, User

    personnummers = [p.personnummer for p in demo_world.PEOPLE]
    people = {user.personnummer: user for user in User.objects.filter(personnummer__in=personnummers)}
    if len(people) < len(personnummers):
        _seed_demo()
        people = {user.personnummer: user for user in User.objects.filter(personnummer__in=personnummers)}
    world = {p.first_name.lower(): people[p.personnummer] for p in demo_world.PEOPLE}
    world["exempelbolaget"] = Company.objects.get(org_number=demo_world.EXEMPELBOLAGET)
    world["svenssons"] = Company.objects.get(org_number=demo_world.SVENSSONS_BYGG)
    return type("Demo", (), world)


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (Playwright's own browser download has no network here)."""
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # live_server + sync Playwright
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server, settings):
    """A fresh browser tab; ``page.login(user)`` logs a user in by giving the tab a real session cookie.

    The live server speaks plain HTTP, where browsers refuse ``__Host-``/Secure cookies, so the tab gets
    the development cookie settings; the production flags are tested in tests/test_security.py.
    """
    from django.test import Client

    settings.SESSION_COOKIE_NAME = "bevaka-session"
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_NAME = "bevaka-csrftoken"
    settings.CSRF_COOKIE_SECURE = False
    settings.LANGUAGE_COOKIE_SECURE = False

    context = browser.new_context(base_url=live_server.url, locale="sv-SE")
    tab = context.new_page()

    def login(user) -> None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        context.add_cookies(
            [
                {
                    "name": cookie.key,
                    "value": cookie.value,
                    "url": live_server.url,
                    "httpOnly": True,
                    "sameSite": "Lax",
                }
            ]
        )

    tab.login = login
    yield tab
    context.close()


# --- The append-only audit log and the test database's flush (issue 9) --------------------------------
@pytest.fixture(autouse=True)
def _no_kept_smtp_connection():
    """A sending thread keeps its SMTP connection (notifications.channels.email); a test starts without one."""
    from notifications.channels.email import discard_kept_connection

    discard_kept_connection()
    yield
    discard_kept_connection()


@pytest.fixture(scope="session", autouse=True)
def _flush_past_the_audit_log_truncate_trigger():
    """Between transactional tests Django empties every table with one TRUNCATE, which the audit log's
    trigger refuses, as it must in production. The test process connects as a superuser: its flush alone
    runs with ``session_replication_role = replica`` (for that transaction), where triggers do not fire."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        statements = original(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        if statements and "audit_auditentry" in tables:
            return ["SET LOCAL session_replication_role = replica;", *statements]
        return statements

    DatabaseOperations.sql_flush = sql_flush
    yield
    DatabaseOperations.sql_flush = original


# --- No personal data in logs (issue 9): tests/privacy.py searches every record and process output ----
from tests.privacy import no_personal_data_in_logs, privacy_log_handler  # noqa: E402, F401


@pytest.fixture(autouse=True)
def _forget_cached_sources():
    """Each test's database is rolled back, the web's short memory of sources and keys is not: start empty."""
    from events.services import forget_cached_sources

    forget_cached_sources()
    yield
    forget_cached_sources()
