"""The health endpoints (bevaka/health.py): /livez the process, /readyz this instance can serve (Redis down is
degraded, not unready), /statusz the whole system for monitoring; and who may read /metrics and /statusz."""

import time

import pytest
from django.core.management import call_command

from notifications.liveness import record_task_consumed

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down():
    """The Celery app's broker pointed at a port where nothing listens, as when Redis is down."""
    from bevaka.celery import app

    previous = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    yield
    app.conf.broker_url = previous


def test_livez_answers_without_asking_the_database_or_the_broker(client, broker_down, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/livez")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_is_ok_with_the_database_and_the_broker(client):
    response = client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "database": "ok", "broker": "ok"})


def test_readyz_is_200_degraded_when_the_broker_is_down_since_events_are_still_accepted(client, broker_down):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "database": "ok", "broker": "fail"}


def test_healthz_is_the_old_name_of_readyz(client, broker_down):
    response = client.get("/healthz")
    assert (response.status_code, response.json()["status"]) == (200, "degraded")


def test_readyz_does_not_care_whether_a_worker_runs(client, settings):
    settings.NOTIFICATIONS_WORKER_STALE_SECONDS = 0
    assert client.get("/readyz").status_code == 200


@pytest.fixture
def scraper(settings):
    settings.METRICS_TOKEN = "scrape-secret"
    return {"HTTP_AUTHORIZATION": "Bearer scrape-secret"}


def test_statusz_reports_the_worker_the_relay_backlog_and_the_queues(client, scraper):
    record_task_consumed()
    response = client.get("/statusz", **scraper)
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok" and body["worker"]["status"] == "ok"
    assert body["worker"]["last_task_seconds_ago"] < 5
    assert body["relay_backlog"] == {"due": 0, "overdue_sending": 0}
    assert set(body["queues"]) == {"celery", "codes", "sms", "email"}


def test_statusz_is_503_when_no_worker_consumed_a_task_recently(client, scraper, settings):
    record_task_consumed()
    time.sleep(0.2)
    settings.NOTIFICATIONS_WORKER_STALE_SECONDS = 0.1
    response = client.get("/statusz", **scraper)
    assert response.status_code == 503
    assert response.json()["worker"]["status"] == "fail"


def test_statusz_is_503_when_the_broker_is_down(client, scraper, broker_down):
    record_task_consumed()
    response = client.get("/statusz", **scraper)
    assert (response.status_code, response.json()["broker"]) == (503, "fail")


def test_the_probes_answer_over_plain_http_even_when_https_is_enforced(client, settings, scraper):
    settings.SECURE_SSL_REDIRECT = True
    record_task_consumed()
    for path in ("/livez", "/readyz", "/healthz", "/metrics", "/statusz"):
        assert client.get(path, **scraper).status_code == 200, path
    assert client.get("/hjalp/bevaka-arenden/").status_code == 301


# -- who may scrape (issue 19, defect 6) ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/metrics", "/statusz"])
def test_in_production_without_a_token_or_allowed_addresses_no_one_may_scrape(client, settings, path):
    settings.DEBUG, settings.METRICS_TOKEN, settings.METRICS_ALLOWED = False, "", []
    assert client.get(path).status_code == 403


def test_with_debug_and_nothing_configured_the_metrics_are_open(client, settings):
    settings.DEBUG, settings.METRICS_TOKEN, settings.METRICS_ALLOWED = True, "", []
    assert client.get("/metrics").status_code == 200


def test_allowed_addresses_may_scrape_and_others_may_not(client, settings):
    settings.DEBUG, settings.METRICS_TOKEN, settings.METRICS_ALLOWED = False, "", ["10.1.0.0/16", "192.0.2.7"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.8").status_code == 403
    # A forged X-Forwarded-For from a client we do not trust changes nothing.
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.8", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 403


def test_with_both_set_either_the_token_or_an_allowed_address_will_do(client, settings, scraper):
    settings.DEBUG, settings.METRICS_ALLOWED = False, ["10.1.0.0/16"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.8", **scraper).status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.8").status_code == 401


def _deploy_warnings() -> list[str]:
    from django.core.checks import run_checks

    return [message.id for message in run_checks(include_deployment_checks=True)]


def test_check_deploy_warns_when_neither_a_token_nor_allowed_addresses_are_set(settings):
    settings.DEBUG, settings.METRICS_TOKEN, settings.METRICS_ALLOWED = False, "", []
    assert "bevaka.W001" in _deploy_warnings()
    settings.METRICS_TOKEN = "scrape-secret"
    assert "bevaka.W001" not in _deploy_warnings()
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED = "", ["10.1.0.0/16"]
    assert "bevaka.W001" not in _deploy_warnings()


def test_the_warning_is_shown_by_check_deploy(settings):
    from django.core.management.base import SystemCheckError

    settings.DEBUG, settings.METRICS_TOKEN, settings.METRICS_ALLOWED = False, "", []
    with pytest.raises(SystemCheckError, match=r"bevaka\.W001"):
        call_command("check", "--deploy", "--fail-level", "WARNING")


def test_check_deploy_warns_when_bankid_production_has_no_signature_roots(settings, tmp_path):
    # Issue 20: without the roots every signature is refused; say so before the first customer signs.
    settings.BANKID_PRODUCTION, settings.BANKID_SIGNATURE_ROOTS = True, []
    assert "bevaka.W002" in _deploy_warnings()
    root = tmp_path / "bankid-root.pem"
    root.write_text("-----BEGIN CERTIFICATE-----\n")
    settings.BANKID_SIGNATURE_ROOTS = [str(root)]
    assert "bevaka.W002" not in _deploy_warnings()
    settings.BANKID_SIGNATURE_ROOTS = [str(tmp_path / "missing.pem")]
    assert "bevaka.W002" in _deploy_warnings()
    settings.BANKID_PRODUCTION, settings.BANKID_SIGNATURE_ROOTS = False, []
    assert "bevaka.W002" not in _deploy_warnings()


def test_check_deploy_warns_when_the_test_clock_is_set(settings, tmp_path):
    # Issue 23's test clock must not reach production: a file would decide when held alerts go out.
    settings.BEVAKA_CLOCK_FILE = ""
    assert "bevaka.W003" not in _deploy_warnings()
    settings.BEVAKA_CLOCK_FILE = str(tmp_path / "clock")
    assert "bevaka.W003" in _deploy_warnings()
