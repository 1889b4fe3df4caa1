"""The project as a whole: production settings, migrations, and the embedded `make run` configuration."""

import os
import re
import secrets
import signal
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest

from harness import MANAGE, celery_worker, free_port, run_command, worker_ready


def test_production_settings_pass_the_deploy_check(tmp_path):
    roots = tmp_path / "bankid-signature-roots.pem"  # BankID's production roots, as a bank installs them
    roots.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bevaka.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "bank.example",
        "SECURE_COOKIES": "true",
        "METRICS_TOKEN": secrets.token_urlsafe(32),  # without it (or METRICS_ALLOWED) bevaka.W001 warns
        "BANKID_SIGNATURE_ROOTS": str(roots),  # without them every signature is refused: bevaka.W002 warns
    }
    env.pop("SECURE_SSL_REDIRECT")
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    result = run_command([*MANAGE, "check", "--deploy", "--fail-level", "WARNING"], env=env)
    assert result.returncode == 0, result.stdout
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bevaka.settings", "DEBUG": "false", "SECRET_KEY": ""}
    result = run_command([*MANAGE, "check"], env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stdout


def test_the_models_and_migrations_agree():
    result = run_command([*MANAGE, "makemigrations", "--check", "--dry-run"])
    assert result.returncode == 0, result.stdout
    assert "No changes detected" in result.stdout


@pytest.mark.slow
def test_the_embedded_configuration_serves_pages_and_runs_tasks_on_a_real_worker(embedded_env, project_process):
    """`make run` in small: SQLite (WAL, IMMEDIATE) and kombu's filesystem broker, no PostgreSQL or Redis."""
    env = embedded_env
    for step in (["migrate", "--noinput"], ["seed_demo"]):
        result = run_command([*MANAGE, *step], env=env)
        assert result.returncode == 0, result.stdout
    journal = run_command(
        [
            *MANAGE,
            "shell",
            "-c",
            "from django.db import connection as c; c.ensure_connection(); "
            "print(c.vendor, c.cursor().execute('PRAGMA journal_mode').fetchone()[0], c.transaction_mode)",
        ],
        env=env,
    )
    assert journal.stdout.split()[-3:] == ["sqlite", "wal", "IMMEDIATE"], journal.stdout

    project_process(
        celery_worker(name="embedded", pool="solo"),
        env=env,
        ready=worker_ready("embedded"),
        timeout=60,
        stop_signal=signal.SIGKILL,  # the test is over: even a cold shutdown waits out a 4 s file-broker poll
    )
    ping = run_command(
        [*MANAGE, "shell", "-c", "from bevaka.celery import ping; print(ping.delay().get(timeout=30))"],
        env=env,
    )
    assert ping.stdout.strip().endswith("pong"), ping.stdout

    port = free_port()
    web = project_process(
        [*MANAGE, "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        wait_url=f"http://127.0.0.1:{port}/hjalp/bevaka-arenden/",
        timeout=60,
    )
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    login_page = opener.open(f"{web.url.split('/hjalp')[0]}/logga-in/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page).group(1)
    data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "personnummer": "19780412-9802"}).encode()
    page = opener.open(f"http://127.0.0.1:{port}/logga-in/", data=data).read().decode()
    assert "Anna Andersson" in page
    assert "Exempelbolaget i Sverige AB" in page
